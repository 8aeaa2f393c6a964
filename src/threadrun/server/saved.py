"""Threads and runs as JSON for the database (``persist``), and back.

A run's clock is monotonic; on disk its instants are wall-clock seconds, mapped back onto this
process's monotonic clock when loaded. A run that had not ended when the server stopped (its
clock past ``cutoff``, the stop) does not come back as if it still ran: waiting for tool
outputs, it is ``expired``; queued or in progress, ``failed`` with ``last_error`` saying so.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, fields
from typing import Any

from ..errors import ValidationError
from ..providers import get
from .objects import TERMINAL, Message, Run, RunParams, Thread

#: Run fields kept as they are (JSON values); clocks, params and live lists are handled apart.
RUN_FIELDS = ("id", "thread_id", "assistant_id", "created_wall", "prompt_tokens", "outcome", "reply",
              "completion_tokens", "reasoning_tokens", "cached_tokens", "total_tokens", "tool_calls",
              "live", "incomplete_reason", "incomplete_note", "message_reason", "last_error",
              "message_id", "step_id", "call_id", "message_added", "size", "sent", "notice",
              "transcript", "history", "used", "max_rounds")


def thread_state(thread: Thread) -> dict:
    """A thread and its messages as JSON."""
    return {"id": thread.id, "created_at": thread.created_at, "metadata": thread.metadata,
            "tool_resources": thread.tool_resources, "run_ids": thread.run_ids, "kept": thread.kept, "size": thread.size,
            "messages": [asdict(m) for m in thread.messages]}


def load_thread(state: dict) -> Thread:
    """The Thread of ``thread_state``."""
    thread = Thread(state["id"], state["created_at"], state["metadata"], state["tool_resources"],
                    run_ids=list(state["run_ids"]), kept=state["kept"], size=state.get("size", 0))
    thread.messages = [Message(**m) for m in state["messages"]]
    return thread


def run_state(run: Run) -> dict:
    """A run as JSON: its fields, its params (the provider by name), its instants as wall seconds."""
    params = {**{f.name: getattr(run.params, f.name) for f in fields(run.params)},
              "provider": run.params.provider.name, "explicit": sorted(run.params.explicit)}
    wall = {name: _wall(run, getattr(run, name)) for name in ("start_mono", "end_mono", "cancel_mono")}
    return {**{name: getattr(run, name) for name in RUN_FIELDS}, "params": params, "wall": wall,
            "pieces": "".join(run.pieces)}


def load_run(state: dict, cutoff: float) -> tuple[Run, bool]:
    """The Run of ``run_state``, and whether it was ended here (it had not ended by ``cutoff``)."""
    now_mono, now_wall = time.monotonic(), time.time()
    created_mono = now_mono - (now_wall - state["created_wall"])
    params = RunParams(**{**state["params"], "explicit": frozenset(state["params"]["explicit"]),
                          "provider": _provider(state["params"]["provider"])})
    mono = {name: _mono(state, created_mono, value) for name, value in state["wall"].items()}
    mono["start_mono"] = math.inf if mono["start_mono"] is None else mono["start_mono"]
    run = Run(state["id"], state["thread_id"], state["assistant_id"], params, state["created_wall"],
              created_mono, mono["start_mono"], mono["end_mono"], state["prompt_tokens"],
              **{name: state[name] for name in RUN_FIELDS[5:]})
    run.cancel_mono = mono["cancel_mono"]
    run.pieces = [state["pieces"]] if state["pieces"] else []
    at_stop = created_mono + (cutoff - state["created_wall"])
    status = run.status(max(at_stop, created_mono))
    if status in TERMINAL:
        return run, False
    end = max(min(at_stop, now_mono), created_mono)
    if math.isinf(run.start_mono) or run.start_mono > end:
        run.start_mono = end
    run.end_mono = run.min_end = end
    if status == "requires_action":
        run.outcome = "expired"  # its tool outputs can no longer be waited for
    else:
        run.outcome, run.reply, run.pieces = "failed", None, []
        run.last_error = {"code": "server_error", "message": f"The runtime stopped while this run was "
                          f"{status}; it did not finish (it was not lost: the server restarted)."}
    return run, True


def _wall(run: Run, mono: float | None) -> float | None:
    """Wall seconds of a run's monotonic instant (None for none or not yet)."""
    if mono is None or math.isinf(mono):
        return None
    return run.created_wall + (mono - run.created_mono)


def _mono(state: dict, created_mono: float, wall: float | None) -> Any:
    """This process's monotonic instant of a saved wall instant (start: inf when it had none)."""
    if wall is None:
        return None
    return created_mono + (wall - state["created_wall"])


def _provider(name: str) -> Any:
    """The provider a saved run ran on (a stand-in naming it when it is no longer configured)."""
    try:
        return get(name)
    except ValidationError:
        return _Gone(name)


class _Gone:
    """A provider no longer configured: its name, for the run's record."""

    api = "gone"

    def __init__(self, name: str) -> None:
        self.name = name
