"""The ``requires_action`` run fault: a run that stops for tool outputs until cancelled or expired."""
from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import spec_schema
from conftest import parse_sse

from threadrun.server import local_server, objects
from threadrun.server.faults import RUN_KINDS, Faults, parse_spec

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def check(name: str, instance: object) -> None:
    """Assert ``instance`` validates against spec schema ``name``."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def wait_for(api, run: dict, status: str, timeout: float = 5.0) -> dict:
    """Poll until the run has ``status`` (or the timeout passes); return the last RunObject."""
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(api.run_path(run)).json()
        if current["status"] == status or time.monotonic() > deadline:
            return current
        time.sleep(0.01)


def test_the_kind_is_in_the_grammar_and_scripts():
    assert "requires_action" in RUN_KINDS
    assert parse_spec("requires_action=0.5,failed=0.5").probs["requires_action"] == 0.5
    assert parse_spec("script=requires_action|ok").script == ["requires_action", "ok"]
    with pytest.raises(ValueError, match="add up"):
        parse_spec("requires_action=0.6,failed=0.6")
    with pytest.raises(ValueError, match="unexpected"):
        parse_spec("script=requires_action:x")
    faults = Faults("requires_action=1")
    assert faults.run_fault(faults.on_request("POST /threads/runs")).kind == "requires_action"


def test_polled_run_waits_with_a_tool_call_and_matches_the_spec(make_api):
    with local_server(latency=0.2) as server:
        api = make_api(server)
        server.faults.script(["requires_action", "ok"], route="create")
        run = api.create_run(text="weather in Paris?", tools=[TOOL])
        assert run["status"] == "queued" and run["required_action"] is None
        waiting = wait_for(api, run, "requires_action")
        assert waiting["status"] == "requires_action"
        action = waiting["required_action"]
        assert action["type"] == "submit_tool_outputs"
        (call,) = action["submit_tool_outputs"]["tool_calls"]
        assert call["id"].startswith("call_") and call["type"] == "function"
        assert call["function"]["name"] == "get_weather"
        assert json.loads(call["function"]["arguments"]) == {"query": "weather in Paris?"}
        assert waiting["usage"] is None and waiting["expires_at"] is not None
        assert waiting["started_at"] is not None and waiting["completed_at"] is None
        check("RunObject", waiting)
        time.sleep(0.1)
        answer = api.get(api.run_path(run))
        assert answer.json()["status"] == "requires_action"  # it stays there
        assert answer.json()["required_action"] == action  # same call id on every poll
        assert 10 <= int(answer.headers["openai-poll-after-ms"]) <= 1000
        assert api.messages(run["thread_id"], run_id=run["id"])["data"] == []
        assert api.wait(api.create_run())["status"] == "completed"  # the script moved on
        assert server.server_errors == []


def test_without_function_tools_the_call_names_a_placeholder(api, srv):
    srv.faults.script(["requires_action"], route="create")
    run = wait_for(api, api.create_run(tools=[{"type": "code_interpreter"}]), "requires_action")
    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert call["function"]["name"] == objects.PLACEHOLDER_TOOL
    check("RunObject", run)


def test_cancel_ends_it_cancelled_without_usage_of_a_reply(api, srv):
    srv.faults.script(["requires_action"], route="create")
    run = wait_for(api, api.create_run(), "requires_action")
    answer = api.post(api.run_path(run) + "/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
    assert answer.json()["required_action"] is None
    check("RunObject", answer.json())
    final = api.get(api.run_path(run))
    assert final.json()["status"] == "cancelled" and final.json()["cancelled_at"] is not None
    assert final.json()["required_action"] is None and final.json()["usage"]["completion_tokens"] == 0
    assert "openai-poll-after-ms" not in final.headers
    check("RunObject", final.json())
    assert api.messages(run["thread_id"])["data"][-1]["role"] == "user"
    assert api.post(api.run_path(run) + "/cancel").status_code == 400


def test_it_expires_at_expires_at(api, srv, monkeypatch):
    monkeypatch.setattr(objects, "EXPIRY_S", 0.3)
    srv.faults.script(["requires_action"], route="create")
    run = api.create_run()
    assert wait_for(api, run, "requires_action")["status"] == "requires_action"
    final = api.wait(run)
    assert final["status"] == "expired" and final["required_action"] is None
    assert final["expires_at"] is None
    check("RunObject", final)


def test_stream_ends_with_requires_action_then_done(api, srv):
    srv.faults.script(["requires_action"], route="create")
    events = api.stream(api.run_body(api.assistant(tools=[TOOL])["id"]))
    names = [name for name, _ in events]
    assert names == ["thread.created", "thread.run.created", "thread.run.queued",
                     "thread.run.in_progress", "thread.run.step.created",
                     "thread.run.step.in_progress", "thread.run.step.delta",
                     "thread.run.requires_action", "done"]
    assert events[-1][1] == "[DONE]"
    run = events[-2][1]
    assert run["status"] == "requires_action" and run["usage"] is None
    call = run["required_action"]["submit_tool_outputs"]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    step = events[-4][1]  # as the API streams it: no calls yet, then one delta per call
    assert step["type"] == "tool_calls" and step["status"] == "in_progress"
    assert step["step_details"]["tool_calls"] == []
    (delta,) = events[-3][1]["delta"]["step_details"]["tool_calls"]
    assert delta["index"] == 0 and delta["id"] == call["id"] and delta["function"]["output"] is None
    for name, data in events:
        check("AssistantStreamEvent", {"event": name, "data": data})
    assert api.get(api.run_path(run)).json()["status"] == "requires_action"


def test_stream_cancelled_before_the_tool_call_ends_cancelled(make_api):
    # the tool call is due 10 s after creation and the cancel goes 0.3 s after the run is seen,
    # so it lands first on any machine (1 s left a loaded one a race); the test lasts ~0.3 s
    with local_server(latency=10.0) as server:
        api = make_api(server)
        server.faults.script(["requires_action"], route="create")
        body = api.run_body(api.assistant()["id"])
        data: list[dict] = []  # the data lines read so far: thread, then the created run
        cancels: list[int] = []

        def cancel() -> None:
            run = data[1]
            path = f"/threads/{run['thread_id']}/runs/{run['id']}/cancel"
            cancels.append(requests.post(server.url + path, json={}, timeout=10).status_code)

        timer, lines = threading.Timer(0.3, cancel), []
        with api.session.post(server.url + "/threads/runs", json={**body, "stream": True},
                              stream=True, timeout=10) as response:
            for line in response.iter_lines(decode_unicode=True):  # read live, not all at once
                lines.append(line)
                if line.startswith("data:") and len(data) < 2:
                    data.append(json.loads(line[5:]))
                    if len(data) == 2:
                        timer.start()
        timer.join()
        assert cancels == [200]
        events = parse_sse(iter(lines))
        names = [name for name, _ in events]
        assert names[-3:] == ["thread.run.step.cancelled", "thread.run.cancelled", "done"]
        assert "thread.run.requires_action" not in names
        for name, data_ in events:
            check("AssistantStreamEvent", {"event": name, "data": data_})
