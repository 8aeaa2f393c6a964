"""Our own fault-injecting stand-in for an OpenAI-compatible upstream (chat and responses).

Real upstreams are tested elsewhere (tests/upstreams: llama.cpp's server, llmock). This one
plays the quirks and faults they will not do on demand: no usage in streams, validation errors
answered as HTTP 500, ``{"detail": ...}`` bodies, ``: ping`` comments, 429 with Retry-After,
tool calls, a stream that hangs (to see a cancel abort it), answers past any cap (``gzip-bomb``, ``huge``, ``endless``, ``huge-args``), an upstream that says nothing
(``silent``) or stalls after its headers (``stall``) until the client goes away, an error mid-stream, Mistral's
refusal of unknown request fields (``strict``), and a server that reads one token-cap field only
(``cap_field``, as llama-cpp-python reads only ``max_tokens``) and otherwise writes
``completion_tokens`` tokens, a fixed ``delay`` before each answer (a known service time), a
``silent`` upstream that never answers (``peak`` is the most requests it was answering at once).
It also serves ``Recorded`` answers: a vendor's answer in its documented shape
(tests/recorded_answers.py), played back whole (polled) or event by event (streamed), with the
status it came with.
"""
from __future__ import annotations

import json
import threading
import time
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    """An upstream's answer to play back: ``body`` (JSON) to a polled request, ``events`` (each
    an SSE event's text, without its blank line) to a streamed one, with ``status``."""

    body: Any = None
    events: list[str] = field(default_factory=list)
    status: int = 200
    content_type: str | None = None  # default: JSON for ``body``, an event stream for ``events``
    headers: dict[str, str] = field(default_factory=dict)  # more headers of a ``body`` answer


#: The fields Mistral's chat endpoint knows (mistralai/client-python,
#: src/mistralai/models/chatcompletionstreamrequest.py); any other is a 422 ``extra_forbidden``.
MISTRAL_FIELDS = {"model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
                  "random_seed", "metadata", "response_format", "tools", "tool_choice",
                  "presence_penalty", "frequency_penalty", "n", "prediction", "parallel_tool_calls",
                  "prompt_mode", "safe_prompt"}


