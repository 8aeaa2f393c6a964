"""Issue 11, idempotent creates (point 9) and the local server's error answers (point 20)."""
from __future__ import annotations

import json
import socket
import threading
import uuid

import pytest
import requests

import threadrun
from threadrun.client import Client
from threadrun.server import local_server

CREATE = "POST /threads/runs"
MESSAGES = [{"role": "user", "content": "Hello there"}]


def body(assistant_id: str, **fields) -> dict:
    return {"assistant_id": assistant_id, "thread": {"messages": MESSAGES}, **fields}


@pytest.fixture
def server():
    with local_server(latency=0.05, fault="retry_after=0.05") as srv:
        yield srv
        assert srv.server_errors == []


@pytest.fixture
def assistant(server) -> str:
    return Client(server.url, "").create_assistant("gpt-4o")["id"]


def create(server, key: str | None, payload: dict, stream: bool = False) -> requests.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return requests.post(server.url + "/threads/runs", json={**payload, "stream": stream},
                         headers=headers, stream=stream, timeout=10)


def streamed_run_ids(response: requests.Response) -> list[str]:
    ids = []
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: {") and '"object": "thread.run"' in line:
            ids.append(json.loads(line[6:])["id"])
    return ids


# -- 9. the client's Idempotency-Key -----------------------------------------------------------------

@pytest.mark.parametrize("stream", [True, False])
def test_every_create_carries_a_fresh_uuid4_idempotency_key_kept_on_its_retries(server, assistant, stream):
    """Catches: creates sent without an Idempotency-Key, or a new key on a retry of the same run."""
    client = Client(server.url, "", max_retries=2, backoff=0.01)
    server.faults.script(["500", "ok", "503", "ok"], route="create")
    first = client.run(body(assistant), stream=stream)
    second = client.run(body(assistant), stream=stream)
    assert first.status == second.status == "completed"
    keys = [r.headers.get("idempotency-key") for r in server.requests if r.route == CREATE]
    assert len(keys) == 4 and keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]
    assert all(uuid.UUID(key).version == 4 for key in keys)


@pytest.mark.parametrize("stream", [True, False])
def test_a_500_after_the_run_was_created_is_retried_without_a_second_run(server, assistant, stream):
    """Catches: a proxy's 5xx in front of a server that did create the run turning one requested
    run into several (each retry created another)."""
    server.faults.script(["500-after", "500-after", "ok"], route="create")
    df = threadrun.run("user: hi", model="gpt-4o", base_url=server.url, stream=stream, max_retries=2,
                       progress=False, log=False)
    assert server.counts[CREATE] == 3
    assert server.runs_created == 1 and len(server.app.store.runs) == 1
    assert list(df["status"]) == ["completed"] and df["retries"].iloc[0] == 2


# -- 9. the server answers a repeated key with the run it created ----------------------------------

def test_a_repeated_key_gets_the_same_run_as_json(server, assistant):
    """Catches: a retried create (same key) starting a second run."""
    key = str(uuid.uuid4())
    first = create(server, key, body(assistant)).json()
    again = create(server, key, body(assistant))
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert again.json()["thread_id"] == first["thread_id"] and server.runs_created == 1
    other = create(server, str(uuid.uuid4()), body(assistant)).json()
    assert other["id"] != first["id"] and server.runs_created == 2


def test_a_repeated_key_on_a_streamed_create_replays_that_runs_stream(server, assistant):
    """Catches: a retried streamed create starting a second run, or answering something the
    client cannot read as the stream it asked for."""
    key = str(uuid.uuid4())
    with create(server, key, body(assistant), stream=True) as first:
        first_ids = streamed_run_ids(first)
    with create(server, key, body(assistant), stream=True) as again:
        assert again.headers["content-type"].startswith("text/event-stream")
        again_ids = streamed_run_ids(again)
    assert len(set(first_ids)) == 1 and set(again_ids) == set(first_ids)
    assert again_ids[-1] == first_ids[-1] and server.runs_created == 1


