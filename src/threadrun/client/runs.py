"""One run's lifecycle: create the thread and run, stream or poll it to its end, read the reply,
and on a stop, its deadline or a tool call, cancel it and wait for the server to confirm.

It speaks to the server only through ``Endpoints``; ``Client.run`` is ``run(client, ...)``.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
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

WAIT_ENDS = TERMINAL | {"requires_action"}  # no point polling on: nothing changes by itself


def run(client: Endpoints, body: dict, *, stream: bool = True, on_started: OnStarted | None = None,
        stop: threading.Event | None = None, deadline: float | None = None,
        on_text: OnText | None = None) -> RunResult:
    """Create the thread and run, wait for its end, read the reply; never raises APIError.

    ``on_started(thread_id, run_id)`` is called as soon as the run's ids are known;
    ``on_text(text_so_far)`` as text streams in (streamed runs only).
    ``stop`` (set by another thread) or ``deadline`` seconds after the create ends every
    wait of the run; a run whose ids are known is then cancelled, and its row says what the
    server confirmed. Stopped before anything was sent: ``extra["not_sent"]``.
    """
    result = RunResult(body=body)
    clock = Watch(stop, deadline)
    before = watch.use(clock)
    try:
        _run_watched(client, body, result, stream, on_started, clock, on_text)
    finally:
        clock.close()
        watch.use(before)
    return result


def _run_watched(client: Endpoints, body: dict, result: RunResult, stream: bool,
                 on_started: OnStarted | None, clock: Watch, on_text: OnText | None) -> None:
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
            if stream:
                _run_streaming(client, body, result, started, clock.stop, key, on_text)
            else:
                _run_polling(client, body, result, started, key)
            _timings(result, started_at)
            if (result.run or {}).get("status") == "requires_action":
                cancel.refuse_tool_call(client, result)
            else:
                read_reply(client, result)
        except Stopped as stopped:
            _timings(result, started_at)
            cancel.record_stopped(client, result, _why(stopped.why, clock), clock.sent)
    except APIError as exc:
        _timings(result, started_at)
        record_failure(result, client.masked(exc))


def _run_polling(client: Endpoints, body: dict, result: RunResult, on_started: OnStarted | None,
                 key: dict[str, str]) -> None:
    response = client.create_run(body, key, stream=False)
    result.retries += retries_used(response)
    result.request_id = response.headers.get("x-request-id")
    result.run = json_object(response)  # unreadable: an APIError with a 2xx status, so `unknown`
    mark_started(result)
    _started(on_started, result.run)
    wait(client, result)


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


def _run_streaming(client: Endpoints, body: dict, result: RunResult, on_started: OnStarted | None,
                   stop: threading.Event | None, key: dict[str, str],
                   on_text: OnText | None = None) -> None:
    sent = time.monotonic()
    response = client.create_run(body, key, stream=True)
    result.retries += retries_used(response)
    result.request_id = response.headers.get("x-request-id")
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
