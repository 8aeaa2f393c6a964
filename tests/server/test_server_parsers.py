"""Issue 25 point 5: the runtime parses requests with httptools when it is installed (a head in
microseconds instead of h11's ~60 µs), with h11 as the fallback; the bounds and the spec's JSON
errors are the same over both parsers (``$THREADRUN_HTTP_PARSER=h11`` picks h11).
"""
from __future__ import annotations

import json
import socket
import sys

import pytest

from threadrun.server import LocalServer, serving
from threadrun.server.protocol import GuardedProtocol

PARSERS = ["h11", "httptools"]


def use_parser(monkeypatch: pytest.MonkeyPatch, parser: str) -> None:
    """Make the next server use ``parser`` (skipped when httptools is not installed)."""
    if parser == "httptools":
        pytest.importorskip("httptools")
        monkeypatch.delenv(serving.PARSER_ENV, raising=False)
    else:
        monkeypatch.setenv(serving.PARSER_ENV, "h11")


def exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes: status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(data)
        except OSError:  # refused mid-send: the answer is still there to read
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def error_of(headers: dict[str, str], body: bytes) -> dict:
    """The spec's error object of a JSON answer (and that it closes the connection)."""
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"
    error = json.loads(body[:int(headers["content-length"])])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


def test_the_runtime_parses_with_httptools_when_installed_else_h11(monkeypatch):
    """Catches: the compiled parser never used, or its absence breaking the runtime."""
    pytest.importorskip("httptools")
    from threadrun.server.protocol_httptools import GuardedHttpToolsProtocol
    monkeypatch.delenv(serving.PARSER_ENV, raising=False)
    assert serving.protocol_class() is GuardedHttpToolsProtocol
    monkeypatch.setenv(serving.PARSER_ENV, "h11")
    assert serving.protocol_class() is GuardedProtocol
    monkeypatch.delenv(serving.PARSER_ENV)
    monkeypatch.setitem(sys.modules, "httptools", None)  # not installed: the import fails
    monkeypatch.delitem(sys.modules, "threadrun.server.protocol_httptools", raising=False)
    assert serving.protocol_class() is GuardedProtocol


@pytest.mark.parametrize("parser", PARSERS)
def test_keep_alive_requests_and_a_body_sent_apart_are_served_alike(monkeypatch, parser):
    """Catches: a parser whose requests on one connection (or a body in its own packet) go astray."""
    use_parser(monkeypatch, parser)
    with LocalServer() as srv, socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
        body = json.dumps({"model": "gpt-4o"}).encode()
        sock.sendall(b"POST /v1/assistants HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        sock.sendall(body)
        sock.sendall(b"GET /v1/assistants/asst_none HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while answer.count(b"HTTP/1.1 ") < 2 or not answer.rstrip().endswith(b"}"):
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200 ") and b"HTTP/1.1 404 " in answer
        assert srv.counts == {"POST /assistants": 1, "GET /assistants/{assistant_id}": 1}


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("data, status", [
    (b"GARBAGE\r\n\r\n", 400),
    (b"GET /v1/assistants HTTP/9.9\r\n\r\n", 505),
    (b"GET /" + b"a" * 40_000 + b" HTTP/1.1\r\n\r\n", 414),
    (b"GET /v1/assistants HTTP/1.1\r\n" + b"X-Pad: " + b"a" * 40_000 + b"\r\n\r\n", 431),
    (b"GET /v1/assistants HTTP/1.1\r\n" + b"X: y\r\n" * 101 + b"\r\n", 431),
])
def test_malformed_or_oversized_heads_get_the_same_json_error_on_both_parsers(monkeypatch, parser, data,
                                                                             status):
    """Catches: a parser's own error page, or a head bound that only one parser keeps."""
    use_parser(monkeypatch, parser)
    with LocalServer() as srv:
        got, headers, body = exchange(srv.port, data)
        assert got == status
        assert error_of(headers, body)["message"]
        assert srv.counts == {}  # refused before any route was reached


@pytest.mark.parametrize("parser", PARSERS)
def test_a_head_of_a_hundred_header_lines_is_served(monkeypatch, parser):
    """Catches: the header-line bound refusing a head at the limit (both bounds of it are checked)."""
    use_parser(monkeypatch, parser)
    with LocalServer() as srv:
        got, _, _ = exchange(srv.port, b"GET /v1/assistants/asst_none HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                       b"Connection: close\r\n" + b"X: y\r\n" * 98 + b"\r\n")
        assert got == 404  # 100 header lines: the route answered
