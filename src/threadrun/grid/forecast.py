"""What a plan would cost before it is sent (``--dry-run``).

The forecast, per model and in total, of the runs a call would send: the cells whose request
completed before are replayed from the run log for free (``cache``; unless ``--fresh``) and only
counted. Input tokens come from the run log's history of the same prompt on the same model
(``cache.thread_hash``: the provider's own usage for that very prompt), else from the provider's
token-count endpoint through the runtime (``count``: no run is sent), for a sample of at most
``config.COUNT_MAX`` prompts spread evenly over each model's; a prompt outside the sample is
estimated from the counted ones, tokens per byte of the prompt (said as ``≈``), else flagged
unknown. Output tokens come from the log's history for that model, else the token cap as an
upper bound; the cost range from the prices (per service tier); an ETA from the model's mean
latency in the log at the chosen concurrency, plus the client's own work per run. The budget itself is ``budget``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from .. import config, notify
from . import budget as budgets
from .budget import prompt_bound, rate, spec_of
from .cache import thread_hash
from .plan import Job

Count = Callable[[dict[str, dict]], Any]  #: prompts by thread hash → ``client.counting.Counts``
#: More prompts to count than this, and a line says so first (the counts may take seconds).
COUNT_NOTICE = 100
#: The client's own work per run, one after another whatever the concurrency (about 2 ms on
#: two cores: docs/benchmarks.md, section 2), added to the models' logged latency for the ETA.
CLIENT_S_PER_RUN = 0.002


@dataclass
class ModelForecast:
    """One model's share of a plan: runs, tokens, cost range and time."""

    spec: str
    runs: int = 0  #: runs to send
    cached: int = 0  #: runs replayed from the log instead (free)
    input_tokens: float = 0.0
    input_unknown: int = 0  #: runs whose prompt neither the log nor the provider counted
    input_counted: int = 0  #: runs whose prompt the provider's count endpoint counted
    input_estimated: int = 0  #: runs whose prompt was scaled from the counted ones
    output_expected: float | None = 0.0  #: None: no history and no cap
    output_bound: float | None = 0.0  #: None: no cap and no history
    output_source: str = "log"
    cost_low: float | None = 0.0
    cost_high: float | None = 0.0
    seconds: float | None = 0.0  #: run-seconds (divided by the concurrency for the ETA)


def forecast(jobs: Iterable[Job], history: tuple[dict, dict] | None = None,
             threads: dict[int, str] | None = None, counted: dict[str, int] | None = None,
             cached: set[int] | frozenset[int] = frozenset()) -> list[ModelForecast]:
    """The forecast of each model of a plan (grid order), from the log's ``history``, the
    provider's ``counted`` prompts (by thread hash) and the ``cached`` grid indexes; ``threads``:
    the thread hashes already computed (``thread_hashes``)."""
    jobs = list(jobs)
    prompts, models = history or ({}, {})
    counted = counted or {}
    threads = thread_hashes(jobs) if threads is None else threads
    ratios = _ratios(jobs, threads, counted)
    out: dict[str, ModelForecast] = {}
    rates: dict[tuple, tuple[float, float] | None] = {}  # a price looked up once per model and tier
    for job in jobs:
        spec = job.body.get("model") or "(the assistant's model)"
        entry = out.setdefault(spec, ModelForecast(spec))
        if job.index in cached:
            entry.cached += 1
            continue
        digest = threads[id(job.body.get("thread"))]
        if (spec, job.service_tier) not in rates:
            rates[(spec, job.service_tier)] = rate(job)
        prompt = prompts.get(digest)
        if prompt is None and digest in counted:
            prompt, entry.input_counted = float(counted[digest]), entry.input_counted + 1
        elif prompt is None and spec in ratios and job.thread_id is None:
            prompt, entry.input_estimated = prompt_bound(job.body) * ratios[spec], entry.input_estimated + 1
        _add(entry, job, prompt, models.get(spec_of(job)), rates[(spec, job.service_tier)])
    return list(out.values())


