"""Issue 15, point 1: a run's ``created_at`` / ``completed_at`` are Unix *seconds*, stamped now.

The planted bug these tests catch: ``created_at`` / ``completed_at`` read as milliseconds (on the
streamed and on the polled path), which puts every timestamp in January 1970. Every expected
value here is computed by the test itself: ``time.time()`` read before and after the run, or a
date written out by hand; nothing is compared with ``row.frame()`` or the row's own reading.
"""
from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timezone

import pandas as pd
import pytest
from standin_assistants import StandIn

import threadrun
from threadrun.client import Client

# The local server stamps runs with int(time.time()) (whole seconds, rounded down), so a run
# created at t0 + 0.9 may say t0 - 0.1 +...: one second of slack below, a little above for the clock.
SLACK_BELOW_S, SLACK_ABOVE_S = 1.0, 0.5
MODES = {"streamed": True, "polled": False}


def seconds(value) -> float:
    """Unix seconds of a row's timestamp, computed here (not by threadrun)."""
    assert isinstance(value, pd.Timestamp) and value.tzinfo is not None, value
    return (value - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)


def assert_now(value: float, before: float, after: float, what: str) -> None:
    assert before - SLACK_BELOW_S <= value <= after + SLACK_ABOVE_S, (
        f"{what} = {value!r} ({datetime.fromtimestamp(value, timezone.utc) if abs(value) < 1e11 else '?'}), "
        f"expected between {before} and {after} (now)")


def timed_run(server, stream: bool, **options):
    before = time.time()
    df = threadrun.run("user: what time is it?", model="gpt-4o-mini", base_url=server.url,
                       stream=stream, progress=False, **options)
    after = time.time()
    assert df.loc[0, "status"] == "completed", df.loc[0, "error"]
    return df, before, after


@pytest.mark.parametrize("mode", MODES)
def test_a_rows_times_are_now_not_1970(server, mode):
    """Planted bug: created_at/completed_at read as milliseconds → the row says 1970-01-21."""
    df, before, after = timed_run(server, MODES[mode], log=False)
    created, completed = seconds(df.loc[0, "created_at"]), seconds(df.loc[0, "completed_at"])
    assert_now(created, before, after, "created_at")
    assert_now(completed, before, after, "completed_at")
    assert created <= completed
    assert df.loc[0, "created_at"].year == datetime.fromtimestamp(before, timezone.utc).year


@pytest.mark.parametrize("mode", MODES)
def test_the_log_file_holds_unix_seconds_of_now(server, mode, tmp_path):
    """Planted bug: created_at/completed_at read as milliseconds → the SQLite file holds ~1.7e6
    (January 1970) instead of ~1.7e9. Read with sqlite3 directly, not through threadrun."""
    path = tmp_path / "times.sqlite"
    _, before, after = timed_run(server, MODES[mode], log=str(path))
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT created_at, completed_at, logged_at FROM runs").fetchall()
    assert len(rows) == 1
    created, completed, logged = rows[0]
    assert_now(created, before, after, "logged created_at")
    assert_now(completed, before, after, "logged completed_at")
    assert_now(logged, before, after, "logged_at")
    assert created <= completed <= logged + SLACK_BELOW_S


@pytest.mark.parametrize("mode", MODES)
def test_the_log_reader_gives_back_the_servers_own_seconds(server, mode, tmp_path):
    """Planted bug: created_at/completed_at read as milliseconds, when stored or when read back:
    ``threadrun.log()`` must give the exact second the server stamped (the run JSON in the file,
    read with sqlite3 and json here) as a UTC time, and that second is now."""
    import json
    path = tmp_path / "times.sqlite"
    _, before, after = timed_run(server, MODES[mode], log=str(path))
    with sqlite3.connect(path) as conn:
        (run_json,) = conn.execute("SELECT run_json FROM runs").fetchone()
    run = json.loads(run_json)
    assert isinstance(run["created_at"], int) and isinstance(run["completed_at"], int)
    assert_now(run["created_at"], before, after, "the server's created_at")
    logged = threadrun.log(path=str(path))
    assert len(logged) == 1
    for name in ("created_at", "completed_at"):
        expected = datetime.fromtimestamp(run[name], timezone.utc)  # the test's own conversion
        assert logged.loc[0, name] == pd.Timestamp(expected), name
        assert_now(seconds(logged.loc[0, name]), before, after, f"log() {name}")


@pytest.mark.parametrize("mode", MODES)
def test_a_run_stamped_at_a_known_date_is_that_date_in_the_row_and_the_log(mode, tmp_path):
    """Planted bug: times read as milliseconds. A stand-in server stamps the run 2026-11-28
    10:00:00 UTC and ends it 2.5 s later; the row, the file and log() must all say exactly that."""
    created = datetime(2026, 11, 28, 10, 0, 0, tzinfo=timezone.utc)
    created_s = int(created.timestamp())  # 1795860000, worked out by hand as well
    assert created_s == 1_795_860_000
    path = tmp_path / "known.sqlite"
    with StandIn(created_at=created_s, completed_at=created_s + 2.5) as srv:
        df = threadrun.run({"assistant_id": "asst_standin", "model": "gpt-4o-mini",
                            "thread": {"messages": [{"role": "user", "content": "hi"}]}},
                           base_url=srv.url, stream=MODES[mode], progress=False, log=str(path))
    assert df.loc[0, "status"] == "completed", df.loc[0, "error"]
    assert df.loc[0, "created_at"] == pd.Timestamp("2026-11-28T10:00:00Z")
    assert df.loc[0, "completed_at"] == pd.Timestamp("2026-11-28T10:00:02.5Z")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT created_at, completed_at FROM runs").fetchall() == [
            (1_795_860_000.0, 1_795_860_002.5)]
    logged = threadrun.log(path=str(path))
    assert logged.loc[0, "created_at"] == pd.Timestamp("2026-11-28T10:00:00Z")
    assert logged.loc[0, "completed_at"] == pd.Timestamp("2026-11-28T10:00:02.5Z")
    since = threadrun.log(path=str(path), since="2026-11-28T09:59:59")
    assert len(since) == 1
    assert threadrun.log(path=str(path), since="2026-11-28T10:00:01").empty


@pytest.mark.parametrize("mode", MODES)
def test_the_clients_run_object_keeps_the_servers_seconds(server, mode):
    """Planted bug: the client scaling the run's times as it folds stream events or polls."""
    client = Client(base_url=server.url)
    try:
        asst = client.create_assistant("gpt-4o-mini")["id"]
        before = time.time()
        result = client.run({"assistant_id": asst, "thread": {"messages": [
            {"role": "user", "content": "hi"}]}}, stream=MODES[mode])
        after = time.time()
    finally:
        client.close()
    assert result.status == "completed", result.error
    assert_now(result.run["created_at"], before, after, "run created_at")
    assert_now(result.run["completed_at"], before, after, "run completed_at")
