"""The local server's bounds on connections and on what it remembers of requests.

Connections (enforced by ``protocol`` on Uvicorn): at most ``max_connections`` are served at once;
one past the cap is served only for a request carrying the server's token, else answered 503 (the
spec's error object, ``retry-after: 1``) and closed.  Each connection waits at most ``idle_s`` for
the first byte of a request, at most ``read_s`` for each further byte, and the whole request (line,
headers, body) must arrive within ``request_s`` of its first byte; otherwise the connection is
closed.  A stream's pauses between events are not reads, so long streams are never cut.

Request log: ``counts`` is a counter per route; the records behind ``srv.requests`` are the last
``max_records`` requests, holding a body only when it is at most ``record_body_bytes`` long, and
at most ``record_bytes`` of bodies and headers in all (the oldest records go first).
"""
from __future__ import annotations

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

    def check(self) -> None:
        """ValueError when a bound is not positive."""
        if self.max_connections < 1:
            raise ValueError("max_connections must be >= 1")
        for name in ("idle_s", "read_s", "request_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.replace('_s', '_timeout')} must be > 0 seconds")


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
