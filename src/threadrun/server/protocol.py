"""Uvicorn's HTTP/1.1 protocols with the bounds the stack does not have on its own.

Uvicorn gives the keep-alive timeout (``Limits.idle_s`` after an answer), a concurrency limit
and graceful shutdown. ``Bounds`` adds what it lacks, the same over either of Uvicorn's parsers
(``GuardedProtocol`` here on h11, pure Python; ``GuardedHttpToolsProtocol`` in
``protocol_httptools`` on httptools, compiled, used when it is installed):

- an idle timeout before a connection's first request (Uvicorn waits forever);
- read deadlines while a request arrives: each read within ``read_s``, the whole request (head
  and body) within ``request_s`` of its first byte; a late one is closed without an answer;
- a request head at most ``HEAD_BYTES`` and ``MAX_HEAD_LINES`` lines (414 or 431 past them),
  counted on the wire before the parser sees the bytes; request heads not yet complete (the
  bytes nobody has authenticated) at most ``PENDING_BYTES`` over all connections;
- past ``max_connections``, a connection is kept only for a request carrying the server's token
  (a slot kept for its owner: slow strangers cannot lock it out); without that token it gets
  the spec's 503 JSON error; at most ``RESERVE`` such connections wait for their head;
- a JSON error for a malformed request, and a short linger after a refusal with an unread body
  (half-close, drain, then close) so the client reads the answer instead of a reset.

The ASGI app reaches its connection through ``scope["extensions"]["threadrun.connection"]``.
"""
from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import Limits

HEAD_BYTES = 32 << 10
MAX_HEAD_LINES = 100 + 2  # the request line, 100 header lines (the stdlib server's limit), the end
PENDING_BYTES = 8 << 20
RESERVE = 64
OVER_HEAD_S = 5.0
LINGER_S, LINGER_BYTES = 1.0, 64 << 20
READ_BYTES = 64 << 10  # one read's most bytes, into the server's one read buffer


@dataclass
class Guard:
    """State shared by a server's connections: its bounds, unread head bytes, waiting extras."""

    limits: Limits
    pending: int = 0
    waiting: "OrderedDict[Bounds, None]" = field(default_factory=OrderedDict)
    refused: int = 0
    buffer: memoryview = field(default_factory=lambda: memoryview(bytearray(READ_BYTES)))


def busy_body(max_connections: int) -> bytes:
    """The 503 error of a request past the cap."""
    return json.dumps({"error": {
        "message": f"The server is busy: it serves at most {max_connections} connections at "
                   f"once. Please try again in a second.",
        "type": "server_error", "param": None, "code": None}}).encode()


