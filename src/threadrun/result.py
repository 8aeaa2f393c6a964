"""What became of one run, as the client saw it (stdlib only: the row and the log read it)."""
from __future__ import annotations

from dataclasses import dataclass, field



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
    tool_calls: list[dict] = field(default_factory=list)
    retries: int = 0
    request_id: str | None = None
    extra: dict = field(default_factory=dict)


def run_error(run: dict) -> str | None:
    """A one-line reason for a run that did not complete, or None."""
    status = run.get("status")
    if status == "completed":
        return None
    if run.get("last_error"):
        err = run["last_error"]
        return f"run {status}: {err.get('code')}: {' '.join(str(err.get('message')).split())}"
    if run.get("incomplete_details"):
        return f"run {status}: {run['incomplete_details'].get('reason')}"
    return f"run {status}"
