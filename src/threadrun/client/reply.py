"""A finished run's row fields from the server: its status, its own error, its reply text."""
from __future__ import annotations

from ..rows.result import RunResult, run_error
from ..spec import TERMINAL
from .endpoints import Endpoints


def read_reply(client: Endpoints, result: RunResult) -> None:
    """The run's status and own error, then its reply (a failed read keeps the run's error)."""
    run = result.run or {}
    status = run.get("status") or "unknown"
    result.status = status if status in TERMINAL else "unknown"
    if result.status not in TERMINAL:
        result.error = result.error or f"run stopped being followed while {status}"
        return
    result.error = run_error(run)
    if not result.extra.get("reply_from_stream"):
        result.reply = client.reply_text(run["thread_id"], run["id"])
