"""Issue 15 point 2: a server that echoes the key in an error body, and a client that masks it.

The local server's ``echo-key`` fault answers 400 with an error message quoting the request's
``Authorization`` header (``Bearer <key>``), as a careless server or proxy might.  threadrun's
client must mask the key (``Client.masked``) before the error reaches anything kept or shown.

Planted bug these tests catch (checked in a scratch worktree, never on main): ``Client.masked``
returning its error unchanged (key scrubbing switched off).  With it, the rows, the run log file,
stderr, the client's errors and the magic's output all carry the key, so every test below but
the first two (which check the fault itself, not the client) fails.
"""
from __future__ import annotations

import logging

import pytest
import requests

import threadrun
from threadrun.client import Client
from threadrun.errors import APIError
from threadrun.server import LocalServer

KEY = "sk-threadrun-ECHO-KEY-9f8e7d6c5b4a3210"
ECHOED = "Invalid Authorization header 'Bearer "  # the fault's message: the echo reached the client


@pytest.fixture
def echo_server():
    """A keyed server whose creates answer 400 quoting the Authorization header."""
    srv = LocalServer(api_key=KEY, latency=0.05, fault="echo-key=1,route=create").start()
    yield srv
    srv.stop()
    assert srv.server_errors == []


@pytest.fixture
def keyed_env(monkeypatch, echo_server):
    monkeypatch.setenv("THREADRUN_API_KEY", KEY)
    monkeypatch.setenv("THREADRUN_BASE_URL", echo_server.url)


def assert_no_key(*texts: str) -> None:
    blob = "\n".join(texts)
    assert KEY not in blob and KEY[-12:] not in blob and KEY[:20] not in blob


def frame_texts(df) -> list[str]:
    """Every way a DataFrame is seen: each cell, repr, string, JSON, records."""
    cells = [str(value) for value in df.to_numpy().ravel()]
    return cells + [repr(df), df.to_string(), df.to_json(date_format="iso"), repr(df.to_dict("records"))]


def test_the_echo_key_fault_quotes_the_authorization_header(echo_server):
    """The fault itself: without it the tests below would pass against any client."""
    url = echo_server.url
    assistant = requests.post(url + "/assistants", json={"model": "gpt-4o"}, timeout=10,
                              headers={"Authorization": f"Bearer {KEY}"}).json()["id"]
    body = {"assistant_id": assistant, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
    echoed = requests.post(url + "/threads/runs", json=body, headers={"Authorization": f"Bearer {KEY}"},
                           timeout=10)
    assert echoed.status_code == 400
    assert echoed.json()["error"]["message"] == f"Invalid Authorization header 'Bearer {KEY}' (injected fault)."
    denied = requests.post(url + "/threads/runs", json=body, headers={"Authorization": "Bearer wrong"},
                           timeout=10)
    assert denied.status_code == 401 and "wrong" not in denied.text  # the key check comes first
    assert echo_server.runs_created == 0


def test_the_fault_is_in_the_spec_grammar_and_scripts():
    with pytest.raises(ValueError, match="add up to"):
        LocalServer(fault="echo-key=0.6,500=0.6")
    srv = LocalServer(api_key=KEY).start()
    try:
        srv.faults.script(["echo-key", "ok"])
        headers = {"Authorization": f"Bearer {KEY}"}
        first = requests.get(srv.url + "/assistants/asst_x", headers=headers, timeout=10)
        second = requests.get(srv.url + "/assistants/asst_x", headers=headers, timeout=10)
        assert first.status_code == 400 and KEY in first.json()["error"]["message"]
        assert second.status_code == 404
    finally:
        srv.stop()


@pytest.mark.parametrize("stream", [True, False])
def test_an_echoed_key_is_masked_in_every_cell_of_the_rows(keyed_env, stream):
    """Catches: scrubbing off — the row's ``error`` quotes the key."""
    df = threadrun.run("user: hi", model="gpt-4o,gpt-4o-mini", stream=stream, progress=False, log=False)
    assert list(df["status"]) == ["error", "error"]
    assert all(ECHOED in error for error in df["error"])
    assert_no_key(*frame_texts(df))
    assert all(ECHOED + "***'" in error for error in df["error"])


def test_an_echoed_key_is_not_in_the_run_log_file_or_what_log_reads(keyed_env, isolated):
    """Catches: scrubbing off — the run log (SQLite file, WAL included) stores the key."""
    threadrun.run("user: hi", model="gpt-4o", progress=False, label="echo")
    logged = threadrun.log()
    assert len(logged) == 1 and ECHOED in logged["error"].iloc[0]
    files = [p for p in isolated.rglob("*") if p.is_file()]
    data = b"".join(p.read_bytes() for p in files)
    assert any(p.name.startswith("runs.sqlite") for p in files) and ECHOED.encode() in data
    assert KEY.encode() not in data and KEY[-12:].encode() not in data
    assert KEY.encode("utf-16-le") not in data
    assert_no_key(*frame_texts(logged))


def test_an_echoed_key_is_not_on_stderr_stdout_or_in_debug_logs(keyed_env, capsys, caplog):
    """Catches: scrubbing off — the one-line failure notice on stderr quotes the key."""
    caplog.set_level(logging.DEBUG)
    threadrun.run("user: hi", model="gpt-4o", progress=False, log=False)
    out = capsys.readouterr()
    assert ECHOED in out.err  # the failure notice names the error
    assert_no_key(out.out, out.err, caplog.text,
                  *(str(record.args) for record in caplog.records))


def test_an_echoed_key_from_the_assistant_create_is_masked_in_rows_and_stderr(keyed_env, echo_server,
                                                                               capsys, caplog):
    """Catches: scrubbing off — 'could not get an assistant: ...' quotes the key in each row."""
    caplog.set_level(logging.DEBUG)
    echo_server.set_fault("echo-key=1")  # every route: the scratch assistant cannot be created
    df = threadrun.run("user: hi", model="gpt-4o", progress=False)
    assert df["error"].iloc[0].startswith("could not get an assistant: ") and ECHOED in df["error"].iloc[0]
    out = capsys.readouterr()
    assert_no_key(*frame_texts(df), *frame_texts(threadrun.log()), out.out, out.err, caplog.text)


def test_the_client_masks_an_echoed_key_in_its_errors(echo_server):
    """Catches: scrubbing off — the APIError's message, str and repr quote the key."""
    echo_server.set_fault("echo-key=1")
    client = Client(echo_server.url, KEY)
    with pytest.raises(APIError) as caught:
        client.create_assistant("gpt-4o")
    error = caught.value
    assert error.status == 400 and ECHOED in error.message
    assert_no_key(error.message, str(error), repr(error), repr(error.args), repr(client))
    assert ECHOED + "***'" in error.message


def test_the_magic_masks_an_echoed_key_in_its_rows_and_output(ip, echo_server, monkeypatch, capsys):
    """Catches: scrubbing off — the cell's DataFrame and its stderr line quote the key."""
    monkeypatch.setenv("THREADRUN_API_KEY", KEY)
    df = ip.run_cell_magic("threadrun", f"--base-url {echo_server.url} -m gpt-4o --label m", "user: hi")
    assert df.loc[0, "status"] == "error" and ECHOED in df.loc[0, "error"]
    out = capsys.readouterr()
    assert_no_key(*frame_texts(df), out.out, out.err, ip.run_line_magic("threadrun", "log").to_string())
