"""Issue 11 points 17 and 18: the local server's bounds on connections, request records and runs.

Each test names what it catches; every one failed on the server before these bounds existed
(unknown settings, connections held forever, bodies kept whole, runs bounded only in number).
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests

from threadrun.server import LocalServer, local_server
from threadrun.server.cli import add_serve_arguments

GET = b"GET /v1/assistants/asst_x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def connect(server: LocalServer, timeout: float = 10) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_until_closed(sock: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes, and the seconds that took."""
    started, data = time.monotonic(), b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def trickle(sock: socket.socket, data: bytes, every: float, stop: threading.Event) -> threading.Thread:
    """Send ``data`` one byte every ``every`` seconds from a thread, until sent, refused or stopped."""
    def send() -> None:
        for index in range(len(data)):
            if stop.is_set():
                return
            try:
                sock.send(data[index:index + 1])
            except OSError:
                return
            time.sleep(every)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


# -- 17a. idle and slow connections are timed out ---------------------------------------------------

def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout():
    """Catches: idle connections held open (and a thread each) forever."""
    with local_server(idle_timeout=0.3) as srv:
        with connect(srv) as sock:
            wait_for(lambda: srv.open_connections == 1)
            data, took = read_until_closed(sock)
        assert data == b"" and took < 5
        wait_for(lambda: srv.open_connections == 0)


def test_a_keep_alive_connection_is_closed_when_idle_after_its_answers_but_not_before():
    """Catches: keep-alive connections never timed out, or timed out while in use."""
    with local_server(idle_timeout=1.5) as srv, requests.Session() as session:
        for _ in range(4):  # each request well within the idle time of the previous answer
            assert session.get(srv.url + "/assistants/asst_x", timeout=10).status_code == 404
            time.sleep(0.05)
        assert srv.counts == {"GET /assistants/{assistant_id}": 4} and srv.open_connections == 1
        with connect(srv) as sock:
            sock.sendall(GET)
            data, took = read_until_closed(sock)
        assert data.startswith(b"HTTP/1.1 404 ") and b'"error"' in data and took < 5


def test_a_request_line_trickling_in_a_byte_at_a_time_is_cut_at_the_request_deadline():
    """Catches: a request sent a byte every 0.1 s (each read in time) holding its thread forever."""
    stop = threading.Event()
    with local_server(read_timeout=5, request_timeout=0.6) as srv, connect(srv) as sock:
        sender = trickle(sock, GET[:-4] + b"\r\nX-Pad: " + b"a" * 200 + b"\r\n\r\n", 0.1, stop)
        data, took = read_until_closed(sock)
        stop.set()
        sender.join(5)
        assert data == b"" and took < 5  # the whole request would take 25 s
        assert srv.counts == {}


def test_a_body_trickling_in_is_cut_at_the_request_deadline_and_creates_nothing():
    """Catches: a slow body holding its connection (and thread) for as long as the client likes."""
    stop = threading.Event()
    body = json.dumps({"model": "gpt-4o", "name": "x" * 100}).encode()
    head = (f"POST /v1/assistants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    with local_server(read_timeout=5, request_timeout=0.6) as srv, connect(srv) as sock:
        sock.sendall(head)
        sender = trickle(sock, body, 0.1, stop)
        data, took = read_until_closed(sock)
        stop.set()
        sender.join(5)
        assert data == b"" and took < 5
        assert srv.counts == {} and srv.app.store.assistants == {}


def test_a_request_that_stalls_midway_is_cut_after_the_read_timeout():
    """Catches: half a request line followed by silence holding the connection forever."""
    with local_server(read_timeout=0.3, request_timeout=60) as srv, connect(srv) as sock:
        sock.sendall(b"GET /v1/assis")
        data, took = read_until_closed(sock)
        assert data == b"" and took < 5


def test_a_slow_stream_is_not_cut_by_short_timeouts(make_api):
    """Catches: read timeouts applied to a streamed answer (the server writes, it reads nothing)."""
    with local_server(latency=3, idle_timeout=1, read_timeout=1, request_timeout=1) as srv:
        api = make_api(srv)
        started = time.monotonic()
        events = api.stream(api.run_body(api.assistant()["id"]))
        assert time.monotonic() - started >= 2.5  # the stream outlived every timeout
        assert [e for e, _ in events][-2:] == ["thread.run.completed", "done"]
        assert srv.server_errors == []


# -- 17b. connections are capped ---------------------------------------------------------------------

def test_a_connection_past_the_cap_gets_a_503_json_error_with_retry_after_and_is_closed():
    """Catches: unbounded connections (400 idle ones held 402 threads)."""
    with local_server(max_connections=2) as srv:
        held = [connect(srv), connect(srv)]
        try:
            wait_for(lambda: srv.open_connections == 2)
            answer = requests.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10)
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "1" and answer.headers["connection"] == "close"
            error = answer.json()["error"]
            assert set(error) == {"message", "type", "param", "code"} and error["type"] == "server_error"
            assert "at most 2 connections" in error["message"]
            assert srv.counts == {} and srv.app.store.assistants == {}
        finally:
            held.pop().close()
        wait_for(lambda: srv.open_connections == 1)
        assert requests.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10).status_code == 200
        held.pop().close()


