"""Ending a run early: after a stop or its deadline, and when it asks for tool outputs.

A row says ``cancelled`` only when the server confirmed it: after the cancel request the run is
polled (up to ``CONFIRM_S``) until it is terminal. A run that ended on its own meanwhile keeps
that ending and its reply; one whose end is never seen is ``unknown``, saying why.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import APIError
from ..http import watch
from ..http.watch import Stopped, Watch
from ..rows.result import RunResult, tool_calls
from ..spec import TERMINAL
from .reply import read_reply

if TYPE_CHECKING:
    from .endpoints import Endpoints

#: How long a cancelled run is polled for the server to confirm how it ended.
CONFIRM_S = 10.0


def cancel_confirmed(client: "Endpoints", thread_id: str, run_id: str) -> tuple[dict | None, str | None]:
    """Cancel a run, then poll it (up to ``CONFIRM_S``) until the server says how it ended.

    Returns the last run object seen (None if none could be read) and why the cancel request
    failed, if it did (a run that already ended answers 400).
    """
    run: dict | None = None
    failure = None
    with watch.running(Watch(deadline_s=CONFIRM_S)):
        try:
            try:
                run = client.cancel_run(thread_id, run_id)
            except APIError as exc:
                failure = f"cancel failed: {exc}"
            delay = 0.0
            while run is None or run.get("status") not in TERMINAL:
                watch.sleep(delay)
                run, after = client.retrieve_run(thread_id, run_id, gated=True)
                delay = after if after is not None else client.poll_interval
        except (APIError, Stopped):
            pass
    return run, failure


def record_stopped(client: "Endpoints", result: RunResult, why: str, sent: bool) -> None:
    """A run stopped or past its deadline: cancel it if it is known; say what became of it.

    ``why`` is the row's words for it; ``sent`` = its create went out. This runs on fresh clocks
    of ``CONFIRM_S``: the run's own has run out.
    """
    run = result.run
    if run is None or not run.get("id") or not run.get("thread_id"):
        result.status = "unknown" if sent else "error"
        result.extra["not_sent"] = not sent
        result.error = why + (" while its create was unanswered: the run may exist on the server"
                              if sent else " before the run was sent")
        return
    if run.get("status") not in TERMINAL:
        confirmed, failure = cancel_confirmed(client, run["thread_id"], run["id"])
        result.run = confirmed or run
        status = (confirmed or {}).get("status")
        if status not in TERMINAL:
            last = f"last seen {status or run.get('status')}"
            result.status = "unknown"
            result.error = (f"{why}; the server did not confirm the cancel within {CONFIRM_S:g} s "
                            f"({'; '.join(filter(None, [failure, last]))})")
            return
        if status == "cancelled":
            result.status, result.error = "cancelled", why
            return
    try:  # it ended on its own (before the cancel): its row is that ending, with its reply
        with watch.running(Watch(deadline_s=CONFIRM_S)):
            read_reply(client, result)
    except Stopped:
        result.error = "; ".join(filter(None, [result.error, f"reply not read: {why}"]))


def refuse_tool_call(client: "Endpoints", result: RunResult, why: str | None = None) -> None:
    """A run waiting for tool outputs that will not be answered (no ``--tools``, or ``why``: a
    limit was reached): cancel it and say why.

    The row keeps the calls asked for, and the ended run's usage: a run waiting for outputs
    has none yet (the spec's usage is null until a run is terminal), but the model's call that
    asked for them was paid for, and the cancelled run reports it.
    """
    run = result.run or {}
    result.status = "requires_action"
    result.tool_calls = result.tool_calls + tool_calls(run)
    result.error = (f"{why}; it was cancelled" if why else
                    "the run asked for tool outputs (function tools) and no --tools were given "
                    "to answer them; it was cancelled")
    confirmed, failure = cancel_confirmed(client, run["thread_id"], run["id"])
    if failure:
        result.error += f" ({failure})"
    if confirmed is not None and confirmed.get("status") in TERMINAL:
        result.run = confirmed  # its usage, and when it ended
