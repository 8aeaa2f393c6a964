"""Streaming (``"stream": true``): SSE framing, event order, deltas, pacing, endings."""
from __future__ import annotations

import json
import time

import requests

from threadrun.server import echo_reply, local_server

HAPPY = ["thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
         "thread.run.step.created", "thread.run.step.in_progress", "thread.message.created",
         "thread.message.in_progress"]
ENDING = ["thread.message.completed", "thread.run.step.completed", "thread.run.completed", "done"]


def test_stream_events_come_in_the_spec_order_and_end_with_done(api):
    assistant = api.assistant()
    events = api.stream(api.run_body(assistant["id"], "Stream me", temperature=1.5))
    names = [name for name, _ in events]
    deltas = [data for name, data in events if name == "thread.message.delta"]
    assert names == HAPPY + ["thread.message.delta"] * len(deltas) + ENDING
    assert len(deltas) >= 2
    assert events[-1] == ("done", "[DONE]")


def test_stream_deltas_concatenate_to_the_echo_reply_and_match_the_stored_message(api):
    assistant = api.assistant()
    events = api.stream(api.run_body(assistant["id"], "Stream me", temperature=1.5))
    text = "".join(d["delta"]["content"][0]["text"]["value"] for n, d in events if n == "thread.message.delta")
    assert text == echo_reply([{"role": "user", "content": "Stream me"}], None, "gpt-4o", 1.5)
    completed = dict(events)["thread.message.completed"]
    assert completed["content"][0]["text"]["value"] == text
    run = dict(events)["thread.run.completed"]
    assert run["status"] == "completed" and run["usage"]["completion_tokens"] > 0
    stored = api.messages(run["thread_id"])["data"][0]
    assert stored["id"] == completed["id"] and stored["content"] == completed["content"]
    assert all(d["id"] == completed["id"] for n, d in events if n == "thread.message.delta")


def test_stream_run_snapshots_show_each_status(api):
    events = api.stream(api.run_body(api.assistant()["id"]))
    statuses = [d["status"] for n, d in events if n.startswith("thread.run.") and ".step." not in n]
    assert statuses == ["queued", "queued", "in_progress", "completed"]


def test_stream_deltas_are_spread_over_the_latency(make_api):
    latency = 2.0  # long enough that scheduling delays on a loaded machine stay small beside it
    with local_server(latency=latency) as server:
        api = make_api(server)
        body = {**api.run_body(api.assistant()["id"]), "stream": True}
        start, times = time.monotonic(), []
        with api.session.post(server.url + "/threads/runs", json=body, stream=True) as response:
            for line in response.iter_lines(chunk_size=1):
                if line == b"event: thread.message.delta":
                    times.append(time.monotonic() - start)
                if line == b"event: done":
                    times.append(time.monotonic() - start)
        # the first delta comes early (~latency/8 for this reply), not in a burst at the end ...
        assert times[0] < 0.75 * latency and times[-1] - times[0] >= 0.5 * latency, times
        # ... and the stream lasts the run's whole latency
        assert times[-1] >= 0.95 * latency, times
        assert len(times) >= 3


def test_stream_with_max_completion_tokens_ends_incomplete(api):
    body = api.run_body(api.assistant()["id"], "w " * 300, max_completion_tokens=256)
    names = [n for n, _ in api.stream(body)]
    assert names[-4:] == ["thread.message.incomplete", "thread.run.step.completed",
                          "thread.run.incomplete", "done"]


def test_stream_cancelled_midway_ends_with_run_cancelled(make_api):
    with local_server(latency=1.0) as server:
        api = make_api(server)
        body = {**api.run_body(api.assistant()["id"]), "stream": True}
        names, cancelled, created = [], None, None
        with requests.post(server.url + "/threads/runs", json=body, stream=True, timeout=5) as response:
            for line in response.iter_lines(chunk_size=1, decode_unicode=True):
                if line.startswith("event: "):
                    names.append(line[7:])
                if line.startswith("data: {") and names[-1] == "thread.message.delta" and not cancelled:
                    cancelled = api.post(api.run_path(created) + "/cancel")
                if line.startswith("data: {") and names[-1] == "thread.run.created":
                    created = json.loads(line[6:])
        assert cancelled is not None and cancelled.status_code == 200
        assert names[-4:] == ["thread.message.incomplete", "thread.run.step.cancelled",
                              "thread.run.cancelled", "done"]
        assert "thread.run.completed" not in names
        assert api.get(api.run_path(created)).json()["status"] == "cancelled"


def test_failed_run_streams_failed_ending_without_message(make_api):
    with local_server(fault="script=failed,route=create") as server:
        api = make_api(server)
        events = api.stream(api.run_body(api.assistant()["id"]))
        names = [n for n, _ in events]
        assert names[-3:] == ["thread.run.step.failed", "thread.run.failed", "done"]
        assert not any(n.startswith("thread.message") for n in names)
        assert dict(events)["thread.run.failed"]["last_error"]["code"] == "server_error"