class StandIn:
    """A loopback upstream; ``mode`` picks its behaviour, ``requests`` records what it got."""

    def __init__(self, mode: str = "ok", *, text: str = "Hello from the stand-in", usage: bool = True,
                 tool_call: bool = False, fail_first: int = 0, retry_after: str | None = None,
                 recorded: Recorded | None = None, strict: bool = False,
                 cap_field: str | None = None, completion_tokens: int = 5,
                 delay: float = 0.0, served_tier: str | None = None) -> None:
        self.mode, self.text, self.usage, self.tool_call = mode, text, usage, tool_call
        self.recorded = recorded
        self.delay, self.active, self.peak = delay, 0, 0
        self.fail_first, self.retry_after = fail_first, retry_after
        self.strict, self.cap_field, self.completion_tokens = strict, cap_field, completion_tokens
        #: The service tier it answers it ran on when asked for one (None: the one asked), as
        #: OpenAI does: "the response body will include the service_tier value based on the
        #: processing mode actually used" (chat-completions.openapi.yaml, service_tier).
        self.served_tier = served_tier
        self.requests: list[dict[str, Any]] = []
        self.models: list[str] | None = None  # what GET /models lists (default: what it was asked)
        self.aborted = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> "StandIn":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _handler(standin: StandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            """``/models``: its own model and every model it was asked for (it serves any name)."""
            with standin.lock:
                asked = [r["body"].get("model") for r in standin.requests if isinstance(r["body"], dict)]
            names = dict.fromkeys(standin.models or ["stand-in-model", *[m for m in asked if isinstance(m, str)]])
            self.json(200, {"object": "list", "data": [{"id": n, "object": "model"} for n in names]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
            with standin.lock:
                standin.requests.append({"path": self.path, "body": body,
                                         "headers": {k.lower(): v for k, v in self.headers.items()}})
                count = len(standin.requests)
                standin.active += 1
                standin.peak = max(standin.peak, standin.active)
            try:
                self.answer(body, count)
            finally:
                with standin.lock:
                    standin.active -= 1

        def answer(self, body: dict, count: int) -> None:
            time.sleep(standin.delay)
            if count <= standin.fail_first:
                headers = {"retry-after": standin.retry_after} if standin.retry_after else {}
                self.json(429, {"error": {"message": "Rate limit reached (stand-in)", "type": "requests",
                                          "param": None, "code": "rate_limit_exceeded"}}, headers)
                return
            mode = standin.mode
            if standin.recorded is not None:
                self.play(standin.recorded, bool(body.get("stream")))
            elif mode in ("silent", "stall"):  # nothing at all, or headers then nothing
                if mode == "stall":
                    self.start_stream()
                    self.wfile.flush()
                self.wait_for_abort()
            elif mode in ("gzip-bomb", "huge", "endless", "huge-args"):
                self.oversized(mode, bool(body.get("stream")))
            elif mode == "detail401":
                self.json(401, {"detail": "Invalid API key"})
            elif mode == "http500":
                self.json(500, {"error": {"message": "temperature: must be <= 1", "type": "server_error",
                                          "code": 500}})
            elif mode == "echo-key":
                self.json(400, {"error": {"message": f"bad header {self.headers.get('authorization')}"}})
            elif standin.strict and set(body) - MISTRAL_FIELDS:
                self.extra_forbidden(body)
            elif self.path.endswith("/responses"):
                self.answer_responses(body)
            else:
                self.chat(body)

        def extra_forbidden(self, body: dict) -> None:
            """Mistral's 422, as quoted from api.mistral.ai in dnakov/anon-kode#53."""
            detail = [{"type": "extra_forbidden", "loc": ["body", name], "msg": "Extra inputs are not permitted",
                       "input": body[name]} for name in sorted(set(body) - MISTRAL_FIELDS)]
            self.json(422, {"object": "error", "message": {"detail": detail},
                            "type": "invalid_request_error", "param": None, "code": None})

        def chat(self, body: dict) -> None:
            completion, capped = standin.completion_tokens, False
            cap = body.get(standin.cap_field) if standin.cap_field else None
            if isinstance(cap, int) and cap < completion:
                completion, capped = cap, True
            usage = {"prompt_tokens": 7, "completion_tokens": completion, "total_tokens": 7 + completion,
                     "completion_tokens_details": {"reasoning_tokens": 2},
                     "prompt_tokens_details": {"cached_tokens": 3}}
            call = {"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
            tier = self.tier(body)
            if not body.get("stream"):
                message = {"role": "assistant", "content": None if standin.tool_call else standin.text}
                if standin.tool_call:
                    message["tool_calls"] = [{k: v for k, v in call.items() if k != "index"}]
                self.json(200, {"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
                                "choices": [{"index": 0, "message": message, "logprobs": None,
                                             "finish_reason": "tool_calls" if standin.tool_call
                                             else "length" if capped else "stop"}],
                                "usage": usage if standin.usage else None, **tier})
                return
            self.start_stream()
            self.send(": ping\n\n")
            if standin.mode == "late":  # the first text comes 1.5 s after the headers
                time.sleep(1.5)
            head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                    **tier}
            if standin.tool_call:
                for piece in ({**call, "function": {"name": "get_weather", "arguments": '{"city": '}},
                              {"index": 0, "function": {"arguments": '"Paris"}'}}):
                    self.data({**head, "choices": [{"index": 0, "delta": {"tool_calls": [piece]},
                                                    "finish_reason": None}]})
                finish = "tool_calls"
            else:
                for word in standin.text.split(" "):
                    piece = word if word == standin.text.split(" ")[0] else " " + word
                    self.data({**head, "choices": [{"index": 0, "delta": {"content": piece},
                                                    "finish_reason": None}]})
                    if standin.mode == "hang":
                        self.hang()
                        return
                    if standin.mode == "slow":
                        time.sleep(0.2)
                finish = "length" if capped else "stop"
            if standin.mode == "error-mid":
                self.data({"error": {"message": "the model crashed (stand-in)", "type": "server_error"}})
                self.end_stream()
                return
            if standin.strict and standin.usage:  # Mistral: usage on the last chunk, unasked
                self.data({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
                           "usage": usage})
            else:
                self.data({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
            if standin.usage and (body.get("stream_options") or {}).get("include_usage"):
                self.data({**head, "choices": [], "usage": usage})
            self.send("data: [DONE]\n\n")
            self.end_stream()

        def answer_responses(self, body: dict) -> None:
            usage = {"input_tokens": 9, "output_tokens": 4, "total_tokens": 13,
                     "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                     "output_tokens_details": {"reasoning_tokens": 1}}
            output = [{"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                       "content": [{"type": "output_text", "text": standin.text, "annotations": [],
                                    "logprobs": []}]}]
            if standin.tool_call:
                output = [{"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather",
                           "arguments": '{"city": "Paris"}', "status": "completed"}]
            response = {"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
                        "model": body.get("model"), "output": output, "usage": usage, "error": None,
                        "incomplete_details": None, "instructions": body.get("instructions"),
                        "tools": body.get("tools") or [], "parallel_tool_calls": True, "metadata": {},
                        "tool_choice": body.get("tool_choice") or "auto",
                        "temperature": body.get("temperature"), "top_p": body.get("top_p"),
                        **self.tier(body)}
            if not body.get("stream"):
                self.json(200, response)
                return
            self.start_stream()
            seq = 0
            for word in ([] if standin.tool_call else standin.text.split(" ")):
                piece = word if word == standin.text.split(" ")[0] else " " + word
                self.send(f"event: response.output_text.delta\ndata: " + json.dumps(
                    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                     "content_index": 0, "delta": piece, "logprobs": [], "sequence_number": seq}) + "\n\n")
                seq += 1
            self.send("event: response.completed\ndata: " + json.dumps(
                {"type": "response.completed", "response": response, "sequence_number": seq}) + "\n\n")
            self.end_stream()

        def tier(self, body: dict) -> dict:
            """``{"service_tier": ...}`` when the request asked for one (the tier it ran on)."""
            if not body.get("service_tier"):
                return {}
            asked = body["service_tier"]  # auto: the project's tier, "default" unless configured
            return {"service_tier": standin.served_tier or ("default" if asked == "auto" else asked)}

        def play(self, recorded: Recorded, stream: bool) -> None:
            """Answer with a recorded answer: its events when streamed (and it has some), else its body."""
            if stream and recorded.events or recorded.body is None:
                self.send_response(recorded.status)
                self.send_header("content-type", recorded.content_type or "text/event-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for event in recorded.events:
                    self.send(event + "\n\n")
                self.end_stream()
                return
            self.json(recorded.status, recorded.body, recorded.headers)

        def oversized(self, mode: str, stream: bool) -> None:
            """Answers past any sane cap: a gzip bomb (a 200 MB reply in about 200 KB), a 200 MB
            JSON reply, endless streamed deltas, or a tool call with 200 MB of arguments."""
            if mode == "gzip-bomb":
                inner = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "'
                packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
                data = packer.compress(inner) + b"".join(packer.compress(b"A" * (1 << 20))
                                                         for _ in range(200))
                data += packer.compress(b'"}, "finish_reason": "stop"}]}') + packer.flush()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-encoding", "gzip")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
            try:
                if stream:
                    self.start_stream()
                    piece = {"content": "x" * 4096} if mode != "huge-args" else {"tool_calls": [
                        {"index": 0, "function": {"arguments": "x" * 4096}}]}
                    if mode == "huge-args":
                        self.data({**head, "choices": [{"index": 0, "delta": {"tool_calls": [
                            {"index": 0, "id": "call_1", "type": "function",
                             "function": {"name": "f", "arguments": ""}}]}}]})
                    for _ in range(50_000):  # 200 MB, or until the client goes away
                        self.data({**head, "choices": [{"index": 0, "delta": piece}]})
                    return
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                self.send('{"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": '
                          '"assistant", "content": "')
                for _ in range(200):
                    self.send("A" * (1 << 20))
                self.send('"}}]}')
                self.end_stream()
            except OSError:
                standin.aborted.set()

        def wait_for_abort(self) -> None:
            """Say nothing until the client goes away (up to 300 s), then note the abort."""
            self.connection.settimeout(300)
            try:
                while self.connection.recv(4096):
                    pass
            except OSError:
                pass
            standin.aborted.set()
            self.close_connection = True

        def hang(self) -> None:
            """Keep the stream open until the client goes away (then note the abort)."""
            for _ in range(300):
                time.sleep(0.05)
                try:
                    self.send(": still thinking\n\n")
                except OSError:
                    standin.aborted.set()
                    return

        def json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def start_stream(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()

        def send(self, text: str) -> None:
            data = text.encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def data(self, payload: Any) -> None:
            self.send("data: " + json.dumps(payload) + "\n\n")

        def end_stream(self) -> None:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler
