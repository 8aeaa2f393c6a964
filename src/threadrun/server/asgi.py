"""The runtime's ASGI application (Starlette's requests and responses) in front of ``App``.

Per request: the guards before the body is read (body framing and size, then ``App.precheck``:
loopback ``Host``, token, route, JSON content type), the request record, the fault hooks, then
``App.handle`` (on the loop: in-memory work; in a worker thread when it may wait on an engine);
JSON answers with ``Content-Length``, SSE as raw ASGI body chunks read from the run's events on
the loop (the events ready at once as one chunk, flushed as they come; woken by the engine's
thread through ``Store.listen``, no thread per stream). A connection opened past the
cap (see ``protocol``) is served only when the request carries the token.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import Any, AsyncGenerator, Callable, Generator

from starlette.requests import ClientDisconnect, Request

from .app import App, Reply, StreamReply, echo_key_reply, error_reply, match_route
from .pages import query_params
from .protocol import busy_body
from .stream import PAUSE
from .validate import ErrorAnswer

MAX_BODY = 1 << 20
ERROR_KINDS = ("429", "500", "502", "503")
MID_EVENTS = 3
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Endpoints that may wait on an engine (a cancel closes its call) or on a provider (a count).
THREADED = {"cancel_run", "count_input_tokens"}


def try_json(raw: bytes) -> Any:
    """The request body parsed as JSON for the request log, None when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8")) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def body_length(headers: dict[str, str]) -> int | None:
    """The declared body length (0 if none); None when it cannot be honoured."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return None
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        return None
    return length if length >= 0 else None


def body_error(length: int | None) -> Reply:
    """The 400 (unusable framing) or 413 (too large) answer of a body that is not read."""
    if length is None:
        error = ErrorAnswer(400, "Invalid or unsupported request body framing; send a "
                                 "Content-Length header.", None, None)
    else:
        error = ErrorAnswer(413, f"Request body too large: {length} bytes; the limit is "
                                 f"{MAX_BODY} bytes.", None, "request_too_large")
    reply = error_reply(error)
    reply.close = True
    return reply


def has_token(app: App, headers: dict[str, str]) -> bool:
    """Whether the request carries the server's token (a server without one has no owner)."""
    if app.api_key is None:
        return False
    try:
        app.check_auth(headers)
    except ErrorAnswer:
        return False
    return True