def test_the_cap_can_be_changed_on_a_running_server():
    """Catches: a cap read once at start."""
    with local_server() as srv, connect(srv) as sock:
        assert srv.limits.max_connections == 256
        wait_for(lambda: srv.open_connections == 1)
        srv.limits.max_connections = 1
        assert requests.get(srv.url + "/assistants/asst_x", timeout=10).status_code == 503
        srv.limits.max_connections = 2
        assert requests.get(srv.url + "/assistants/asst_x", timeout=10).status_code == 404
        sock.close()


def test_serve_takes_max_connections_and_answers_503_past_it():
    """Catches: no way to set the cap from the command line."""
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    assert parser.parse_args([]).max_connections == 256
    serve = ("import argparse, sys; from threadrun.server.cli import add_serve_arguments, serve_from_args; "
             "p = argparse.ArgumentParser(); add_serve_arguments(p); sys.exit(serve_from_args(p.parse_args()))")
    bad = subprocess.run([sys.executable, "-c", serve, "--port", "0", "--max-connections", "0"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and bad.stderr.strip() == "threadrun serve: --max-connections must be >= 1"
    proc = subprocess.Popen([sys.executable, "-c", serve, "--port", "0", "--max-connections", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as held:
            held.sendall(GET)  # answered: the connection is surely being served
            assert held.recv(65536).startswith(b"HTTP/1.1 404 ")
            assert requests.get(url + "/assistants/asst_x", timeout=10).status_code == 503
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()
        proc.stderr.close()


def test_bad_bounds_are_refused():
    for settings, words in (({"max_connections": 0}, "max_connections"), ({"idle_timeout": 0}, "idle_timeout"),
                            ({"read_timeout": -1}, "read_timeout"), ({"request_timeout": 0}, "request_timeout"),
                            ({"max_bytes": 0}, "max_bytes")):
        with pytest.raises(ValueError, match=words):
            LocalServer(**settings)


# -- 17c. what is remembered of requests is bounded ----------------------------------------------------

def test_big_bodies_are_counted_but_not_kept_in_the_request_records(srv):
    """Catches: every request body kept whole (200 accepted 1 MB requests grew memory by 200 MB)."""
    for _ in range(3):
        answer = requests.post(srv.url + "/assistants", json={"model": "gpt-4o", "instructions": "x" * 200_000},
                               timeout=10)
        assert answer.status_code == 200
    small = requests.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10)
    assert small.status_code == 200
    records = srv.requests
    assert srv.counts == {"POST /assistants": 4} and len(records) == 4
    assert all(r.body is None and r.size > 200_000 for r in records[:3])
    assert records[3].body == {"model": "gpt-4o"} and records[3].size == len(small.request.body)


def test_request_records_are_bounded_in_bytes_and_in_number(srv):
    """Catches: records bounded only in number (10,000 records of 64 KB bodies is 640 MB)."""
    srv.app.log.record_bytes = 300_000
    for _ in range(12):
        requests.post(srv.url + "/assistants", json={"model": "gpt-4o", "instructions": "x" * 50_000},
                      timeout=10)
    assert srv.counts == {"POST /assistants": 12}
    assert 4 <= len(srv.requests) <= 6 and srv.app.log.kept <= 300_000
    srv.app.log.max_records = 3
    for _ in range(5):
        requests.get(srv.url + "/assistants/asst_x", timeout=10)
    assert [r.route for r in srv.requests] == ["GET /assistants/{assistant_id}"] * 3
    assert sum(srv.counts.values()) == 17


# -- 18. runs are bounded in bytes too ------------------------------------------------------------------

def test_runs_are_bounded_in_bytes_evicting_the_oldest_finished(make_api):
    """Catches: ``max_runs`` bounding how many runs are kept but not their size (20 GB at 2 MB a run)."""
    with local_server(max_bytes=600_000) as srv:
        api = make_api(srv)
        assistant = api.assistant()["id"]
        runs = [api.create_run(assistant, text="y" * 50_000) for _ in range(10)]
        store = srv.app.store
        assert 4 <= len(store.runs) <= 6 and len(store.threads) == len(store.runs)
        assert store.bytes_kept <= 600_000
        assert store.bytes_kept == sum(run.size for run in store.runs.values())
        assert api.get(api.run_path(runs[0])).status_code == 404
        assert api.wait(runs[-1])["status"] == "completed"
        assert api.messages(runs[-1]["thread_id"])["data"][0]["role"] == "assistant"


def test_runs_in_progress_are_never_evicted_by_the_byte_bound(make_api):
    """Catches: the byte bound evicting runs still in progress (their clients would get 404)."""
    with local_server(max_bytes=100_000, latency=30) as srv:
        api = make_api(srv)
        assistant = api.assistant()["id"]
        active = [api.create_run(assistant, text="y" * 50_000) for _ in range(3)]
        srv.latency = 0
        done = [api.create_run(assistant, text="y" * 50_000) for _ in range(3)]
        statuses = [api.get(api.run_path(r)).json().get("status") for r in active]
        assert set(statuses) <= {"queued", "in_progress"} and len(statuses) == 3
        assert [api.get(api.run_path(r)).status_code for r in done] == [404, 404, 200]


def test_assistants_are_bounded_in_bytes_too(make_api):
    """Catches: 10,000 assistants of 256 KB instructions each (2.5 GB) kept by a count bound alone."""
    with local_server(max_bytes=800_000) as srv:  # assistants: an eighth, 100,000 bytes
        api = make_api(srv)
        made = [api.assistant(instructions="z" * 30_000) for _ in range(5)]
        store = srv.app.store
        assert len(store.assistants) == 3 and store.assistant_bytes <= 100_000
        assert api.get(f"/assistants/{made[0]['id']}").status_code == 404
        assert api.get(f"/assistants/{made[-1]['id']}").status_code == 200
        store.assistants.clear()  # changed from outside, as a test may: the next create resyncs
        api.assistant()
        assert len(store.assistants) == 1 and store.assistant_bytes < 100


# -- Idempotency-Key of an evicted run ------------------------------------------------------------------

def keyed(srv: LocalServer, key: str, payload: dict) -> requests.Response:
    return requests.post(srv.url + "/threads/runs", json=payload, headers={"Idempotency-Key": key}, timeout=10)


def test_a_repeated_key_whose_run_was_evicted_is_a_409_not_a_second_run(make_api):
    """Catches: a retried create whose run was evicted meanwhile silently running the request again."""
    with local_server(max_runs=1) as srv:
        api = make_api(srv)
        payload = api.run_body(api.assistant()["id"])
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        assert keyed(srv, first, payload).status_code == 200
        assert keyed(srv, second, payload).status_code == 200  # evicts the first run, and its key's entry
        assert list(srv.app.store.keys) == [second]
        again = keyed(srv, first, payload)
        assert again.status_code == 409 and again.json()["error"]["code"] == "idempotency_key_run_evicted"
        assert "\n" not in again.json()["error"]["message"]
        other = keyed(srv, first, {**payload, "instructions": "other"})
        assert other.status_code == 400 and other.json()["error"]["code"] == "idempotency_key_reused"
        assert keyed(srv, second, payload).status_code == 200
        assert srv.runs_created == 2


# -- HEAD ------------------------------------------------------------------------------------------------

def test_a_head_request_gets_headers_and_no_body(srv):
    """Catches: a JSON error body after the headers of a HEAD answer (clients then misread the
    next answer on the connection)."""
    with connect(srv) as sock:
        sock.sendall(b"HEAD /v1/assistants HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, _ = read_until_closed(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501 ") and b"content-type: application/json" in head
    assert rest == b""
