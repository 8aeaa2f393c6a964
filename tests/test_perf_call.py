"""Issues 13 (points 1, 3) and 23 (point 7): what one ``threadrun.run()`` call costs, checked
by what it does.

No timings here (those are ratios in ``python -m benchmarks``): the scratch assistant is
checked once per client, not on every call, and re-resolved once when a run answers that it is
gone; calls reuse worker threads; a call whose runs all completed does not filter the frame;
poll mode sends the messages query as a written-out query string; the fast paths (the one-row
frame's constructors, the session's lean request preparation) make what the public ones make.
"""
from __future__ import annotations

import threading

import pandas as pd

import threadrun
from threadrun import api
from threadrun.rows.row import COLUMNS, frame

GET_ASSISTANT = "GET /assistants/{assistant_id}"


def _run(server, **options):
    return threadrun.run("user: hi", model="gpt-4o-mini", base_url=server.url, log=False,
                         progress=False, **options)


def _routes(server) -> list[str]:
    return [f"{r.method} {r.route}" for r in server.requests]


def test_the_scratch_assistant_is_checked_once_per_client_not_on_every_call(server):
    first = _run(server)
    server.reset_counts()
    for _ in range(3):
        assert _run(server)["status"].iloc[0] == "completed"
    routes = _routes(server)
    assert not any("/assistants" in r for r in routes), routes
    assert _run(server)["assistant_id"].iloc[0] == first["assistant_id"].iloc[0]


def test_a_run_that_finds_the_assistant_gone_gets_a_new_one_once(server):
    old = _run(server)["assistant_id"].iloc[0]
    with server.app.lock:
        server.app.store.assistants.clear()  # the server forgot it, as a restarted one would
    server.reset_counts()
    df = _run(server, repeat=3, concurrency=3)
    assert list(df["status"]) == ["completed"] * 3
    assert df["assistant_id"].nunique() == 1 and df["assistant_id"].iloc[0] != old
    assert server.counts.get("POST /assistants") == 1  # one new assistant for the sweep
    server.reset_counts()
    again = _run(server, concurrency=3)  # the same settings, so the same client
    assert again["assistant_id"].iloc[0] == df["assistant_id"].iloc[0]
    assert not any("/assistants" in r for r in _routes(server)), _routes(server)


def test_a_gone_explicit_assistant_is_an_error_row_not_a_new_assistant(server):
    df = _run(server, repeat=2, assistant="asst_gone")
    assert list(df["status"]) == ["error", "error"]
    assert server.counts.get("POST /assistants", 0) == 0


def test_one_run_calls_reuse_worker_threads(server):
    _run(server)
    before = {t.ident for t in threading.enumerate() if t.name.startswith("threadrun")}
    for _ in range(5):
        _run(server)
    after = {t.ident for t in threading.enumerate() if t.name.startswith("threadrun")}
    assert after <= before


def test_warn_failures_only_runs_when_a_run_did_not_complete(server, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(api, "warn_failures", lambda df: calls.append(len(df)))
    _run(server, repeat=2)
    assert calls == []
    df = _run(server, assistant="asst_gone")
    assert calls == [1] and df["status"].iloc[0] == "error"


def test_poll_mode_sends_the_messages_query_string(server):
    _run(server)
    server.reset_counts()
    df = _run(server, stream=False)
    assert df["status"].iloc[0] == "completed" and df["reply"].iloc[0]
    lists = [r.path for r in server.requests if r.route.endswith("/threads/{thread_id}/messages")]
    run_id = df["run_id"].iloc[0]
    assert lists and all(p.endswith(f"?run_id={run_id}&order=asc&limit=100") for p in lists), lists


def test_frame_keeps_its_dtypes_for_one_row_many_rows_and_none():
    base = {name: None for name in COLUMNS}
    full = dict(base, model="m", status="completed", temperature=0.5, total_tokens=3,
                created_at=1700000000.5, completed_at=1700000001, error="e", repeat=1, retries=0)
    for rows in ([], [base], [full], [full, base] * 50):
        df = frame(rows)
        assert list(df.columns) == list(COLUMNS)
        for name, dtype in COLUMNS.items():
            assert str(df[name].dtype) == str(pd.Series([], dtype=dtype).dtype), name
    df = frame([full])
    assert df["created_at"].iloc[0] == pd.Timestamp(1700000000.5, unit="s", tz="UTC")
    assert df["total_tokens"].iloc[0] == 3 and df["error"].iloc[0] == "e"


def test_the_secrets_kept_between_calls_follow_the_environment_and_are_a_new_dict(monkeypatch):
    from threadrun import scrub
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-0123456789")
    first = scrub.known()
    assert first["tok-0123456789"] == "$SOME_SERVICE_TOKEN"
    first["mutated"] = "by a caller"  # server/masking adds every provider's key to its copy
    assert "mutated" not in scrub.known()
    monkeypatch.setenv("SOME_SERVICE_TOKEN", "tok-9876543210")  # the same name, a new value
    assert "tok-9876543210" in scrub.known() and "tok-0123456789" not in scrub.known()
    monkeypatch.setenv("OTHER_PASSWORD", "pw-0123456789")
    assert scrub.known()["pw-0123456789"] == "$OTHER_PASSWORD"
    monkeypatch.delenv("SOME_SERVICE_TOKEN")
    assert "tok-9876543210" not in scrub.known()


def test_the_scratch_assistant_cache_is_read_again_when_its_file_changes(isolated):
    import json
    import os

    from threadrun.client import assistant
    path = assistant.cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"http://a/v1": "asst_1"}))
    assert assistant.cached("http://a/v1") == "asst_1"
    assistant.remember("http://a/v1", "asst_2")  # a replace: another inode
    assert assistant.cached("http://a/v1") == "asst_2"
    stat = path.stat()
    path.write_text(json.dumps({"http://a/v1": "asst_3"}))  # in place, the same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert assistant.cached("http://a/v1") == "asst_3"
    path.unlink()
    assert assistant.cached("http://a/v1") is None


