"""Issue 24 point 5, on echo: an unmodified Assistants program (tests/programs/assistants_weather.py,
written against the openai SDK) runs against ``threadrun serve`` with nothing changed but
``OPENAI_BASE_URL``; what it saw, and every object it made, checked against the spec."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import spec_schema
from conftest import serve, stop

from threadrun.server import echo_reply

pytest.importorskip("openai")

PROGRAM = Path(__file__).resolve().parent.parent / "programs" / "assistants_weather.py"



def check(name: str, instance: object) -> None:
    """Assert ``instance`` validates against spec schema ``name``."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def test_an_unmodified_sdk_program_runs_its_tool_loop_polled_and_streamed_on_serve(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "THREADRUN_"))}
    env["THREADRUN_HOME"] = str(tmp_path / "home")
    server, url = serve("--default-provider", "echo", env=env)
    try:
        done = subprocess.run([sys.executable, str(PROGRAM)], capture_output=True, text=True, timeout=120,
                              env={**env, "OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-anything"})
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout)
        objects = {"assistant": requests.get(f"{url}/assistants/{seen['assistant_id']}", timeout=5).json(),
                   "thread": requests.get(f"{url}/threads/{seen['thread_id']}", timeout=5).json(),
                   "messages": requests.get(f"{url}/threads/{seen['thread_id']}/messages", timeout=5).json(),
                   "runs": requests.get(f"{url}/threads/{seen['thread_id']}/runs", timeout=5).json()}
        steps = [requests.get(f"{url}/threads/{seen['thread_id']}/runs/{run_id}/steps", timeout=5).json()
                 for run_id, _ in seen["runs"]]
    finally:
        stop(server)
    assert seen["polled"] == ["requires_action", "completed"]
    assert [s[:2] for s in seen["steps"]] == [["tool_calls", "completed"], ["message_creation", "completed"]]
    assert seen["usage"] == sum(s[2] for s in seen["steps"])
    events = seen["events"]
    assert events.count("on_tool_call_created:get_weather") == 1
    assert events.count("on_tool_call_done:get_weather") == 1
    assert events[:8] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                          "thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.delta",
                          "on_tool_call_created:get_weather", "thread.run.requires_action"]
    assert events[8:10] == ["thread.run.step.completed", "thread.run.queued"]  # the submit's stream
    # the handler submits inside on_event (as OpenAI's guide does): the SDK calls on_tool_call_done
    # for the requires_action event once on_event, and so the whole submitted stream, returned
    assert events[-3:] == ["thread.run.step.completed", "thread.run.completed", "on_tool_call_done:get_weather"]
    assert events.count("thread.run.requires_action") == 1
    paris = "22 C and sunny in What does get_weather say for Paris?"
    rome = "22 C and sunny in And get_weather for Rome?"
    reply = [echo_reply([{"role": "user", "content": out}], None, "gpt-4o", 1.0) for out in (paris, rome)]
    assert seen["messages"] == [["user", "What does get_weather say for Paris?"], ["assistant", reply[0]],
                                ["user", "And get_weather for Rome?"], ["assistant", reply[1]]]
    assert seen["streamed_text"] == reply[1]
    assert [status for _, status in seen["runs"]] == ["completed", "completed"]
    for name, schema in (("assistant", "AssistantObject"), ("thread", "ThreadObject"),
                         ("messages", "ListMessagesResponse"), ("runs", "ListRunsResponse")):
        check(schema, objects[name])
    for page in steps:
        check("ListRunStepsResponse", page)
        assert [s["type"] for s in page["data"]] == ["message_creation", "tool_calls"]
