"""What a plan would cost before it is sent (``--dry-run``), and a budget that stops a sweep.

The forecast, per model and in total: input tokens from the run log's history of the same
thread on the same model (``cache.thread_hash``: the provider's own usage for that very prompt),
else counted by the provider's token-count endpoint through the runtime (``count``: no run is
sent), else flagged unknown; output tokens from the log's history for that model, else the token
cap as an upper bound; the cost range from the prices (per service tier); an ETA from the
model's mean latency in the log at the chosen concurrency.

The budget (``--budget USD``) admits a run only when the spend so far (the cost of the
finished runs) plus the worst case of the runs in flight and of this one stays within it. A
run's worst case is an upper bound, never a guess: its prompt's UTF-8 bytes (a token is at
least one byte) plus a per-message allowance, at the input price, plus its token cap at the
output price, on its service tier.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import config, notify, providers
from ..errors import ValidationError
from ..providers.catalog import tier_price
from .cache import thread_hash
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


def _spec(job: Job) -> tuple[str | None, str | None]:
    model = job.body.get("model")
    return providers.split_spec(model) if isinstance(model, str) else (None, None)


def _rate(job: Job) -> tuple[float, float] | None:
    """USD per token (input, output) of a job's model on its tier, or None when unpriced."""
    provider, model = _spec(job)
    if model is None:
        return None
    priced = tier_price(model, provider, job.service_tier)
    return None if priced is None else (priced[0][0] / 1e6, priced[0][1] / 1e6)


def worst_case(job: Job) -> float:
    """The most a job can cost (USD); ValidationError naming why there is no bound."""
    if job.thread_id is not None:
        raise ValidationError("--budget cannot bound a continued thread's prompt (--continue): its "
                              "earlier messages are on the server, not in the request", param="budget")
    rate = _rate(job)
    model = job.body.get("model") or "the assistant's model"
    if rate is None:
        raise ValidationError(f"--budget needs a price for every model; {model} has none "
                              "(threadrun.set_prices sets one)", param="budget")
    cap = job.body.get("max_completion_tokens")
    if cap is None and rate[1] > 0:
        raise ValidationError(f"--budget needs --max-completion-tokens: without a cap a run of "
                              f"{model} has no most it can cost", param="budget")
    return prompt_bound(job.body) * rate[0] + (cap or 0) * rate[1]


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


# -- the forecast of a dry run ------------------------------------------------------------------

@dataclass
class ModelForecast:
    """One model's share of a plan: runs, tokens, cost range and time."""

    spec: str
    runs: int = 0
    input_tokens: float = 0.0
    input_unknown: int = 0  #: runs whose prompt neither the log nor the provider counted
    input_counted: int = 0  #: runs whose prompt the provider's count endpoint counted
    output_expected: float | None = 0.0  #: None: no history and no cap
    output_bound: float | None = 0.0  #: None: no cap and no history
    output_source: str = "log"
    cost_low: float | None = 0.0
    cost_high: float | None = 0.0
    seconds: float | None = 0.0  #: run-seconds (divided by the concurrency for the ETA)


def forecast(jobs: Iterable[Job], history: tuple[dict, dict] | None = None,
             threads: dict[int, str] | None = None,
             counted: dict[str, int] | None = None) -> list[ModelForecast]:
    """The forecast of each model of a plan (grid order), from the log's ``history`` and the
    provider's ``counted`` prompts (by thread hash); ``threads``: the thread hashes already
    computed (``thread_hashes``)."""
    prompts, models = history or ({}, {})
    counted = counted or {}
    out: dict[str, ModelForecast] = {}
    threads = {} if threads is None else threads
    rates: dict[tuple, tuple[float, float] | None] = {}  # a price looked up once per model and tier
    for job in jobs:
        spec = job.body.get("model") or "(the assistant's model)"
        entry = out.setdefault(spec, ModelForecast(spec))
        seen = id(job.body.get("thread"))
        if seen not in threads:
            threads[seen] = thread_hash(job.body)
        if (spec, job.service_tier) not in rates:
            rates[(spec, job.service_tier)] = _rate(job)
        logged = prompts.get(threads[seen])
        if logged is None and threads[seen] in counted:
            logged = float(counted[threads[seen]])
            entry.input_counted += 1
        _add(entry, job, logged, models.get(_spec(job)), rates[(spec, job.service_tier)])
    return list(out.values())


def thread_hashes(jobs: list[Job]) -> dict[int, str]:
    """Each distinct request thread's hash, by the thread object's id (repeats share it)."""
    out: dict[int, str] = {}
    for job in jobs:
        seen = id(job.body.get("thread"))
        if seen not in out:
            out[seen] = thread_hash(job.body)
    return out


def _add(entry: ModelForecast, job: Job, prompt: float | None, model: tuple | None,
         rate: tuple[float, float] | None) -> None:
    """Add one job to its model's forecast."""
    entry.runs += 1
    if prompt is None:
        entry.input_unknown += 1
        prompt = 0.0
    entry.input_tokens += prompt
    cap = job.body.get("max_completion_tokens")
    expected: float | None
    bound: float | None
    if model is not None:
        _, mean_out, max_out, latency = model
        expected, bound = float(mean_out), float(cap if cap is not None else max_out)
        entry.seconds = None if entry.seconds is None or latency is None else entry.seconds + latency
    else:
        expected, bound = (None, float(cap)) if cap is not None else (None, None)
        entry.output_source = "cap" if cap is not None else "unknown"
        entry.seconds = None
    entry.output_expected = _plus(entry.output_expected, expected)
    entry.output_bound = _plus(entry.output_bound, bound)
    low = None if rate is None else prompt * rate[0] + (expected or 0.0) * rate[1]
    high = None if rate is None or bound is None else prompt * rate[0] + bound * rate[1]
    entry.cost_low, entry.cost_high = _plus(entry.cost_low, low), _plus(entry.cost_high, high)


