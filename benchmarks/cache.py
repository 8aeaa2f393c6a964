"""10. Free re-runs and the forecast (issue #23): replaying 10,000 logged runs, and a
``--dry-run`` forecast of 30,000 grid cells, each one whole ``threadrun`` call.

(a) A run log holds 10,000 completed runs of one cell × 10,000 repeats (rows written as
``RunLog.append`` writes them, with their request identities, in one transaction: the set-up is
not timed); ``threadrun.run(..., repeat=10_000)`` then returns every row from the log — parsing,
the plan of 10,000 bodies, their identities, one indexed lookup, the DataFrame. (b)
``threadrun.dry_run`` of 10,000 inputs (``over=`` a DataFrame) × 3 models = 30,000 cells with
a log that has run each of those 30,000 prompts before (with another cap, so none is replayed
for free): the bodies and the forecast lines, every prompt's tokens from the log (30,000 thread
identities and request identities looked up). (c) The same dry run on
300 new inputs the log has not seen, on one model: the forecast asks the embedded runtime to count each
prompt (``POST /threads/runs/input_tokens``, echo's tokenizer): reported, per prompt. All on the
embedded runtime's echo models, which no call sends anything to. (d) The dry run of (b) on
10,000 inputs the log has never seen: 300 prompts counted, spread over the 3 models, the others
scaled by their length. Reported, not a target: the counts are the provider's time (here 300
HTTP calls to the embedded runtime, about 0.5 s; on a real provider its network's), while (b)'s
target is threadrun's own work.
"""
from __future__ import annotations

import contextlib
import io
import tempfile
import time
from pathlib import Path

from .common import THREAD, Result, median

REPLAY_RUNS = 10_000
REPLAY_TARGET_S = 1.0
FORECAST_MODELS = ["echo:gpt-4o", "echo:gpt-4o-mini", "echo:gpt-4.1"]
FORECAST_INPUTS = 10_000
FORECAST_TARGET_S = 2.0
COUNTED_INPUTS = 300  # config.COUNT_MAX: what one dry run counts at most


def _fill(path: Path, jobs: list) -> None:
    """A completed row of each job, as a sweep would have logged it."""
    import threadrun
    from threadrun.grid import cache
    from threadrun.rows import row as row_mod
    from threadrun.rows.runlog import _INSERT, RunLog, _dumps, _to_sql
    sample = threadrun.run(THREAD, model="echo:gpt-4o", log=False, progress=False)
    sample_row = {k: (None if v != v else v) if isinstance(v, float) else v
                  for k, v in sample.iloc[0].to_dict().items()}
    sample_row["created_at"] = sample_row["completed_at"] = time.time()
    keys = cache.keys(jobs, None, True)
    base = [_to_sql(sample_row.get(name), dtype) for name, dtype in row_mod.COLUMNS.items()]
    names = list(row_mod.COLUMNS)
    i_run, i_repeat = names.index("run_id"), names.index("repeat")

    def values():
        for job in jobs:
            v = list(base)
            v[i_run], v[i_repeat] = f"run_{job.index:024d}", job.repeat
            yield v + [None, _dumps(job.body), time.time(), *keys[job.index]]

    with RunLog(path) as log:
        conn = log._conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, values())
        conn.execute("COMMIT")


def measure(rounds: int) -> list[Result]:
    import pandas as pd

    import threadrun
    from threadrun import api
    tickets = pd.DataFrame({"text": [f"Where is parcel {i}?" for i in range(FORECAST_INPUTS)]})
    new = pd.DataFrame({"text": [f"Where is box {i}?" for i in range(COUNTED_INPUTS)]})
    unseen = pd.DataFrame({"text": [f"Where is crate {i}?" for i in range(FORECAST_INPUTS)]})
    forecast = {"model": FORECAST_MODELS, "max_completion_tokens": 256}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cached.sqlite"
        _fill(path, api.command(THREAD, model="echo:gpt-4o", repeat=REPLAY_RUNS).plan())
        # the same prompts with another cap: in the log's history, but not replayed for free
        _fill(path, api.command("user: {text}", over=tickets, model=FORECAST_MODELS,
                                max_completion_tokens=512).plan())
        replay, dry, counted, sampled = [], [], [], []
        for _ in range(rounds):
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet):
                t0 = time.perf_counter()
                df = threadrun.run(THREAD, model="echo:gpt-4o", repeat=REPLAY_RUNS, log=str(path),
                                   progress=False)
                replay.append(time.perf_counter() - t0)
            if len(df) != REPLAY_RUNS or not df["cached"].all():
                raise RuntimeError("replay: not every row came from the log")
            with contextlib.redirect_stdout(quiet):
                t0 = time.perf_counter()
                bodies = threadrun.dry_run("user: {text}", over=tickets, log=str(path), **forecast)
                dry.append(time.perf_counter() - t0)
            cells = len(FORECAST_MODELS) * FORECAST_INPUTS
            if len(bodies) != cells or "(log history);" not in quiet.getvalue():
                raise RuntimeError("forecast: the bodies or the log's history are missing")
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet):
                t0 = time.perf_counter()
                threadrun.dry_run("user: {text}", over=new, log=str(path), model="echo:gpt-4o",
                                  max_completion_tokens=256)
                counted.append(time.perf_counter() - t0)
            if "(counted by the provider)" not in quiet.getvalue():
                raise RuntimeError("forecast: the runtime did not count the new prompts")
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet):
                t0 = time.perf_counter()
                threadrun.dry_run("user: {text}", over=unseen, log=str(path), **forecast)
                sampled.append(time.perf_counter() - t0)
            if "scaled by length" not in quiet.getvalue():
                raise RuntimeError("forecast: the new prompts were not sampled and scaled")
    m_replay, m_dry, m_counted = median(replay), median(dry), median(counted)
    m_sampled = median(sampled)
    return [
        Result("10", f"replay {REPLAY_RUNS:,} logged runs: one `threadrun.run()` call, every row cached",
               m_replay, "s", len(replay), f"{m_replay / REPLAY_RUNS * 1e6:.0f} µs/row",
               f"≤ {REPLAY_TARGET_S:g} s", m_replay <= REPLAY_TARGET_S),
        Result("10", f"`--dry-run` forecast of {FORECAST_INPUTS:,} inputs × 3 models = {cells:,} "
                     "cells, every prompt in the log", m_dry, "s", len(dry),
               f"{m_dry / cells * 1e6:.0f} µs/cell", f"≤ {FORECAST_TARGET_S:g} s",
               m_dry <= FORECAST_TARGET_S),
        Result("10", f"`--dry-run` forecast of {FORECAST_INPUTS:,} new inputs × 3 models = {cells:,} "
                     f"cells, none in the log: {COUNTED_INPUTS:,} prompts counted, the rest scaled",
               m_sampled, "s", len(sampled), f"{m_sampled / cells * 1e6:.0f} µs/cell", "reported",
               None),
        Result("10", f"`--dry-run` forecast of {COUNTED_INPUTS:,} new prompts, each counted by the "
                     "runtime (echo)", m_counted, "s", len(counted),
               f"{m_counted / COUNTED_INPUTS * 1e3:.2f} ms/prompt", "reported", None),
    ]
