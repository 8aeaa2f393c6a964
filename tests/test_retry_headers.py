"""Issue 15, point 4: the client waits what the server asks, no less and not much more.

Planted bugs these tests catch: polling that ignores ``openai-poll-after-ms`` (it polls at its own
``poll_interval``), and a 429 wait that ignores ``retry-after-ms`` (it waits ``retry-after`` or
its own backoff instead). The local server always sends both retry headers with the same value,
so here a stand-in sends each header alone, or both with different values, and the client's own
fallback (backoff, poll interval) is set far from what the header asks: then a client that
ignores the header is off by seconds, in one direction or the other.

Waits are measured as the server saw them: the gap between the arrival of the answered request
and of the next one (arrival times recorded by the server, ``time.monotonic()``). The gap can
only be longer than the wait (the answer travels, the client reads it), never shorter, so the
lower bounds are exact. The upper bounds are generous on purpose (the wait plus 2 s or more, on
a loaded 2-core machine), and each stays well below what a client ignoring the header would wait.
"""
from __future__ import annotations

import pytest
from standin_assistants import ASSISTANT_ID, StandIn

from threadrun.client import Client
from threadrun.server import local_server

BODY = {"assistant_id": ASSISTANT_ID, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
MODES = {"streamed": True, "polled": False}
#: Scheduling slack allowed above a wait on a loaded machine (each case keeps the wrong wait
#: at least this far beyond the bound, so a client ignoring the header still fails).
SLACK_S = 2.0


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


def run_against(srv: StandIn, stream: bool, **client_options):
    client = Client(base_url=srv.url, **client_options)
    try:
        result = client.run(BODY, stream=stream)
    finally:
        client.close()
    assert result.status == "completed", result.error
    assert result.reply == "stand-in reply"
    return result


# -- 429: each retry header alone ------------------------------------------------------------------

RETRY_CASES = {
    # name: (headers of the 429, client backoff base, lowest gap, highest gap)
    # retry-after-ms alone, our backoff 8 s (6-8 s with jitter): wait 0.3 s, not the backoff
    "ms_alone_short": ({"retry-after-ms": "300"}, 8.0, 0.3, 0.3 + SLACK_S),
    # retry-after-ms alone, no backoff of our own (0 s): wait the full 1.2 s
    "ms_alone_long": ({"retry-after-ms": "1200"}, 0.0, 1.2, 1.2 + SLACK_S),
    # both, disagreeing: retry-after-ms wins (as in the OpenAI SDKs): 0.3 s, not 5 s
    "ms_beats_seconds": ({"retry-after-ms": "300", "retry-after": "5"}, 0.0, 0.3, 0.3 + SLACK_S),
    # retry-after alone, whole seconds, our backoff 0: wait 2 s
    "seconds_alone": ({"retry-after": "2"}, 0.0, 2.0, 2.0 + SLACK_S),
    # retry-after alone, fractional (the SDKs read it), our backoff 8 s: wait 0.5 s
    "fractional_seconds_alone": ({"retry-after": "0.5"}, 8.0, 0.5, 0.5 + SLACK_S),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", RETRY_CASES)
def test_a_429_is_retried_after_what_its_retry_header_asks(case, mode):
    """Planted bug: a 429 wait that ignores ``retry-after-ms`` (waiting ``retry-after``, 5 s, or
    the client's own backoff, 6-8 s, instead of 0.3 s; or not waiting the 1.2 s asked when the
    client's own backoff is 0). Each header is sent alone here, or both with different values."""
    headers, backoff, low, high = RETRY_CASES[case]
    with StandIn(create_answers=[(429, headers)]) as srv:
        result = run_against(srv, MODES[mode], backoff=backoff, max_retries=2)
        creates = srv.creates()
    assert len(creates) == 2, creates  # the 429, then the create that worked
    assert result.retries == 1
    (gap,) = gaps(creates)
    assert low <= gap <= high, f"waited {gap:.3f} s after a 429 with {headers}; expected {low}-{high} s"


@pytest.mark.parametrize("mode", MODES)
def test_two_429s_in_a_row_each_wait_their_own_retry_after_ms(mode):
    """Planted bug: ``retry-after-ms`` ignored; the second 429 asks a different wait than the first
    (0.2 s then 0.9 s, our backoff 8 s), so each gap is checked on its own."""
    answers = [(429, {"retry-after-ms": "200"}), (429, {"retry-after-ms": "900"})]
    with StandIn(create_answers=answers) as srv:
        result = run_against(srv, MODES[mode], backoff=8.0, max_retries=3)
        creates = srv.creates()
    assert len(creates) == 3 and result.retries == 2
    first, second = gaps(creates)
    assert 0.2 <= first <= 0.2 + SLACK_S, first
    assert 0.9 <= second <= 0.9 + SLACK_S, second


# -- polling: openai-poll-after-ms ------------------------------------------------------------------

POLL_CASES = {
    # name: (openai-poll-after-ms, client poll_interval, lowest gap, highest gap)
    "zero_ms_means_now": ("0", 6.0, 0.0, SLACK_S),      # our interval 6 s: poll at once
    "short": ("150", 6.0, 0.15, 0.15 + SLACK_S),        # our interval 6 s: 0.15 s
    "long": ("1500", 0.02, 1.5, 1.5 + SLACK_S),          # our interval 0.02 s: wait 1.5 s
}


@pytest.mark.parametrize("case", POLL_CASES)
def test_polls_are_spaced_by_openai_poll_after_ms(case):
    """Planted bug: polling that ignores ``openai-poll-after-ms`` and polls every
    ``poll_interval`` (6 s where the server asks 0 or 0.15 s; 0.02 s where it asks 1.5 s)."""
    value, interval, low, high = POLL_CASES[case]
    with StandIn(polls_in_progress=2, poll_headers={"openai-poll-after-ms": value}) as srv:
        run_against(srv, False, poll_interval=interval)
        polls = srv.polls_seen()
    assert len(polls) == 3, polls  # in progress, in progress, completed
    for gap in gaps(polls):
        assert low <= gap <= high, f"polled {gap:.3f} s apart, server asked {value} ms; expected {low}-{high} s"


@pytest.mark.parametrize("value, interval, low", [("100", 6.0, 0.1), ("1200", 0.02, 1.2)])
def test_a_stream_that_breaks_off_falls_back_to_polls_spaced_by_poll_after_ms(value, interval, low):
    """Planted bug: polling that ignores ``openai-poll-after-ms``, on the streamed path: the
    stream ends after ``thread.run.created``, and the client polls on as the server asks
    (0.1 s with an interval of 6 s; 1.2 s with an interval of 0.02 s)."""
    with StandIn(stream_events=1, polls_in_progress=2,
                 poll_headers={"openai-poll-after-ms": value}) as srv:
        result = run_against(srv, True, poll_interval=interval)
        polls = srv.polls_seen()
    assert result.extra.get("reply_from_stream") is None  # the reply was read after polling
    assert len(polls) == 3, polls
    for gap in gaps(polls):
        assert low <= gap <= low + SLACK_S, f"polled {gap:.3f} s apart, server asked {value} ms"


def test_without_poll_after_ms_the_client_polls_at_its_own_interval():
    """The fallback the header overrides: no header → ``poll_interval`` (0.4 s) between polls."""
    with StandIn(polls_in_progress=2) as srv:
        run_against(srv, False, poll_interval=0.4)
        polls = srv.polls_seen()
    assert len(polls) == 3
    for gap in gaps(polls):
        assert 0.4 <= gap <= 0.4 + SLACK_S, gap


def test_the_local_servers_poll_after_ms_is_honoured_both_ways():
    """Planted bug: polling that ignores ``openai-poll-after-ms``. Against threadrun's own server
    (which sends 250 ms while the 1.2 s run is active), with a client interval of 6 s: every gap
    between polls is at least 0.25 s and far below 6 s."""
    with local_server(latency=1.2, poll_after_ms=250) as srv:
        client = Client(base_url=srv.url, poll_interval=6.0)
        try:
            asst = client.create_assistant("gpt-4o-mini")["id"]
            result = client.run({**BODY, "assistant_id": asst}, stream=False)
        finally:
            client.close()
        polls = [r.time for r in srv.requests if r.method == "GET" and "/runs/" in r.path]
    assert result.status == "completed", result.error
    assert len(polls) >= 2, polls
    for gap in gaps(polls):
        assert 0.25 <= gap <= 0.25 + SLACK_S, gaps(polls)
