"""6. The run log: load an N-row log into a DataFrame (vs ``pandas.read_sql`` of the same
table), and append one row to an N-row log vs to an empty one (median over many appends)."""
from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from .common import Result, ServerProcess, median
from .runners import Runners

APPEND_TARGET = 1.5


def _sample(server: ServerProcess, runners: Runners) -> tuple[dict, dict, dict]:
    """A real row, run object and body, from one run on the server."""
    from threadrun.rows.row import to_row
    server.set_latency(0.0)
    result = runners.client.run(runners.body, stream=True)
    return to_row(result, label="bench", repeat=0), result.run, result.body


def _fill(path: Path, rows: int, sample: tuple[dict, dict, dict]) -> None:
    """Write ``rows`` rows like RunLog.append does, in one transaction (fast set-up)."""
    from threadrun.rows import row as row_mod
    from threadrun.rows.runlog import _INSERT, RunLog, _dumps, _to_sql
    row_, run, body = sample
    base = [_to_sql(row_.get(name), dtype) for name, dtype in row_mod.COLUMNS.items()]
    names = list(row_mod.COLUMNS)
    i_run, i_thread, i_repeat = names.index("run_id"), names.index("thread_id"), names.index("repeat")
    run_json, body_json, now = _dumps(run), _dumps(body), time.time()

    def values():
        for i in range(rows):
            v = list(base)
            v[i_run], v[i_thread], v[i_repeat] = f"run_{i:024d}", f"thread_{i:024d}", i
            yield v + [run_json, body_json, now, None, None]

    with RunLog(path) as log:
        conn = log._conn
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(_INSERT, values())
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def measure(server: ServerProcess, runners: Runners, rows: int, loads: int, appends: int) -> list[Result]:
    import pandas as pd

    import threadrun
    from threadrun.rows.runlog import _SELECT, RunLog
    sample = _sample(server, runners)
    with tempfile.TemporaryDirectory() as tmp:
        big, empty = Path(tmp) / "big.sqlite", Path(tmp) / "empty.sqlite"
        _fill(big, rows, sample)
        size_mb = big.stat().st_size / 2**20
        threadrun.log(path=big)  # warm the page cache
        load, ref = [], []
        for _ in range(loads):
            t0 = time.perf_counter()
            df = threadrun.log(path=big)
            load.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            conn = sqlite3.connect(big)
            ref_df = pd.read_sql(f"SELECT {_SELECT} FROM runs ORDER BY seq", conn)
            conn.close()
            ref.append(time.perf_counter() - t0)
        assert len(df) == rows == len(ref_df)
        row_, run, body = sample
        to_big, to_empty = [], []
        with RunLog(big) as log_big, RunLog(empty) as log_empty:
            for _ in range(10):  # warm up
                log_big.append(row_, run=run, body=body)
                log_empty.append(row_, run=run, body=body)
            for _ in range(appends):
                t0 = time.perf_counter()
                log_big.append(row_, run=run, body=body)
                to_big.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                log_empty.append(row_, run=run, body=body)
                to_empty.append(time.perf_counter() - t0)
    m_load, m_ref = median(load), median(ref)
    m_big, m_empty = median(to_big), median(to_empty)
    ratio = m_big / m_empty
    return [
        Result("6", f"run log: load {rows:,} rows into a DataFrame (`threadrun.log`)", m_load, "s", len(load),
               f"{m_load / m_ref:.2f}× pandas.read_sql · {size_mb:.0f} MB file", "reported", None),
        Result("6", f"run log: `pandas.read_sql` of the same {rows:,} rows (reference)", m_ref, "s", len(ref),
               "", "reported", None),
        Result("6", f"run log: append one row to a {rows:,}-row log", m_big * 1e6, "µs", len(to_big),
               f"{ratio:.2f}× append to an empty log", f"≤ {APPEND_TARGET}×", ratio <= APPEND_TARGET),
        Result("6", "run log: append one row to an empty log (reference)", m_empty * 1e6, "µs", len(to_empty),
               "", "reported", None),
    ]
