"""One run's lifecycle: create the thread and run, stream or poll it to its end, read the reply,
and on a stop, its deadline or a tool call, cancel it and wait for the server to confirm.

It speaks to the server only through ``Endpoints``; ``Client.run`` is ``run(client, ...)``.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

import requests
from urllib3.exceptions import HTTPError

from ..errors import APIConnectionError, APIError
from ..http import watch
from ..http.failures import reason
from ..http.retry import CREATE_PATH, retries_used
from ..http.sse import EventTooLarge, iter_sse
from ..http.watch import Stopped, Watch
from ..rows.result import RunResult, delta_text, fold_event, mark_started, record_failure
from ..spec import TERMINAL
from . import cancel
from .answers import json_object
from .endpoints import Endpoints
from .reply import read_reply

log = logging.getLogger(__package__)

#: Called with ``(thread_id, run_id)`` as soon as a run's ids are known (so it can be cancelled).
OnStarted = Callable[[str, str], None]
OnText = Callable[[str], None]
#: Given a ``requires_action`` run: the tool outputs to submit, and the calls as the row keeps them.
ToolAnswer = Callable[[dict], tuple[list[dict], list[dict]]]


@dataclass
class Turn:
    """What a run does beyond one createThreadAndRun: continue a thread, answer its tool calls.

    ``thread_id``: the run is created on that existing thread (createRun; the body is a createRun
    body), after ``messages`` are added to it. ``tools``: each ``requires_action`` is answered and
    the outputs submitted, for at most ``max_steps`` model steps (1 + the tool rounds).
    """

    thread_id: str | None = None
    messages: list[dict] = field(default_factory=list)
    tools: ToolAnswer | None = None
    max_steps: int = 8
    parent_run_id: str | None = None  #: the row this run continues (kept in its row)

WAIT_ENDS = TERMINAL | {"requires_action"}  # no point polling on: nothing changes by itself


def run(client: Endpoints, body: dict, *, stream: bool = True, on_started: OnStarted | None = None,
        stop: threading.Event | None = None, deadline: float | None = None,
        on_text: OnText | None = None, turn: Turn | None = None) -> RunResult:
    """Create the thread and run, wait for its end, read the reply; never raises APIError.

    ``on_started(thread_id, run_id)`` is called as soon as the run's ids are known;
    ``on_text(text_so_far)`` as text streams in (streamed runs only).
    ``stop`` (set by another thread) or ``deadline`` seconds after the create ends every
    wait of the run; a run whose ids are known is then cancelled, and its row says what the
    server confirmed. Stopped before anything was sent: ``extra["not_sent"]``. ``turn``: continue
    a thread, answer tool calls (``Turn``).
    """
    result = RunResult(body=body)
    clock = Watch(stop, deadline)
    before = watch.use(clock)
    try:
        turn = turn or Turn()
        if turn.parent_run_id:
            result.extra["parent_run_id"] = turn.parent_run_id
        _run_watched(client, body, result, stream, on_started, clock, on_text, turn)
    finally:
        clock.close()
        watch.use(before)
    return result


def _run_watched(client: Endpoints, body: dict, result: RunResult, stream: bool,
                 on_started: OnStarted | None, clock: Watch, on_text: OnText | None,
                 turn: Turn) -> None:
    def started(thread_id: str, run_id: str) -> None:
        clock.run_known = True
        if on_started is not None:
            on_started(thread_id, run_id)

    try:
        client.gate.acquire()  # waiting for a rate slot is not the run's latency
    except Stopped as stopped:  # nothing sent yet: no run to cancel
        cancel.record_stopped(client, result, _why(stopped.why, clock), sent=False)
        return
    clock.start()
    started_at = time.monotonic()
    key = {"Idempotency-Key": str(uuid.uuid4())}  # one per requested run, kept on each retry
    key["X-Threadrun-Max-Retries"] = str(client.max_retries)  # the runtime's engine honours both
    if clock.deadline_s is not None:
        key["X-Threadrun-Deadline-S"] = f"{clock.deadline_s:g}"
    try:
        try:
            sent = time.monotonic()
            response = _create(client, body, key, stream, turn)
            _follow(client, response, result, stream, started, clock.stop, on_text, sent)
            limit = _answer_tools(client, result, stream, started, clock.stop, on_text, turn)
            _timings(result, started_at)
            if (result.run or {}).get("status") == "requires_action":
                cancel.refuse_tool_call(client, result, limit)
            else:
                read_reply(client, result)
        except Stopped as stopped:
            _timings(result, started_at)
            cancel.record_stopped(client, result, _why(stopped.why, clock), clock.sent)
    except APIError as exc:
        _timings(result, started_at)
        record_failure(result, client.masked(exc))


def _create(client: Endpoints, body: dict, key: dict[str, str], stream: bool,
            turn: Turn) -> requests.Response:
    """createThreadAndRun; or, continuing a thread, its new messages then createRun on it."""
    if turn.thread_id is None:
        return client.create_run(body, key, stream)
    for message in turn.messages:
        client.add_message(turn.thread_id, message)
    return client.create_run_on(turn.thread_id, body, key, stream)


def _follow(client: Endpoints, response: requests.Response, result: RunResult, stream: bool,
            on_started: OnStarted | None, stop: threading.Event | None,
            on_text: OnText | None, sent: float) -> None:
    """Follow a run from the answer that started (or resumed) it, to its end or a tool call."""
    result.retries += retries_used(response)
    result.request_id = result.request_id or response.headers.get("x-request-id")
    if stream:
        _read_stream(client, response, result, on_started, stop, on_text, sent)
        return
    result.run = json_object(response)  # unreadable: an APIError with a 2xx status, so `unknown`
    mark_started(result)
    _started(on_started, result.run)
    wait(client, result)


def _answer_tools(client: Endpoints, result: RunResult, stream: bool, on_started: OnStarted | None,
                  stop: threading.Event | None, on_text: OnText | None, turn: Turn) -> str | None:
    """Answer each tool call with ``turn.tools`` and follow the run on, up to ``max_steps`` model
    steps; the reason it stopped answering, if a limit did. ``extra["steps"]``: model steps."""
    rounds = 0
    while (run_ := result.run or {}).get("status") == "requires_action" and turn.tools is not None:
        if rounds + 1 >= turn.max_steps:
            result.extra["steps"] = rounds + 1
            return (f"the run asked for tool outputs again after {rounds} rounds; --max-steps "
                    f"{turn.max_steps} allows {turn.max_steps - 1}")
        outputs, calls = turn.tools(run_)
        result.tool_calls = result.tool_calls + calls
        rounds += 1
        log.info("run %s: %d tool outputs submitted (round %d)", run_.get("id"), len(outputs), rounds)
        response = client.submit_tool_outputs(run_["thread_id"], run_["id"], outputs, stream)
        _follow(client, response, result, stream, on_started, stop, on_text, time.monotonic())
    result.extra["steps"] = rounds + 1
    return None


def wait(client: Endpoints, result: RunResult) -> None:
    """Poll the run until it is terminal, sleeping what the server asks between polls."""
    run_ = result.run or {}
    delay = 0.0  # the first look right away; then what the server asks
    while run_.get("status") not in WAIT_ENDS:
        watch.sleep(delay)  # ends early, raising Stopped, at the deadline or a stop
        run_, poll_after = client.retrieve_run(run_["thread_id"], run_["id"])
        result.run = run_
        mark_started(result)
        delay = poll_after if poll_after is not None else client.poll_interval


def _read_stream(client: Endpoints, response: requests.Response, result: RunResult,
                 on_started: OnStarted | None, stop: threading.Event | None,
                 on_text: OnText | None, sent: float) -> None:
    """Fold a run's event stream into ``result``; poll on if it breaks off."""
    texts: list[str] = []
    live: list[str] = []  # the text so far, for on_text
    try:
        for event, data in iter_sse(response, client.max_event_bytes):
            if event == "thread.message.delta" and result.ttft_s != result.ttft_s:
                result.ttft_s = time.monotonic() - (result.started_mono or sent)
            if event == "thread.message.delta" and on_text is not None:
                live.append(delta_text(data))
                on_text("".join(live))
            if fold_event(event, data, result, texts):
                _started(on_started, result.run or {})
            mark_started(result)
            if stop is not None and stop.is_set() and result.run is not None:
                break  # stopped: the run's ids are known, so it can be cancelled
    except EventTooLarge as exc:  # a broken or hostile server: this run fails, nothing else
        raise APIConnectionError(f"POST {CREATE_PATH}: {exc}") from None
    except (requests.exceptions.RequestException, HTTPError, OSError, ValueError) as exc:
        log.info("POST %s: the stream broke off (%s); the run is polled instead", CREATE_PATH, reason(exc))
    finally:
        response.close()
    _after_stream(client, result, texts)


