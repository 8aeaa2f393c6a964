"""The tool loop: ``submit_tool_outputs`` continues the run's conversation with the tool results,
round after round within a step cap; the run's usage is the sum over its rounds, each step has
its own. Offline on echo, then the chat and responses engines against llmock (a server nobody
here wrote, which answers in text once the conversation ends with a tool result) and our
stand-in upstream (for the reasoning and cached tokens it reports)."""
from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import pytest
import requests
import spec_schema
from conftest import parse_sse
from standin_upstream import StandIn
from upstreams.servers import UpstreamUnavailable, mock_server

from threadrun.server import echo_reply, local_server

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK = "What does get_weather say for Paris?"


def check(name: str, instance: Any) -> None:
    """Assert ``instance`` validates against spec schema ``name``."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def until(api: Any, run: dict, statuses: tuple[str, ...], timeout: float = 10) -> dict:
    """Poll the run until its status is one of ``statuses``; the RunObject."""
    deadline = time.monotonic() + timeout
    while True:
        current = api.get(api.run_path(run)).json()
        if current["status"] in statuses or time.monotonic() > deadline:
            check("RunObject", current)
            return current
        time.sleep(0.01)


def start(api: Any, assistant_id: str, text: str = ASK) -> dict:
    """A run on a new thread holding ``text``, waited for until it asks for tools (or ends)."""
    tid = api.post("/threads", {"messages": [{"role": "user", "content": text}]}).json()["id"]
    run = api.post(f"/threads/{tid}/runs", {"assistant_id": assistant_id}).json()
    return until(api, run, ("requires_action", "completed", "failed", "incomplete", "expired"))


def submit(api: Any, run: dict, outputs: list[str], stream: bool = False) -> Any:
    """Submit one output per pending call, in order."""
    calls = run["required_action"]["submit_tool_outputs"]["tool_calls"]
    body = {"tool_outputs": [{"tool_call_id": c["id"], "output": o} for c, o in zip(calls, outputs)]}
    if stream:
        body["stream"] = True
    return api.post(api.run_path(run) + "/submit_tool_outputs", body, stream=stream)


def steps(api: Any, run: dict) -> list[dict]:
    """The run's steps, oldest first, checked against the spec."""
    page = api.get(api.run_path(run) + "/steps", params={"order": "asc"}).json()
    check("ListRunStepsResponse", page)
    return page["data"]


def summed(items: list[dict]) -> tuple[int, int, int]:
    """(prompt, completion, total) summed over usages."""
    return tuple(sum(u[k] for u in items) for k in ("prompt_tokens", "completion_tokens", "total_tokens"))


def test_echo_continues_with_the_outputs_and_sums_usage_over_its_steps(api):
    assistant = api.assistant(tools=[TOOL])
    waiting = start(api, assistant["id"])
    assert waiting["status"] == "requires_action"
    answer = submit(api, waiting, ["22 C and sunny"])
    assert answer.status_code == 200 and answer.json()["status"] == "queued"
    check("RunObject", answer.json())
    done = until(api, waiting, ("completed",))
    assert done["status"] == "completed" and done["required_action"] is None
    reply = api.messages(done["thread_id"])["data"][0]["content"][0]["text"]["value"]
    assert reply == echo_reply([{"role": "user", "content": "22 C and sunny"}], None, "gpt-4o", 1.0)
    tool_step, message_step = steps(api, done)
    assert tool_step["type"] == "tool_calls" and tool_step["status"] == "completed"
    (call,) = tool_step["step_details"]["tool_calls"]
    assert call["function"]["output"] == "22 C and sunny" and call["function"]["name"] == "get_weather"
    assert message_step["type"] == "message_creation" and message_step["status"] == "completed"
    assert tool_step["usage"]["prompt_tokens"] > 0 and message_step["usage"]["prompt_tokens"] > 0
    usage = done["usage"]
    assert summed([tool_step["usage"], message_step["usage"]]) == (
        usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])
    assert message_step["usage"]["prompt_tokens"] > tool_step["usage"]["prompt_tokens"]  # it saw the output