def _plus(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


def lines(forecasts: list[ModelForecast], concurrency: int) -> list[str]:
    """The forecast's lines: one per model, then the total."""
    out = [_line(f"forecast {f.spec}", f, concurrency) for f in forecasts]
    if len(forecasts) > 1:
        total = ModelForecast("total")
        for f in forecasts:
            total.runs += f.runs
            total.input_tokens += f.input_tokens
            total.input_unknown += f.input_unknown
            total.input_counted += f.input_counted
            total.output_expected = _plus(total.output_expected, f.output_expected)
            total.output_bound = _plus(total.output_bound, f.output_bound)
            total.cost_low = _plus(total.cost_low, f.cost_low)
            total.cost_high = _plus(total.cost_high, f.cost_high)
            total.seconds = _plus(total.seconds, f.seconds)
        total.output_source = "mixed"
        out.append(_line("forecast total", total, concurrency))
    return out


def _line(head: str, f: ModelForecast, concurrency: int) -> str:
    known = f.runs - f.input_unknown
    tokens = (f"input {f.input_tokens:,.0f} tokens{_sources(f)}" if not f.input_unknown else
              f"input unknown for {f.input_unknown} of {f.runs} runs (not in the log, not counted "
              f"by the provider){f'; {f.input_tokens:,.0f} tokens for the other {known}{_sources(f)}' if known else ''}")
    if f.output_expected is not None:
        output = f"output ≈ {f.output_expected:,.0f} tokens (log history)"
    elif f.output_bound is not None:
        output = f"output ≤ {f.output_bound:,.0f} tokens (the cap; no history)"
    else:
        output = "output unknown (no history, no --max-completion-tokens)"
    if f.cost_low is None:
        cost = "cost unknown (no price)"
    elif f.cost_high is None:
        cost = f"cost ≥ ${f.cost_low:.4g} (no upper bound without a cap)"
    else:
        cost = f"cost ${f.cost_low:.4g}–${f.cost_high:.4g}"
    if f.input_unknown and f.cost_low is not None:
        cost += " + the unknown input"
    eta = ("ETA unknown (no history)" if f.seconds is None
           else f"ETA {f.seconds / max(1, concurrency):,.1f} s at concurrency {concurrency}")
    return f"{head}: {f.runs:,} runs; {tokens}; {output}; {cost}; {eta}"


def _sources(f: ModelForecast) -> str:
    """Where the known input tokens came from: the log, the provider's count, or both."""
    logged = f.runs - f.input_unknown - f.input_counted
    if not f.input_counted:
        return " (log history)" if logged else ""
    if not logged:
        return " (counted by the provider)"
    return f" (log history for {logged}, counted by the provider for {f.input_counted})"


def history_of(log: Any, threads: Iterable[str]) -> tuple[dict, dict] | None:
    """The log's history for these thread hashes, without creating a log that is not there."""
    if log is False:
        return None
    path = Path(log) if isinstance(log, str) else config.log_path()
    if not path.exists():
        return None
    from ..rows.runlog import RunLog
    with RunLog(path) as runlog:
        return runlog.history(list(dict.fromkeys(threads)))


Count = Callable[[dict[str, dict]], Any]  #: prompts by thread hash → ``client.counting.Counts``
#: More prompts to count than this, and a line says so first (the counts may take seconds).
COUNT_NOTICE = 100


def say(jobs: list[Job], log: Any, concurrency: int,
        count: Count | None = None) -> list[ModelForecast]:
    """Print the forecast of a plan (``notify.info``, one line per model and the total, then how
    the provider counted the prompts the log has not seen: ``count``, when given)."""
    threads = thread_hashes(jobs)
    history = history_of(log, threads.values())
    counts = None
    if count is not None:
        prompts = unseen(jobs, threads, history)
        if len(prompts) > COUNT_NOTICE:
            notify.info(f"counting the input tokens of {len(prompts):,} prompts with their "
                        "providers (no run is sent)…")
        counts = count(prompts)
    forecasts = forecast(jobs, history, threads, counts.tokens if counts is not None else None)
    for line in lines(forecasts, concurrency):
        notify.info(line)
    for spec, how in (counts.how.items() if counts is not None else ()):
        notify.info(f"input tokens of {spec} counted by {how}; no run was sent")
    if counts is not None and counts.line():
        notify.info(counts.line())
    return forecasts


def count_body(body: dict) -> dict | None:
    """What a count is asked with: the run's body without its assistant (None: no model named)."""
    if not isinstance(body.get("model"), str):
        return None
    return {k: v for k, v in body.items() if k not in ("assistant_id", "stream")}


def unseen(jobs: list[Job], threads: dict[int, str], history: tuple[dict, dict] | None) -> dict[str, dict]:
    """The prompts the log has not seen, by thread hash: each job's body, once per prompt (a
    continued thread's earlier messages are on the server, not in its body: never counted)."""
    logged = history[0] if history else {}
    out: dict[str, dict] = {}
    for job in jobs:
        if job.thread_id is not None:
            continue
        digest = threads[id(job.body.get("thread"))]
        if digest not in logged and digest not in out and (body := count_body(job.body)) is not None:
            out[digest] = body
    return out
