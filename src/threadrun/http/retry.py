"""The retry policy: urllib3's ``Retry``, taught the OpenAI headers.

What is retried: 429, 500, 502, 503 and 504 answers, and connection failures that happen before
the request was sent. A request that may have reached the server (a read timeout or a connection
dropped after sending) is retried only when it is idempotent: never a POST that starts a run or
adds to a thread (createThreadAndRun, createRun, submit_tool_outputs, createMessage), which could
otherwise run twice or say the same thing twice. The policy itself tells them by method and path,
however their URL is spelled.
"""
from __future__ import annotations

import logging
import posixpath
import random
import re
from typing import Any, Callable, TypeVar
from urllib.parse import unquote, urlsplit

from urllib3.util.retry import Retry

from . import watch
from .failures import BodyCutOff, reason
from .gate import Gate

#: Every retry decision, for the client and the engines alike (``logging.getLogger("threadrun.http")``).
log = logging.getLogger(__package__)
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_BASE = 0.5
BACKOFF_MAX = 8.0
#: The longest Retry-After honoured, in seconds (the SDKs cap theirs at 60 s as well).
RETRY_AFTER_MAX = 60
#: The path createThreadAndRun ends with (after the base URL's own path).
CREATE_PATH = "/threads/runs"
#: POSTs that must never be sent twice: a run started, tool outputs given, a message added.
_ONCE = re.compile(r"/threads(/[^/]+)?/runs$|/threads/[^/]+/runs/[^/]+/submit_tool_outputs$"
                   r"|/threads/[^/]+/messages$")


def is_create(method: str | None, url: str | None) -> bool:
    """Whether a request starts a run or adds to a thread (``POST .../threads/runs``,
    ``.../threads/ID/runs``, ``.../submit_tool_outputs``, ``.../messages``), however spelled."""
    if (method or "").upper() != "POST" or not url:
        return False
    path = posixpath.normpath(unquote(urlsplit(url).path) or "/")
    return _ONCE.search(path) is not None


class OpenAIRetry(Retry):
    """``Retry`` that reads ``retry-after-ms`` and fractional ``retry-after``, with full backoff.

    With a ``gate`` (shared by every worker of a sweep), a 429 pauses all of them, and each retry
    waits its turn under the gate's requests-per-minute cap.
    """

    gate: Gate | None = None

    def new(self, **kw: Any) -> "OpenAIRetry":
        """The next Retry state keeps the gate (urllib3 builds a new object per attempt)."""
        retry = super().new(**kw)
        retry.gate = self.gate
        return retry

    def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                  error: Exception | None = None, _pool: Any = None,
                  _stacktrace: Any = None) -> "OpenAIRetry":
        """The next state; a createThreadAndRun that may have arrived gets no read retry, ever.

        A run past its deadline or stopped is not retried at all (``watch.Stopped``).
        """
        watch.check()
        if error is not None and self.read != 0 and is_create(method, url):
            log.info("%s %s may have arrived: never sent again (%s)", method, _path(url), reason(error))
            return self.new(read=0).increment(method, url, response, error, _pool, _stacktrace)
        why = f"HTTP {response.status}" if response is not None and error is None else reason(error) if error is not None else "no answer"
        try:
            following = super().increment(method, url, response, error, _pool, _stacktrace)
        except Exception:
            log.info("%s %s: not retried after %d retries (%s)", method, _path(url), len(self.history), why)
            raise
        log.info("%s %s: retry %d (%s)", method, _path(url), len(following.history), why)
        return following

    def sleep(self, response: Any = None) -> None:
        """Wait before a retry: what the server asked, or backoff; then the gate's turn.

        Every wait ends early at the run's deadline or a stop (``watch.sleep``).
        """
        if self.gate is not None and response is not None and response.status == 429:
            self.gate.pause(self.get_retry_after(response) or self.get_backoff_time())
        if response is None or not self.sleep_for_retry(response):
            watch.sleep(self.get_backoff_time())
        if self.gate is not None:
            self.gate.acquire()

    def get_retry_after(self, response: Any) -> float | None:
        """Seconds the server asked us to wait, from retry-after-ms, then retry-after."""
        millis = response.headers.get("retry-after-ms")
        if millis is not None:
            try:
                return min(max(float(millis) / 1000.0, 0.0), self.retry_after_max)
            except ValueError:
                pass
        seconds = response.headers.get("retry-after")
        if seconds is None:
            return None
        try:
            return min(max(float(seconds), 0.0), self.retry_after_max)
        except ValueError:
            try:
                return self.parse_retry_after(seconds)
            except Exception:  # noqa: BLE001 - an unreadable header falls back to our own backoff
                return None

    def get_backoff_time(self) -> float:
        """Exponential backoff from the first retry on (urllib3 waits 0 s before it), with jitter."""
        errors = len([h for h in self.history if h.redirect_location is None])
        return backoff_delay(errors, self.backoff_factor, self.backoff_max)

    def sleep_for_retry(self, response: Any) -> bool:
        """Wait what the server asked, if it asked (``Retry`` only does so for a truthy value)."""
        retry_after = self.get_retry_after(response)
        if retry_after is None:
            return False
        watch.sleep(retry_after)
        return True


def backoff_delay(attempt: int, base: float, cap: float = BACKOFF_MAX) -> float:
    """Seconds before retry number ``attempt`` (1, 2, ...): base × 2^(attempt-1), capped, jittered."""
    if attempt <= 0 or base <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (attempt - 1)) * (1.0 - 0.25 * random.random()))


def make_retry(max_retries: int, *, resend_after_send: bool, backoff: float = BACKOFF_BASE,
               gate: Gate | None = None) -> Retry:
    """The policy for one kind of request; ``resend_after_send`` allows retrying read failures."""
    retry = OpenAIRetry(
        total=max_retries,
        connect=max_retries,
        read=max_retries if resend_after_send else 0,
        status=max_retries,
        other=0,
        redirect=0,
        allowed_methods=None,  # every method may be retried on a status; read errors see `read`
        status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff,
        backoff_max=BACKOFF_MAX,
        raise_on_status=False,
        raise_on_redirect=False,
        respect_retry_after_header=True,
        retry_after_max=RETRY_AFTER_MAX,
    )
    retry.gate = gate
    return retry


def resend_cut_off(send: Callable[[int], T], resends: int, backoff: float, what: str) -> T:
    """``send(attempt)``; an idempotent request whose body broke off after its headers arrived
    (past what urllib3 retries) is sent again, up to ``resends`` times, after a backoff."""
    for attempt in range(resends + 1):
        try:
            return send(attempt)
        except BodyCutOff as cut:
            if attempt == resends:
                log.info("%s: not sent again after %d resends (%s)", what, resends, cut)
                raise
            log.info("%s: sent again, resend %d (%s)", what, attempt + 1, cut)
            watch.sleep(backoff_delay(attempt + 1, backoff))
    raise AssertionError("unreachable")


def _path(url: str | None) -> str:
    """The path a log line names (never a query string, never a host's credentials)."""
    return urlsplit(url or "").path or "/"


def retries_used(response: Any) -> int:
    """How many times urllib3 retried before this response arrived."""
    retries = getattr(getattr(response, "raw", None), "retries", None)
    return len(retries.history) if retries is not None else 0