def test_a_streamed_submit_sends_the_tool_step_completed_then_the_next_round(api):
    waiting = start(api, api.assistant(tools=[TOOL])["id"])
    with submit(api, waiting, ["sunny"], stream=True) as response:
        assert response.status_code == 200
        events = parse_sse(response.iter_lines(decode_unicode=True))
    names = [name for name, _ in events]
    assert names[:6] == ["thread.run.step.completed", "thread.run.queued", "thread.run.in_progress",
                         "thread.run.step.created", "thread.run.step.in_progress", "thread.message.created"]
    assert names[-4:] == ["thread.message.completed", "thread.run.step.completed", "thread.run.completed", "done"]
    assert events[0][1]["type"] == "tool_calls" and events[0][1]["step_details"]["tool_calls"][0][
        "function"]["output"] == "sunny"
    assert events[-2][1]["usage"]["total_tokens"] == summed([events[0][1]["usage"], events[-3][1]["usage"]])[2]
    for name, data in events:
        check("AssistantStreamEvent", {"event": name, "data": data})


def test_rounds_go_on_while_outputs_ask_and_stop_incomplete_past_the_cap(make_api):
    with local_server() as server:
        api = make_api(server)
        server.app.store.max_rounds = 2
        run = start(api, api.assistant(tools=[TOOL])["id"])
        for round_ in (1, 2):
            assert run["status"] == "requires_action", (round_, run)
            submit(api, run, ["now call get_weather again"])
            run = until(api, run, ("requires_action", "incomplete", "completed"))
        assert run["status"] == "incomplete" and "max_steps" in run["incomplete_details"]["message"]
        assert "2 tool rounds" in run["incomplete_details"]["message"]
        kinds = [s["type"] for s in steps(api, run)]
        assert kinds == ["tool_calls", "tool_calls", "message_creation"]
        assert server.server_errors == []


def test_outputs_are_refused_unless_they_answer_exactly_the_pending_calls(api):
    assistant = api.assistant(tools=[TOOL])
    waiting = start(api, assistant["id"])
    path = api.run_path(waiting) + "/submit_tool_outputs"
    call_id = waiting["required_action"]["submit_tool_outputs"]["tool_calls"][0]["id"]
    for body, words in (({"tool_outputs": []}, "Missing tool outputs"),
                        ({"tool_outputs": [{"tool_call_id": "call_nope", "output": "x"}]}, "call_nope"),
                        ({"tool_outputs": [{"tool_call_id": call_id, "output": "x"}] * 2}, "twice"),
                        ({"tool_outputs": [{"tool_call_id": call_id, "output": "x" * 256_001}]},
                         "at most 256000"),
                        ({"tool_outputs": "x"}, "tool_outputs"), ({}, "tool_outputs")):
        answer = api.post(path, body)
        assert answer.status_code == 400 and words in answer.json()["error"]["message"], (body, answer.text)
    assert api.get(api.run_path(waiting)).json()["status"] == "requires_action"  # still waiting
    done = start(api, assistant["id"], text="no tools named here")
    assert done["status"] == "completed"
    late = api.post(api.run_path(done) + "/submit_tool_outputs",
                    {"tool_outputs": [{"tool_call_id": "call_x", "output": "x"}]})
    assert late.status_code == 400 and "do not accept tool outputs" in late.json()["error"]["message"]


# -- real engines ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llmock_base(tmp_path_factory):
    """One llmock for the module (a server nobody here wrote)."""
    with contextlib.ExitStack() as stack:
        try:
            yield stack.enter_context(mock_server(tmp_dir=tmp_path_factory.mktemp("llmock")))[0]
        except UpstreamUnavailable as exc:
            pytest.fail(f"llmock is in the test extras: {exc}", pytrace=False)


@pytest.fixture
def llm(isolated, monkeypatch, llmock_base):
    """Providers ``llm`` (chat) and ``llm-r`` (responses) on a freshly reset llmock; its admin URL."""
    monkeypatch.setenv("LLM_KEY", "sk-llmock-any")
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        f'[providers.llm]\nbase_url = "{llmock_base}"\napi = "chat"\nkey_env = "LLM_KEY"\nlocal = true\n'
        f'check_models = false\n\n'
        f'[providers.llm-r]\nbase_url = "{llmock_base}"\napi = "responses"\nkey_env = "LLM_KEY"\n'
        f'local = true\ncheck_models = false\n')
    admin = llmock_base.removesuffix("/v1") + "/_llmock"
    requests.post(admin + "/reset", timeout=10).raise_for_status()
    yield admin
    requests.post(admin + "/reset", timeout=10)


def journal(admin: str) -> list[dict]:
    """The request bodies llmock received, oldest first."""
    entries = requests.get(admin + "/requests", timeout=10).json()
    entries = entries.get("requests", entries) if isinstance(entries, dict) else entries
    return [e.get("body") or e.get("json") or {} for e in entries]


