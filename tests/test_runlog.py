"""The persistent run log: round trips, filters, schema migrations, WAL, concurrency, crashes."""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import signal
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from threadrun.rows import row
from threadrun.rows import runlog
from threadrun.client import Client
from threadrun.rows.result import RunResult
from threadrun.errors import RunLogError, ThreadrunError
from threadrun.rows.runlog import MIGRATIONS, VERSION, RunLog

FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # the same as conftest's keyed_server
WRITER = Path(__file__).with_name("runlog_writer.py")
T0 = 1_700_000_000


def result(i: int, *, model: str = "gpt-4o-mini", temperature: float | None = 0.7,
           status: str = "completed", created: float | None = None) -> RunResult:
    """A RunResult like the client returns, with a run object and a body."""
    body = {"assistant_id": "asst_1", "model": model, "temperature": temperature,
            "thread": {"messages": [{"role": "user", "content": f"hi {i} ✓"}]}}
    run = {"id": f"run_{i}", "object": "thread.run", "thread_id": f"thread_{i}",
           "assistant_id": "asst_1", "model": model, "temperature": temperature, "top_p": 1.0,
           "status": status, "created_at": T0 + i * 60 if created is None else created,
           "completed_at": T0 + i * 60 + 2 if status == "completed" else None,
           "failed_at": T0 + i * 60 + 3 if status == "failed" else None,
           "usage": {"prompt_tokens": 12, "completion_tokens": 3 + i, "total_tokens": 15 + i}
           if status == "completed" else None}
    return RunResult(body=body, run=run, reply="hello" if status == "completed" else "",
                     status=status, error=None if status == "completed" else "boom",
                     latency_s=1.25 + i, retries=i % 2, request_id=f"req_{i}")


def error_row() -> dict:
    """A row with no run at all (the request failed): mostly missing values."""
    return row.to_row(RunResult(body={"model": "gpt-4o"}, error="HTTP 500: down"), label="a")


def hand_row(**values) -> dict:
    """A hand-made row with exactly the COLUMNS keys."""
    base = dict.fromkeys(row.COLUMNS)
    base.update(run_id="run_h", status="completed", latency_s=math.nan, cost_usd=math.nan)
    base.update(values)
    return base


def sample_rows() -> list[dict]:
    return [
        row.to_row(result(0), label="a", repeat=0),
        row.to_row(result(1, model="gpt-4o"), label="a", repeat=1),
        row.to_row(result(2, status="failed", temperature=None), label="b", repeat=0),
        error_row(),
        hand_row(run_id="run_x", created_at=T0 + 0.123456, prompt_tokens=7, error="e", label="b",
                 reply="multi\nline 'quoted' \"text\" ✓", repeat=3, retries=2, request_id="r"),
    ]


def test_append_then_read_returns_the_same_rows_with_the_dtypes_of_row_frame(tmp_path):
    rows = sample_rows()
    with RunLog(tmp_path / "runs.sqlite") as log:
        for r in rows:
            log.append(r)
        df = log.read()
    expected = row.frame(rows)
    pd.testing.assert_frame_equal(df, expected)
    assert list(df.columns) == list(row.COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: str(t) for c, t in expected.dtypes.items()}
    assert df.loc[3, "error"] == "HTTP 500: down" and df.loc[0, "error"] is None
    assert pd.isna(df.loc[3, "created_at"]) and pd.isna(df.loc[3, "prompt_tokens"])
    assert math.isnan(df.loc[4, "latency_s"])


