"""The budget of a sweep (``--budget USD``): a run is sent only while its worst case fits.

The budget admits a run only when the spend so far (the cost of the finished runs) plus the
worst case of the runs in flight and of this one stays within it. A run's worst case is an upper
bound, never a guess: its prompt's UTF-8 bytes (a token is at least one byte) plus a per-message
allowance, at the input price, plus its token cap at the output price, on its service tier.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from .. import providers
from ..errors import ValidationError
from ..providers.catalog import tier_price
from .plan import Job

#: Tokens a chat format adds around each message, and around the whole prompt (an allowance
#: above what OpenAI's format adds: 3-4 per message, 3 to prime the reply).
PER_MESSAGE, PER_PROMPT = 8, 16


def prompt_bound(body: dict) -> int:
    """An upper bound of a request's prompt tokens: its text's UTF-8 bytes plus allowances."""
    messages = (body.get("thread") or {}).get("messages") or []
    size = PER_PROMPT + len(str(body.get("instructions") or "").encode("utf-8"))
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else repr(content)
        size += PER_MESSAGE + len(text.encode("utf-8"))
    if body.get("tools"):
        size += len(repr(body["tools"]).encode("utf-8"))
    return size


def spec_of(job: Job) -> tuple[str | None, str | None]:
    model = job.body.get("model")
    return providers.split_spec(model) if isinstance(model, str) else (None, None)


def rate(job: Job) -> tuple[float, float] | None:
    """USD per token (input, output) of a job's model on its tier, or None when unpriced."""
    provider, model = spec_of(job)
    if model is None:
        return None
    priced = tier_price(model, provider, job.service_tier)
    return None if priced is None else (priced[0][0] / 1e6, priced[0][1] / 1e6)


def worst_case(job: Job) -> float:
    """The most a job can cost (USD); ValidationError naming why there is no bound."""
    if job.thread_id is not None:
        raise ValidationError("--budget cannot bound a continued thread's prompt (--continue): its "
                              "earlier messages are on the server, not in the request", param="budget")
    per_token = rate(job)
    model = job.body.get("model") or "the assistant's model"
    if per_token is None:
        raise ValidationError(f"--budget needs a price for every model; {model} has none "
                              "(threadrun.set_prices sets one)", param="budget")
    cap = job.body.get("max_completion_tokens")
    if cap is None and per_token[1] > 0:
        raise ValidationError(f"--budget needs --max-completion-tokens: without a cap a run of "
                              f"{model} has no most it can cost", param="budget")
    return prompt_bound(job.body) * per_token[0] + (cap or 0) * per_token[1]


@dataclass
class Budget:
    """The spend of one sweep against its budget (thread-safe: every worker asks ``admit``)."""

    limit: float
    worst: dict[int, float]  #: each job's worst case, by grid index
    spent: float = 0.0
    in_flight: float = 0.0  #: the worst cases of the runs in flight
    flying: int = 0  #: how many runs are in flight (a count: a float sum may not return to 0)
    refused: int = 0  #: jobs not sent because their worst case did not fit
    exhausted: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)

    def admit(self, job: Job, stop: threading.Event | None = None) -> bool:
        """Whether ``job`` may be sent; waits while runs in flight may still leave room."""
        need = self.worst.get(job.index, 0.0)
        with self._cond:
            while not self.exhausted:
                if self.spent + self.in_flight + need <= self.limit:
                    self.in_flight += need
                    self.flying += 1
                    return True
                if self.flying == 0 or (stop is not None and stop.is_set()):
                    self.exhausted = True  # nothing in flight can free room: the sweep stops here
                    break
                self._cond.wait(0.1)
            self.refused += 1
            return False

    def settle(self, job: Job, cost: float | None) -> None:
        """A sent job ended: its actual cost (its worst case when unknown) replaces its worst case."""
        need = self.worst.get(job.index, 0.0)
        actual = need if cost is None or not math.isfinite(cost) else cost
        with self._cond:
            self.flying -= 1
            self.in_flight = self.in_flight - need if self.flying else 0.0
            self.spent += actual
            self._cond.notify_all()

    def line(self, total: int, label: str | None) -> str:
        """The one line of a sweep the budget stopped: how many were not sent and how to go on."""
        how = (f"`--resume {label} --budget MORE` runs them" if label
               else "a sweep with --label can be finished later with --resume LABEL")
        return (f"budget: {self.refused} of {total} runs were not sent (spent ${self.spent:.6g} of "
                f"${self.limit:.6g}; the next run could cost up to ${self._next():.6g}); {how}")

    def _next(self) -> float:
        return max(self.worst.values(), default=0.0)


def budget(cmd: Any, jobs: list[Job], runlog: Any = None) -> Budget:
    """The Budget of a command's jobs (ValidationError before anything is sent when a job has no
    worst case)."""
    return Budget(float(cmd.budget), {job.index: worst_case(job) for job in jobs})


def dry_line(limit: float, jobs: list[Job]) -> str:
    """What a budget would do to a plan (``--dry-run --budget``): how many runs fit for sure."""
    spent, fit = 0.0, 0
    for job in jobs:
        worst = worst_case(job)
        if spent + worst > limit:
            break
        spent, fit = spent + worst, fit + 1
    if fit == len(jobs):
        return f"budget ${limit:.6g}: all {len(jobs):,} runs fit even at their worst case (${spent:.6g})"
    return (f"budget ${limit:.6g}: at least {fit:,} of {len(jobs):,} runs will be sent (their worst "
            "cases fit); more only as far as runs cost less than their worst case; the others are "
            "not sent, and --resume LABEL --budget MORE runs them later")
