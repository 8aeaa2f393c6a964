"""What became of one run, as the client saw it (stdlib only: the row and the log read it).

Besides ``RunResult``, the folding of what a server says about a run into it: stream events,
message objects, tool calls, and the error kept when something fails.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import APIConnectionError, APIError
from ..spec import TERMINAL


@dataclass
class RunResult:
    """What happened to one createThreadAndRun request; ``row.to_row`` flattens it.

    ``status`` is the run's terminal status, or ``error`` (no run was created: the request was
    refused or never reached the server), or ``unknown`` (the request may have reached the
    server, but no answer came back), or ``requires_action`` (the run asked for tool outputs).
    """

    body: dict
    run: dict | None = None
    reply: str = ""
    status: str = "error"
    error: str | None = None
    latency_s: float = float("nan")
    ttft_s: float = float("nan")
    queue_s: float = float("nan")
    #: When this client first saw the run started (``started_at`` set): the upstream request's
    #: start, from which ``ttft_s`` and ``latency_s`` count (monotonic seconds; None: not seen).
    started_mono: float | None = None
    tool_calls: list[dict] = field(default_factory=list)
    retries: int = 0
    request_id: str | None = None
    extra: dict = field(default_factory=dict)


def run_error(run: dict) -> str | None:
    """A one-line reason for a run that did not complete, or None."""
    status = run.get("status")
    if status == "completed":
        return None
    err, details = run.get("last_error"), run.get("incomplete_details")
    if isinstance(err, dict) and err:  # ``type``: a failure the spec's codes have no word for
        kind = err.get("type") if isinstance(err.get("type"), str) else err.get("code")
        return f"run {status}: {kind}: {' '.join(str(err.get('message')).split())}"
    if err:  # not the spec's {code, message}: say what came
        return f"run {status}: {' '.join(str(err).split())[:500]}"
    if isinstance(details, dict) and details:  # ``message``: a cause the spec's reasons lack
        words = [str(details[k]) for k in ("reason", "message") if details.get(k)]
        return f"run {status}: {' '.join('; '.join(words).split())[:500] or details}"
    if details:
        return f"run {status}: {' '.join(str(details).split())[:500]}"
    return f"run {status}"


def mark_started(result: RunResult) -> None:
    """Note the first moment the run is seen started: its upstream request has begun."""
    run = result.run
    if result.started_mono is None and isinstance(run, dict) and run.get("started_at") is not None:
        result.started_mono = time.monotonic()


def fold_event(event: str, data: Any, result: RunResult, texts: list[str]) -> bool:
    """Fold one stream event into the result (unknown events are ignored); True when it made the run known."""
    if event.startswith("thread.run.") and not event.startswith("thread.run.step") and isinstance(data, dict):
        first = result.run is None
        result.run = data
        return first
    if event == "thread.message.completed" and isinstance(data, dict):
        if data.get("role") == "assistant":
            texts.append(message_text(data))
    elif event == "error":
        err = data.get("error", data) if isinstance(data, dict) else {"message": str(data)}
        err = err if isinstance(err, dict) else {"message": str(err)}
        result.error = "stream error: " + " ".join(str(err.get("message") or err).split())
    return False


def delta_text(data: Any) -> str:
    """The text a ``thread.message.delta`` event adds (its text parts, joined)."""
    delta = data.get("delta") if isinstance(data, dict) else None
    parts = delta.get("content") if isinstance(delta, dict) else None
    if not isinstance(parts, list):
        return ""
    return "".join(str((p.get("text") or {}).get("value") or "") for p in parts
                   if isinstance(p, dict) and isinstance(p.get("text"), dict))


def message_text(message: dict) -> str:
    """A MessageObject's content as text: text parts one per line, other parts noted like ``[image_file file-abc]``."""
    parts = message.get("content") or []
    return "\n".join(_part_text(p) for p in parts if isinstance(p, dict)) if isinstance(parts, list) else ""


def _part_text(part: dict) -> str:
    """One content part: its text, or a note naming a non-text part."""
    kind = str(part.get("type"))
    value = part.get(kind)
    if kind == "text":
        return str(value.get("value", "")) if isinstance(value, dict) else str(value or "")
    if kind == "refusal":
        return f"[refusal: {value}]"
    detail = value.get("file_id") or value.get("url") if isinstance(value, dict) else None
    return f"[{kind} {detail}]" if detail else f"[{kind}]"


def tool_calls(run: dict) -> list[dict]:
    """``[{name, arguments}]`` of the function calls a ``requires_action`` run asks for."""
    found = run.get("required_action")
    action: dict = found if isinstance(found, dict) else {}
    calls = (action.get("submit_tool_outputs") or {}).get("tool_calls") or []
    return [{"name": (c.get("function") or {}).get("name"),
             "arguments": (c.get("function") or {}).get("arguments")}
            for c in calls if isinstance(c, dict)]


def record_failure(result: RunResult, exc: APIError) -> None:
    """Turn an APIError into the result's status and error text, keeping the most informative error.

    A finished run's own error (``run failed: server_error: ...``) outlives a later failure to read
    its reply; a stream's ``error`` event is kept beside the failure that followed it.
    """
    result.request_id = exc.request_id or result.request_id
    if exc.status is not None:
        result.extra["http_status"] = exc.status  # a 404 create: the assistant may be gone
    run = result.run
    own = run_error(run) if run is not None and run.get("status") in TERMINAL else None
    if own is not None:
        result.error = own
    elif result.error and result.error not in str(exc):
        result.error = f"{exc} (after {result.error})"
    else:
        result.error = str(exc)
    if run is not None:
        result.status = str(run["status"]) if run.get("status") in TERMINAL else "unknown"
    elif (isinstance(exc, APIConnectionError) and exc.sent) or 200 <= (exc.status or 0) < 300:
        result.status = "unknown"  # it may have reached the server (or did: 2xx); never re-sent
    else:
        result.status = "error"