def test_read_of_an_empty_log_is_an_empty_frame_with_the_same_dtypes(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        pd.testing.assert_frame_equal(log.read(), row.frame([]))


def test_rows_come_back_in_insertion_order(tmp_path):
    rows = [row.to_row(result(i, created=T0 - i), label="a") for i in range(20)]
    with RunLog(tmp_path / "runs.sqlite") as log:
        for r in rows:
            log.append(r)
        assert list(log.read()["run_id"]) == [r["run_id"] for r in rows]


def test_read_filters_by_label_model_and_since(tmp_path):
    rows = sample_rows()
    with RunLog(tmp_path / "runs.sqlite") as log:
        for r in rows:
            log.append(r)
        assert list(log.read(label="a")["run_id"].fillna("-")) == ["run_0", "run_1", "-"]
        assert list(log.read(model="gpt-4o")["run_id"].fillna("-")) == ["run_1", "-"]
        assert list(log.read(label="a", model="gpt-4o-mini")["run_id"]) == ["run_0"]
        assert log.read(label="nope").empty
        stamp = pd.Timestamp(T0 + 60, unit="s", tz="UTC")
        for since in (stamp, stamp.isoformat(), stamp.to_pydatetime(),
                      stamp.tz_localize(None).to_pydatetime(),  # naive: taken as UTC
                      stamp.tz_convert("Europe/Paris"), "2023-11-14T23:14:20+01:00"):
            assert list(log.read(since=since)["run_id"]) == ["run_1", "run_2"], since
        pd.testing.assert_frame_equal(log.read(label="b", since=stamp),
                                      row.frame([rows[2]]))


def test_run_json_and_body_json_round_trip(tmp_path):
    res = result(5)
    with RunLog(tmp_path / "runs.sqlite") as log:
        log.append(row.to_row(res), run=res.run, body=res.body)
        log.append(error_row(), body={"model": "gpt-4o"})
        assert log.run_json("run_5") == res.run
        assert log.body_json("run_5") == res.body
        assert log.run_json("run_missing") is None and log.body_json("run_missing") is None


def test_body_and_run_are_stored_verbatim_and_no_header_data_is_stored(tmp_path, keyed_server):
    client = Client(keyed_server.url, FAKE_KEY)
    asst = client.create_assistant("gpt-4o-mini")
    body = {"assistant_id": asst["id"], "model": "gpt-4o-mini", "temperature": 0.2,
            "thread": {"messages": [{"role": "user", "content": "héllo \"there\""}]}}
    res = client.run(body, stream=False)
    client.close()
    assert res.status == "completed"
    path = tmp_path / "runs.sqlite"
    with RunLog(path) as log:
        log.append(row.to_row(res, label="k"), run=res.run, body=res.body)
        stored = log._conn.execute("SELECT run_json, body_json FROM runs").fetchone()
        assert log.run_json(res.run["id"]) == res.run
        assert log.body_json(res.run["id"]) == body
    assert json.loads(stored[0]) == res.run and json.loads(stored[1]) == body
    assert stored[1] == json.dumps(body, ensure_ascii=False)
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("runs.sqlite"))
    assert res.run["id"].encode() in raw  # we did look at the stored data
    for secret in (FAKE_KEY, FAKE_KEY[-12:], "Bearer", "Authorization", "authorization",
                   "OpenAI-Beta", "User-Agent"):
        assert secret.encode() not in raw


def test_a_version_1_log_is_upgraded_in_place_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    # the columns version 1 had: every column a later migration adds is left out
    later = set(re.findall(r'ADD COLUMN "?(\w+)', " ".join(MIGRATIONS[1:])))
    assert {"repeat", "queue_s", "sent"} <= later
    v1 = {k: v for k, v in row.to_row(result(1), label="old").items() if k not in later}
    names = ", ".join(v1)
    conn.execute(f"INSERT INTO runs ({names}, run_json, logged_at) VALUES "
                 f"({', '.join('?' * len(v1))}, ?, ?)", [*v1.values(), '{"id": "run_1"}', 1.0])
    conn.commit()
    conn.close()
    with RunLog(path) as log:
        assert log._conn.execute("PRAGMA user_version").fetchone()[0] == VERSION == len(MIGRATIONS)
        df = log.read()
        assert log.run_json("run_1") == {"id": "run_1"}
        log.append(row.to_row(result(2), label="new", repeat=4))
        assert list(log.read(label="new")["repeat"]) == [4]
        indexes = {r[1] for r in log._conn.execute("PRAGMA index_list(runs)")}
        assert "runs_label_model" in indexes
    pd.testing.assert_frame_equal(df, row.frame([v1]))
    missing = sorted(later & set(df.columns) - {"cached"})  # request/thread hashes are log-only
    assert df[missing].isna().all().all()
    assert not df["cached"].any()  # a row logged before the column existed ran fresh


