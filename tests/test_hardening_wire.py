"""Issue 11, the client on the wire: points 1 (end to end), 2, 5, 6, 8 and 14.

Servers written elsewhere are played by ``StandIn``: a raw-socket HTTP server (stdlib only) whose
answers each test writes byte for byte, chunk boundaries included.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import tracemalloc
from typing import Callable, Iterable

import pytest

from threadrun.client import Client
from threadrun.rows.result import message_text
from threadrun.server import local_server

CREATE = "POST /threads/runs"
CANCEL = "POST /threads/{thread_id}/runs/{run_id}/cancel"
BODY = {"assistant_id": "asst_1", "thread": {"messages": [{"role": "user", "content": "hi"}]}}
RUN = {"id": "run_1", "object": "thread.run", "thread_id": "thread_1", "assistant_id": "asst_1",
       "model": "gpt-4o", "status": "queued"}


class Request:
    """One request a StandIn received."""

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        self.method, self.path, self.headers, self.body = method, path, headers, body


Handler = Callable[[Request, socket.socket], None]


class StandIn:
    """A raw-socket HTTP/1.1 server: one request per connection, answered by ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = read_request(conn)
                self.requests.append(request)
                self.handler(request, conn)
            except OSError:
                pass  # the client went away (as it should after refusing a stream)

    def close(self) -> None:
        self.sock.close()


def read_request(conn: socket.socket) -> Request:
    """Read the request line, headers and Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise OSError("closed")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        body += conn.recv(65536)
    return Request(method, path, headers, body)


def send_json(conn: socket.socket, obj: object, status: str = "200 OK", raw: bytes | None = None) -> None:
    data = raw if raw is not None else json.dumps(obj).encode()
    conn.sendall(f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(data)}"
                 f"\r\nconnection: close\r\n\r\n".encode() + data)


def send_chunked(conn: socket.socket, chunks: Iterable[bytes]) -> None:
    """An event stream, each item of ``chunks`` as one HTTP chunk (so the client sees it alone)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked"
                 b"\r\nconnection: close\r\n\r\n")
    for chunk in chunks:
        if chunk:
            conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    conn.sendall(b"0\r\n\r\n")


def sse(events: list[tuple[str, object]], ending: bytes) -> bytes:
    return b"".join(f"event: {name}".encode() + ending + b"data: " + json.dumps(data).encode()
                    + ending + ending for name, data in events)


@pytest.fixture
def stand_in():
    made: list[StandIn] = []

    def make(handler: Handler) -> StandIn:
        made.append(StandIn(handler))
        return made[-1]
    yield make
    for server in made:
        server.close()


# -- 1. a CRLF split between chunks ----------------------------------------------------------------

def assistants_run_stream() -> bytes:
    done = {**RUN, "status": "completed"}
    message = {"id": "msg_1", "object": "thread.message", "thread_id": "thread_1", "role": "assistant",
               "run_id": "run_1", "content": [{"type": "text", "text": {"value": "Hello!", "annotations": []}}]}
    events = [("thread.created", {"id": "thread_1", "object": "thread"}), ("thread.run.created", RUN),
              ("thread.run.queued", RUN), ("thread.run.in_progress", {**RUN, "status": "in_progress"}),
              ("thread.message.completed", message), ("thread.run.completed", done)]
    return sse(events, b"\r\n") + b"event: done\r\ndata: [DONE]\r\n\r\n"


def test_a_stream_whose_crlf_endings_are_split_between_chunks_completes_the_row(stand_in):
    """Catches: ``\\r`` and ``\\n`` in different chunks read as an empty line, so
    ``thread.run.created`` is missed and a completed run's row says ``unknown``."""
    data = assistants_run_stream()
    chunks = re.split(rb"(?<=\r)(?=\n)", data)  # every CRLF cut between its CR and its LF
    assert len(chunks) > 10

    def handler(request: Request, conn: socket.socket) -> None:
        if request.path.endswith("/messages") or "/runs/" in request.path:
            send_json(conn, {"error": {"message": "not expected"}}, "500 Internal Server Error")
        else:
            send_chunked(conn, chunks)
    server = stand_in(handler)
    result = Client(server.url, "", max_retries=0).run(BODY, stream=True)
    assert (result.status, result.error, result.reply) == ("completed", None, "Hello!")
    assert [r.method + " " + r.path for r in server.requests] == ["POST /v1/threads/runs"]


# -- 14. an oversize event -------------------------------------------------------------------------