def test_a_key_reused_with_another_body_is_refused(server, assistant):
    """Catches: a key silently answering with a run made from a different request."""
    key = str(uuid.uuid4())
    create(server, key, body(assistant))
    refused = create(server, key, body(assistant, temperature=0.5))
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "idempotency_key_reused"
    assert server.runs_created == 1


def test_concurrent_creates_with_one_key_make_one_run(server, assistant):
    """Catches: two copies of a request arriving at once (a proxy's retry) both creating a run."""
    key, ids = str(uuid.uuid4()), []
    threads = [threading.Thread(target=lambda: ids.append(create(server, key, body(assistant)).json()["id"]))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(ids) == 8 and len(set(ids)) == 1 and server.runs_created == 1


def test_idempotency_keys_are_bounded_like_the_runs():
    """Catches: the key -> run map growing without bound on a long-lived server."""
    with local_server(max_runs=3) as srv:
        assistant = Client(srv.url, "").create_assistant("gpt-4o")["id"]
        keys = [str(uuid.uuid4()) for _ in range(6)]
        for key in keys:
            assert create(srv, key, body(assistant)).status_code == 200
        kept = srv.app.store.keys
        assert len(kept) == 3 and list(kept) == keys[-3:]


def test_a_bad_idempotency_key_is_a_400():
    """Catches: an unbounded key kept in memory."""
    with local_server() as srv:
        assistant = Client(srv.url, "").create_assistant("gpt-4o")["id"]
        refused = create(srv, "k" * 300, body(assistant))
        assert refused.status_code == 400 and "Idempotency-Key" in refused.json()["error"]["message"]
        assert srv.runs_created == 0


# -- 20. the server's own error answers ---------------------------------------------------------------

def raw_exchange(server, data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes): status line, headers, body."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return lines[0], headers, rest


@pytest.mark.parametrize("request_line, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /v1/assistants HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /v1/assistants HTTP/9.9\r\n\r\n", 505),
    (b"GET /v1/assistants HTTX/1.1\r\n\r\n", 400),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"HEAD /v1/assistants HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 501),
])
def test_a_malformed_request_gets_the_specs_json_error_object(server, request_line, status):
    """Catches: the stdlib's HTML error page (or a bare HTTP/0.9 body) for a malformed request."""
    status_line, headers, data = raw_exchange(server, request_line)
    assert status_line.startswith(f"HTTP/1.1 {status} ")
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    if request_line.startswith(b"HEAD"):
        return  # an answer to HEAD has no body
    error = json.loads(data[:int(headers["content-length"])])["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["message"] and "<" not in error["message"] and "\n" not in error["message"]


@pytest.mark.parametrize("kind", ["429", "503"])
@pytest.mark.parametrize("seconds, header, millis", [("0.2", "1", "200"), ("1.5", "2", "1500"),
                                                     ("0", "1", "0"), ("3", "3", "3000")])
def test_a_fractional_retry_after_fault_sends_whole_seconds_and_exact_milliseconds(kind, seconds, header, millis):
    """Catches: ``retry-after: 0.2`` (the header is an integer number of seconds, here at least 1)."""
    with local_server(fault=f"retry_after={seconds}") as srv:
        srv.faults.script([kind])
        answer = requests.get(srv.url + "/assistants/asst_x", timeout=10)
    assert answer.status_code == int(kind)
    assert answer.headers["retry-after"] == header and answer.headers["retry-after-ms"] == millis


def test_a_loopback_host_in_capitals_is_answered():
    """Issue 21, low: ``Host: LOCALHOST`` was refused (host names are case-insensitive)."""
    import requests
    from threadrun.server import local_server
    with local_server() as srv:
        answer = requests.get(srv.url + "/assistants/asst_none",
                              headers={"Host": f"LOCALHOST:{srv.port}"}, timeout=10)
    assert answer.status_code == 404  # reached the route: the assistant does not exist
