"""Sweeps: logged before shown, grid order, interrupt → cancel, resume, rate and shared backoff."""
from __future__ import annotations

import _thread
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pandas as pd

import threadrun
from threadrun.api import command, execute
from threadrun.rows.runlog import RunLog

CREATE = "POST /threads/runs"
CANCEL = "POST /threads/{thread_id}/runs/{run_id}/cancel"


def test_every_row_is_in_the_log_before_the_result_returns(server, isolated):
    path = isolated / "runs.sqlite"
    seen_in_log = []

    def on_row(row):
        with RunLog(path) as other:  # a second connection, as another kernel would read it
            seen_in_log.append(row["run_id"] in set(other.read()["run_id"]))

    cmd = command("user: hi", model="gpt-4o,gpt-4o-mini", temperature="0,1", base_url=server.url,
                  log=str(path), progress=False)
    df = execute(cmd, on_row=on_row)
    assert seen_in_log == [True] * 4
    logged = threadrun.log(path=path)
    pd.testing.assert_frame_equal(logged.reset_index(drop=True),
                                  df.set_index("run_id").loc[logged["run_id"]].reset_index()[df.columns])


def test_logged_runs_come_back_with_the_same_columns_and_dtypes(ip, server, isolated):
    fresh = ip.run_cell_magic("threadrun", "-m gpt-4o-mini -t 0,1 --label L1", "user: hi")
    ip.run_cell_magic("threadrun", "-m gpt-4o --label other", "user: hi")
    logged = ip.run_line_magic("threadrun", "log --label L1")
    assert list(logged.columns) == list(fresh.columns)
    assert list(logged.dtypes) == list(fresh.dtypes)
    by_id = lambda df: df.sort_values("run_id").reset_index(drop=True)  # noqa: E731 log order = finishing order
    pd.testing.assert_frame_equal(by_id(logged), by_id(fresh))
    assert len(threadrun.log()) == 3
    assert (isolated / "threadrun-home" / "runs.sqlite").exists()


def test_no_log_writes_nothing(ip, server, isolated):
    ip.run_cell_magic("threadrun", "--no-log", "user: hi")
    assert not (isolated / "threadrun-home" / "runs.sqlite").exists()


def test_rows_keep_grid_order_whatever_the_finishing_order(server):
    server.set_fault("slow_s=1.5")
    server.faults.script(["slow"], route="create")  # the first create to arrive answers last
    recorded = []
    cmd = command("user: hi", model="gpt-4o,gpt-4o-mini", temperature="0,0.5,1", repeat=2,
                  concurrency=8, base_url=server.url, progress=False, log=False)
    df = execute(cmd, on_row=lambda row: recorded.append(row["run_id"]))
    expected = [(m, t, r) for m in ("gpt-4o", "gpt-4o-mini") for t in (0.0, 0.5, 1.0) for r in (0, 1)]
    assert list(zip(df["model"], df["temperature"], df["repeat"])) == expected
    assert recorded != list(df["run_id"])  # they really did finish in another order
    assert sorted(recorded) == sorted(df["run_id"])


def _interrupt_when(condition, timeout=10.0):
    """KeyboardInterrupt the main thread, as Jupyter's interrupt does, once condition() holds."""
    def watch():
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.01)
        _thread.interrupt_main()
    threading.Thread(target=watch, daemon=True).start()


def test_interrupt_cancels_in_flight_runs_on_the_server_and_resume_completes_the_rest(server, isolated):
    path = isolated / "runs.sqlite"
    server.latency = 0.6
    args = dict(model="gpt-4o,gpt-4o-mini", temperature="0,1", repeat=3, concurrency=4,
                base_url=server.url, log=str(path), progress=False)
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)  # assistant
    server.reset_counts()

    def second_wave_in_flight():
        # Runs created after the first wave of 4 last 60 s, so none of them can complete between
        # the interrupt and its cancel, however late a loaded machine delivers either; the first
        # wave keeps its 0.6 s and completes (resume must skip it).
        if server.runs_created >= 4:
            server.latency = 60.0
        return server.runs_created >= 6

    _interrupt_when(second_wave_in_flight)  # first 4 done or nearly, next ones in flight
    first = threadrun.run("user: hi", label="sweep", **args)
    statuses = first["status"].value_counts().to_dict()
    assert 0 < len(first) < 12
    assert server.runs_created == len(first)  # every run the server started has its row
    assert statuses.get("cancelled", 0) == server.counts.get(CANCEL, 0) > 0
    assert set(statuses) <= {"completed", "cancelled"}
    logged = threadrun.log(label="sweep", path=path)
    assert sorted(logged["run_id"]) == sorted(first["run_id"])

    server.reset_counts()
    server.latency = 0.05
    rest = threadrun.run("user: hi", resume="sweep", **args)
    done_before = set(zip(*[first.loc[first["status"] == "completed", c] for c in ("model", "temperature", "repeat")]))
    ran_now = set(zip(rest["model"], rest["temperature"], rest["repeat"]))
    assert not done_before & ran_now
    assert len(done_before) + len(ran_now) == 12
    assert server.counts[CREATE] == len(ran_now)
    assert (rest["label"] == "sweep").all()
    again = threadrun.run("user: hi", resume="sweep", **args)
    assert len(again) == 0


