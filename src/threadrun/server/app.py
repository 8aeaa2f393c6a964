"""The server's logic behind HTTP: routing, auth, endpoints, request log and counts, faults."""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import math
import os
import threading
import time
import traceback
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ..config import is_loopback
from ..errors import ValidationError
from ..grid.capabilities import request_settings, run_notice
from ..spec import TERMINAL
from .counting import LiveCounts, count, count_request
from .engines import UpstreamError, make_engine
from .engines.calls import budget_s, engine_call
from .faults import Decision, Faults
from .limits import Limits, RequestLog, RequestRecord
from .masking import PieceMasker, mask, masked_reply, secrets
from .model_check import unlisted_notice
from .objects import Run
from .persist import Database
from .rounds import MAX_ROUNDS, round_tool_choice
from .routes import Match, Reply, StreamReply, match_route, route_error  # noqa: F401 - asgi's imports
from .slots import Slots, client_timeout, read_timeout
from .store import Store
from .stream import run_events
from .surface import Surface
from .validate import ErrorAnswer, validate_assistant, validate_thread_and_run

MAX_KEY_CHARS = 255
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


def error_reply(error: ErrorAnswer) -> Reply:
    """The JSON answer of an ErrorAnswer."""
    return Reply(error.status, error.body(), dict(error.headers), close=error.status == 413)


