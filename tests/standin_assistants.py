"""A tiny Assistants v2 stand-in whose answers a test scripts (stdlib only, 127.0.0.1:0, a thread).

Not threadrun's server: it knows four routes (create-and-run, retrieve run, list messages, and
nothing else) and sends what the local server never does: one retry header alone
(``retry-after`` or ``retry-after-ms``), a chosen ``openai-poll-after-ms`` on every in-progress
poll, fixed run times, and a stream written as several ``data:`` lines per event with a chosen
line ending, or cut off after its first events. Every request is recorded with
``time.monotonic()`` taken as soon as its headers are read, so a test measures the client's
waits as the server saw them.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterable

THREAD_ID, RUN_ID, ASSISTANT_ID = "thread_standin", "run_standin", "asst_standin"
REPLY = "stand-in reply"


@dataclass
class Seen:
    """One request as the stand-in received it."""

    method: str
    path: str
    time: float
    headers: dict[str, str]


class StandIn:
    """``with StandIn(...) as srv:``; ``srv.url`` is a base URL ending in ``/v1``.

    ``create_answers``: ``(status, headers)`` answers given to the first creates, in order
    (a JSON error object as body), before the normal answer.
    ``polls_in_progress``: how many polls answer ``in_progress`` before one answers ``completed``.
    ``poll_headers``: headers of every in-progress poll answer (e.g. ``openai-poll-after-ms``).
    ``created_at`` / ``completed_at``: the run's times (default: ``int(time.time())`` when asked).
    ``ending``: the line ending of the stream; ``split_data``: each event's JSON over several
    ``data:`` lines (one per top-level key), which a parser must join with newlines;
    ``stream_events``: send only the first N events, then end the stream (the client polls on).
    """

    def __init__(self, *, create_answers: Iterable[tuple[int, dict[str, str]]] = (),
                 polls_in_progress: int = 0, poll_headers: dict[str, str] | None = None,
                 created_at: Any = None, completed_at: Any = None, ending: str = "\n",
                 split_data: bool = False, stream_events: int | None = None) -> None:
        self.create_answers = deque(create_answers)
        self.polls_in_progress = polls_in_progress
        self.poll_headers = dict(poll_headers or {})
        self.created_at, self.completed_at = created_at, completed_at
        self.ending, self.split_data = ending, split_data
        self.stream_events = stream_events
        self.lock = threading.Lock()
        self.seen: list[Seen] = []
        self.polls = 0
        self._httpd: ThreadingHTTPServer | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> "StandIn":
        standin = self

        class Handler(_Handler):
            owner = standin

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def times(self, method: str, path_start: str) -> list[float]:
        """Arrival times of the requests with this method whose path starts with ``path_start``."""
        with self.lock:
            return [s.time for s in self.seen if s.method == method and s.path.startswith(path_start)]

    def creates(self) -> list[float]:
        return self.times("POST", "/v1/threads/runs")

    def polls_seen(self) -> list[float]:
        return self.times("GET", f"/v1/threads/{THREAD_ID}/runs/{RUN_ID}")

    # -- objects -----------------------------------------------------------------------------

    def run(self, status: str) -> dict:
        now = int(time.time())
        done = status == "completed"
        return {"id": RUN_ID, "object": "thread.run", "thread_id": THREAD_ID,
                "assistant_id": ASSISTANT_ID, "status": status, "model": "gpt-4o-mini",
                "created_at": self.created_at if self.created_at is not None else now,
                "completed_at": (self.completed_at if self.completed_at is not None else now) if done else None,
                "started_at": None, "expires_at": None, "cancelled_at": None, "failed_at": None,
                "last_error": None, "incomplete_details": None, "instructions": "",
                "tools": [], "metadata": {}, "temperature": 1.0, "top_p": 1.0,
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5} if done else None}

    def message(self) -> dict:
        return {"id": "msg_standin", "object": "thread.message", "thread_id": THREAD_ID,
                "run_id": RUN_ID, "assistant_id": ASSISTANT_ID, "role": "assistant",
                "status": "completed", "created_at": int(time.time()), "metadata": {},
                "attachments": [],
                "content": [{"type": "text", "text": {"value": REPLY, "annotations": []}}]}

    def stream(self) -> bytes:
        """The SSE body of a whole run: created, in progress, the message, completed, [DONE]."""
        events = [("thread.run.created", self.run("queued")),
                  ("thread.run.in_progress", self.run("in_progress")),
                  ("thread.message.completed", self.message()),
                  ("thread.run.completed", self.run("completed"))]
        if self.stream_events is not None:  # broken off: no end, no [DONE]
            return "".join(f"event: {name}{self.ending}data: {json.dumps(data)}{self.ending}{self.ending}"
                           for name, data in events[:self.stream_events]).encode()
        end = self.ending
        out = [": stand-in stream" + end + end]
        for name, data in events:
            out.append(f"event: {name}{end}")
            if self.split_data:  # one top-level key per data line: only joined lines are JSON
                items = [json.dumps(k) + ": " + json.dumps(v) for k, v in data.items()]
                lines = ["{" + items[0]] + [", " + i for i in items[1:-1]] + [", " + items[-1] + "}"]
                out += [f"data: {line}{end}" for line in lines]
            else:
                out.append(f"data: {json.dumps(data)}{end}")
            out.append(f"id: {len(out)}{end}retry: 1000{end}{end}")
        out.append(f"event: done{end}data: [DONE]{end}{end}")
        return "".join(out).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: StandIn

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _record(self) -> Any:
        arrived = time.monotonic()
        with self.owner.lock:
            self.owner.seen.append(Seen(self.command, self.path, arrived, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None,
              kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers)

    def do_POST(self) -> None:
        body = self._record() or {}
        owner = self.owner
        if self.path != "/v1/threads/runs":
            return self._json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
        with owner.lock:
            scripted = owner.create_answers.popleft() if owner.create_answers else None
        if scripted is not None:
            status, headers = scripted
            return self._json(status, {"error": {"message": f"stand-in {status}", "type": "requests",
                                                 "code": "rate_limit_exceeded", "param": None}}, headers)
        if body.get("stream"):
            return self._send(200, owner.stream(), kind="text/event-stream")
        return self._json(200, owner.run("queued"))

    def do_GET(self) -> None:
        self._record()
        owner = self.owner
        if self.path == f"/v1/threads/{THREAD_ID}/runs/{RUN_ID}":
            with owner.lock:
                owner.polls += 1
                busy = owner.polls <= owner.polls_in_progress
            if busy:
                return self._json(200, owner.run("in_progress"), owner.poll_headers)
            return self._json(200, owner.run("completed"))
        if self.path.startswith(f"/v1/threads/{THREAD_ID}/messages"):
            return self._json(200, {"object": "list", "data": [owner.message()], "first_id": "msg_standin",
                                    "last_id": "msg_standin", "has_more": False})
        return self._json(404, {"error": {"message": "no such route", "type": "invalid_request_error"}})