class Exchange:
    """One request being answered: its timing, id and connection, and how answers are sent."""

    def __init__(self, runtime: "RuntimeASGI", scope: dict, receive: Any, send: Any) -> None:
        self.runtime, self.app = runtime, runtime.app
        self.scope, self.send = scope, send
        self.receive = receive
        self.started = time.monotonic()
        self.request_id = "req_" + secrets.token_hex(16)
        self.connection = scope.get("extensions", {}).get("threadrun.connection")
        self.method = scope["method"]
        self.path = scope["raw_path"].decode("latin-1")
        query = scope["query_string"].decode("latin-1")
        self.target = self.path + ("?" + query if query else "")
        self.query = query_params(query)
        self.headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}

    def common_headers(self) -> dict[str, str]:
        """Headers of every answer: request id and processing time."""
        elapsed = int((time.monotonic() - self.started) * 1000)
        return {"x-request-id": self.request_id, "openai-processing-ms": str(elapsed),
                "openai-version": "2020-10-01"}

    def linger(self) -> None:
        """The body will not be read: the connection half-closes and drains after the answer."""
        if self.connection is not None:
            self.connection.linger_wanted = True

    def drop(self) -> None:
        """Close the connection now (the ``drop`` faults)."""
        if self.connection is not None:
            self.connection.drop()

    async def send_json(self, reply: Reply, cut: bool = False) -> None:
        """A JSON answer with Content-Length (``cut``: half the body, then the connection drops)."""
        data = json.dumps(reply.body).encode("utf-8")
        headers = {"content-type": "application/json", **self.common_headers(), **reply.headers}
        if reply.status == 405:
            headers["allow"] = "GET, POST, DELETE"
        if reply.close or cut:
            headers["connection"] = "close"
        self.log(reply.status)
        headers["content-length"] = str(len(data))
        await self.send({"type": "http.response.start", "status": reply.status,
                         "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]})
        if not cut:
            await self.send({"type": "http.response.body", "body": data})
            return
        await self.send({"type": "http.response.body", "body": data[:len(data) // 2], "more_body": True})
        self.drop()

    async def send_stream(self, reply: StreamReply, cut: bool = False) -> None:
        """SSE events as chunks as they come, like the real API (``cut``: drop after a few)."""
        self.log(200)
        headers = {"cache-control": "no-cache", **self.common_headers(),
                   "content-type": "text/event-stream; charset=utf-8"}
        await self.send({"type": "http.response.start", "status": 200,
                         "headers": [(k.encode(), v.encode()) for k, v in headers.items()]})
        async with aclosing(self.chunks(reply, MID_EVENTS if cut else None)) as chunks:
            async for chunk in chunks:  # a client gone: ``send`` raises OSError (ASGI 2.4)
                await self.send({"type": "http.response.body", "body": chunk, "more_body": True})
        if cut:  # the connection drops before the stream's last chunk
            return self.drop()
        await self.send({"type": "http.response.body", "body": b""})

    async def chunks(self, reply: StreamReply, most: int | None) -> AsyncGenerator[bytes, None]:
        """The stream's frames, read on the loop: those ready at once go out as one chunk; at a
        pause, the loop waits for the run to change (the engine's thread wakes it) or the time."""
        loop, wake = asyncio.get_running_loop(), asyncio.Event()
        pending = [False]  # a wake is on its way to the loop: later pokes ride on it

        def woken() -> None:  # on the loop: the reader will see every change made before this
            pending[0] = False
            wake.set()

        def poke() -> None:  # from the engine's thread, under the store's lock
            if pending[0]:  # one wake per burst of pieces: each call_soon_threadsafe writes to
                return  # the loop's self-pipe, a syscall that hands the GIL to another thread
            pending[0] = True
            try:
                loop.call_soon_threadsafe(woken)
            except RuntimeError:  # the loop is closed: the server stopped
                pass

        store, frames, batch = self.app.store, self.frames(reply, most), []
        store.listen(reply.run, poke)
        try:
            for frame in frames:
                if isinstance(frame, bytes):
                    batch.append(frame)
                    continue
                if batch:
                    yield b"".join(batch)
                    batch = []
                timer = loop.call_later(frame, wake.set)
                await wake.wait()
                wake.clear()
                timer.cancel()
            if batch:
                yield b"".join(batch)
        finally:
            store.unlisten(reply.run, poke)
            frames.close()

    def frames(self, reply: StreamReply, most: int | None) -> Generator[bytes | float, None, None]:
        """The stream's events as SSE frames (at most ``most``), and its pauses (seconds); a bug
        ends it with an ``error`` event."""
        try:
            index = 0
            for event, data in reply.events:
                if event == PAUSE:
                    yield data
                    continue
                if most is not None and index >= most:
                    return
                index += 1
                payload = data if isinstance(data, str) else json.dumps(data)
                yield f"event: {event}\ndata: {payload}\n\n".encode()
        except Exception:  # noqa: BLE001 - turn a bug into an error event, never a silent hang
            self.app.server_errors.append(traceback.format_exc())
            yield ("event: error\ndata: " + json.dumps({
                "message": "The server had an error while processing your request.",
                "type": "server_error", "param": None, "code": None}) + "\n\n").encode()

    def log(self, status: int) -> None:
        """One stderr line per answer when the server is verbose (``threadrun serve --verbose``)."""
        if self.app.verbose:
            client = (self.scope.get("client") or ("-",))[0]
            version = self.scope.get("http_version", "1.1")
            sys.stderr.write(f"threadrun serve: {client} \"{self.method} {self.target} HTTP/{version}\" "
                             f"{status}\n")


class RuntimeASGI:
    """The ASGI application of one LocalServer; its worker threads run handlers and streams."""

    def __init__(self, app: App, workers: int = 320) -> None:
        self.app = app
        self.workers = ThreadPoolExecutor(workers, "threadrun-http")  # threads start on first use

    async def in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in a worker thread (handlers may block on locks or an engine)."""
        return await asyncio.get_running_loop().run_in_executor(self.workers, function, *args)

    def close(self) -> None:
        """Stop the worker threads (running ones finish their item)."""
        self.workers.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Serve one HTTP request (lifespan is off; other scopes are not served)."""
        if scope["type"] != "http":
            return
        try:
            await self.dispatch(Exchange(self, scope, receive, send))
        except OSError:  # the client left before its answer was written (ASGI 2.4 ``send``)
            return
        except Exception:  # a bug: remembered (Uvicorn then answers 500 or closes)
            self.app.server_errors.append(traceback.format_exc())
            raise

    async def dispatch(self, ex: Exchange) -> None:
        """Guard, read, count, fault, handle and answer one request."""
        app = self.app
        reply: Reply | StreamReply
        if ex.scope["http_version"] not in ("1.0", "1.1"):
            reply = error_reply(ErrorAnswer(505, f"HTTP version {ex.scope['http_version']} is not "
                                                 "supported; use HTTP/1.1.", None, None))
            reply.close = True
            return await ex.send_json(reply)
        if ex.method not in METHODS:
            reply = error_reply(ErrorAnswer(501, f"Unsupported method ({ex.method!r})", None, None))
            reply.close = True
            return await ex.send_json(reply)
        length = body_length(ex.headers)
        if ex.connection is not None and ex.connection.over and not has_token(app, ex.headers):
            ex.connection.guard.refused += 1
            reply = Reply(503, json.loads(busy_body(app.limits.max_connections)),
                          {"retry-after": "1", "retry-after-ms": "1000"}, close=True)
            if length != 0:
                ex.linger()
            return await ex.send_json(reply)
        match = match_route(ex.method, ex.path)
        if length is None or length > MAX_BODY:
            app.record(ex.method, match.route, ex.target, ex.headers, None)
            ex.linger()
            return await ex.send_json(body_error(length))
        refused = app.precheck(ex.method, match, ex.headers, length)
        if refused is not None:  # answered before reading the body: then the connection closes
            app.record(ex.method, match.route, ex.target, ex.headers, None)
            reply = error_reply(refused)
            reply.close = reply.close or bool(length)
            if length:
                ex.linger()
            return await ex.send_json(reply)
        try:
            raw = await Request(ex.scope, ex.receive).body() if length else b""
        except ClientDisconnect:
            return
        app.record(ex.method, match.route, ex.target, ex.headers, raw, try_json)
        decision = app.faults.on_request(match.route)
        if decision.http == "drop":
            return ex.drop()
        if decision.http in ERROR_KINDS:
            return await ex.send_json(app.fault_reply(decision.http))
        if decision.http == "echo-key":
            return await ex.send_json(echo_key_reply(ex.headers))
        if match.endpoint in THREADED:
            reply = await self.in_thread(app.handle, match, ex.query, ex.headers, raw, decision)
        else:  # in-memory work under short locks: on the loop, without a thread hop
            reply = app.handle(match, ex.query, ex.headers, raw, decision)
        await self.deliver(ex, reply, decision.http)

    async def deliver(self, ex: Exchange, reply: Reply | StreamReply, kind: str | None) -> None:
        """Answer, applying the post-handling faults (drop-after, 500-after, slow, drop-mid)."""
        if kind == "drop-after":
            return ex.drop()
        if kind == "500-after":  # handled (a run created), then a 500 as a failing proxy sends
            return await ex.send_json(self.app.fault_reply("500"))
        if kind == "slow":
            await asyncio.sleep(self.app.faults.slow_s)
        if isinstance(reply, StreamReply):
            await ex.send_stream(reply, cut=kind == "drop-mid")
        else:
            await ex.send_json(reply, cut=kind == "drop-mid")
