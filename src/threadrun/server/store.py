"""State of the local server: assistants, threads, messages and runs, bounded by ``max_runs``
and ``max_bytes``.

Runs are lazy (see ``objects``): creating one only records its schedule, so thousands of runs
cost no threads.  Eviction: at most ``max_runs`` runs are kept, each with its thread and that
thread's messages, and about ``max_bytes`` of them (a run's size is its request body as JSON
plus its reply); when a new or finished run goes over either bound the oldest *terminal* runs
are dropped together with their threads.  Active runs are never evicted (nor the run that just
came or ended), so the bounds can only be exceeded by those.  Assistants are capped at
``max_runs`` and an eighth of ``max_bytes`` (their bodies as JSON; oldest dropped first).  Idempotency keys: see ``keys``; a key whose run was
evicted is answered 409.  Every method is thread-safe (one re-entrant lock).
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any, ContextManager

from .endings import last_error, why_incomplete
from .engines import Engine, EngineReply, UpstreamError, is_offline, make_engine
from .engines.calls import abort_soon, run_aborts
from .faults import RunFault
from .keys import KeyMap, short
from .objects import TERMINAL, Run, RunParams, Thread, assistant_dict, new_id
from .params import engine_messages, not_found, resolve_params
from .resources import Resources, new_thread
from .rounds import MAX_ROUNDS, over_cap, split_text, stop_at_cap
from .runs import Runs, check_tools_runnable
from .tokens import count_tokens, truncate_tokens
from .validate import ErrorAnswer

QUEUE_S = 0.05
FAULT_ERROR = "The server had an error while processing your request. (injected fault)"


class Store(Resources, Runs):
    """Assistants, threads and runs of one server."""

    def __init__(self, max_runs: int = 10_000, max_bytes: int = 512 << 20) -> None:
        """Empty state holding at most ``max_runs`` runs and about ``max_bytes`` of them."""
        if max_runs < 1:
            raise ValueError("max_runs must be >= 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.max_runs, self.max_bytes, self.bytes_kept = max_runs, max_bytes, 0
        self.lock = threading.RLock()
        self.assistants: OrderedDict[str, dict] = OrderedDict()
        self.assistant_sizes: dict[str, int] = {}
        self.assistant_bytes = 0
        self.threads: dict[str, Thread] = {}
        self.runs: OrderedDict[str, Run] = OrderedDict()
        self.idempotency = KeyMap(max_runs)
        self.max_rounds = MAX_ROUNDS
        self.message_bytes = 0  # threads and messages made on their own (see ``resources``)
        self.db: Any = None  # a ``persist.Database`` when the server keeps its state on disk

    @property
    def keys(self) -> OrderedDict[str, tuple[str, str]]:
        """The newest idempotency keys, whole: key -> (body digest, run id)."""
        return self.idempotency.recent

    def create_assistant(self, body: dict) -> dict:
        """Store a validated CreateAssistantRequest; return the AssistantObject."""
        assistant = assistant_dict(new_id("asst_"), int(time.time()), body)
        size = len(json.dumps(body))
        with self.lock:
            sizes = self.assistant_sizes
            if len(sizes) != len(self.assistants):  # the dict was changed from outside: resync
                self.assistant_sizes = sizes = {k: sizes.get(k, 0) for k in self.assistants}
                self.assistant_bytes = sum(sizes.values())
            self.assistants[assistant["id"]] = assistant
            sizes[assistant["id"]] = size
            self.assistant_bytes += size
            while len(self.assistants) > 1 and (len(self.assistants) > self.max_runs
                                                or self.assistant_bytes > self.max_bytes // 8):
                gone, _ = self.assistants.popitem(last=False)
                self.forget(gone)
                self.assistant_bytes -= sizes.pop(gone, 0)
        self.saved(assistant)
        return assistant

    def get_assistant(self, assistant_id: str) -> dict:
        """The AssistantObject, or a 404 ErrorAnswer."""
        with self.lock:
            if assistant_id not in self.assistants:
                raise not_found("assistant", assistant_id)
            return self.assistants[assistant_id]

    def create_thread_and_run(self, body: dict, latency: float, forced: RunFault | None,
                              default_provider: str | None = None, size: int | None = None) -> Run:
        """Create the thread (with its input messages) and a run on it, scheduled ``latency`` ahead.

        ``size``: the body's length as JSON when the caller has it (else measured here).
        """
        assistant = self.get_assistant(body["assistant_id"])
        thread = new_thread(body.get("thread") or {})
        params = resolve_params(body, assistant, default_provider)
        check_tools_runnable(params)
        run = self.begin_run(thread, assistant["id"], params, latency, forced)
        run.size = (len(json.dumps(body)) if size is None else size) + len(run.reply or "")
        with self.lock:
            self.threads[thread.id] = thread
            self.runs[run.id] = run
            self.bytes_kept += run.size
            self._evict(time.monotonic(), keep=run)
        self.saved(thread, run)
        return run

    def begin_run(self, thread: Thread, assistant_id: str, params: RunParams, latency: float,
                  forced: RunFault | None) -> Run:
        """A new run on ``thread`` (its messages now, after the truncation strategy), planned."""
        now_wall, now = time.time(), time.monotonic()
        plain = engine_messages(thread.messages, params.truncation_strategy)
        run = Run(new_id("run_"), thread.id, assistant_id, params, now_wall, now, math.inf, None,
                  None, plain, forced=forced, max_rounds=self.max_rounds)
        thread.run_ids.append(run.id)
        self.plan_round(run, latency)
        return run

    def plan_round(self, run: Run, latency: float) -> None:
        """Schedule the run's current round: an offline engine's reply (echo) at once, due
        ``latency`` ahead, or a real model's call, queued until a worker holds a provider slot
        (``App.run_engine``)."""
        now, latency = time.monotonic(), max(0.0, float(latency))
        run.start_mono, run.end_mono = now + min(QUEUE_S, latency / 10), now + latency
        run.min_end = run.end_mono or now
        run.prompt_tokens = count_tokens(run.params.instructions) + sum(
            count_tokens(m["content"] or "") for m in run.engine_messages + run.transcript)
        engine = self._engine(run) if self._decide_early(run) is None else None
        if engine is not None and is_offline(engine):  # answered now; the run ends by its clock
            self._reply_offline(run, engine)
        elif engine is not None:  # queued until a worker holds a provider slot (App.run_engine)
            run.engine, run.live = engine, True
            run.end_mono, run.prompt_tokens = None, None
            run.start_mono = math.inf

    def key_lock(self, key: str | None) -> ContextManager[Any]:
        """Held while a keyed create looks its key up and creates: one run per key, even at once."""
        return self.idempotency.key_lock(key)

    def run_for_key(self, key: str, digest: str) -> Run | None:
        """The run this idempotency key created (None: a new key); 400 for another body, 409 when
        its run was evicted (a second run would run the request twice)."""
        run_id = self.idempotency.lookup(key, digest)
        if run_id is None:
            return None
        with self.lock:
            run = self.runs.get(run_id)
        if run is None:
            raise ErrorAnswer(409, f"The run this Idempotency-Key created ({run_id}) has been evicted "
                                   "from this server, which keeps only its newest finished runs; use "
                                   "a new key to start a new run.", None, "idempotency_key_run_evicted")
        return run

    def remember_key(self, key: str, digest: str, run: Run) -> None:
        """Remember which run a key created (bounded: see ``keys``), on disk too when kept there."""
        self.idempotency.remember(key, digest, run.id)
        if self.db is not None:
            self.db.save_key(short(key), digest, run.id, self.idempotency.bound)

    def needs_engine(self, run: Run) -> bool:
        """Whether the run still waits for an engine reply (a worker's job)."""
        return run.end_mono is None and run.cancel_mono is None

    def start(self, run: Run) -> None:
        """A live run's upstream request starts now: it leaves ``queued``; wakes its stream."""
        with self.lock:
            run.start_mono = time.monotonic()
            self.wake(run)
        self.saved(run)

    def add_piece(self, run: Run, piece: str) -> None:
        """A piece of a live run's reply as the model wrote it; wakes its stream."""
        with self.lock:
            run.pieces.append(piece)
            self.wake(run)

    def watch(self, run: Run, close: Any) -> None:
        """Remember how to abort the run's upstream call; at once if the run is already cancelled."""
        with self.lock:
            cancelled = run.cancel_mono is not None
            if not cancelled:
                run.closers.append(close)
        if cancelled:
            close()

    def abort_calls(self) -> None:
        """Shut down the upstream call of every run now (the server is stopping)."""
        with self.lock:
            closers = [close for run in self.runs.values() for close in run.closers]
            for run in self.runs.values():
                run.closers = []
        run_aborts(closers)

    def piece_left(self, run: Run, seen: int, max_wait: float = 1.0) -> float | None:
        """Seconds to wait at most for a live run's piece past ``seen``; None once it has one,
        has ended or is cancelled."""
        with self.lock:
            if run.cancel_mono is not None or run.end_mono is not None or len(run.pieces) > seen:
                return None
            return max_wait

    def listen(self, run: Run, wake: Any) -> None:
        """Call ``wake()`` (from any thread, under the store's lock: it must not block) whenever
        the run gets a piece, ends or is cancelled."""
        with self.lock:
            run.wakers.append(wake)

    def unlisten(self, run: Run, wake: Any) -> None:
        """Stop calling ``wake``."""
        with self.lock:
            if wake in run.wakers:
                run.wakers.remove(wake)

    @staticmethod
    def wake(run: Run) -> None:
        """Tell the run's listeners that it changed (the caller holds the lock)."""
        for wake in run.wakers:
            wake()

    @staticmethod
    def _engine(run: Run) -> Engine | None:
        """The run's engine (``make_engine``); None, the run failed in one line, when it cannot be made."""
        try:
            return make_engine(run.params.provider)
        except Exception as error:  # noqa: BLE001 - a registered engine that does not load fails its run
            reason = " ".join(str(error).split())[:300]
            run.outcome, run.last_error = "failed", last_error(
                "server_error", f"{run.params.provider.name}: its {run.params.provider.api!r} engine "
                                f"could not be made ({type(error).__name__}: {reason})")
            return None

    def _reply_offline(self, run: Run, engine: Engine) -> None:
        """An offline engine's reply (echo), asked when the run is created; its failure fails the run."""
        try:
            reply = engine.reply(run.params.request(run.engine_messages + run.transcript), lambda piece: None,
                                 lambda close: None)
        except UpstreamError as error:
            run.outcome, run.last_error = "failed", last_error(error.code, str(error))
        else:
            self._apply_reply(run, reply)
            run.service_tier = reply.service_tier
        run.sent = engine.sent

    def _decide_early(self, run: Run) -> str | None:
        """Set the outcome when no reply is needed (forced failure or tool call, prompt over its limit)."""
        forced, limit = run.forced, run.params.max_prompt_tokens
        if forced is not None and forced.kind in ("failed", "expired", "requires_action"):
            run.outcome = forced.kind
            run.last_error = {"code": "server_error", "message": FAULT_ERROR} if forced.kind == "failed" else None
        elif forced is not None and forced.reason == "max_prompt_tokens" or (
                limit is not None and (run.prompt_tokens or 0) > limit):
            run.outcome, run.incomplete_reason = "incomplete", "max_prompt_tokens"
        else:
            return None
        return run.outcome

    def _apply_reply(self, run: Run, reply: EngineReply) -> None:
        """Record an engine reply: a real model's as reported, the echo engine's by our tokenizer."""
        if run.live:
            self._apply_model_reply(run, reply)
            return
        if reply.tool_calls:  # echo asked for a tool (see engines.echo_tools)
            if over_cap(run):
                stop_at_cap(run)
            else:
                run.outcome, run.tool_calls = "requires_action", list(reply.tool_calls)
            run.completion_tokens = count_tokens(json.dumps(reply.tool_calls))
            return
        text, cap = reply.text, run.params.max_completion_tokens
        count, truncated = count_tokens(text), False
        if run.forced is not None and run.forced.kind == "incomplete":
            text, truncated = truncate_tokens(text, max(1, count // 2)), True
        elif cap is not None and count > cap:
            text, truncated = truncate_tokens(text, cap), True
        run.reply = text
        if truncated or reply.finish_reason == "length":
            run.outcome, run.incomplete_reason = "incomplete", "max_completion_tokens"
        else:
            run.outcome = "completed"
        run.completion_tokens = count_tokens(text)

    @staticmethod
    def _apply_model_reply(run: Run, reply: EngineReply) -> None:
        """A real model's reply: its text, the upstream's usage (None when unreported), tool calls."""
        run.reply = reply.text
        run.prompt_tokens, run.completion_tokens = reply.prompt_tokens, reply.completion_tokens
        run.reasoning_tokens, run.cached_tokens = reply.reasoning_tokens, reply.cached_tokens
        run.total_tokens = reply.total_tokens
        run.service_tier = reply.service_tier
        if reply.tool_calls and over_cap(run):
            stop_at_cap(run)
        elif reply.tool_calls:
            run.outcome, run.tool_calls = "requires_action", list(reply.tool_calls)
        elif reply.finish_reason in ("length", "content_filter"):
            run.outcome = "incomplete"
            run.incomplete_reason, run.incomplete_note, run.message_reason = why_incomplete(
                reply, run.params.max_completion_tokens)
        else:
            run.outcome = "completed"

    def finish_engine(self, run: Run, reply: EngineReply | None, error: str | None = None,
                      code: str = "server_error") -> None:
        """Record an engine's result (or its failure) and wake streams waiting on the run."""
        with self.lock:
            run.closers.clear()
            run.engine = None
            if error is not None:
                run.outcome, run.last_error = "failed", last_error(code, error)
            elif reply is not None:
                self._apply_reply(run, reply)
            if math.isinf(run.start_mono):  # ended before it started (cancelled in the queue)
                run.start_mono = time.monotonic()
            run.end_mono = max(time.monotonic(), run.min_end, run.start_mono)
            thread = self.threads.get(run.thread_id)
            if run.outcome == "requires_action" and run.reply and not run.message_added:
                split_text(run, thread)  # text, then tool calls: two steps, as the API has them
            grown = len(run.reply or "") + sum(len(piece) for piece in run.pieces)
            run.size += grown
            if self.runs.get(run.id) is run:
                self.bytes_kept += grown
                self._evict(time.monotonic(), keep=run)
            self.wake(run)
        self.saved(*([thread] if thread is not None else []), run)

    def get_thread(self, thread_id: str) -> Thread:
        """The Thread, or a 404 ErrorAnswer."""
        with self.lock:
            if thread_id not in self.threads:
                raise not_found("thread", thread_id)
            return self.threads[thread_id]

    def get_run(self, thread_id: str, run_id: str) -> Run:
        """The Run (its reply message settled into the thread when due), or a 404 ErrorAnswer."""
        with self.lock:
            self.get_thread(thread_id)
            run = self.runs.get(run_id)
            if run is None or run.thread_id != thread_id:
                raise not_found("run", run_id)
            self.settle(run)
            return run

    def settle(self, run: Run, now: float | None = None) -> str:
        """Add the reply message to the thread once the run has ended with one; return the status."""
        with self.lock:
            status = run.status(now)
            if status in ("completed", "incomplete") and run.reply is not None and not run.message_added:
                thread = self.threads.get(run.thread_id)
                reason = run.message_reason if status == "incomplete" else None
                if thread is not None:
                    thread.messages.append(run.reply_message(
                        "incomplete" if reason else "completed", run.reply, reason))
                run.message_added = True
                self.saved(*([thread] if thread is not None else []), run)
            return status

    def cancel(self, thread_id: str, run_id: str) -> dict:
        """Cancel an active run (answered as ``cancelling``); 400 when it is already terminal."""
        with self.lock:
            run = self.get_run(thread_id, run_id)
            status = run.status()
            if status in TERMINAL:
                raise ErrorAnswer(400, f"Cannot cancel run with status '{status}'.", None, None)
            answer = run.to_dict(status="cancelling")
            run.cancel_mono = time.monotonic()
            closers, run.closers = run.closers, []
            self.wake(run)
        self.saved(run)
        abort_soon(closers)  # the upstream call, at once, off this request's thread
        return answer

    def wait_left(self, run: Run, until: float | None, max_wait: float = 1.0) -> float | None:
        """Seconds to wait at most for monotonic ``until`` (None: for the engine's reply); None
        once it has come or the run is cancelled."""
        with self.lock:
            if run.cancel_mono is not None:
                return None
            if until is None:
                return None if run.end_mono is not None else max_wait
            left = until - time.monotonic()
            return None if left <= 0 else min(max_wait, left)

    def _evict(self, now: float, keep: Run) -> None:
        """Drop the oldest terminal runs (and their threads) beyond ``max_runs`` or ``max_bytes``."""
        count, size = len(self.runs), self.bytes_kept
        if count <= self.max_runs and size <= self.max_bytes:
            return
        victims = []
        for run in self.runs.values():
            if count <= self.max_runs and size <= self.max_bytes:
                break
            if run is not keep and run.status(now) in TERMINAL:
                victims.append(run)
                count, size = count - 1, size - run.size
        for run in victims:
            self._drop(run, now)
