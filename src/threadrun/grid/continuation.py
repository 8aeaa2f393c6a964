"""``--continue VAR``: the cell's messages added to each earlier row's thread, which runs again on
its own model and settings: one new row per old row, linked to it by ``parent_run_id``.

Each job is the createThreadAndRun body a fresh run would send (so it is checked the same way),
turned into a createRun body for the row's thread: the thread's messages become the run's
``additional_messages`` (added to the thread by the same request that starts the run).
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence

from ..errors import ValidationError
from .plan import Job, make_plan
from .thread import Thread


def plan(thread: Thread, parents: Sequence[Mapping[str, Any]], *, assistant_id: str | None,
         qualify: Callable[[str], str] | None, **fields: Any) -> tuple[list[Job], int]:
    """One job per parent row with a thread; and how many rows had none (never created)."""
    if not thread.messages:
        raise ValidationError("--continue adds the cell's messages to each thread: the cell has none")
    if thread.body.get("thread", {}).get("tool_resources") or fields.get("tool_resources"):
        raise ValidationError("--continue cannot change a thread's tool_resources", param="tool_resources")
    jobs: list[Job] = []
    skipped = 0
    for parent in parents:
        thread_id = _text(parent.get("thread_id"))
        if thread_id is None:
            skipped += 1
            continue
        [job] = make_plan(thread, models=[_spec(parent)], temperatures=[_number(parent.get("temperature"))],
                          efforts=[_text(parent.get("reasoning_effort"))], assistant_id=assistant_id,
                          qualify=qualify, **fields)
        jobs.append(replace(job, index=len(jobs), repeat=int(_number(parent.get("repeat")) or 0),
                            body=run_body(job.body), thread_id=thread_id,
                            parent_run_id=_text(parent.get("run_id"))))
    return jobs, skipped


def run_body(body: dict) -> dict:
    """A createThreadAndRun body as the createRun body that continues a thread."""
    run = {k: v for k, v in body.items() if k not in ("thread", "tool_resources")}
    run["additional_messages"] = (body.get("thread") or {}).get("messages") or []
    return run


def _spec(parent: Mapping[str, Any]) -> str | None:
    """The row's model as ``provider:model`` (as it ran), or the plain name."""
    model, provider = _text(parent.get("model")), _text(parent.get("provider"))
    if model is None:
        return None
    return f"{provider}:{model}" if provider and not model.startswith(f"{provider}:") else model


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _number(value: Any) -> float | None:
    """A row's number (NaN, None and pandas' NA: none)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