def _rows_of_every_kind() -> list[dict]:
    base = {name: None for name in COLUMNS}
    full = dict(base, model="m", provider="openai", status="completed", temperature=0.5,
                total_tokens=3, created_at=1700000000.5, completed_at=1700000001, error="e",
                repeat=1, retries=0, reply="Paris", input=("a", 1), cached=True, extra_column=[1])
    return [full, base, dict(full, total_tokens=None, reply=None, created_at=None)]


def test_the_one_row_frame_is_the_frame_pandas_public_constructors_make(monkeypatch):
    from threadrun.rows import arrays
    rows = _rows_of_every_kind()
    fast = [frame([row]) for row in rows] + [frame(rows)]
    for name in ("_new_strings", "_new_ints", "_new_times"):  # the public constructors only
        monkeypatch.setattr(arrays, name, None)
    monkeypatch.setattr(arrays.pd.DataFrame, "_from_arrays", None, raising=False)  # pd.DataFrame
    public = [frame([row]) for row in rows] + [frame(rows)]
    for got, expected in zip(fast, public):
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
        assert list(got.columns)[:len(COLUMNS)] == list(COLUMNS)
        assert [str(t) for t in got.dtypes] == [str(t) for t in expected.dtypes]


def test_renaming_one_frames_columns_leaves_the_next_frames_alone():
    first = frame(_rows_of_every_kind()[:1])
    first.columns.name = "mine"
    first.columns = ["renamed", *first.columns[1:]]
    again = frame(_rows_of_every_kind()[:1])
    assert again.columns.name is None and list(again.columns)[0] == "model"


def test_a_request_is_prepared_as_requests_itself_prepares_it():
    import requests

    from threadrun.http.session import WatchedAdapter, make_session
    session = make_session(WatchedAdapter(), loopback=True)
    session.headers.update({"OpenAI-Beta": "assistants=v2", "Authorization": "Bearer k"})
    url = "http://127.0.0.1:9/v1"
    cases = [requests.Request("GET", f"{url}/threads/t/runs/r", data={}, params={}),
             requests.Request("GET", f"{url}/threads/t/messages?run_id=r x&limit=100", data={}, params={}),
             requests.Request("GET", f"{url}/ü y", data={}, params={"after": "m 1", "gone": None}),
             requests.Request("POST", f"{url}/threads/runs", data='{"a": "é"}', params={},
                              headers={"Idempotency-Key": "k", "Authorization": None, "content-type": "x/y"})]

    def seen(p: requests.PreparedRequest) -> tuple:
        return p.method, p.url, list(p.headers.items()), p.body, p.hooks, p._cookies.items()

    for request in cases:
        assert seen(session.prepare_request(request)) == seen(requests.Session.prepare_request(session, request))
    session.cookies.set("sticky", "lb-1")  # a kept cookie is sent, as requests sends it
    prepared = session.prepare_request(cases[0])
    assert prepared.headers["Cookie"] == "sticky=lb-1"
    assert seen(prepared) == seen(requests.Session.prepare_request(session, cases[0]))
