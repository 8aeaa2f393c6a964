"""``--db PATH`` / ``local_server(db=...)``: assistants, threads, messages and runs kept in SQLite
across restarts; a run that had not ended when the server stopped comes back ended, saying so."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest
import requests
import spec_schema
from conftest import SERVE, serve, stop

from threadrun.server import echo_reply, local_server
from threadrun.server.persist import DatabaseError

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def check(name: str, instance: Any) -> None:
    """Assert ``instance`` validates against spec schema ``name``."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def until(api: Any, run: dict, statuses: tuple[str, ...], timeout: float = 10) -> dict:
    """Poll the run until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(api.run_path(run)).json()
        if current["status"] in statuses or time.monotonic() > deadline:
            return current
        time.sleep(0.01)


def test_state_survives_a_restart_and_unfinished_runs_come_back_ended(make_api, tmp_path):
    db = tmp_path / "state.db"
    with local_server(db=db) as server:
        api = make_api(server)
        assistant = api.assistant(name="kept", tools=[TOOL], metadata={"k": "v"})
        tid = api.post("/threads", {"messages": [{"role": "user", "content": "hello"}]}).json()["id"]
        done = until(api, api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"]}).json(),
                     ("completed",))
        note = api.post(f"/threads/{tid}/messages", {"role": "user", "content": "note", "metadata": {"n": "1"}}).json()
        waiting = until(api, api.create_run(assistant["id"], text="ask get_weather"), ("requires_action",))
        server.latency = 30.0  # this one is still running when the server stops
        running = api.create_run(assistant["id"], text="slow one")
        before = {"assistant": api.get(f"/assistants/{assistant['id']}").json(),
                  "thread": api.get(f"/threads/{tid}").json(),
                  "messages": api.messages(tid, order="asc")["data"],
                  "run": api.get(api.run_path(done)).json(),
                  "steps": api.get(api.run_path(done) + "/steps").json()}
        assert until(api, running, ("in_progress",))["status"] == "in_progress"
    stopped = time.time()
    with local_server(db=db) as server:
        api = make_api(server)
        assert api.get(f"/assistants/{assistant['id']}").json() == before["assistant"]
        assert api.get(f"/threads/{tid}").json() == before["thread"]
        messages = api.messages(tid, order="asc")["data"]
        assert messages == before["messages"] and [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[-1]["id"] == note["id"] and messages[-1]["metadata"] == {"n": "1"}
        assert api.get(api.run_path(done)).json() == before["run"]
        assert api.get(api.run_path(done) + "/steps").json() == before["steps"]
        expired = api.get(api.run_path(waiting)).json()
        assert expired["status"] == "expired" and expired["required_action"] is None
        failed = api.get(api.run_path(running)).json()
        assert failed["status"] == "failed" and "stopped while this run was in_progress" in failed[
            "last_error"]["message"]
        assert running["created_at"] <= failed["failed_at"] <= stopped + 1
        for run in (expired, failed):
            check("RunObject", run)
        assert api.get(f"/threads/{running['thread_id']}/messages").json()["data"][0]["role"] == "user"
        again = until(api, api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"]}).json(),
                      ("completed",))  # the restored thread goes on
        assert again["status"] == "completed"
        reply = api.messages(tid)["data"][0]["content"][0]["text"]["value"]
        assert reply == echo_reply([{"role": "user", "content": "note"}], None, "gpt-4o", 1.0)
        assert server.server_errors == []
    with local_server(db=db) as server:  # a third start: what the second one did is there too
        api = make_api(server)
        assert api.get(api.run_path(again)).json()["status"] == "completed"
        assert len(api.messages(tid)["data"]) == 4  # hello, its reply, note, its reply
        assert api.get(api.run_path(running)).json()["status"] == "failed"  # still, not ended again
        deleted = api.session.delete(f"{server.url}/threads/{tid}", timeout=10)
        assert deleted.status_code == 200
    with local_server(db=db) as server:
        assert make_api(server).get(f"/threads/{tid}").status_code == 404


def test_the_file_is_wal_with_numbered_migrations_and_a_newer_one_is_refused(tmp_path):
    db = tmp_path / "state.db"
    with local_server(db=db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2  # 2: the idempotency keys
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(DatabaseError, match="newer than version 2"):
        local_server(db=db)


def test_a_create_retried_with_its_idempotency_key_after_a_restart_gets_the_same_run(tmp_path):
    db, key = tmp_path / "keys.db", "retry-0f3c"
    payload = {"thread": {"messages": [{"role": "user", "content": "hi"}]}}

    def create(server: Any, key: str, **extra: Any) -> requests.Response:
        return requests.post(server.url + "/threads/runs", json={**payload, **extra},
                             headers={"Idempotency-Key": key}, timeout=10)

    with local_server(db=db) as server:
        assistant = requests.post(server.url + "/assistants", json={"model": "echo:m"}, timeout=5).json()
        payload["assistant_id"] = assistant["id"]
        first = create(server, key).json()
        assert server.runs_created == 1
    with local_server(db=db) as server:
        again = create(server, key)
        assert again.status_code == 200 and again.json()["id"] == first["id"]
        assert again.json()["thread_id"] == first["thread_id"]
        assert server.runs_created == 0  # one run in all
        other = create(server, key, metadata={"x": "y"})  # the same key with another body
        assert other.status_code == 400 and other.json()["error"]["code"] == "idempotency_key_reused"
        assert server.runs_created == 0 and server.server_errors == []
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT key_hash, run_id FROM idempotency_keys").fetchall()
    conn.close()
    assert len(rows) == 1 and rows[0][1] == first["id"] and key.encode() not in rows[0][0]


def test_idempotency_keys_on_disk_keep_the_servers_bound_and_an_evicted_run_is_a_409(tmp_path):
    db, keys = tmp_path / "keys.db", [f"key-{i}" for i in range(6)]
    with local_server(db=db, max_runs=3) as server:
        server.app.store.idempotency.max_keys = 2  # recognised: the newest 3 + 2 keys
        assistant = requests.post(server.url + "/assistants", json={"model": "echo:m"}, timeout=5).json()
        payload = {"assistant_id": assistant["id"], "thread": {"messages": [{"role": "user", "content": "hi"}]}}
        ids = [requests.post(server.url + "/threads/runs", json=payload, headers={"Idempotency-Key": k},
                             timeout=10).json()["id"] for k in keys]
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT run_id FROM idempotency_keys ORDER BY seq").fetchall() == [(i,) for i in ids[1:]]
    conn.close()
    with local_server(db=db, max_runs=3) as server:
        def again(key: str) -> requests.Response:
            return requests.post(server.url + "/threads/runs", json=payload,
                                 headers={"Idempotency-Key": key}, timeout=10)
        assert [again(k).json()["id"] for k in keys[3:]] == ids[3:]  # the kept runs
        evicted = again(keys[1])
        assert evicted.status_code == 409 and ids[1] in evicted.json()["error"]["message"]
        assert server.runs_created == 0
        assert again(keys[0]).json()["id"] not in ids  # past the bound: a new key again
        assert server.runs_created == 1


def test_a_version_1_file_gains_the_idempotency_keys_table(tmp_path):
    db = tmp_path / "old.db"
    with local_server(db=db):
        pass
    conn = sqlite3.connect(db)
    conn.executescript("DROP TABLE idempotency_keys; PRAGMA user_version = 1;")
    conn.close()
    with local_server(db=db):
        pass
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    assert conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0] == 0
    conn.close()


def test_without_a_db_nothing_is_kept(make_api, tmp_path):
    with local_server() as server:
        api = make_api(server)
        assistant = api.assistant()
        assert server.app.store.db is None
    with local_server() as server:
        assert make_api(server).get(f"/assistants/{assistant['id']}").status_code == 404
    assert list(tmp_path.iterdir()) == []


def test_serve_db_keeps_a_thread_across_a_restart(tmp_path):
    db = tmp_path / "serve.db"
    proc, url = serve("--db", str(db))
    try:
        assistant = requests.post(url + "/assistants", json={"model": "echo:m"}, timeout=5).json()
        thread = requests.post(url + "/threads", json={"messages": [{"role": "user", "content": "hi"}]},
                               timeout=5).json()
        run = requests.post(f"{url}/threads/{thread['id']}/runs", json={"assistant_id": assistant["id"]},
                            timeout=5).json()
    finally:
        stop(proc)
    proc, url = serve("--db", str(db))
    try:
        assert requests.get(f"{url}/assistants/{assistant['id']}", timeout=5).json() == assistant
        kept = requests.get(f"{url}/threads/{thread['id']}/runs/{run['id']}", timeout=5).json()
        assert kept["status"] == "completed" and kept["usage"]["total_tokens"] > 0
        texts = [m["content"][0]["text"]["value"] for m in requests.get(
            f"{url}/threads/{thread['id']}/messages", params={"order": "asc"}, timeout=5).json()["data"]]
        assert texts == ["hi", echo_reply([{"role": "user", "content": "hi"}], None, "m", 1.0)]
    finally:
        stop(proc)
    bad = subprocess.run([sys.executable, "-c", SERVE, "--port", "0", "--db", str(tmp_path)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "cannot open the database" in bad.stderr and bad.stdout == ""


def test_a_real_models_run_in_progress_at_the_stop_is_failed_on_restart(make_api, tmp_path, isolated, monkeypatch):
    from standin_upstream import StandIn
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    db = tmp_path / "live.db"
    with StandIn(mode="silent") as standin:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(f'[providers.standin]\nbase_url = "{standin.url}"\napi = "chat"\n'
                                             'key_env = "STANDIN_KEY"\n')
        with local_server(db=db) as server:
            api = make_api(server)
            run = api.create_run(api.assistant(model="standin:m")["id"])
            assert until(api, run, ("in_progress",))["status"] == "in_progress"
            deadline = time.monotonic() + 5
            while not standin.requests and time.monotonic() < deadline:
                time.sleep(0.01)
            assert len(standin.requests) == 1  # the upstream call is under way
        with local_server(db=db) as server:
            failed = make_api(server).get(make_api(server).run_path(run)).json()
    assert failed["status"] == "failed" and failed["usage"] is None
    assert "stopped while this run was in_progress" in failed["last_error"]["message"]
    check("RunObject", failed)
