"""Issue 25 (and issue 21 point 9): the runtime on Starlette + Uvicorn holds the audit's two
pre-auth probes, and ``%load_ext threadrun`` does not import the server stack.

Both probes failed on the hand-written server: the header flood grew it by 402 MB with 64
connections, and 256 slow connections made the token holder's request a 503.
"""
from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
import time

import requests

from threadrun.server import LocalServer

FLOOD_CONNECTIONS = 256
SLOW_CONNECTIONS = 256
LINE = b"X-Pad: " + b"a" * 65_000 + b"\r\n"  # the audit's 99 header lines of 65 KB
SERVE = ("import sys, time; from threadrun.server import LocalServer; "
         "s = LocalServer(api_key=sys.argv[1]).start(); print(s.port, flush=True); time.sleep(600)")


def rss_kb(pid: int, field: str) -> int:
    """A memory field (VmRSS, VmHWM) of process ``pid`` in kB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def flood(port: int, answers: list[bytes]) -> None:
    """One connection sending 99 header lines of 65 KB before any token; keeps what it is answered."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(b"POST /v1/threads/runs HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                for _ in range(99):
                    sock.sendall(LINE)
            except OSError:  # refused: the server stopped reading and closed
                pass
            try:
                answers.append(sock.recv(4096))
            except OSError:
                answers.append(b"")
    except OSError:
        answers.append(b"")


def test_a_pre_auth_header_flood_on_256_connections_adds_under_50_mb():
    """Catches: unauthenticated request heads buffered whole (64 connections added 402 MB)."""
    token = secrets.token_urlsafe(16)
    proc = subprocess.Popen([sys.executable, "-c", SERVE, token], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        time.sleep(0.3)
        before = rss_kb(proc.pid, "VmRSS")
        answers: list[bytes] = []
        threads = [threading.Thread(target=flood, args=(port, answers), daemon=True)
                   for _ in range(FLOOD_CONNECTIONS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        peak = rss_kb(proc.pid, "VmHWM")
        assert 0 <= peak - before < 50 * 1024, f"grew by {(peak - before) / 1024:.0f} MB"
        assert len(answers) == FLOOD_CONNECTIONS
        refused = sum(answer.startswith(b"HTTP/1.1 431 ") for answer in answers)
        assert refused >= FLOOD_CONNECTIONS // 2  # the server read them, and answered 431
        ok = requests.get(f"http://127.0.0.1:{port}/v1/assistants/asst_x", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 404, ok.text  # still serving
    finally:
        proc.kill()
        proc.wait(10)
        proc.stdout.close()


def test_a_client_with_the_token_is_answered_while_256_slow_connections_are_open():
    """Catches: slow strangers filling every connection slot (each legitimate request a 503)."""
    token = secrets.token_urlsafe(16)
    stop = threading.Event()
    with LocalServer(api_key=token) as srv:
        socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10)
                 for _ in range(SLOW_CONNECTIONS)]
        request = b"GET /v1/assistants/asst_x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"

        def trickle() -> None:  # one byte every 2 s on each connection, as the audit did
            for index in range(len(request)):
                for sock in socks:
                    try:
                        sock.send(request[index:index + 1])
                    except OSError:
                        pass
                if stop.wait(2):
                    return
        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            deadline = time.monotonic() + 10
            while srv.open_connections < SLOW_CONNECTIONS:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            time.sleep(2.5)  # every slow connection has sent a byte or two
            started = time.monotonic()
            owner = requests.get(srv.url + "/assistants/asst_x", timeout=10,
                                 headers={"Authorization": f"Bearer {token}"})
            took = time.monotonic() - started
            assert owner.status_code == 404 and 0 <= took < 2
            stranger = requests.get(srv.url + "/assistants/asst_x", timeout=10)
            assert stranger.status_code == 503 and stranger.headers["retry-after"] == "1"
            assert "at most 256 connections" in stranger.json()["error"]["message"]
            assert srv.counts == {"GET /assistants/{assistant_id}": 1}
        finally:
            stop.set()
            sender.join(10)
            for sock in socks:
                sock.close()


def test_loading_the_extension_does_not_import_the_server_stack():
    """Catches: Starlette/Uvicorn imported by ``%load_ext threadrun`` (the stack is for first use)."""
    code = ("import sys, threadrun, threadrun.faces.magic, threadrun.server; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'starlette', 'uvicorn', 'h11'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    started = subprocess.run([sys.executable, "-c", code.replace(
        "print(", "threadrun.server.LocalServer().start(); print(")], capture_output=True, text=True,
        timeout=60)
    assert started.stdout.strip() == "['h11', 'starlette', 'uvicorn']"  # imported at first use
