"""HTTP I/O of the local server: request parsing, fault hooks, JSON answers, SSE, keep-alive.

Reads are bounded in time (idle, per read, per request) by ``limits.TimedReader``; a HEAD
request gets its answer's headers (a 501: no route serves HEAD) and no body.
"""
from __future__ import annotations

import io
import json
import secrets
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .app import App, Reply, StreamReply, echo_key_reply, error_reply, match_route
from .limits import TimedReader
from .validate import ErrorAnswer

MAX_BODY = 1 << 20
LINGER_S, LINGER_BYTES = 1.0, 64 << 20
ERROR_KINDS = ("429", "500", "502", "503")
MID_EVENTS = 3


def try_json(raw: bytes) -> Any:
    """The request body parsed as JSON for the request log, None when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


class Handler(BaseHTTPRequestHandler):
    """One connection: HTTP/1.1 keep-alive, every answer with Content-Length or a closing stream."""

    protocol_version = "HTTP/1.1"
    server_version = "threadrun-local/0.1"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet, unless the server is verbose (``threadrun serve --verbose``): one line per answer."""
        if getattr(self.app, "verbose", False):
            sys.stderr.write(f"threadrun serve: {self.client_address[0]} {format % args}\n")

    def setup(self) -> None:
        """Read through the timed reader; disable Nagle's algorithm (answers go out at once)."""
        super().setup()
        self.rfile.close()  # the stdlib's plain reader: replaced by one with deadlines
        self.reader = TimedReader(self.connection, self.app.limits)
        self.rfile = io.BufferedReader(self.reader, 65536)
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def handle_one_request(self) -> None:
        """Wait (at most the idle timeout) for a request and answer it; a late one closes."""
        self.reader.next_request()
        super().handle_one_request()

    def version_string(self) -> str:
        """The ``Server`` header value."""
        return self.server_version

    def do_GET(self) -> None:
        """Dispatch GET."""
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    @property
    def app(self) -> App:
        """The App of the server this handler belongs to."""
        return self.server.app  # type: ignore[attr-defined]

    def dispatch(self) -> None:
        """Read, count, fault, handle and answer one request."""
        self.started = time.monotonic()
        self.request_id = "req_" + secrets.token_hex(16)
        url = urlsplit(self.path)
        match = match_route(self.command, url.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        length = self.body_length(headers)
        if length is None or length > MAX_BODY:
            self.app.record(self.command, match.route, self.path, headers, None)
            self.refuse_body(length)
            return
        refused = self.app.precheck(self.command, match, headers, length)
        if refused is not None:  # answered before reading the body: then the connection closes
            self.app.record(self.command, match.route, self.path, headers, None)
            reply = error_reply(refused)
            reply.close = bool(length)
            self.send_json(reply)
            if length:
                self.linger()
            return
        raw = self.rfile.read(length) if length else b""
        self.app.record(self.command, match.route, self.path, headers, raw, try_json)
        decision = self.app.faults.on_request(match.route)
        if decision.http == "drop":
            self.close_connection = True
            return
        if decision.http in ERROR_KINDS:
            self.send_json(self.app.fault_reply(decision.http))
            return
        if decision.http == "echo-key":
            self.send_json(echo_key_reply(headers))
            return
        reply = self.app.handle(match, dict(parse_qsl(url.query)), headers, raw, decision)
        self.deliver(reply, decision.http)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A request the stdlib refused (bad request line, headers, method): the spec's JSON error."""
        self.started = getattr(self, "started", time.monotonic())
        self.request_id = getattr(self, "request_id", "req_" + secrets.token_hex(16))
        self.request_version = self.protocol_version  # answer with a status line and headers
        error = ErrorAnswer(code, " ".join(str(message or self.responses.get(code, ("Bad request",))[0])
                                           .split())[:300], None, None)
        reply = error_reply(error)
        reply.close = True
        self.send_json(reply)

    def body_length(self, headers: dict[str, str]) -> int | None:
        """The declared body length (0 if none); None when it cannot be honoured."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return None
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            return None
        return length if length >= 0 else None

    def refuse_body(self, length: int | None) -> None:
        """Answer 413 (or 400 for an unusable length) without reading the body, then close."""
        if length is None:
            error = ErrorAnswer(400, "Invalid or unsupported request body framing; send a "
                                  "Content-Length header.", None, None)
        else:
            error = ErrorAnswer(413, f"Request body too large: {length} bytes; the limit is "
                                  f"{MAX_BODY} bytes.", None, "request_too_large")
        reply = error_reply(error)
        reply.close = True
        self.send_json(reply)
        self.linger()

    def linger(self) -> None:
        """Half-close, then briefly drain what the client still sends, so it reads our answer."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(LINGER_S)
            deadline, drained = time.monotonic() + LINGER_S, 0
            while time.monotonic() < deadline and drained < LINGER_BYTES:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:
            pass
        self.close_connection = True

    def deliver(self, reply: Reply | StreamReply, kind: str | None) -> None:
        """Answer, applying the post-handling faults (drop-after, 500-after, slow, drop-mid)."""
        if kind == "drop-after":
            self.close_connection = True
            return
        if kind == "500-after":  # handled (a run created), then a 500 as a failing proxy sends
            self.send_json(self.app.fault_reply("500"))
            return
        if kind == "slow":
            time.sleep(self.app.faults.slow_s)
        if isinstance(reply, StreamReply):
            self.send_stream(reply, cut=kind == "drop-mid")
        else:
            self.send_json(reply, cut=kind == "drop-mid")

    def common_headers(self) -> None:
        """Headers of every answer: request id and processing time."""
        self.send_header("x-request-id", self.request_id)
        elapsed = int((time.monotonic() - self.started) * 1000)
        self.send_header("openai-processing-ms", str(elapsed))
        self.send_header("openai-version", "2020-10-01")

    def send_json(self, reply: Reply, cut: bool = False) -> None:
        """Send a JSON answer with Content-Length (``cut``: send half the body, then close).

        A HEAD request gets the same headers (Content-Length included) and no body.
        """
        data = json.dumps(reply.body).encode("utf-8")
        try:
            self.connection.settimeout(self.app.limits.write_s)
            self.send_response(reply.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.common_headers()
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.status == 405:
                self.send_header("allow", "GET, POST")
            if reply.close or cut:
                self.send_header("connection", "close")
                self.close_connection = True
            if getattr(self, "command", None) == "HEAD":
                data = b""
            self._headers_buffer.append(b"\r\n" + (data[:len(data) // 2] if cut else data))
            self.flush_headers()
        except OSError:
            self.close_connection = True

    def send_stream(self, reply: StreamReply, cut: bool = False) -> None:
        """Send SSE events as chunks as they come, like the real API (``cut``: close after a few)."""
        try:
            self.connection.settimeout(self.app.limits.write_s)  # a blocked write; pauses are no reads
            self.send_response(200)
            self.send_header("content-type", "text/event-stream; charset=utf-8")
            self.send_header("cache-control", "no-cache")
            self.send_header("transfer-encoding", "chunked")
            self.common_headers()
            self.end_headers()
            for index, (event, data) in enumerate(self.safe_events(reply)):
                if cut and index >= MID_EVENTS:
                    self.close_connection = True
                    return
                payload = data if isinstance(data, str) else json.dumps(data)
                self.write_chunk(f"event: {event}\ndata: {payload}\n\n".encode("utf-8"))
            self.write_chunk(b"")
        except OSError:
            self.close_connection = True

    def write_chunk(self, data: bytes) -> None:
        """Write one chunk of a chunked answer (empty data = the final chunk)."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def safe_events(self, reply: StreamReply) -> Any:
        """The stream's events; a bug mid-stream ends it with an ``error`` event."""
        try:
            yield from reply.events
        except Exception:  # turn a bug into an error event, never a silent hang
            import traceback
            self.app.server_errors.append(traceback.format_exc())
            yield "error", {"message": "The server had an error while processing your request.",
                            "type": "server_error", "param": None, "code": None}