def _ratios(jobs: list[Job], threads: dict[int, str], counted: dict[str, int]) -> dict[str, float]:
    """Per model, the counted prompts' tokens per byte (``prompt_bound``): what scales the others."""
    sums: dict[str, list[float]] = {}
    seen: set[str] = set()
    for job in jobs:
        digest = threads[id(job.body.get("thread"))]
        if digest in counted and digest not in seen:
            seen.add(digest)
            tokens_bytes = sums.setdefault(job.body.get("model") or "", [0.0, 0.0])
            tokens_bytes[0] += counted[digest]
            tokens_bytes[1] += prompt_bound(job.body)
    return {spec: t / b for spec, (t, b) in sums.items() if b > 0}


def thread_hashes(jobs: list[Job]) -> dict[int, str]:
    """Each distinct request thread's hash, by the thread object's id (repeats share it)."""
    out: dict[int, str] = {}
    for job in jobs:
        seen = id(job.body.get("thread"))
        if seen not in out:
            out[seen] = thread_hash(job.body)
    return out


def _add(entry: ModelForecast, job: Job, prompt: float | None, model: tuple | None,
         per_token: tuple[float, float] | None) -> None:
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
    low = None if per_token is None else prompt * per_token[0] + (expected or 0.0) * per_token[1]
    high = None if per_token is None or bound is None else prompt * per_token[0] + bound * per_token[1]
    entry.cost_low, entry.cost_high = _plus(entry.cost_low, low), _plus(entry.cost_high, high)


def _plus(total: float | None, value: float | None) -> float | None:
    return None if total is None or value is None else total + value


def lines(forecasts: list[ModelForecast], concurrency: int) -> list[str]:
    """The forecast's lines: one per model, then the total."""
    out = [_line(f"forecast {f.spec}", f, concurrency) for f in forecasts]
    if len(forecasts) > 1:
        total = ModelForecast("total")
        for f in forecasts:
            for name in ("runs", "cached", "input_tokens", "input_unknown", "input_counted",
                         "input_estimated"):
                setattr(total, name, getattr(total, name) + getattr(f, name))
            for name in ("output_expected", "output_bound", "cost_low", "cost_high", "seconds"):
                setattr(total, name, _plus(getattr(total, name), getattr(f, name)))
        sources = {f.output_source for f in forecasts if f.runs}
        total.output_source = sources.pop() if len(sources) == 1 else "mixed"
        out.append(_line("forecast total", total, concurrency))
    return out


def _line(head: str, f: ModelForecast, concurrency: int) -> str:
    runs = _runs(f.runs)
    if f.cached:
        if not f.runs:
            return f"{head}: all {_runs(f.cached)} come from the run log (free: $0); nothing to send"
        runs = f"{runs} to send, {f.cached:,} more from the run log (free)"
    known = f.runs - f.input_unknown
    about = "≈ " if f.input_estimated else ""
    tokens = (f"input {about}{f.input_tokens:,.0f} tokens{_sources(f)}" if not f.input_unknown else
              f"input unknown for {f.input_unknown:,} of {_runs(f.runs)} (not in the log, not "
              f"counted by the provider)" + (f"; {about}{f.input_tokens:,.0f} tokens for the other "
                                            f"{known:,}{_sources(f)}" if known else ""))
    if f.output_expected is not None:
        output = f"output ≈ {f.output_expected:,.0f} tokens (log history)"
    elif f.output_bound is not None:
        output = (f"output ≤ {f.output_bound:,.0f} tokens (the log's for some models, the cap "
                  "for the others)" if f.output_source == "mixed" else
                  f"output ≤ {f.output_bound:,.0f} tokens (the cap; no history)")
    else:
        output = "output unknown (no history, no --max-completion-tokens)"
    if f.cost_low is None:
        cost = "cost unknown (no price)"
    elif f.cost_high is None:
        cost = f"cost ≥ {usd(f.cost_low)} (no upper bound without a cap)"
    elif usd(f.cost_low) == usd(f.cost_high):
        cost = f"cost {usd(f.cost_low)}"
    else:
        cost = f"cost {usd(f.cost_low)}–{usd(f.cost_high)}"
    if f.input_unknown and f.cost_low is not None:
        cost += " + the unknown input"
    eta = ("ETA unknown (no history)" if f.seconds is None else
           f"ETA {f.seconds / max(1, concurrency) + f.runs * CLIENT_S_PER_RUN:,.1f} s at "
           f"concurrency {concurrency}")
    return f"{head}: {runs}; {tokens}; {output}; {cost}; {eta}"


def _runs(n: int) -> str:
    return f"{n:,} run" + ("" if n == 1 else "s")