def test_rate_caps_requests_per_minute(server):
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    server.reset_counts()
    threadrun.run("user: hi", model="gpt-4o", repeat=4, rate=300, concurrency=4,
                  base_url=server.url, log=False, progress=False)
    times = sorted(r.time for r in server.requests)
    # 300/min = one request every 0.2 s: load on the machine can only stretch the span
    assert len(times) >= 5 and times[-1] - times[0] >= 0.2 * (len(times) - 1) - 0.02, times


def test_a_429_pauses_every_worker_not_just_the_one_that_got_it(server):
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    server.set_fault("retry_after=1.0")
    server.faults.script(["429"], route="create")
    server.reset_counts()
    threadrun.run("user: hi", model="gpt-4o", repeat=6, concurrency=2, base_url=server.url,
                  log=False, progress=False)
    creates = [r.time for r in server.requests if r.route == CREATE]
    throttled = creates[0]
    # The other worker may have one create under way when the 429 arrives, and, on a loaded
    # machine, pass the gate once more before the 429's reader has paused it: at most two of its
    # creates can land in the 1 s pause. Not paused, it sends its five runs' creates there
    # (~0.1 s apart). The retried create comes after the pause, outside the window.
    during = [t for t in creates[1:] if throttled < t < throttled + 0.9]
    assert len(creates) == 7 and len(during) <= 2, [round(t - throttled, 3) for t in creates]


SWEEPER = """
import sys, threadrun
from threadrun.api import command, execute
cmd = command("user: hi", model="gpt-4o,gpt-4o-mini", temperature="0,0.5,1", repeat=10,
              concurrency=4, base_url=sys.argv[1], log=sys.argv[2], progress=False)
execute(cmd, on_row=lambda row: print(row["run_id"], flush=True))
"""


def test_sweep_killed_with_sigkill_keeps_every_finished_run_in_an_intact_log(server, isolated):
    server.latency = 0.05
    path = isolated / "killed.sqlite"
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    proc = subprocess.Popen([sys.executable, "-c", SWEEPER, server.url, str(path)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    reported = []
    for line in proc.stdout:
        reported.append(line.strip())
        if len(reported) == 25:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        logged = {r[0] for r in db.execute("SELECT run_id FROM runs")}
    assert set(reported) <= logged
    assert len(logged) < 60


def test_log_since_that_is_not_a_date_is_a_one_line_usage_error(ip, server, capsys):
    ip.run_cell_magic("threadrun", "--label x", "user: hi")
    result = ip.run_cell("%threadrun log --since yesterdayish")
    err = capsys.readouterr().err.strip()
    assert type(result.error_in_exec).__name__ == "UsageError" and "\n" not in err
    assert "since expects a date" in err
    assert len(ip.run_line_magic("threadrun", "log --since 2020-01-01")) == 1
    assert len(ip.run_line_magic("threadrun", "log --since 2999-01-01")) == 0


def test_stop_while_creates_are_still_in_flight_cancels_and_records_every_created_run(server):
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    server.latency = 30.0
    server.set_fault("slow_s=3")
    server.faults.script(["slow", "slow", "slow"], route="create")  # answers arrive after Stop
    server.reset_counts()

    def stop_once_all_created(sweep):
        def watch():  # Stop as soon as the server made the 3 runs; their answers are 3 s away
            deadline = time.monotonic() + 10
            while server.runs_created < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            sweep.cancel()
        threading.Thread(target=watch, daemon=True).start()

    cmd = command("user: hi", model="gpt-4o", repeat=3, concurrency=3, base_url=server.url,
                  log=False, progress=False)
    df = execute(cmd, on_sweep=stop_once_all_created)
    assert server.runs_created == 3 and len(df) == 3
    assert (df["status"] == "cancelled").all()
    assert server.counts.get(CANCEL, 0) >= 3


def test_a_row_the_log_cannot_take_is_still_returned_with_a_note(server, isolated, monkeypatch, capsys):
    import sqlite3
    def broken(self, row, **kw):
        raise sqlite3.OperationalError("disk I/O error")
    monkeypatch.setattr(RunLog, "append", broken)
    df = threadrun.run("user: hi", model="gpt-4o,gpt-4o-mini", base_url=server.url,
                       log=str(isolated / "x.sqlite"), progress=False)
    assert len(df) == 2 and (df["status"] == "completed").all()
    assert df["error"].str.contains("not in the run log: disk I/O error").all()
    assert "2 rows could not be written to the run log" in capsys.readouterr().err


def test_latency_does_not_count_the_wait_for_a_rate_slot(server):
    server.latency = 0.0
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    df = threadrun.run("user: hi", model="gpt-4o", repeat=3, rate=60, concurrency=3,
                       base_url=server.url, log=False, progress=False)
    assert (df["status"] == "completed").all()
    # the slots are 1 s apart, so counting the wait would make the last one ≥ 2 s; a run of a
    # 0 s server takes milliseconds, so 1 s leaves a loaded machine ample room
    assert df["latency_s"].max() < 1.0, df["latency_s"].tolist()
