"""The local server's bounds on connections and on what it remembers of requests.

Connections: at most ``max_connections`` are open at once; one past the cap is answered 503 (the
spec's error object, ``retry-after: 1``) without being read, and closed.  Each connection waits at
most ``idle_s`` for the first byte of a request, at most ``read_s`` for each further byte, and the
whole request (line, headers, body) must arrive within ``request_s`` of its first byte; otherwise
the connection is closed.  Answers are written with at most ``write_s`` for a blocked write (a
stream's pauses between events are not writes, so long streams are never cut).

Request log: ``counts`` is a counter per route; the records behind ``srv.requests`` are the last
``max_records`` requests, holding a body only when it is at most ``record_body_bytes`` long, and
at most ``record_bytes`` of bodies and headers in all (the oldest records go first).
"""
from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

HEADER_VALUE_CHARS = 4096


@dataclass
class Limits:
    """Settable bounds of one server (read at each connection, request and read)."""

    max_connections: int = 256
    idle_s: float = 30.0
    read_s: float = 10.0
    request_s: float = 60.0
    write_s: float = 60.0

    def check(self) -> None:
        """ValueError when a bound is not positive."""
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        for name in ("idle_s", "read_s", "request_s", "write_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.replace('_s', '_timeout')} must be > 0 seconds")


class TimedReader(io.RawIOBase):
    """A connection's read side with the idle, per-read and whole-request deadlines of Limits."""

    def __init__(self, sock: socket.socket, limits: Limits) -> None:
        """Read from ``sock``; ``limits`` is read at every read (changes apply at once)."""
        super().__init__()
        self.sock, self.limits = sock, limits
        self.deadline: float | None = None  # None: idle, waiting for a request's first byte

    def readable(self) -> bool:
        """A readable stream."""
        return True

    def next_request(self) -> None:
        """Wait for a new request: the idle timeout applies until its first byte."""
        self.deadline = None

    def readinto(self, buffer: Any) -> int:
        """Read what arrives in time; TimeoutError (the connection is then closed) when late."""
        if self.deadline is None:
            timeout = self.limits.idle_s
        else:
            timeout = min(self.limits.read_s, self.deadline - time.monotonic())
            if timeout <= 0:
                raise TimeoutError("the request took too long to arrive")
        self.sock.settimeout(timeout)
        count = self.sock.recv_into(buffer)
        if self.deadline is None and count:
            self.deadline = time.monotonic() + self.limits.request_s
        return count


def busy_answer(max_connections: int) -> bytes:
    """The raw 503 answer of a connection past the cap (it is closed after)."""
    body = json.dumps({"error": {
        "message": f"The server is busy: it serves at most {max_connections} connections at "
                   f"once. Please try again in a second.",
        "type": "server_error", "param": None, "code": None}}).encode()
    head = (f"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nretry-after: 1\r\nretry-after-ms: 1000\r\n"
            f"connection: close\r\n\r\n").encode()
    return head + body


class Refused:
    """Connections answered 503, drained briefly (so clients read the answer), then closed."""

    def __init__(self, linger_s: float = 1.0, most: int = 1024) -> None:
        """Keep at most ``most`` lingering sockets, each at most ``linger_s`` seconds."""
        self.linger_s, self.most = linger_s, most
        self.sockets: deque[tuple[socket.socket, float]] = deque()
        self.count = 0

    def refuse(self, sock: socket.socket, max_connections: int) -> None:
        """Answer 503 without reading, half-close, and linger (never blocks)."""
        self.count += 1
        try:
            sock.setblocking(False)
            sock.send(busy_answer(max_connections))
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            sock.close()
            return
        self.sockets.append((sock, time.monotonic() + self.linger_s))
        while len(self.sockets) > self.most:
            self.sockets.popleft()[0].close()

    def reap(self, close_all: bool = False) -> None:
        """Drain what refused clients sent; close those done or past their linger."""
        now, keep = time.monotonic(), deque()
        for sock, until in self.sockets:
            if close_all or now >= until or not self._drain(sock):
                sock.close()
            else:
                keep.append((sock, until))
        self.sockets = keep

    @staticmethod
    def _drain(sock: socket.socket) -> bool:
        """Read what is there without waiting; False at end of stream or on an error."""
        try:
            while sock.recv(65536):
                pass
            return False
        except BlockingIOError:
            return True
        except OSError:
            return False


@dataclass
class RequestRecord:
    """One received request, as tests see it in ``srv.requests`` (``body`` None when too big)."""

    method: str
    route: str
    path: str
    headers: dict[str, str]
    body: Any
    time: float
    size: int = 0  # the body's length in bytes, kept even when the body is not


class RequestLog:
    """Counts per route and a bounded list of the last requests (see the module docstring)."""

    def __init__(self, max_records: int = 10_000, record_body_bytes: int = 64 << 10,
                 record_bytes: int = 16 << 20) -> None:
        """Empty, with these bounds."""
        self.max_records, self.record_body_bytes = max_records, record_body_bytes
        self.record_bytes = record_bytes
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.records: deque[tuple[RequestRecord, int]] = deque()
        self.kept = 0  # bytes of bodies and headers the records hold

    def add(self, method: str, route: str, path: str, headers: dict[str, str], raw: bytes | None,
            parse: Any) -> None:
        """Count a request; record it, with its body parsed by ``parse`` only when small."""
        size = len(raw or b"")
        body = parse(raw) if raw and size <= self.record_body_bytes else None
        headers = {k[:200]: v[:HEADER_VALUE_CHARS] for k, v in list(headers.items())[:100]}
        cost = (size if body is not None else 0) + len(path) + sum(len(k) + len(v) for k, v in headers.items())
        record = RequestRecord(method, route, path[:HEADER_VALUE_CHARS], headers, body,
                               time.monotonic(), size)
        with self.lock:
            self.counts[route] += 1
            self.records.append((record, cost))
            self.kept += cost
            while self.records and (len(self.records) > self.max_records or self.kept > self.record_bytes):
                self.kept -= self.records.popleft()[1]

    def snapshot(self) -> list[RequestRecord]:
        """The records, oldest first."""
        with self.lock:
            return [record for record, _ in self.records]

    def clear(self) -> None:
        """Forget counts and records."""
        with self.lock:
            self.counts.clear()
            self.records.clear()
            self.kept = 0
