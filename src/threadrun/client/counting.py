"""Prompt token counts for a dry run's forecast, asked of the runtime (``POST
/threads/runs/input_tokens``, which asks each model's provider: ``server/counting.py``).

The prompts are the forecast's sample (``grid.forecast.unseen``: those the run log has not
seen, each once, at most ``config.COUNT_MAX``), counted ``concurrency`` at a time within
``config.COUNT_DEADLINE_S``. A provider that has no count endpoint, or whose first count fails,
is not asked again in this dry run: its prompts stay unknown, with the one line that says why.
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable

from .. import config
from ..errors import APIError, ThreadrunError

Ask = Callable[[dict], dict]


@dataclass
class Counts:
    """What the provider counted: tokens by thread hash, and per model how, or why not."""

    tokens: dict[str, int] = field(default_factory=dict)
    how: dict[str, str] = field(default_factory=dict)
    why_not: dict[str, str] = field(default_factory=dict)
    not_tried: int = 0  #: prompts left uncounted when the deadline came

    def line(self) -> str | None:
        """The one line of what was left uncounted and why (None when every prompt was counted)."""
        parts = [f"{spec}: {why}" for spec, why in self.why_not.items()]
        if self.not_tried:
            parts.append(f"{self.not_tried:,} prompts not counted (a dry run counts for at most "
                         f"{config.COUNT_DEADLINE_S:g} s)")
        return "input tokens not counted by the provider: " + "; ".join(parts) if parts else None


def count_prompts(ask: Ask, prompts: dict[str, dict], concurrency: int) -> Counts:
    """Count ``prompts`` (thread hash → count body) with ``ask(body)`` → the runtime's answer."""
    counts, items = Counts(), list(prompts.items())
    stop, lock = threading.Event(), threading.Lock()
    end = time.monotonic() + config.COUNT_DEADLINE_S

    def one(thread: str, body: dict) -> bool:
        spec = body["model"]
        with lock:
            if spec in counts.why_not:
                return True  # its model cannot be counted: the line says why
            if stop.is_set():
                return False
        try:
            answer = ask(body)
            tokens = answer["input_tokens"]
            if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < 0:
                raise ValueError
        except ThreadrunError as error:  # the server's answer, or no answer: one line, no traceback
            with lock:
                counts.why_not.setdefault(spec, _why(error))
            return True
        except (KeyError, TypeError, ValueError):
            with lock:
                counts.why_not.setdefault(spec, "the server answered no input_tokens count "
                                                "(is it threadrun's runtime?)")
            return True
        with lock:
            counts.tokens[thread] = tokens
            counts.how.setdefault(spec, str(answer.get("counted_by") or "the provider"))
        return True

    pool = ThreadPoolExecutor(max(1, min(concurrency, len(items) or 1)),
                              thread_name_prefix="threadrun-count")
    try:
        pending: set[Future] = {pool.submit(one, thread, body) for thread, body in items}
        while pending:
            done, pending = wait(pending, timeout=min(0.5, max(0.0, end - time.monotonic())),
                                 return_when=FIRST_COMPLETED)
            counts.not_tried += sum(1 for f in done if not f.result())
            if time.monotonic() >= end:
                break
    finally:  # a deadline or an interrupt: nothing more is sent; calls in flight end by their timeouts
        stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
    counts.not_tried += len(pending)  # the deadline came first
    return counts


def _why(error: ThreadrunError) -> str:
    """One line of why a model's prompts were not counted (the runtime's or provider's message)."""
    if not isinstance(error, APIError):
        return f"the count failed: {' '.join(str(error).split())}"
    if error.code == "token_count_unsupported":
        return error.message
    if error.status in (404, 405):  # another Assistants server: only threadrun's runtime counts
        return "the server has no POST /threads/runs/input_tokens (threadrun's runtime counts)"
    return f"the count failed: {error.message}"
