"""HTTP to an Assistants v2 server: create-and-run, stream or poll, read the reply, cancel.

One ``Client`` holds one ``requests.Session`` (pooled keep-alive connections, shared by threads).
The API key lives only in the session's headers: it is never in a repr, a log line or an error.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import warnings
from typing import Any, Callable
from urllib.parse import quote, urlsplit

import requests
from urllib3.exceptions import HTTPError

from .. import __version__, config, scrub
from ..errors import APIConnectionError, APIError, ThreadrunError, ValidationError
from ..http import watch
from ..http.gate import Gate
from ..http.retry import BACKOFF_BASE, CREATE_PATH, RETRY_AFTER_MAX, backoff_delay, make_retry, retries_used
from ..http.session import Session, WatchedAdapter
from ..http.sse import MAX_EVENT_BYTES, EventTooLarge, iter_sse
from ..http.watch import Stopped, Watch
from ..rows.result import (
    RunResult,
    delta_text,
    fold_event,
    mark_started,
    message_text,
    record_failure,
    run_error,
)
from ..spec import TERMINAL
from . import cancel
from .answers import BodyCutOff, api_error, json_object, may_have_arrived, redirect_error, short_reason

log = logging.getLogger("threadrun")

#: Called with ``(thread_id, run_id)`` as soon as a run's ids are known (so it can be cancelled).
OnStarted = Callable[[str, str], None]

DEFAULT_POLL_S = 0.5
CONNECT_TIMEOUT_S = 10.0
WAIT_ENDS = TERMINAL | {"requires_action"}  # no point polling on: nothing changes by itself


class Client:
    """A pooled, retrying client for the Assistants v2 endpoints threadrun uses."""

    #: The largest stream line or event accepted; a bigger one fails that run (see ``sse``).
    max_event_bytes = MAX_EVENT_BYTES

    def __init__(self, base_url: str | None = None, api_key: str | None = None, *,
                 timeout: float = config.TIMEOUT_S, max_retries: int = config.MAX_RETRIES,
                 pool_size: int = 32,
                 backoff: float = BACKOFF_BASE, poll_interval: float = DEFAULT_POLL_S,
                 rpm: float | None = None):
        url = config.base_url(base_url)
        if url is None:
            raise ValidationError("no Assistants server: give base_url= or set $THREADRUN_BASE_URL "
                                  "(threadrun.run and the magic use the embedded runtime)")
        self.base_url = normalize_base_url(url)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.poll_interval = poll_interval
        self.backoff = backoff
        self.gate = Gate(rpm)
        self.session = Session()  # never ~/.netrc, even on a redirect
        self.session.auth = lambda request: request  # a no-op auth: requests never reads ~/.netrc
        if config.is_loopback(urlsplit(self.base_url).hostname):
            # this machine: never through HTTP(S)_PROXY (a corporate proxy cannot reach our
            # loopback), and nothing else from the environment (netrc) applies either
            self.session.trust_env = False
        key = (api_key if api_key is not None else config.api_key()).strip()
        if any(not 33 <= ord(ch) <= 126 for ch in key):
            raise ValidationError("the API key contains spaces or characters that cannot go in an "
                                  "HTTP header; check THREADRUN_API_KEY (or the --api-key-env variable)")
        self._key = key  # only to scrub it from error texts; never shown
        scrub.remember(key, "the API key")  # and from replies, run objects and the log
        self.session.headers.update({
            "OpenAI-Beta": "assistants=v2",
            "User-Agent": f"threadrun/{__version__} python-requests/{requests.__version__}",
            "Content-Type": "application/json",
        })
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"
            _warn_plain_http(self.base_url)
        # one policy for every request: it never re-sends a createThreadAndRun that may have
        # arrived, telling it by method and path (see retry.is_create)
        adapter = WatchedAdapter(pool_connections=4, pool_maxsize=pool_size,
                              max_retries=make_retry(max_retries, resend_after_send=True,
                                                     backoff=backoff, gate=self.gate))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def close(self) -> None:
        self.session.close()

    # -- low level -----------------------------------------------------------------------------

    def _request(self, method: str, path: str, *, body: Any = None, params: dict | None = None,
                 stream: bool = False, gated: bool = False,
                 headers: dict[str, str] | None = None) -> requests.Response:
        """Send one request (urllib3 retries included); raise APIError on an error answer.

        urllib3 retries only until the headers arrive; a GET whose body is cut off afterwards is
        sent again here (it is idempotent), up to ``max_retries`` times. ``gated`` = the caller
        already passed the gate (rate cap, 429 pause) for the first attempt.
        """
        resends = self.max_retries if method == "GET" and not stream else 0
        for attempt in range(resends + 1):
            try:
                return self._send(method, path, body, params, stream, gated and attempt == 0,
                                  headers)
            except BodyCutOff as cut:
                if attempt == resends:
                    raise self._scrub(APIConnectionError(f"{method} {path}: {cut}")) from None
                watch.sleep(backoff_delay(attempt + 1, self.backoff))
            except APIError as exc:
                raise self._scrub(exc) from None
        raise AssertionError("unreachable")

    def _send(self, method: str, path: str, body: Any, params: dict | None, stream: bool,
              gated: bool, headers: dict[str, str] | None = None) -> requests.Response:
        """One attempt (with urllib3's own retries) → the response, or an APIError.

        A POST never follows a redirect: requests would send it again to the new address.
        """
        data = json.dumps(body) if body is not None else None
        if not gated:
            self.gate.acquire()
        try:
            response = self.session.request(method, self.base_url + path, data=data, params=params,
                                            headers=headers, stream=stream,
                                            allow_redirects=method != "POST",
                                            timeout=(CONNECT_TIMEOUT_S, self.timeout))
        except requests.exceptions.ChunkedEncodingError as exc:
            raise BodyCutOff(short_reason(exc)) from None
        except requests.exceptions.RequestException as exc:
            prefix = "gave up after retries: " if isinstance(exc, requests.exceptions.RetryError) else ""
            raise APIConnectionError(f"{method} {path}: {prefix}{short_reason(exc)}",
                                     sent=may_have_arrived(exc)) from None
        if response.status_code >= 400:
            raise api_error(response)
        if method == "POST" and response.is_redirect:
            raise redirect_error(path, response)
        return response

    def _scrub(self, exc: APIError) -> APIError:
        """The same error with the key masked, should a server or library ever echo it."""
        if self._key and self._key in exc.message:
            exc.message = exc.message.replace(self._key, "***")
            exc.args = (exc._describe(),)
        return exc

    def get_json(self, path: str, params: dict | None = None,
                 gated: bool = False) -> tuple[dict, requests.Response]:
        """GET a JSON object (``gated``: past the rate gate already, or exempt from it)."""
        response = self._request("GET", path, params=params, gated=gated)
        return json_object(response), response

    def post_json(self, path: str, body: Any) -> dict:
        """POST a JSON body, answer a JSON object."""
        return json_object(self._request("POST", path, body=body))

    # -- endpoints -------------------------------------------------------------------------------

    def create_assistant(self, model: str, name: str = "threadrun scratch assistant",
                         reasoning_effort: str | None = None) -> dict:
        body = {"model": model, "name": name, "metadata": {"created_by": "threadrun"}}
        if reasoning_effort is not None:
            body["reasoning_effort"] = reasoning_effort
        return self.post_json("/assistants", body)

    def get_assistant(self, assistant_id: str) -> dict:
        return self.get_json(f"/assistants/{assistant_id}")[0]

    def retrieve_run(self, thread_id: str, run_id: str,
                     gated: bool = False) -> tuple[dict, float | None]:
        """The run, and the server's ``openai-poll-after-ms`` in seconds (None if absent)."""
        run, response = self.get_json(f"/threads/{thread_id}/runs/{run_id}", gated=gated)
        return run, _poll_after(response)

    def cancel_run(self, thread_id: str, run_id: str) -> dict:
        """POST cancelRun, with no body (it takes none; a validating proxy refuses ``{}``).

        Never held back by the rate gate: a cancel stops spending, and a queue of runs waiting
        for slots (or a 429 pause) must not keep it from being sent.
        """
        return json_object(self._request("POST", f"/threads/{thread_id}/runs/{run_id}/cancel",
                                         gated=True))

    def reply_text(self, thread_id: str, run_id: str) -> str:
        """The text of this run's assistant messages, oldest first, parts joined."""
        # The query string written out: requests' encoding of a params dict cost ~7% of a polled run.
        page, _ = self.get_json(f"/threads/{thread_id}/messages?run_id={quote(str(run_id), safe='')}"
                                "&order=asc&limit=100")
        texts = [message_text(m) for m in page.get("data") or []
                 if m.get("role") == "assistant" and m.get("run_id") in (run_id, None)]
        return "\n\n".join(t for t in texts if t)

    # -- one run, start to finish ----------------------------------------------------------------

    def run(self, body: dict, *, stream: bool = True, on_started: OnStarted | None = None,
            stop: threading.Event | None = None, deadline: float | None = None,
            on_text: Callable[[str], None] | None = None) -> RunResult:
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
            self._run_watched(body, result, stream, on_started, clock, on_text)
        finally:
            clock.close()
            watch.use(before)
        return result

    def _run_watched(self, body: dict, result: RunResult, stream: bool,
                     on_started: OnStarted | None, clock: Watch,
                     on_text: Callable[[str], None] | None = None) -> None:
        def started(thread_id: str, run_id: str) -> None:
            clock.run_known = True
            if on_started is not None:
                on_started(thread_id, run_id)

        try:
            self.gate.acquire()  # waiting for a rate slot is not the run's latency
        except Stopped as stopped:  # nothing sent yet: no run to cancel
            cancel.record_stopped(self, result, _why(stopped.why, clock), sent=False)
            return
        clock.start()
        started_at = time.monotonic()
        key = {"Idempotency-Key": str(uuid.uuid4())}  # one per requested run, kept on each retry
        key["X-Threadrun-Max-Retries"] = str(self.max_retries)  # the runtime's engine honours both
        if clock.deadline_s is not None:
            key["X-Threadrun-Deadline-S"] = f"{clock.deadline_s:g}"
        try:
            try:
                if stream:
                    self._run_streaming(body, result, started, clock.stop, key, on_text)
                else:
                    self._run_polling(body, result, started, key)
                _timings(result, started_at)
                if (result.run or {}).get("status") == "requires_action":
                    cancel.refuse_tool_call(self, result)
                else:
                    self.read_reply(result)
            except Stopped as stopped:
                _timings(result, started_at)
                cancel.record_stopped(self, result, _why(stopped.why, clock), clock.sent)
        except APIError as exc:
            _timings(result, started_at)
            record_failure(result, self._scrub(exc))

    def _create(self, body: dict, key: dict[str, str], stream: bool) -> requests.Response:
        """POST createThreadAndRun (gated by ``run``) with the run's Idempotency-Key."""
        headers = {**key, config.TIMEOUT_HEADER: f"{self.timeout:g}"}  # our runtime's read bound
        return self._request("POST", CREATE_PATH, body={**body, "stream": stream}, stream=stream,
                             gated=True, headers=headers)

    def _run_polling(self, body: dict, result: RunResult, on_started: OnStarted | None,
                     key: dict[str, str]) -> None:
        response = self._create(body, key, stream=False)
        result.retries += retries_used(response)
        result.request_id = response.headers.get("x-request-id")
        result.run = json_object(response)  # unreadable: an APIError with a 2xx status, so `unknown`
        mark_started(result)
        _started(on_started, result.run)
        self._wait(result)

    def _wait(self, result: RunResult) -> None:
        """Poll the run until it is terminal, sleeping what the server asks between polls."""
        run = result.run or {}
        delay = 0.0  # the first look right away; then what the server asks
        while run.get("status") not in WAIT_ENDS:
            watch.sleep(delay)  # ends early, raising Stopped, at the deadline or a stop
            run, poll_after = self.retrieve_run(run["thread_id"], run["id"])
            result.run = run
            mark_started(result)
            delay = poll_after if poll_after is not None else self.poll_interval

    def _run_streaming(self, body: dict, result: RunResult, on_started: OnStarted | None,
                       stop: threading.Event | None, key: dict[str, str],
                       on_text: Callable[[str], None] | None = None) -> None:
        sent = time.monotonic()
        response = self._create(body, key, stream=True)
        result.retries += retries_used(response)
        result.request_id = response.headers.get("x-request-id")
        texts: list[str] = []
        live: list[str] = []  # the text so far, for on_text
        try:
            for event, data in iter_sse(response, self.max_event_bytes):
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
            log.debug("stream broke off: %s", short_reason(exc))
        finally:
            response.close()
        self._after_stream(result, texts)

    def _after_stream(self, result: RunResult, texts: list[str]) -> None:
        """Poll on if the stream broke off; keep the reply the stream itself carried."""
        run = result.run
        if run is None:
            watch.check()  # cut by the deadline or a stop: say so, not "the stream ended"
            why = result.error or "the stream ended before the run was created"
            raise APIConnectionError(f"POST {CREATE_PATH}: {why}")
        if run.get("status") not in WAIT_ENDS:  # the stream broke off: fall back to polling
            self._wait(result)
        if texts and run.get("status") in TERMINAL:  # the stream itself saw the end
            result.reply = "\n\n".join(texts)
            result.extra["reply_from_stream"] = True

    def read_reply(self, result: RunResult) -> None:
        """The run's status and own error, then its reply (a failed read keeps the run's error)."""
        run = result.run or {}
        status = run.get("status") or "unknown"
        result.status = status if status in TERMINAL else "unknown"
        if result.status not in TERMINAL:
            result.error = result.error or f"run stopped being followed while {status}"
            return
        result.error = run_error(run)
        if not result.extra.get("reply_from_stream"):
            result.reply = self.reply_text(run["thread_id"], run["id"])


_warned_hosts: set[str] = set()


def normalize_base_url(url: str) -> str:
    """The base URL as requests sends it (dot segments resolved, ``%31`` decoded), no trailing ``/``."""
    try:
        prepared = requests.Request("GET", url).prepare().url or url
    except (requests.exceptions.RequestException, ValueError):
        return url.rstrip("/")  # unusable: the first request says why
    return prepared.rstrip("/")


def _warn_plain_http(base_url: str) -> None:
    """Warn once per host when the key would travel unencrypted to another machine."""
    url = urlsplit(base_url)
    if url.scheme == "http" and not config.is_loopback(url.hostname) and url.hostname not in _warned_hosts:
        _warned_hosts.add(url.hostname or "")
        warnings.warn(f"threadrun sends the API key over plain http to {url.hostname}; "
                      "use https for anything but this machine", UserWarning, stacklevel=3)


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


def _poll_after(response: requests.Response) -> float | None:
    """``openai-poll-after-ms`` in seconds, capped like Retry-After (at most 60 s)."""
    value = response.headers.get("openai-poll-after-ms")
    try:
        return min(max(float(value) / 1000.0, 0.0), RETRY_AFTER_MAX) if value is not None else None
    except ValueError:
        return None


__all__ = ["Client", "RunResult", "TERMINAL", "ThreadrunError", "iter_sse", "message_text", "run_error"]