def test_a_failing_migration_leaves_the_file_at_its_old_version(tmp_path, monkeypatch):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0])
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    monkeypatch.setattr(runlog, "MIGRATIONS", [*MIGRATIONS, "ALTER TABLE nope ADD COLUMN x"])
    monkeypatch.setattr(runlog, "VERSION", len(MIGRATIONS) + 1)
    with pytest.raises(ThreadrunError, match="no such table: nope") as caught:
        RunLog(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
    conn.close()
    assert "repeat" not in columns  # migration 2 was rolled back with the failing 3


def test_a_log_from_a_newer_threadrun_is_refused_with_a_one_line_error(tmp_path):
    path = tmp_path / "new.sqlite"
    with RunLog(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {VERSION + 1}")
    conn.close()
    with pytest.raises(ThreadrunError) as caught:
        RunLog(path)
    message = str(caught.value)
    assert "\n" not in message
    assert f"version {VERSION + 1}" in message and f"version {VERSION}" in message


def test_wal_mode_synchronous_normal_and_busy_timeout_are_on(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        pragma = lambda name: log._conn.execute(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("busy_timeout") == 30000
        assert pragma("synchronous") == 1  # NORMAL
    other = sqlite3.connect(tmp_path / "runs.sqlite")  # WAL is a property of the file
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()


def test_append_is_one_immediate_transaction_and_reads_nothing(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        for i in range(50):
            log.append(row.to_row(result(i)))
        seen: list[str] = []
        log._conn.set_trace_callback(seen.append)
        log.append(row.to_row(result(99)), run={"id": "run_99"}, body={"x": 1})
        log._conn.set_trace_callback(None)
        assert not log._conn.in_transaction  # committed before append returned
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT"
    assert [s.split()[0] for s in seen] == ["BEGIN", "INSERT", "COMMIT"]
    assert not any("SELECT" in s.upper() for s in seen)


def test_threads_can_share_one_log(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        def work(k: int) -> None:
            for i in range(50):
                log.append(hand_row(run_id=f"t{k}-{i}"))
                log.read(label="none")
        threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert log.read()["run_id"].nunique() == 400


def test_two_processes_appending_together_leave_every_row_intact(tmp_path):
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(WRITER), str(path), name, "500", str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in ("p1", "p2")]
    go.touch()  # both open (and create) the fresh file and append at the same time
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err
        assert len(out.split()) == 500
    with RunLog(path) as log:
        df = log.read()
        assert log._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert log.body_json("p2-499") == {"model": "gpt-4o-mini", "n": 499}
    assert len(df) == 1000 and df["run_id"].is_unique
    assert set(df["run_id"]) == {f"p{k}-{i}" for k in (1, 2) for i in range(500)}
    assert (df["status"] == "completed").all() and df["reply"].str.endswith("x" * 200).all()
    for k in (1, 2):  # each process's rows in its own order
        mine = df[df["run_id"].str.startswith(f"p{k}-")]
        assert list(mine["repeat"]) == list(range(500))


def test_a_process_killed_mid_loop_keeps_every_row_it_reported_appended(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), "k", "1000000"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reported: list[str] = []
    try:
        for line in proc.stdout:
            reported.append(line.strip())
            if len(reported) == 300:
                os.kill(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.kill()
        proc.wait(timeout=30)
        reported += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(reported) >= 300
    with RunLog(path) as log:
        assert log._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        logged = list(log.read()["run_id"])
    assert logged[:len(reported)] == reported  # every reported row, in order
    assert len(logged) - len(reported) <= 1  # at most one committed but not yet printed
    assert len(logged) < 1_000_000


def test_completed_cells_are_model_temperature_repeat_of_completed_rows(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        log.append(row.to_row(result(0, temperature=0.7), label="s", repeat=0))
        log.append(row.to_row(result(1, temperature=0.7), label="s", repeat=1))
        log.append(row.to_row(result(2, model="gpt-4o", temperature=None), label="s", repeat=0))
        log.append(row.to_row(result(3, status="failed"), label="s", repeat=2))
        log.append(row.to_row(result(4), label="other", repeat=5))
        log.append(hand_row(label="s", status="error", model="gpt-4o", repeat=1))
        assert log.completed_cells("s") == {(None, "gpt-4o-mini", 0.7, None, 0),
                                            (None, "gpt-4o-mini", 0.7, None, 1),
                                            (None, "gpt-4o", None, None, 0)}
        assert log.completed_cells("other") == {(None, "gpt-4o-mini", 0.7, None, 5)}
        assert log.completed_cells("none") == set()


def test_default_path_is_threadrun_log_else_home(monkeypatch, isolated):
    assert runlog.default_path() == isolated / "threadrun-home" / "runs.sqlite"
    monkeypatch.setenv("THREADRUN_LOG", str(isolated / "elsewhere" / "log.db"))
    assert runlog.default_path() == isolated / "elsewhere" / "log.db"
    with RunLog() as log:
        assert log.path == isolated / "elsewhere" / "log.db"
    assert log.path.exists()


def test_log_function_reads_the_default_log_and_filters(monkeypatch, isolated):
    assert not runlog.default_path().exists()
    pd.testing.assert_frame_equal(runlog.log(), row.frame([]))
    assert not runlog.default_path().exists()  # reading never creates a log
    rows = sample_rows()
    with RunLog() as log:
        for r in rows:
            log.append(r)
    pd.testing.assert_frame_equal(runlog.log(), row.frame(rows))
    assert list(runlog.log(label="b", model="gpt-4o-mini")["run_id"]) == ["run_2"]
    other = isolated / "other.sqlite"
    with RunLog(other) as log:
        log.append(rows[0])
    assert list(runlog.log(path=other)["run_id"]) == ["run_0"]
    since = dt.datetime.fromtimestamp(T0 + 60, dt.timezone.utc)
    assert list(runlog.log(since=since, path=str(other))["run_id"]) == []


def test_a_closed_log_refuses_to_work(tmp_path):
    log = RunLog(tmp_path / "runs.sqlite")
    log.close()
    log.close()  # twice is fine
    with pytest.raises(ThreadrunError, match="closed"):
        log.append(hand_row())
    with pytest.raises(ThreadrunError, match="closed"):
        log.read()


def test_a_file_that_is_not_a_database_is_refused_with_a_one_line_error(tmp_path):
    path = tmp_path / "runs.sqlite"
    path.write_text("not a database, just text " * 100)
    with pytest.raises(ThreadrunError) as caught:
        RunLog(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


# -- environmental failures are one-line ThreadrunErrors naming the log --------------------------

def one_line(caught: pytest.ExceptionInfo, path: Any, *fragments: str) -> str:
    """The message of a caught ThreadrunError: one line, naming the path and every fragment."""
    message = str(caught.value)
    assert type(caught.value) is RunLogError
    assert "\n" not in message and str(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    error = caught.value  # no chained sqlite3/OSError traceback under it
    assert error.__context__ is None or error.__suppress_context__
    return message


@pytest.mark.parametrize("where,reason", [
    (lambda tmp: Path("/proc/nope/x.sqlite"), "cannot create the folder /proc/nope"),
    (lambda tmp: Path("/proc/threadrun-x.sqlite"), "unable to open database file"),  # read-only
    (lambda tmp: tmp, "it is a folder"),
    (lambda tmp: tmp / "a-file" / "runs.sqlite", "a file has that name"),
])
def test_an_unusable_path_is_a_one_line_error_naming_it(tmp_path, where, reason):
    (tmp_path / "a-file").write_text("x")
    path = where(tmp_path)
    with pytest.raises(ThreadrunError) as caught:
        RunLog(path)
    one_line(caught, path, "cannot open the run log", reason)


def test_reading_a_log_at_an_unusable_path_is_a_one_line_error(tmp_path):
    with pytest.raises(ThreadrunError) as caught:
        runlog.log(path=tmp_path)
    one_line(caught, tmp_path, "it is a folder")


def test_opening_a_locked_log_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setattr(runlog, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "runs.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)  # a plain (rollback journal) file
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ThreadrunError) as caught:
            RunLog(path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    one_line(caught, path, "cannot open the run log", "database is locked")
    with RunLog(path) as log:  # usable once the lock is gone
        log.append(hand_row())


def test_append_to_a_locked_log_is_a_one_line_error_and_rolls_back(tmp_path, monkeypatch):
    monkeypatch.setattr(runlog, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "runs.sqlite"
    with RunLog(path) as log:
        log.append(hand_row(run_id="first"))
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with pytest.raises(ThreadrunError) as caught:
                log.append(hand_row(run_id="second"))
            assert not log._conn.in_transaction
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        one_line(caught, path, "could not append a row to the run log", "database is locked")
        log.append(hand_row(run_id="third"))  # the log still works
        assert list(log.read()["run_id"]) == ["first", "third"]


def test_append_to_a_full_disk_is_a_one_line_error_and_rolls_back(tmp_path):
    path = tmp_path / "runs.sqlite"
    with RunLog(path) as log:
        log.append(hand_row(run_id="first"))
        pages = log._conn.execute("PRAGMA page_count").fetchone()[0]
        log._conn.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is full
        with pytest.raises(ThreadrunError) as caught:
            log.append(hand_row(run_id="big", reply="x" * 200_000))
        one_line(caught, path, "could not append", "full")
        assert not log._conn.in_transaction
        log._conn.execute("PRAGMA max_page_count = 1073741823")
        log.append(hand_row(run_id="after"))
        assert list(log.read()["run_id"]) == ["first", "after"]


class _FailingConnection:
    """Stands in for the sqlite3 connection: every statement fails as a locked database does."""

    in_transaction = False

    def execute(self, *args: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    def close(self) -> None:
        pass


@pytest.mark.parametrize("call", [
    lambda log: log.read(), lambda log: log.read(label="a"),
    lambda log: log.completed_cells("a"), lambda log: log.run_json("run_1"),
    lambda log: log.body_json("run_1"), lambda log: log.append(hand_row()),
])
def test_a_sqlite_error_on_any_call_is_a_one_line_error_naming_the_log(tmp_path, call):
    path = tmp_path / "runs.sqlite"
    log = RunLog(path)
    real, log._conn = log._conn, _FailingConnection()
    try:
        with pytest.raises(ThreadrunError) as caught:
            call(log)
    finally:
        log._conn = real
        log.close()
    one_line(caught, path, "the run log", "database is locked")