def _after_stream(client: Endpoints, result: RunResult, texts: list[str]) -> None:
    """Poll on if the stream broke off; keep the reply the stream itself carried."""
    run_ = result.run
    if run_ is None:
        watch.check()  # cut by the deadline or a stop: say so, not "the stream ended"
        why = result.error or "the stream ended before the run was created"
        raise APIConnectionError(f"POST {CREATE_PATH}: {why}")
    if run_.get("status") not in WAIT_ENDS:  # the stream broke off: fall back to polling
        wait(client, result)
    if texts and run_.get("status") in TERMINAL:  # the stream itself saw the end
        result.reply = "\n\n".join(texts)
        result.extra["reply_from_stream"] = True

def _timings(result: RunResult, sent: float) -> None:
    """``latency_s`` from the upstream request's start (the create, when no start was seen), and
    ``queue_s``: how long the run waited, queued, for its provider after the create."""
    now = time.monotonic()
    begun = result.started_mono
    result.latency_s = now - (begun if begun is not None else sent)
    if begun is not None:
        result.queue_s = max(0.0, begun - sent)
    elif result.run is not None:  # created, never started (cancelled or failed in the queue)
        result.queue_s = now - sent

def _started(on_started: OnStarted | None, run: dict) -> None:
    if on_started is not None and run.get("id") and run.get("thread_id"):
        on_started(run["thread_id"], run["id"])

def _why(why: str, clock: Watch) -> str:
    """The row's words for a stopped run."""
    if why == "deadline":
        return f"the deadline of {clock.deadline_s:g} s passed"
    return "interrupted by the user"
