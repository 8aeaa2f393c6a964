"""The client behind a corporate proxy: ``HTTP_PROXY`` is honoured for a non-loopback base URL,
through threadrun's own connection classes (``transport.WatchedAdapter``), and a run's deadline
still ends a run whose answer never comes through the proxy.

The proxy is a small forwarding proxy of our own (absolute-form requests, as requests sends to
an http proxy); behind it, threadrun's local server. Fails if the adapter's proxy managers lose
the environment's proxy (the run would try to resolve ``assistants.example`` and fail), or if
the watched connections do not reach the proxy manager's pools (the deadline would not cut).
"""
from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from threadrun.client import Client

BODY = {"thread": {"messages": [{"role": "user", "content": "hi"}]}}


class Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self) -> None:
        target = urlsplit(self.path)
        self.server.seen.append(f"{self.command} {target.hostname}{target.path}")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "proxy-connection", "connection")}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""),
                         body=body, headers={**headers, "Host": f"127.0.0.1:{self.server.upstream_port}"})
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = relay


@pytest.fixture
def proxy(server, monkeypatch):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    srv.daemon_threads = True
    srv.handle_error = lambda *args: None  # a client that hung up is this test's point
    srv.upstream_port = urlsplit(server.url).port
    srv.seen = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{srv.server_address[1]}")
    yield srv
    srv.shutdown()
    srv.server_close()


def test_a_run_goes_through_the_environments_proxy(server, proxy):
    threadrun_client = Client("http://assistants.example/v1", api_key="")
    try:
        assistant = threadrun_client.create_assistant("gpt-4o")
        result = threadrun_client.run({**BODY, "assistant_id": assistant["id"]}, stream=False)
    finally:
        threadrun_client.close()
    assert result.status == "completed", result.error
    assert "POST assistants.example/v1/threads/runs" in proxy.seen
    assert server.runs_created == 1


def test_the_deadline_cuts_a_create_stuck_behind_the_proxy(server, proxy):
    """The create's answer is held 30 s; only shutting the socket to the proxy ends the wait."""
    threadrun_client = Client("http://assistants.example/v1", api_key="")
    try:
        assistant = threadrun_client.create_assistant("gpt-4o")
        server.set_fault("slow_s=30,slow=1,route=create")
        started = time.monotonic()
        result = threadrun_client.run({**BODY, "assistant_id": assistant["id"]}, stream=False,
                                      deadline=1.0)
        took = time.monotonic() - started
    finally:
        threadrun_client.close()
    assert result.status == "unknown", result.error
    assert result.error.startswith("the deadline of 1 s passed while its create was unanswered")
    assert took < 20  # the held answer takes 30 s, the client's read timeout 120 s
