"""Issue 11, the retry policy: points 4 (the Retry-After cap) and 8 (the policy tells a create by
its method and path, however the URL is spelled)."""
from __future__ import annotations

import email.utils
import time
from types import SimpleNamespace

import pytest
from urllib3.exceptions import MaxRetryError, ProtocolError, ReadTimeoutError

from threadrun.http.retry import RETRY_AFTER_MAX, make_retry


def answer(status: int, headers: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(status=status, headers=headers)


@pytest.fixture
def waits(monkeypatch):
    """Every time.sleep of the retry policy, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("headers", [
    {"retry-after": "3600"},
    {"retry-after-ms": "3600000"},
    {"retry-after": "86400", "retry-after-ms": "86400000"},
])
def test_a_long_retry_after_is_waited_at_most_sixty_seconds(waits, status, headers):
    """Catches: ``retry-after: 3600`` honoured in full, pausing a sweep for an hour (or six)."""
    make_retry(2, resend_after_send=True).sleep(answer(status, headers))
    assert waits == [RETRY_AFTER_MAX] and RETRY_AFTER_MAX == 60


def test_a_retry_after_date_hours_ahead_is_capped_too(waits):
    """Catches: the HTTP-date form of Retry-After escaping the cap."""
    later = email.utils.formatdate(time.time() + 6 * 3600, usegmt=True)
    make_retry(2, resend_after_send=True).sleep(answer(503, {"retry-after": later}))
    assert len(waits) == 1 and 0 < waits[0] <= RETRY_AFTER_MAX


def test_a_429s_pause_of_the_whole_sweep_is_capped_too(waits):
    """Catches: the shared gate paused for the uncapped Retry-After (every worker waits an hour)."""
    paused: list[float] = []
    gate = SimpleNamespace(pause=paused.append, acquire=lambda: 0.0)
    make_retry(2, resend_after_send=True, gate=gate).sleep(answer(429, {"retry-after": "3600"}))
    assert paused == [RETRY_AFTER_MAX] and waits == [RETRY_AFTER_MAX]


def read_error() -> ReadTimeoutError:
    return ReadTimeoutError(None, "/v1/threads/runs", "Read timed out.")


@pytest.mark.parametrize("url", [
    "/v1/threads/runs", "/v1/threads/runs/", "/x/../v1/threads/runs", "/./v1/threads/runs",
    "/v1/threads/run%73", "/proxy/prefix/v1/threads/runs?x=1", "http://gateway.example/v1/threads/runs",
])
@pytest.mark.parametrize("error", [read_error(), ProtocolError("Connection aborted.")])
def test_the_policy_never_resends_a_create_that_may_have_arrived_whatever_its_url(url, error):
    """Catches: read retries decided by which URL prefix an adapter was mounted on, so a create
    reached by a redirect or an odd base URL spelling was re-sent after it may have arrived."""
    policy = make_retry(2, resend_after_send=True)
    with pytest.raises((MaxRetryError, type(error))):
        policy.increment("POST", url, error=error)


@pytest.mark.parametrize("method, url", [
    ("GET", "/v1/threads/runs"), ("GET", "/v1/threads/thread_1/runs/run_1"),
    ("POST", "/v1/threads/thread_1/runs/run_1/cancel"),
])
def test_other_requests_keep_their_read_retries(method, url):
    """Catches: the create rule spreading to polls and cancels, which are safe to send again."""
    policy = make_retry(2, resend_after_send=True)
    assert policy.increment(method, url, error=read_error()).read == 1


def test_a_create_is_still_retried_on_a_connect_failure_and_a_retryable_answer():
    """Catches: the create rule also refusing retries that cannot start a second run."""
    from urllib3.exceptions import ConnectTimeoutError
    policy = make_retry(2, resend_after_send=True)
    assert policy.increment("POST", "/v1/threads/runs", error=ConnectTimeoutError()).connect == 1
    assert policy.is_retry("POST", 503) and policy.increment(
        "POST", "/v1/threads/runs", response=SimpleNamespace(status=503, get_redirect_location=lambda: None)
    ).status == 1
