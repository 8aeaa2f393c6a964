"""The Assistants v2 client: the endpoints (``endpoints``), a run's lifecycle (``runs``: create,
stream or poll, reply; ``cancel``: cancel and confirm), the scratch assistant (``assistant``).

``Client`` is the one public name here: the endpoints, plus ``run``, one whole run.
"""
from __future__ import annotations

import threading

from ..rows.result import RunResult
from . import runs
from .endpoints import Endpoints

__all__ = ["Client"]


class Client(Endpoints):
    """A pooled, retrying Assistants v2 client: the endpoints threadrun uses, and ``run``."""

    def run(self, body: dict, *, stream: bool = True, on_started: runs.OnStarted | None = None,
            stop: threading.Event | None = None, deadline: float | None = None,
            on_text: runs.OnText | None = None, turn: runs.Turn | None = None) -> RunResult:
        """Create the thread and run, wait for its end, read the reply; never raises APIError
        (see ``runs.run``: the row says what became of the run)."""
        return runs.run(self, body, stream=stream, on_started=on_started, stop=stop,
                        deadline=deadline, on_text=on_text, turn=turn)