class App(Surface):
    """Everything one LocalServer knows: settings, state, faults, counts and the request log."""

    def __init__(self, latency: float = 0.0, api_key: str | None = None, fault: str | None = None,
                 poll_after_ms: int | None = None, max_runs: int = 10_000,
                 default_provider: str | None = None, loopback_only: bool = True,
                 workers: int = 64, max_bytes: int = 512 << 20, limits: Limits | None = None,
                 db: str | os.PathLike | None = None, max_steps: int = MAX_ROUNDS) -> None:
        """Settings are validated by LocalServer; ``workers`` bounds the engines' thread pool;
        ``db``: the SQLite file the state is kept in (loaded now), None: memory only."""
        self.latency, self.api_key = float(latency), api_key
        self.default_provider, self.loopback_only = default_provider, loopback_only
        self.verbose = False  # one stderr line per answer (``threadrun serve --verbose``)
        self.poll_after_ms = poll_after_ms
        self.store = Store(max_runs, max_bytes)
        self.live_counts = LiveCounts()  # count calls in progress (``POST /threads/runs/input_tokens``)
        self.store.max_rounds = max_steps
        if db is not None:
            self.store.db = Database(db)
            self.store.db.load(self.store)
        self.faults = Faults(fault)
        self.limits = limits or Limits()
        self.lock = threading.Lock()
        self.log = RequestLog()
        self.runs_created = 0
        self.server_errors: deque[str] = deque(maxlen=100)
        self.pool = ThreadPoolExecutor(workers, "threadrun-engine")  # threads start on first use
        self.slots = Slots()  # providers' concurrency: a run past it waits queued

    def record(self, method: str, route: str, path: str, headers: dict[str, str], raw: bytes | None,
               parse: Callable[[bytes], Any] = lambda raw: None) -> None:
        """Count a received request and keep its bounded record (``parse`` reads a small body)."""
        self.log.add(method, route, path, headers, raw, parse)

    @property
    def counts(self) -> dict[str, int]:
        """Requests received per route template."""
        with self.log.lock:
            return dict(self.log.counts)

    @property
    def requests(self) -> list[RequestRecord]:
        """The kept request records, oldest first."""
        return self.log.snapshot()

    def reset_counts(self) -> None:
        """Forget counts, request records and the created-runs count."""
        self.log.clear()
        with self.lock:
            self.runs_created = 0

    def check_auth(self, headers: dict[str, str]) -> None:
        """401 unless the bearer token equals the configured key (never echoing either key)."""
        if self.api_key is None:
            return
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ErrorAnswer(401, "You didn't provide an API key. You need to provide your API key "
                                "in an Authorization header using Bearer auth.", None, "invalid_api_key")
        if not hmac.compare_digest(token.strip().encode(), self.api_key.encode()):
            raise ErrorAnswer(401, "Incorrect API key provided.", None, "invalid_api_key")

    def precheck(self, method: str, match: Match, headers: dict[str, str], length: int) -> ErrorAnswer | None:
        """What refuses a request before its body is read: Host, key, route, content type.

        A loopback server answers only a loopback ``Host`` (a web page that rebinds a domain to
        127.0.0.1 sends its own name), and POST bodies must be declared JSON (a page's form or
        ``text/plain`` fetch cannot be).
        """
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.startswith("[") else host[:host.find("]") + 1]
        if self.loopback_only and not is_loopback(name.lower()):  # host names ignore case
            return ErrorAnswer(421, f"This server answers only requests addressed to this machine "
                                 f"(Host: 127.0.0.1 or localhost), not {name[:80]!r}.", None, None)
        try:
            self.check_auth(headers)
        except ErrorAnswer as error:
            return error
        if match.endpoint is None:
            return route_error(match)
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method == "POST" and length and content_type != "application/json":
            return ErrorAnswer(415, "Request bodies must be JSON (Content-Type: application/json).",
                            None, None)
        return None

    def handle(self, match: Match, query: dict[str, Any], headers: dict[str, str], raw: bytes,
               decision: Decision) -> Reply | StreamReply:
        """Answer a request that passed ``precheck`` (Host, key, route, content type, checked once
        before the body was read); every failure becomes an error Reply (500 only for bugs)."""
        try:
            endpoint: Callable[..., Reply | StreamReply] = getattr(self, str(match.endpoint))
            body = parse_body(raw) if match.route.startswith("POST") else None
            return endpoint(params=match.params, query=query, body=body, decision=decision,
                            headers=headers)
        except ErrorAnswer as error:
            return error_reply(error)
        except Exception:  # noqa: BLE001 - a bug: answer a 500 error object and remember the traceback
            self.server_errors.append(traceback.format_exc())
            return error_reply(ErrorAnswer(500, SERVER_ERROR, None, None, "server_error"))

    def create_assistant(self, body: Any, **_: Any) -> Reply:
        """``POST /assistants``."""
        validate_assistant(body)
        return Reply(200, self.store.create_assistant(body))

    def get_assistant(self, params: dict[str, str], **_: Any) -> Reply:
        """``GET /assistants/{assistant_id}``."""
        return Reply(200, self.store.get_assistant(params["assistant_id"]))

    def create_run(self, body: Any, decision: Decision, headers: dict[str, str],
                   **_: Any) -> Reply | StreamReply:
        """``POST /threads/runs``: queued RunObject at once, or the SSE stream.

        A repeated ``Idempotency-Key`` gets the run that key already created: its current
        RunObject, or for a streamed create that run's stream again from its start; a 409 when
        that run was evicted since (see ``store``).
        """
        validate_thread_and_run(body)
        self.store.get_assistant(body["assistant_id"])
        timeout = client_timeout(headers)
        key = idempotency_key(headers)
        encoded = json.dumps(body, sort_keys=True).encode()
        digest = hashlib.sha256(encoded).hexdigest()
        with self.store.key_lock(key):
            run = self.store.run_for_key(key, digest) if key else None
            if run is not None:
                return self.answer_run(run, body, replay=True)
            run = self.new_run(body, decision, len(encoded), timeout, call_limits(headers))
            if key:
                self.store.remember_key(key, digest, run)
        return self.answer_run(run, body, replay=False)

    def new_run(self, body: dict, decision: Decision, size: int | None = None,
                timeout: float | None = None,
                limits: tuple[float | None, int | None] = (None, None)) -> Run:
        """Create the thread and run, count it, and hand a real model's run to an engine worker
        (``timeout``: the client's read bound; ``limits``: its deadline and retry count, from
        its headers)."""
        forced = self.faults.run_fault(decision)
        run = self.store.create_thread_and_run(body, self.latency, forced, self.default_provider,
                                               size)
        run.client_timeout = timeout
        run.call_limits = limits
        with self.lock:
            self.runs_created += 1
        self.start_engine(run)
        return run

    def start_engine(self, run: Run) -> None:
        """Hand a real model's round to an engine worker (echo rounds need none)."""
        if self.store.needs_engine(run):
            self.pool.submit(self.run_engine, run)

    def answer_run(self, run: Run, body: dict, replay: bool) -> Reply | StreamReply:
        """The answer to a create: the run's stream, or its RunObject (queued when just created)."""
        if body.get("stream"):
            thread = self.store.get_thread(run.thread_id).to_dict()
            return StreamReply(run_events(self.store, run, thread), run)
        if replay:
            self.store.settle(run)
            return Reply(200, run.to_dict(now=time.monotonic()))
        return Reply(200, run.to_dict(status="queued"))

    def run_engine(self, run: Run) -> None:
        """Worker job: once the run holds one of its provider's slots, its engine asks the
        provider for the reply (streamed when the run is); until then the run stays queued."""
        provider = run.params.provider
        if not self.slots.acquire(provider, lambda: run.cancel_mono is not None):
            self.store.finish_engine(run, None)
            return
        try:
            self.store.start(run)
            self.call_engine(run, provider)
        finally:
            self.slots.release(provider)

    def call_engine(self, run: Run, provider: Any) -> None:
        """The upstream call of a started run, and its result recorded on the run."""
        request = dataclasses.replace(
            run.params.request(run.engine_messages + run.transcript, read_timeout(provider, run.client_timeout)),
            tool_choice=round_tool_choice(run))
        engine, run.engine = run.engine or make_engine(provider), None
        reply, failure = None, None
        deadline_s, retries = run.call_limits
        watch = lambda close: self.store.watch(run, close)  # noqa: E731
        known = secrets()  # every loaded provider's key, masked by value wherever it shows up
        emit = PieceMasker(lambda piece: self.store.add_piece(run, piece), known)
        try:
            with engine_call(budget_s(deadline_s), retries, watch):  # abort registered first
                reply = masked_reply(engine.reply(request, emit, watch), known)
        except (UpstreamError, ValidationError) as error:
            failure = (mask(str(error), known), getattr(error, "code", "server_error"))
        except Exception as error:  # noqa: BLE001 - never leave a run in progress forever
            if run.cancel_mono is None:
                self.server_errors.append(traceback.format_exc())
            failure = (f"{provider.name}: the call broke off ({type(error).__name__})", "server_error")
        emit.flush()
        run.sent = getattr(engine, "sent", None)  # what went upstream, even when the call failed
        if reply is not None:
            notes = [run_notice(provider, request.model, request_settings(request), run.sent,
                                reply.completion_tokens), unlisted_notice(provider, request.model)]
            run.notice = "; ".join(n for n in notes if n) or None
        self.store.finish_engine(run, reply, *(failure or ()))

    def count_input_tokens(self, body: Any, **_: Any) -> Reply:
        """``POST /threads/runs/input_tokens`` (threadrun's own): the provider's count of a
        createThreadAndRun body's prompt (``counting``); a server stop ends the call."""
        params, request = count_request(body, self.store.get_assistant, self.default_provider)
        return Reply(200, count(params, request, self.live_counts))

    def get_thread(self, params: dict[str, str], **_: Any) -> Reply:
        """``GET /threads/{thread_id}``."""
        return Reply(200, self.store.get_thread(params["thread_id"]).to_dict())

    def get_run(self, params: dict[str, str], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/runs/{run_id}`` with ``openai-poll-after-ms`` while active."""
        run = self.store.get_run(params["thread_id"], params["run_id"])
        now = time.monotonic()
        body = run.to_dict(now=now)
        headers = {}
        if body["status"] not in TERMINAL:
            headers["openai-poll-after-ms"] = str(self.poll_after(run, now))
        return Reply(200, body, headers)

    def poll_after(self, run: Run, now: float) -> int:
        """Milliseconds until the run is expected to change, clamped to [10, 1000] (100 if unknown)."""
        if self.poll_after_ms is not None:
            return int(self.poll_after_ms)
        if run.end_mono is None:
            return 100
        until = run.expires_mono if now >= run.end_mono else run.end_mono  # requires_action: expiry
        return int(min(1000, max(10, (until - now) * 1000)))

    def cancel_run(self, params: dict[str, str], **_: Any) -> Reply:
        """``POST /threads/{thread_id}/runs/{run_id}/cancel``."""
        return Reply(200, self.store.cancel(params["thread_id"], params["run_id"]))

    def list_messages(self, params: dict[str, str], query: dict[str, str], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/messages``."""
        return Reply(200, self.store.list_messages(params["thread_id"], query))

    def fault_reply(self, kind: str) -> Reply:
        """The answer of an injected HTTP error fault (429, 500, 502, 503)."""
        retry = self.faults.retry_after  # retry-after is whole seconds (>= 1); -ms is exact
        headers = {"retry-after": str(max(1, math.ceil(retry))), "retry-after-ms": str(int(retry * 1000))}
        if kind == "429":
            return error_reply(ErrorAnswer(429, f"Rate limit reached for requests (injected fault). "
                                             f"Please try again in {retry:g}s.", None,
                                        "rate_limit_exceeded", "requests", headers))
        if kind == "503":
            return error_reply(ErrorAnswer(503, "The server is overloaded or not ready yet "
                                             "(injected fault).", None, None, "server_error", headers))
        message = SERVER_ERROR + " (injected fault)" if kind == "500" else "Bad gateway (injected fault)."
        return error_reply(ErrorAnswer(int(kind), message, None, None, "server_error"))

    def close(self) -> None:
        """Stop the engine workers (pending calls are dropped); close the database (a run still
        going is ended by the next start), then shut every upstream call of this server down:
        a stopped server leaves no call running (each is stoppable, and a stop stops it)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.store.db is not None:
            self.store.db.close()
        self.store.abort_calls()
        self.live_counts.abort_all()


def echo_key_reply(headers: dict[str, str]) -> Reply:
    """The ``echo-key`` fault: a 400 quoting the request's Authorization header, as a careless
    server or proxy might (the client must mask the key wherever it keeps or shows the error)."""
    value = headers.get("authorization", "")
    return error_reply(ErrorAnswer(400, f"Invalid Authorization header '{value}' (injected fault).",
                                   None, "invalid_api_key"))


def idempotency_key(headers: dict[str, str]) -> str | None:
    """The request's ``Idempotency-Key`` (None when absent); a 400 when it is empty or too long."""
    key = headers.get("idempotency-key")
    if key is None:
        return None
    if not 0 < len(key.strip()) <= MAX_KEY_CHARS:
        raise ErrorAnswer(400, f"Invalid 'Idempotency-Key' header: expected 1 to {MAX_KEY_CHARS} "
                               "characters.", None, "invalid_idempotency_key")
    return key.strip()


def parse_body(raw: bytes) -> Any:
    """Parse a JSON request body; malformed JSON (or NaN/Infinity) is a 400."""
    def reject(constant: str) -> None:
        raise ValueError(constant)
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=reject) if raw.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ErrorAnswer(400, "We could not parse the JSON body of your request. (HINT: This likely "
                            "means you aren't using your HTTP library correctly. The OpenAI API "
                            "expects a JSON payload.)", None, None) from None


#: What the client tells the runtime of its own limits for a run (``threadrun.client.endpoints``).
DEADLINE_HEADER = "x-threadrun-deadline-s"
RETRIES_HEADER = "x-threadrun-max-retries"


def call_limits(headers: dict[str, str]) -> tuple[float | None, int | None]:
    """The client's deadline in seconds and retry count, when it sent sane ones (else None)."""
    deadline: float | None
    try:
        seconds = float(headers.get(DEADLINE_HEADER, ""))
        deadline = seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        deadline = None
    raw = headers.get(RETRIES_HEADER, "")
    retries = min(int(raw), 10) if raw.isascii() and raw.isdigit() and len(raw) <= 3 else None
    return deadline, retries
