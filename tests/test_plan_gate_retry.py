"""Direct tests of the plan's grid, the Gate's pacing and the retry policy's header reading."""
from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from threadrun.http.gate import Gate
from threadrun.grid.plan import PENDING_ASSISTANT, make_plan, with_assistant
from threadrun.http.retry import RETRY_AFTER_MAX, make_retry
from threadrun.grid.thread import parse


def test_make_plan_is_model_major_then_effort_then_temperature_then_repeat():
    jobs = make_plan(parse("user: hi"), models=["gpt-4o", "gpt-4o-mini"], temperatures=[0.0, 1.0], repeat=2,
                     efforts=[None, "low"])
    coords = [(j.model, j.reasoning_effort, j.temperature, j.repeat) for j in jobs]
    a = "gpt-4o"
    assert coords[:5] == [(a, None, 0.0, 0), (a, None, 0.0, 1), (a, None, 1.0, 0),
                          (a, None, 1.0, 1), (a, "low", 0.0, 0)]
    assert len(jobs) == 16 and [j.index for j in jobs] == list(range(16))
    assert all(j.body["assistant_id"] == PENDING_ASSISTANT for j in jobs)
    assert jobs[2].body["model"] == a and jobs[2].body["temperature"] == 1.0


def test_make_plan_qualifies_models_and_with_assistant_picks_one_per_effort():
    jobs = make_plan(parse("user: hi"), models=["gpt-4o"], efforts=["low", "high"],
                     qualify=lambda m: "echo:" + m)
    assert [j.body["model"] for j in jobs] == ["echo:gpt-4o", "echo:gpt-4o"]
    real = with_assistant(jobs, {"low": "asst_low", "high": "asst_high"})
    assert [j.body["assistant_id"] for j in real] == ["asst_low", "asst_high"]
    assert jobs[0].body["assistant_id"] == PENDING_ASSISTANT  # the plan itself is unchanged


def test_gate_spaces_requests_by_the_rate_cap():
    gate = Gate(rpm=600)  # one every 0.1 s
    waits = [gate.acquire() for _ in range(4)]
    assert waits[0] == 0.0
    assert all(w >= 0.05 for w in waits[1:])


def test_gate_pause_holds_everyone_back_and_the_longest_pause_wins():
    gate = Gate()
    gate.pause(0.3)
    gate.pause(0.1)
    start = time.monotonic()
    gate.acquire()
    assert time.monotonic() - start >= 0.25 and gate.pauses == 2
    assert gate.acquire() < 0.05  # the pause is over


def response(headers: dict) -> SimpleNamespace:
    return SimpleNamespace(headers=headers, status=429)


@pytest.mark.parametrize("headers, expected", [
    ({"retry-after-ms": "250"}, 0.25),               # alone: read in milliseconds
    ({"retry-after": "2"}, 2.0),                      # alone: seconds
    ({"retry-after-ms": "300", "retry-after": "9"}, 0.3),  # ms first, as the SDKs do
    ({"retry-after": "3600"}, float(RETRY_AFTER_MAX)),    # capped
    ({"retry-after": "soon"}, None),                  # unreadable: our own backoff
])
def test_retry_reads_retry_after_ms_first_then_retry_after_capped(headers, expected):
    assert make_retry(2, resend_after_send=False).get_retry_after(response(headers)) == expected


def test_retry_never_resends_a_request_that_may_have_arrived_unless_told():
    assert make_retry(2, resend_after_send=False).read == 0
    assert make_retry(2, resend_after_send=True).read == 2
    assert make_retry(3, resend_after_send=False).status == 3
