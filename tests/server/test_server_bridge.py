"""The chat-completions bridge engine against a tiny upstream stand-in on 127.0.0.1."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

from threadrun.server import local_server


class Upstream(ThreadingHTTPServer):
    """A stand-in chat-completions server: records bodies, answers ``status`` with ``answer``."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.bodies: list[dict] = []
        self.paths: list[str] = []
        self.status = 200
        self.answer: dict = {"choices": [{"message": {"role": "assistant", "content": "Bridged reply."},
                                          "finish_reason": "stop"}],
                             "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class UpstreamHandler(BaseHTTPRequestHandler):
    """Answers POST /v1/chat/completions."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.bodies.append(body)
        self.server.paths.append(self.path)
        data = json.dumps(self.server.answer if self.server.status == 200 else {"error": {}}).encode()
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_bridge_forwards_the_thread_and_returns_reply_and_usage(upstream, make_api):
    with local_server(engine="chat-completions", upstream=upstream.url) as server:
        api = make_api(server)
        assistant = api.assistant(model="gpt-4o-mini", instructions="Be terse.")
        body = {"assistant_id": assistant["id"], "temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 300,
                "thread": {"messages": [{"role": "user", "content": "Hi"},
                                        {"role": "assistant", "content": "Hello!"},
                                        {"role": "user", "content": [{"type": "text", "text": "Sum 2+2"}]}]}}
        run = api.wait(api.post("/threads/runs", body).json())
        assert run["status"] == "completed"
        assert run["usage"] == {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
        assert upstream.paths == ["/v1/chat/completions"]
        assert upstream.bodies == [{"model": "gpt-4o-mini", "temperature": 0.3, "top_p": 0.9, "max_tokens": 300,
                                    "messages": [{"role": "system", "content": "Be terse."},
                                                 {"role": "user", "content": "Hi"},
                                                 {"role": "assistant", "content": "Hello!"},
                                                 {"role": "user", "content": "Sum 2+2"}]}]
        assert api.messages(run["thread_id"])["data"][0]["content"][0]["text"]["value"] == "Bridged reply."
        assert server.server_errors == []


def test_bridge_without_usage_falls_back_to_the_tokenizer(upstream, make_api):
    del upstream.answer["usage"]
    with local_server(engine="chat-completions", upstream=upstream.url) as server:
        api = make_api(server)
        run = api.wait(api.create_run(text="one two"))
        assert run["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_bridge_upstream_500_fails_the_run_with_a_short_reason(upstream, make_api):
    upstream.status = 500
    with local_server(engine="chat-completions", upstream=upstream.url) as server:
        api = make_api(server)
        run = api.wait(api.create_run())
        assert run["status"] == "failed"
        assert run["last_error"]["code"] == "server_error"
        assert "500" in run["last_error"]["message"] and "\n" not in run["last_error"]["message"]


def test_bridge_unreachable_upstream_fails_the_run(make_api):
    with local_server(engine="chat-completions", upstream="http://127.0.0.1:9/v1") as server:
        api = make_api(server)
        run = api.wait(api.create_run())
        assert run["status"] == "failed" and "unreachable" in run["last_error"]["message"]


def test_bridge_stream_delivers_the_upstream_reply(upstream, make_api):
    with local_server(engine="chat-completions", upstream=upstream.url) as server:
        api = make_api(server)
        events = api.stream(api.run_body(api.assistant()["id"]))
        names = [n for n, _ in events]
        text = "".join(d["delta"]["content"][0]["text"]["value"] for n, d in events if n == "thread.message.delta")
        assert text == "Bridged reply." and names[-2:] == ["thread.run.completed", "done"]


def test_bridge_finish_reason_length_ends_incomplete(upstream, make_api):
    upstream.answer["choices"][0]["finish_reason"] = "length"
    with local_server(engine="chat-completions", upstream=upstream.url) as server:
        api = make_api(server)
        run = api.wait(api.create_run(max_completion_tokens=256))
        assert run["status"] == "incomplete"
        assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
