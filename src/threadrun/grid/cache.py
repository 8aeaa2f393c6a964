"""Free re-runs: a grid cell whose request already completed is replayed from the run log.

A request's identity (``request_hash``) is what decides its answer: the provider and model, the
full body sent (``stream`` included: streamed and polled runs are two requests) and the repeat
index, plus the reasoning effort (it travels on the scratch assistant, not in the body), the
input's index label with ``--over`` (two inputs whose text is the same are two cells: each
replays its own run, so a re-run shows the same numbers row for row) and, for an Assistants
server other than the embedded runtime, its base URL. Left out, because they
differ from one run of the same request to the next:

- the id of a **scratch assistant** (a new one per process or runtime; an assistant the user
  named with ``--assistant`` stays in: its instructions and model are part of the request);
- the ``Idempotency-Key`` header (one per create, never in the body);
- the embedded runtime's URL (a random port per process).

A replayed row is the logged one: its run id, tokens, cost and timings, ``cached`` set, the
current label, and the current call's score (scored again, or none without ``score=``). It is not appended to the log again, so every sum over the log counts a run's
cost once; in a result frame ``df.loc[~df.cached, "cost_usd"].sum()`` is what the call spent.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from .plan import PENDING_ASSISTANT, Job

#: What decides a run's prompt tokens (with the model): the forecast's "same thread".
_THREAD_FIELDS = ("thread", "instructions", "tools", "response_format", "model")


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def request_hash(job: Job, scope: str | None = None, stream: bool = True) -> str:
    """The identity of one grid cell's request (see the module's docstring).

    ``scope``: the base URL of an Assistants server other than the embedded runtime (None for
    it); ``stream``: whether the body is sent with ``stream: true`` (the client adds it).
    """
    body = {k: v for k, v in job.body.items()
            if not (k == "assistant_id" and v == PENDING_ASSISTANT)}
    body["stream"] = bool(body.get("stream", stream))
    return _digest([scope, job.reasoning_effort, job.repeat, body]
                   + ([] if job.input is None else [repr(job.input)]))


def thread_hash(body: dict) -> str:
    """The identity of a request's thread for one model: what its prompt tokens depend on."""
    return _digest([body.get(k) for k in _THREAD_FIELDS])


def keys(jobs: list[Job], scope: str | None, stream: bool = True) -> dict[int, tuple[str, str]]:
    """``(request_hash, thread_hash)`` of each job, by grid index (a thread hashed once per body)."""
    threads: dict[int, str] = {}
    out = {}
    for job in jobs:
        seen = id(job.body.get("thread"))
        if seen not in threads:
            threads[seen] = thread_hash(job.body)
        out[job.index] = (request_hash(job, scope, stream), threads[seen])
    return out


def replay(jobs: list[Job], hashes: dict[int, tuple[str, str]], runlog: Any, label: str | None,
           on_row: Callable[[dict], None] | None = None,
           score: Callable[[dict, Any], None] | None = None) -> tuple[list[Job], dict[int, dict]]:
    """The jobs still to run, and the rows replayed from the log by grid index (``cached``);
    ``score(row, input)`` scores a replayed row again (a scorer may have changed); without it
    (a call with no ``score=``) a replayed row has no score and no ``score_error``."""
    if runlog is None or not jobs:
        return jobs, {}
    found = runlog.replays(list(dict.fromkeys(hashes[j.index][0] for j in jobs)))
    todo: list[Job] = []
    rows: dict[int, dict] = {}
    for job in jobs:
        logged = found.get(hashes[job.index][0])
        if logged is None:
            todo.append(job)
            continue
        row = dict(logged, cached=True, label=label, repeat=job.repeat, input=job.input)
        if score is not None:
            score(row, job.input)
        else:  # a call without a scorer shows no score, not the one an earlier call logged
            row["score"], row["score_error"] = None, None
        if on_row is not None:
            on_row(row)
        rows[job.index] = row
    return todo, rows


def replayed_line(rows: dict[int, dict], total: int) -> str:
    """The one line of a call some of whose rows came from the log: what they saved, in USD
    where their cost is known (an unpriced model's is NaN: never said to be $0)."""
    costs = [r.get("cost_usd") for r in rows.values()]
    known = [c for c in costs if isinstance(c, (int, float)) and c == c]
    unknown = len(costs) - len(known)
    if not known:
        saved = "cost unknown"
    else:
        saved = f"${sum(known):.6g} not spent again"
        saved += f", and {unknown} of unknown cost" if unknown else ""
    return (f"{len(rows)} of {total} rows came from the run log (cached: their original tokens, "
            f"cost and timings; {saved}); --fresh runs them again")