def usd(value: float) -> str:
    """Dollars with four significant digits, never in scientific notation: ``$0.00000180``."""
    if value == 0 or not math.isfinite(value):
        return f"${value:g}"
    digits = max(2, 3 - math.floor(math.log10(abs(value))))
    return f"${value:,.{digits}f}"


def _sources(f: ModelForecast) -> str:
    """Where the known input tokens came from: the log, the provider's count, or an estimate."""
    logged = f.runs - f.input_unknown - f.input_counted - f.input_estimated
    parts = [f"log history for {logged:,}" if logged else "",
             f"counted by the provider for {f.input_counted:,}" if f.input_counted else "",
             f"scaled by length from those counted for {f.input_estimated:,}" if f.input_estimated else ""]
    parts = [p for p in parts if p]
    if len(parts) == 1 and not f.input_estimated:
        return " (log history)" if logged else " (counted by the provider)"
    return f" ({', '.join(parts)})" if parts else ""


def history_of(log: Any, threads: Iterable[str]) -> tuple[dict, dict] | None:
    """The log's history for these thread hashes, without creating a log that is not there."""
    path = log_path(log)
    if path is None:
        return None
    from ..rows.runlog import RunLog
    with RunLog(path) as runlog:
        return runlog.history(list(dict.fromkeys(threads)))


def log_path(log: Any) -> Path | None:
    """The run log a call would use, when it exists (a dry run never creates one)."""
    if log is False:
        return None
    path = Path(log) if isinstance(log, str) else config.log_path()
    return path if path.exists() else None


def say(jobs: list[Job], log: Any, concurrency: int, count: Count | None = None,
        cached: set[int] | frozenset[int] = frozenset(), limit: float | None = None,
        threads: dict[int, str] | None = None) -> list[ModelForecast]:
    """Print the forecast of a plan (``notify.info``, one line per model and the total, then how
    the provider counted the prompts the log has not seen: ``count``, when given; what the
    budget ``limit`` would do); ``threads``: the thread hashes, when already computed."""
    threads = thread_hashes(jobs) if threads is None else threads
    history = history_of(log, threads.values())
    counts = None
    if count is not None:
        prompts = unseen([j for j in jobs if j.index not in cached], threads, history)
        if len(prompts) > COUNT_NOTICE:
            notify.info(f"counting the input tokens of {len(prompts):,} prompts with their "
                        "providers (no run is sent)…")
        counts = count(prompts)
    forecasts = forecast(jobs, history, threads, counts.tokens if counts is not None else None,
                         cached)
    for line in lines(forecasts, concurrency):
        notify.info(line)
    for spec, how in (counts.how.items() if counts is not None else ()):
        notify.info(f"input tokens of {spec} counted by {how}; no run was sent")
    if counts is not None and counts.line():
        notify.info(counts.line())
    if limit is not None:
        notify.info(budgets.dry_line(limit, [j for j in jobs if j.index not in cached]))
    return forecasts


def count_body(body: dict) -> dict | None:
    """What a count is asked with: the run's body without its assistant (None: no model named)."""
    if not isinstance(body.get("model"), str):
        return None
    return {k: v for k, v in body.items() if k not in ("assistant_id", "stream")}


def unseen(jobs: list[Job], threads: dict[int, str], history: tuple[dict, dict] | None,
           limit: int | None = None) -> dict[str, dict]:
    """The prompts to count, by thread hash: those the log has not seen, each once, at most
    ``limit`` (``config.COUNT_MAX``) spread evenly over each model's (a continued thread's
    earlier messages are on the server, not in its body: never counted)."""
    logged = history[0] if history else {}
    per_model: dict[str, dict[str, dict]] = {}
    for job in jobs:
        if job.thread_id is not None:
            continue
        digest = threads[id(job.body.get("thread"))]
        mine = per_model.setdefault(str(job.body.get("model")), {})
        if digest not in logged and digest not in mine and (body := count_body(job.body)) is not None:
            mine[digest] = body
    share = max(1, (config.COUNT_MAX if limit is None else limit) // max(1, len(per_model)))
    out: dict[str, dict] = {}
    for mine in per_model.values():
        items = list(mine.items())
        step = max(1.0, len(items) / share)
        out.update(items[int(i * step)] for i in range(min(share, len(items))))
    return out