@pytest.mark.parametrize("stream", [False, True], ids=["polled", "streamed"])
def test_the_chat_engine_sends_the_calls_and_tool_messages_to_llmock_and_sums_its_usage(api, llm, stream):
    assistant = api.assistant(model="llm:gpt-4o-mini", tools=[TOOL])
    waiting = start(api, assistant["id"], "What is the weather in Paris?")
    assert waiting["status"] == "requires_action", waiting
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"]["name"] == "get_weather" and "city" in json.loads(call["function"]["arguments"])
    answer = submit(api, waiting, ["22 C and sunny"], stream=stream)
    assert answer.status_code == 200
    answer.close()
    done = until(api, waiting, ("completed", "failed"))
    assert done["status"] == "completed", done
    first, second = [b for b in journal(llm) if "messages" in b][-2:]
    assistant_turn, tool_turn = second["messages"][-2:]
    assert assistant_turn["role"] == "assistant" and assistant_turn["tool_calls"][0]["id"] == call["id"]
    assert assistant_turn["tool_calls"][0]["function"] == {"name": "get_weather",
                                                           "arguments": call["function"]["arguments"]}
    assert tool_turn == {"role": "tool", "tool_call_id": call["id"], "content": "22 C and sunny"}
    assert second["messages"][:-2] == first["messages"]
    tool_step, message_step = steps(api, done)
    assert tool_step["usage"]["prompt_tokens"] > 0 and message_step["usage"]["prompt_tokens"] > 0
    assert summed([tool_step["usage"], message_step["usage"]]) == tuple(
        done["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens"))
    assert api.messages(done["thread_id"])["data"][0]["role"] == "assistant"


def test_the_responses_engine_sends_function_call_and_output_items_to_llmock(api, llm):
    assistant = api.assistant(model="llm-r:gpt-4o-mini", tools=[TOOL])
    waiting = start(api, assistant["id"], "What is the weather in Paris?")
    assert waiting["status"] == "requires_action", waiting
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    submit(api, waiting, ["22 C and sunny"])
    done = until(api, waiting, ("completed", "failed"))
    assert done["status"] == "completed", done
    second = [b for b in journal(llm) if "input" in b][-1]
    function_call, output = second["input"][-2:]
    assert function_call == {"type": "function_call", "call_id": call["id"], "name": "get_weather",
                             "arguments": call["function"]["arguments"]}
    assert output == {"type": "function_call_output", "call_id": call["id"], "output": "22 C and sunny"}


def test_reasoning_and_cached_tokens_are_summed_over_the_rounds(api, isolated, monkeypatch):
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    with StandIn(tool_call=True) as standin:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(f'[providers.standin]\nbase_url = "{standin.url}"\napi = "chat"\n'
                                             'key_env = "STANDIN_KEY"\n')
        waiting = start(api, api.assistant(model="standin:m", tools=[TOOL])["id"])
        assert waiting["status"] == "requires_action", waiting
        standin.tool_call = False  # the second call answers in text
        submit(api, waiting, ["sunny"])
        done = until(api, waiting, ("completed", "failed"))
    assert done["status"] == "completed", done
    assert len(standin.requests) == 2
    one = (7, standin.completion_tokens, 7 + standin.completion_tokens)  # the stand-in's usage per call
    usage = done["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == tuple(2 * n for n in one)
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 4}
    assert usage["prompt_tokens_details"] == {"cached_tokens": 6}
    assert [summed([s["usage"]]) for s in steps(api, done)] == [one, one]