def oversize_stream(megabytes: int) -> Iterable[bytes]:
    yield sse([("thread.run.created", RUN)], b"\n")
    yield b"event: thread.message.delta\ndata: "
    piece = b"x" * (64 << 10)
    for _ in range(megabytes * 16):
        yield piece  # no newline, ever


def test_an_oversize_stream_event_fails_that_run_with_a_one_line_reason(stand_in):
    """Catches: a 20 MB ``data:`` line with no newline read into memory, and a row that does not
    say why the run failed (the refusal was taken for a broken stream)."""
    server = stand_in(lambda request, conn: send_chunked(conn, oversize_stream(20)))
    result = Client(server.url, "", max_retries=0).run(BODY, stream=True)
    assert result.status == "unknown"
    assert "stream line longer than 16777216 bytes" in result.error and "\n" not in result.error
    assert result.run["id"] == "run_1"


def send_until_close(conn: socket.socket, chunks: Iterable[bytes]) -> None:
    """An event stream without chunked encoding: its end is the connection closing."""
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
    for chunk in chunks:
        conn.sendall(chunk)


@pytest.mark.parametrize("send", [send_chunked, send_until_close])
def test_an_oversize_stream_keeps_the_clients_memory_bounded_by_the_limit(stand_in, send):
    """Catches: memory growing with the stream (the line buffered whole, copied per chunk, or an
    answer without chunked encoding read whole before parsing)."""
    server = stand_in(lambda request, conn: send(conn, oversize_stream(20)))
    client = Client(server.url, "", max_retries=0)
    client.max_event_bytes = 1 << 20
    tracemalloc.start()
    try:
        result = client.run(BODY, stream=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "longer than 1048576 bytes" in result.error
    assert peak < 6 << 20, f"peak {peak / 2**20:.1f} MB for a 20 MB stream and a 1 MB limit"


def test_a_stream_without_chunked_encoding_is_parsed_as_it_arrives(stand_in):
    """Catches: an answer without chunked encoding read to its end before any event is parsed,
    so the run's ids (needed to cancel it) come only when the whole run is over."""
    started = threading.Event()

    def handler(request: Request, conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n")
        conn.sendall(sse([("thread.run.created", RUN)], b"\n"))
        if started.wait(30):  # the rest only once the client has seen the run
            conn.sendall(assistants_run_stream())
    server = stand_in(handler)
    result = Client(server.url, "", max_retries=0, timeout=60).run(
        BODY, on_started=lambda thread_id, run_id: started.set())
    assert started.is_set() and (result.status, result.reply) == ("completed", "Hello!")


# -- 5. the most informative error -------------------------------------------------------------------

def test_an_error_event_before_any_run_event_keeps_the_servers_message(stand_in):
    """Catches: the server's ``error`` event replaced by "the stream ended before the run was created"."""
    error = {"error": {"message": "The model is overloaded right now", "type": "server_error"}}
    server = stand_in(lambda request, conn: send_chunked(conn, [sse([("error", error)], b"\n")]))
    result = Client(server.url, "", max_retries=0).run(BODY, stream=True)
    assert result.status == "unknown"
    assert "The model is overloaded right now" in result.error and "\n" not in result.error


def test_a_200_answer_to_the_create_that_is_not_json_is_unknown_not_error(stand_in):
    """Catches: status ``error`` ("no run was created") for a create the server accepted."""
    server = stand_in(lambda request, conn: send_json(conn, None, raw=b'{"id": "run_1", "sta'))
    result = Client(server.url, "", max_retries=0).run(BODY, stream=False)
    assert result.status == "unknown"
    assert "not JSON" in result.error
    assert len(server.requests) == 1


@pytest.mark.parametrize("stream", [True, False])
def test_a_failed_reply_read_keeps_the_failed_runs_own_error(stream):
    """Catches: "HTTP 500 ..." from reading the messages overwriting "run failed: server_error: ..."."""
    with local_server(fault="failed=1.0") as server:
        client = Client(server.url, "", max_retries=1, backoff=0.01)
        assistant = client.create_assistant("gpt-4o")
        server.faults.script(["500", "500", "500"], route="messages")
        result = client.run({**BODY, "assistant_id": assistant["id"]}, stream=stream)
        assert server.counts["GET /threads/{thread_id}/messages"] == 2  # the read did fail
    assert result.status == "failed"
    assert result.error.startswith("run failed: server_error: ")


# -- 6. several parts of a reply -------------------------------------------------------------------

def test_text_parts_are_joined_with_a_newline_and_other_parts_are_noted():
    """Catches: text parts run together ("onetwo") and image parts vanishing silently."""
    message = {"role": "assistant", "content": [
        {"type": "text", "text": {"value": "one", "annotations": []}},
        {"type": "image_file", "image_file": {"file_id": "file-abc"}},
        {"type": "text", "text": {"value": "two", "annotations": []}},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "refusal", "refusal": "I cannot draw that"},
        {"type": "hologram"}]}
    assert message_text(message) == ("one\n[image_file file-abc]\ntwo\n[image_url https://example.com/a.png]"
                                     "\n[refusal: I cannot draw that]\n[hologram]")
    assert message_text({"content": [{"type": "text", "text": {"value": "a"}},
                                     {"type": "text", "text": {"value": "b"}}]}) == "a\nb"


# -- 2. cancel sends no body -----------------------------------------------------------------------

def test_cancel_sends_no_body():
    """Catches: cancelRun sent with ``{}`` as its body (it takes none; a validating proxy answers 422)."""
    with local_server(latency=30) as server:
        client = Client(server.url, "")
        assistant = client.create_assistant("gpt-4o")
        run = client.post_json("/threads/runs", {**BODY, "assistant_id": assistant["id"]})
        answer = client.cancel_run(run["thread_id"], run["id"])
        cancels = [r for r in server.requests if r.route == CANCEL]
    assert answer["status"] == "cancelling"
    assert len(cancels) == 1
    assert cancels[0].body is None
    assert cancels[0].headers.get("content-length", "0") == "0"


# -- 8. createThreadAndRun is never re-sent, whatever the URL ---------------------------------------

@pytest.mark.parametrize("spelling", ["/x/../v1", "/./v1", "/v%31", "/v1/", "/v1/./"])
@pytest.mark.parametrize("stream", [True, False])
def test_odd_base_url_spellings_never_resend_a_create_that_arrived(spelling, stream):
    """Catches: a create re-sent after the connection dropped because its URL did not literally
    start with ``base_url + "/threads/runs"`` (requests normalises ``/x/../v1``, ``/v%31``)."""
    with local_server() as server:
        url = server.url.removesuffix("/v1") + spelling
        client = Client(url, "", max_retries=2, backoff=0.01)
        assert client.base_url == server.url
        assistant = client.create_assistant("gpt-4o")
        server.faults.script(["drop-after"], route="create")
        result = client.run({**BODY, "assistant_id": assistant["id"]}, stream=stream)
        assert server.counts[CREATE] == 1 and server.runs_created == 1
    assert result.status == "unknown" and "connection dropped" in result.error


@pytest.mark.parametrize("stream", [True, False])
def test_a_redirected_create_is_not_followed_and_says_why(stand_in, stream):
    """Catches: a 307 on createThreadAndRun followed (and then re-sent on read failures, since the
    new URL was not the one marked never-resend): one row hid three runs."""
    with local_server() as server:
        client = Client(server.url, "")
        assistant = client.create_assistant("gpt-4o")
        server.faults.script(["drop-after", "drop-after", "drop-after"], route="create")

        def redirect(request: Request, conn: socket.socket) -> None:
            location = server.url.removesuffix("/v1") + request.path
            conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n"
                         "content-length: 0\r\nconnection: close\r\n\r\n".encode())
        front = stand_in(redirect)
        result = Client(front.url, "", max_retries=2, backoff=0.01).run(
            {**BODY, "assistant_id": assistant["id"]}, stream=stream)
        assert server.counts.get(CREATE, 0) == 0 and server.runs_created == 0
    assert [r.method for r in front.requests] == ["POST"]
    assert result.status == "error"
    assert "307" in result.error and "does not follow redirects for POST" in result.error
    assert server.url in result.error and "\n" not in result.error


def test_gets_still_follow_redirects(stand_in):
    """Catches: redirects refused for GET too (only a POST could be sent twice)."""
    with local_server() as server:
        assistant = Client(server.url, "").create_assistant("gpt-4o")

        def redirect(request: Request, conn: socket.socket) -> None:
            location = server.url.removesuffix("/v1") + request.path
            conn.sendall(f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\n"
                         "content-length: 0\r\nconnection: close\r\n\r\n".encode())
        front = stand_in(redirect)
        assert Client(front.url, "").get_assistant(assistant["id"])["id"] == assistant["id"]