class _Transport:
    """The connection's transport: writes made in one loop step go out as one send (a head and
    its body together, as the old server did), and ``close`` lingers when the protocol asks."""

    def __init__(self, transport: asyncio.Transport, protocol: "Bounds") -> None:
        self._transport, self._protocol = transport, protocol
        self._pending: list[bytes] = []
        self.is_closing = transport.is_closing

    def write(self, data: bytes) -> None:
        """Queue ``data``; the queue is sent at the end of this loop step."""
        if not self._pending:
            self._protocol.loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        """Send what is queued."""
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Close, or half-close and drain for a moment when the request body was not read."""
        if self._protocol.linger_wanted and not self._transport.is_closing():
            self._protocol.start_linger()
        else:
            self.close_now()

    def close_now(self) -> None:
        """Send what is queued, then close."""
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class Bounds:
    """The bounds, over either Uvicorn protocol (a mixin before it): read deadlines, a
    token-aware cap, head size and line bounds, a pre-auth byte budget and linger. The parser's
    side is three questions (``reading_head``, ``arriving``, ``body_done``) and ``feed``.

    Reads go through ``asyncio.BufferedProtocol`` (the concrete classes list it last): asyncio
    reads into the server's one buffer, instead of allocating a 256 KiB bytes object per read
    (an mmap, mremap and munmap each: a tenth of a request's time on the loop).
    """

    guard: Guard
    loop: asyncio.AbstractEventLoop
    transport: Any
    connections: Any
    cycle: Any

    def __init__(self, *args: Any, guard: Guard, **kwargs: Any) -> None:
        self.guard = guard
        super().__init__(*args, **kwargs)
        self.timer: asyncio.TimerHandle | None = None
        self.started: float | None = None  # monotonic time of the current request's first byte
        self.head_bytes = self.head_lines = 0  # of the current request head (bytes in guard.pending)
        self.line_seen = False  # the head's request line has ended within HEAD_BYTES
        self.tail = b""  # the head's last bytes so far: its end may span two reads
        self.over = False  # opened past the cap: served only with the token
        self.linger_wanted = self.lingering = False
        self.drained = 0

    # -- the parser's side ------------------------------------------------------------------
    def reading_head(self) -> bool:
        """Whether the next bytes belong to a request head (none is being answered or read)."""
        raise NotImplementedError

    def arriving(self) -> bool:
        """Whether a request is on its way in (its head or body not yet all read)."""
        raise NotImplementedError

    def body_done(self) -> bool:
        """Whether the current request has been read to its end."""
        raise NotImplementedError

    def feed(self, data: bytes) -> None:
        """Give ``data`` to the parser (which starts the ASGI task of each complete head)."""
        raise NotImplementedError

    # -- Uvicorn's hooks ----------------------------------------------------------------------
    @property
    def limit_concurrency(self) -> int:
        """Uvicorn's own limit, a backstop above the cap and its reserve (read per request)."""
        return self.guard.limits.max_connections + RESERVE + 1

    @limit_concurrency.setter
    def limit_concurrency(self, value: Any) -> None:
        """Set by Uvicorn from its config: the guard's limits decide instead."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        """Track it; arm the idle timeout; past the cap, wait briefly for a request with the token."""
        super().connection_made(_Transport(transport, self))  # type: ignore[misc]
        sock = transport.get_extra_info("socket")
        if sock is not None:  # answers go out at once (no Nagle delay behind a delayed ACK)
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.arm(self.guard.limits.idle_s)
        if len(self.connections) > self.guard.limits.max_connections:
            self.over = True
            self.arm(min(OVER_HEAD_S, self.guard.limits.idle_s))
            waiting = self.guard.waiting
            waiting[self] = None
            while len(waiting) > RESERVE:
                oldest, _ = waiting.popitem(last=False)
                oldest.refuse()

    def get_buffer(self, sizehint: int) -> memoryview:
        """Where asyncio reads (one buffer per server: each read is handed on at once)."""
        return self.guard.buffer

    def buffer_updated(self, nbytes: int) -> None:
        """``nbytes`` were read into the buffer."""
        self.data_received(bytes(self.guard.buffer[:nbytes]))

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget it: timers, unread head bytes, its place in the waiting list."""
        self.disarm()
        self.release_head()
        self.guard.waiting.pop(self, None)
        self.linger_wanted = False
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        """Feed the parser within the read deadlines, the head bounds and the pre-auth budget."""
        if self.lingering:
            self.drained += len(data)
            if self.drained > LINGER_BYTES:
                self.transport.close_now()
            return
        if self.started is None:
            self.started = time.monotonic()
        heading = self.reading_head()
        if heading and self.count_head(data):
            return
        self.feed(data)
        if heading and not self.reading_head():
            self.head_done()
        self.after_read()

    def count_head(self, data: bytes) -> bool:
        """Count the head's bytes and lines in ``data`` (a body may follow in the same read);
        True when the head is refused for its size or the server's budget."""
        joined = self.tail + data
        end = joined.find(b"\r\n\r\n")
        count = len(data) if end < 0 else max(0, end + 4 - len(self.tail))
        if not self.line_seen:  # does the request line end within HEAD_BYTES?
            line = joined.find(b"\r\n")
            self.line_seen = 0 <= line and self.head_bytes - len(self.tail) + line <= HEAD_BYTES
        self.tail = joined[-3:]
        self.head_bytes += count
        self.head_lines += data.count(b"\n", 0, count)
        self.guard.pending += count
        if self.head_bytes > HEAD_BYTES or self.head_lines > MAX_HEAD_LINES:
            self.refuse_head()
            return True
        if self.guard.pending > PENDING_BYTES:
            self.send_error(503, b"Service Unavailable", "Too many request header bytes in "
                            "flight on this server; try again in a second.")
            return True
        return False

    def head_done(self) -> None:
        """A whole head was read: its bytes leave the budget, the connection the waiting list."""
        self.release_head()
        self.guard.waiting.pop(self, None)

    def after_read(self) -> None:
        """Arm the next read's deadline while a request is arriving; none once it has."""
        if self.transport.is_closing() or self.lingering:
            return
        if self.started is not None and self.arriving():
            left = self.started + self.guard.limits.request_s - time.monotonic()
            if left <= 0:
                self.cut()
                return
            self.arm(min(self.guard.limits.read_s, left))
        else:
            self.disarm()

    def on_response_complete(self) -> None:
        """Back to idle: the answer goes out now (not a loop step later), and the keep-alive
        timeout is ``idle_s`` (read now: changes apply)."""
        self.transport.flush()
        self.timeout_keep_alive = self.guard.limits.idle_s
        if self.body_done():
            self.started = None
            self.disarm()
        super().on_response_complete()  # type: ignore[misc]

    def arm(self, seconds: float) -> None:
        """(Re)start the one read timer: when it fires, the connection is closed."""
        self.disarm()
        self.timer = self.loop.call_later(seconds, self.cut)

    def disarm(self) -> None:
        """Stop the read timer."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def release_head(self) -> None:
        """The current head is complete or gone: its bytes leave the pre-auth budget."""
        self.guard.pending -= self.head_bytes
        self.head_bytes = self.head_lines = 0
        self.tail, self.line_seen = b"", False

    def cut(self) -> None:
        """A deadline passed: close without an answer (an answer being written is left alone)."""
        self.timer = None
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            return
        if self.cycle is not None:
            self.cycle.disconnected = True
        self.transport.close_now()

    def drop(self) -> None:
        """Close now, whatever was (or was not) answered: the ``drop`` faults."""
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.linger_wanted = False
        self.transport.close_now()

    def refuse(self) -> None:
        """Answer 503 (busy) on a connection that has not sent a whole head yet, and close it."""
        self.release_head()
        self.guard.refused += 1
        body = busy_body(self.guard.limits.max_connections)
        self.transport.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
                             b"content-length: %d\r\nretry-after: 1\r\nretry-after-ms: 1000\r\n"
                             b"connection: close\r\n\r\n%s" % (len(body), body))
        self.linger_wanted = True
        self.transport.close()

    def start_linger(self) -> None:
        """Half-close after the answer, drain what the client still sends, close within LINGER_S."""
        self.lingering, self.linger_wanted = True, False
        self.disarm()
        self.transport.flush()
        raw = self.transport._transport
        try:
            if raw.can_write_eof():
                raw.write_eof()
        except (OSError, RuntimeError):
            raw.close()
            return
        self.loop.call_later(LINGER_S, raw.close)

    def refuse_head(self) -> None:
        """A request head over HEAD_BYTES or MAX_HEAD_LINES: 414 when its request line is, else 431."""
        if not self.line_seen:
            return self.send_error(414, b"URI Too Long", f"Request line over {HEAD_BYTES} bytes.")
        if self.head_lines > MAX_HEAD_LINES:
            return self.send_error(431, b"Request Header Fields Too Large",
                                   f"Request header over {MAX_HEAD_LINES - 2} lines.")
        self.send_error(431, b"Request Header Fields Too Large",
                        f"Request header over {HEAD_BYTES} bytes.")

    def send_error(self, status: int, reason: bytes, text: str) -> None:
        """Answer the spec's JSON error before any request reached the app, then close."""
        self.release_head()  # what was not fed to the parser is not kept
        body = json.dumps({"error": {"message": text, "type": "invalid_request_error",
                                     "param": None, "code": None}}).encode()
        self.transport.write(b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
                             b"connection: close\r\n\r\n%s" % (status, reason, len(body), body))
        self.linger_wanted = True
        self.transport.close()

    def new_cycle(self, cycle: Any) -> None:
        """A new request's cycle: its scope gets this connection as an extension; ASGI 2.4 send."""
        cycle.scope["extensions"] = {"threadrun.connection": self}
        self.speak_asgi_2_4(cycle)

    @staticmethod
    def speak_asgi_2_4(cycle: Any) -> None:
        """ASGI 2.4: ``send`` raises OSError once the client is gone (Uvicorn's cycles drop the
        message silently), so a streaming response stops at its next event without a
        disconnect-listener task per stream."""
        deliver = cycle.send

        async def send(message: Any) -> None:
            if cycle.disconnected and message.get("type") == "http.response.body":
                raise OSError("the client closed the connection")
            await deliver(message)

        cycle.send = send  # read when the request's task starts (it has not yet)
        cycle.scope["asgi"] = {**cycle.scope["asgi"], "spec_version": "2.4"}


class GuardedProtocol(Bounds, H11Protocol, asyncio.BufferedProtocol):  # type: ignore[misc]  # Bounds's float timeouts, transport
    """Uvicorn's h11 protocol (pure Python) with the bounds: the fallback without httptools."""

    def reading_head(self) -> bool:
        """No request is being read or answered (h11's IDLE)."""
        return self.conn.their_state is h11.IDLE

    def arriving(self) -> bool:
        """A head (IDLE) or a body (SEND_BODY) is on its way in."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def body_done(self) -> bool:
        """The request's body has been read to its end."""
        return self.conn.their_state is not h11.SEND_BODY

    def feed(self, data: bytes) -> None:
        """Uvicorn's h11 reading."""
        H11Protocol.data_received(self, data)

    def send_400_response(self, msg: str) -> None:
        """A malformed request head (Uvicorn's hook): the spec's JSON error."""
        if len(self.conn.trailing_data[0]) > HEAD_BYTES:
            self.line_seen = b"\r\n" in self.conn.trailing_data[0][:HEAD_BYTES + 2]
            return self.refuse_head()
        self.send_error(400, b"Bad Request", msg)

    def handle_events(self) -> None:
        """Uvicorn's event handling; a new request's cycle gets the connection and ASGI 2.4."""
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and self.cycle is not None:
            self.new_cycle(self.cycle)