@pytest.mark.parametrize("stream", [False, True], ids=["polled", "streamed"])
def test_text_then_a_tool_call_is_a_message_step_then_a_tool_calls_step(api, llm, stream):
    behaviour = {"type": "reply", "text": "Let me check.",
                 "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    requests.post(llm + "/scenario", json={"behaviors": [behaviour]}, timeout=10).raise_for_status()
    assistant = api.assistant(model="llm:gpt-4o-mini", tools=[TOOL])
    tid = api.post("/threads", {"messages": [{"role": "user", "content": "Weather in Paris?"}]}).json()["id"]
    body = {"assistant_id": assistant["id"], "stream": stream}
    with api.session.post(f"{api.srv.url}/threads/{tid}/runs", json=body, stream=stream, timeout=10) as answer:
        assert answer.status_code == 200
        events = parse_sse(answer.iter_lines(decode_unicode=True)) if stream else []
        run = events[1][1] if stream else answer.json()
    waiting = until(api, run, ("requires_action", "failed"))
    assert waiting["status"] == "requires_action", waiting
    said, asked = steps(api, waiting)
    assert said["type"] == "message_creation" and said["status"] == "completed"
    assert asked["type"] == "tool_calls" and asked["status"] == "in_progress"
    (message,) = [m for m in api.messages(tid)["data"] if m["role"] == "assistant"]
    assert message["content"][0]["text"]["value"] == "Let me check."
    assert said["step_details"]["message_creation"]["message_id"] == message["id"]
    if stream:
        names = [name for name, _ in events]
        assert names[-7:] == ["thread.message.completed", "thread.run.step.completed", "thread.run.step.created",
                              "thread.run.step.in_progress", "thread.run.step.delta",
                              "thread.run.requires_action", "done"]
        assert events[-6][1]["id"] == said["id"] and events[-5][1]["id"] == asked["id"]
        for name, data in events:
            check("AssistantStreamEvent", {"event": name, "data": data})
    submit(api, waiting, ["sunny"])
    done = until(api, waiting, ("completed", "failed"))
    assert done["status"] == "completed", done
    assert [s["type"] for s in steps(api, done)] == ["message_creation", "tool_calls", "message_creation"]
    assistant_turn = [b for b in journal(llm) if "messages" in b][-1]["messages"][-2]
    assert assistant_turn["content"] == "Let me check." and assistant_turn["tool_calls"][0]["function"][
        "name"] == "get_weather"


def test_a_run_cancelled_in_its_second_round_keeps_the_first_rounds_usage_and_step(make_api):
    with local_server() as server:
        api = make_api(server)
        waiting = start(api, api.assistant(tools=[TOOL])["id"])
        first = steps(api, waiting)[0]
        server.latency = 30.0  # the next round is still going when the cancel comes
        submit(api, waiting, ["sunny"])
        assert until(api, waiting, ("in_progress",))["status"] == "in_progress"
        assert api.post(api.run_path(waiting) + "/cancel").json()["status"] == "cancelling"
        cancelled = until(api, waiting, ("cancelled",))
        tool_step, message_step = steps(api, cancelled)
        assert (tool_step["type"], tool_step["status"]) == ("tool_calls", "completed")
        assert (message_step["type"], message_step["status"]) == ("message_creation", "cancelled")
        assert message_step["usage"]["completion_tokens"] == 0  # echo's reply never came
        assert cancelled["usage"]["prompt_tokens"] == tool_step["usage"]["prompt_tokens"] + message_step[
            "usage"]["prompt_tokens"]
        assert cancelled["usage"]["completion_tokens"] == tool_step["usage"]["completion_tokens"] > 0
        assert first["id"] == tool_step["id"]
        assert server.server_errors == []


def test_an_injected_requires_action_run_goes_on_after_its_outputs(api, srv):
    srv.faults.script(["requires_action"], route="create")
    run = api.create_run(api.assistant(tools=[TOOL])["id"], text="hi")
    waiting = until(api, run, ("requires_action",))
    assert waiting["status"] == "requires_action"
    assert submit(api, waiting, ["from the fault"]).status_code == 200
    done = until(api, waiting, ("completed",))
    reply = api.messages(done["thread_id"])["data"][0]["content"][0]["text"]["value"]
    assert done["status"] == "completed"
    assert reply == echo_reply([{"role": "user", "content": "from the fault"}], None, "gpt-4o", 1.0)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}],
                         ids=["required", "named"])
def test_a_forced_tool_choice_holds_for_the_first_round_only(api, isolated, monkeypatch, choice):
    # The reference: "required means the model must call one or more tools before responding to
    # the user"; a choice forced on every round would make the model call again until the cap.
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    with StandIn(tool_call=True) as standin:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(f'[providers.standin]\nbase_url = "{standin.url}"\napi = "chat"\n'
                                             'key_env = "STANDIN_KEY"\n')
        assistant = api.assistant(model="standin:m", tools=[TOOL])
        tid = api.post("/threads", {"messages": [{"role": "user", "content": ASK}]}).json()["id"]
        run = api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"], "tool_choice": choice}).json()
        waiting = until(api, run, ("requires_action", "completed", "failed"))
        assert waiting["status"] == "requires_action", waiting
        standin.tool_call = False
        submit(api, waiting, ["sunny"])
        done = until(api, waiting, ("completed", "failed"))
    assert done["status"] == "completed" and done["tool_choice"] == choice  # the run keeps its setting
    first, second = [r["body"] for r in standin.requests if r["path"].endswith("/chat/completions")]
    assert first["tool_choice"] == choice
    assert "tool_choice" not in second and second["tools"] == first["tools"]  # auto: the model may answer
