"""An existing Assistants program, written against the official ``openai`` SDK for OpenAI's hosted
API, runs unchanged on ``threadrun serve``: only ``OpenAI(base_url=..., api_key=...)`` differs.

``legacy_program`` below is that program, a plain function of the base URL and the key. The
tests start ``threadrun serve`` as a subprocess and run it twice, recording every answer the SDK
reads and checking each against the SDK's own models and the spec (``sdk_wire``):

* on **echo** (the default provider): echo calls each function tool a message names, so every
  branch runs: ``create_and_poll`` stops at ``requires_action``, ``submit_tool_outputs_and_poll``
  finishes the run; ``runs.stream`` with an ``AssistantEventHandler`` sees the tool call
  created and done, the handler submits with ``submit_tool_outputs_stream`` and text deltas
  follow; the run steps are listed.
* on **llama.cpp's own server** (xllamacpp, the tiny random GGUF of ``tests/upstreams``),
  configured as a provider in a providers.toml of a temporary THREADRUN_HOME and made the
  default provider (``--default-provider``), so the program's unprefixed model runs there. The
  tiny model's ChatML template has no tool syntax, so llama.cpp ignores the tools and answers in
  text: ``create_and_poll``, ``stream`` with the handler's text events and the steps run on a
  real model; the tool branches are not taken there (they run on echo).

Why the tool loop does not run on llama.cpp, tried with the program passing ``tool_choice``
(``test_llama_cpp_honours_a_forced_tool_call_and_cannot_answer_after_it`` keeps what works): a
random model calls a tool only when llama.cpp (xllamacpp 2026.10) forces it, which it does for
``tool_choice: "required"`` (a named function it ignores: "Wrong type supplied for parameter
'tool_choice'", then its default) and only through a chat template with a tool syntax, from
which its auto-parser builds a grammar. Under ``"required"`` as under ``"auto"`` that grammar
lets text come first, up to the syntax's start marker (common/chat-auto-parser-generator.cpp);
a marker starting with ``<`` (Hermes ``<tool_call>``, tried) the tiny model never samples, a
printable one (bare JSON ``{"name": ...}``, tried) it reaches at random, after hundreds of
tokens or not within the cap. Only a syntax with no marker before the call
(``<function=NAME>{args}</function>``, ``tiny_gguf.TOOLS_TEMPLATE``) forces the call at once;
but then llama.cpp parses every reply as tool calls only, so the round after the outputs, where
the model must answer in text, fails with llama.cpp's own 500 "The model produced output that
does not match the expected peg-native format". One random model cannot do both in one run.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sdk_wire import Answer, problems, record

from upstreams.servers import UpstreamUnavailable, xllamacpp_server

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KEY = "sk-serve-legacy-0123456789"


# -- the program: written for api.openai.com, unmodified ------------------------------------


def legacy_program(base_url: str, api_key: str) -> dict:
    """A weather assistant as the Assistants docs taught it; returns what it saw."""
    from openai import AssistantEventHandler, OpenAI

    client = OpenAI(base_url=base_url, api_key=api_key)
    seen: dict[str, Any] = {"handler": [], "deltas": [], "outputs": []}

    def get_weather(query: str) -> str:
        seen["outputs"].append(query)
        return "22 C and sunny"

    def run_tools(tool_calls: Any) -> list[dict]:
        outputs = []
        for call in tool_calls:
            if call.function.name == "get_weather":
                output = get_weather(**json.loads(call.function.arguments))
                outputs.append({"tool_call_id": call.id, "output": output})
        return outputs

    class EventHandler(AssistantEventHandler):
        def on_text_created(self, text: Any) -> None:
            seen["handler"].append("text_created")

        def on_text_delta(self, delta: Any, snapshot: Any) -> None:
            seen["deltas"].append(delta.value)

        def on_tool_call_created(self, tool_call: Any) -> None:
            seen["handler"].append(f"tool_call_created {tool_call.function.name}")

        def on_tool_call_done(self, tool_call: Any) -> None:
            seen["handler"].append(f"tool_call_done {tool_call.function.name}")

        def on_event(self, event: Any) -> None:
            if event.event == "thread.run.requires_action":
                outputs = run_tools(event.data.required_action.submit_tool_outputs.tool_calls)
                with client.beta.threads.runs.submit_tool_outputs_stream(
                        thread_id=self.current_run.thread_id, run_id=self.current_run.id,
                        tool_outputs=outputs, event_handler=EventHandler()) as stream:
                    stream.until_done()

    assistant = client.beta.assistants.create(
        name="Weather", model="tiny", instructions="Answer in one sentence.",
        tools=[{"type": "function", "function": {
            "name": "get_weather", "description": "The weather where the user asks.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                           "required": ["query"]}}}])
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user",
                                        content="What does get_weather say for Paris?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   max_completion_tokens=256)
    seen["first_status"] = run.status
    if run.status == "requires_action":
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id, run_id=run.id,
            tool_outputs=run_tools(run.required_action.submit_tool_outputs.tool_calls))
    seen["first"] = run

    client.beta.threads.messages.create(thread_id=thread.id, role="user",
                                        content="And get_weather for Madrid?")
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                         max_completion_tokens=256, event_handler=EventHandler()) as stream:
        stream.until_done()
    runs = client.beta.threads.runs.list(thread_id=thread.id)
    seen["second"] = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=runs.data[0].id)
    seen["steps"] = [[step.type for step in client.beta.threads.runs.steps.list(
        thread_id=thread.id, run_id=r.id, order="asc")] for r in (seen["first"], seen["second"])]
    messages = client.beta.threads.messages.list(thread_id=thread.id, order="asc")
    seen["messages"] = [(m.role, m.content[0].text.value) for m in messages.data]
    client.beta.threads.delete(thread.id)
    client.beta.assistants.delete(assistant.id)
    return seen


# -- the server it runs on --------------------------------------------------------------------


@contextlib.contextmanager
def serve(home: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``threadrun serve`` (this source tree) with its own THREADRUN_HOME: its base URL."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}, **(env or {}),
           "THREADRUN_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "threadrun", "serve", "--port", "0",
                             "--api-key", KEY, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read()  # type: ignore[union-attr]
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def run_checked(url: str) -> tuple[dict, list]:
    """Run the program against ``url``; every answer it read checked against spec and SDK."""
    with warnings.catch_warnings(), record() as answers:
        warnings.simplefilter("ignore", DeprecationWarning)  # the SDK marks Assistants deprecated
        seen = legacy_program(url, KEY)
    found = [line for answer in answers for line in problems(answer)]
    assert found == [], "\n".join(found[:20])
    return seen, answers


def test_the_program_runs_unchanged_on_echo_every_tool_branch_taken(isolated):
    from threadrun.server import echo_reply
    with serve(isolated / "home", "--default-provider", "echo") as url:
        seen, answers = run_checked(url)
    assert seen["first_status"] == "requires_action"
    assert seen["first"].status == "completed" and seen["second"].status == "completed"
    assert seen["outputs"] == ["What does get_weather say for Paris?", "And get_weather for Madrid?"]
    # on_event answers requires_action before the SDK's own handling of it ends the tool call
    assert seen["handler"] == ["tool_call_created get_weather", "text_created",
                               "tool_call_done get_weather"]
    after_tool = echo_reply([{"role": "user", "content": "22 C and sunny"}],
                            "Answer in one sentence.", "tiny", None)
    assert "".join(seen["deltas"]) == after_tool
    assert seen["messages"] == [("user", "What does get_weather say for Paris?"),
                                ("assistant", after_tool), ("user", "And get_weather for Madrid?"),
                                ("assistant", after_tool)]
    assert seen["steps"] == [["tool_calls", "message_creation"]] * 2
    streamed = [a for a in answers if a.content_type.startswith("text/event-stream")]
    assert sorted(a.path.rsplit("/", 1)[-1] for a in streamed) == ["runs", "submit_tool_outputs"]
    assert len(answers) >= 15  # every object above was checked, not a few


def test_the_wire_check_catches_what_the_spec_or_the_sdk_would_refuse():
    run = {"id": "run_1", "object": "thread.run", "status": "done"}  # no such status, fields missing
    lines = problems(Answer("GET", "/v1/threads/t/runs/run_1", 200, "application/json", json.dumps(run).encode()))
    assert any("SDK model" in line for line in lines) and any("SDK model" not in line for line in lines)
    event = b'event: thread.run.step.delta\ndata: {"id": "step_1", "delta": 3}\n\n'
    lines = problems(Answer("POST", "/v1/threads/t/runs", 200, "text/event-stream", event))
    assert any("SDK model" in line for line in lines) and any("SDK model" not in line for line in lines)
    assert problems(Answer("GET", "/v1/threads/t", 404, "application/json", b"{}"))  # not a 200
    with pytest.raises(AssertionError, match="no schema known"):
        problems(Answer("GET", "/v1/vector_stores", 200, "application/json", b"{}"))


@pytest.fixture(scope="module")
def llama_cpp(tmp_path_factory):
    """llama.cpp's own server (xllamacpp) on the tiny random model: ``(base_url, key)``."""
    pytest.importorskip("gguf", reason="gguf writes the tiny model: pip install gguf numpy")
    with contextlib.ExitStack() as stack:
        try:
            yield stack.enter_context(xllamacpp_server(tmp_path_factory.mktemp("xllamacpp"),
                                                                n_ctx=2048))
        except UpstreamUnavailable as exc:
            pytest.skip(f"xllamacpp: {exc}")


def llama_home(isolated: Path, base: str) -> Path:
    """A THREADRUN_HOME whose providers.toml has llama.cpp as provider ``llama``."""
    home = isolated / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(f'[providers.llama]\nbase_url = "{base}"\napi = "chat"\n'
                                         'key_env = "LLAMA_KEY"\nlocal = true\n')
    return home


def test_the_program_runs_unchanged_on_llama_cpp_the_text_parts_on_the_real_model(isolated, llama_cpp):
    base, key = llama_cpp
    with serve(llama_home(isolated, base), "--default-provider", "llama", env={"LLAMA_KEY": key}) as url:
        seen, answers = run_checked(url)
    first, second = seen["first"], seen["second"]
    assert seen["first_status"] == first.status == second.status == "incomplete"  # never an end token
    assert first.incomplete_details.reason == second.incomplete_details.reason == "max_completion_tokens"
    assert first.usage.completion_tokens == second.usage.completion_tokens == 256  # llama.cpp's count
    assert first.model == "llama:tiny" and first.required_action is None  # ChatML: no tool syntax
    assert seen["outputs"] == [] and seen["handler"] == ["text_created"]  # no tool branch taken
    assert [role for role, _ in seen["messages"]] == ["user", "assistant", "user", "assistant"]
    streamed_text = "".join(seen["deltas"])
    assert streamed_text.strip() and streamed_text == seen["messages"][-1][1]  # deltas add up
    assert len(seen["deltas"]) > 1  # piece by piece, as llama.cpp streamed it
    assert seen["steps"] == [["message_creation"]] * 2
    streamed = [a for a in answers if a.content_type.startswith("text/event-stream")]
    assert [a.path.rsplit("/", 1)[-1] for a in streamed] == ["runs"] and len(answers) >= 14


@pytest.fixture(scope="module")
def llama_cpp_tools(tmp_path_factory):
    """llama.cpp's server on the tiny model's variant with a tool syntax: ``(base_url, key)``."""
    pytest.importorskip("gguf", reason="gguf writes the tiny model: pip install gguf numpy")
    from upstreams.tiny_gguf import write_tiny_model
    folder = tmp_path_factory.mktemp("xllamacpp-tools")
    model = write_tiny_model(folder / "tiny-tools.gguf", tools=True)
    with contextlib.ExitStack() as stack:
        try:
            yield stack.enter_context(xllamacpp_server(folder, model=model, n_ctx=2048))
        except UpstreamUnavailable as exc:
            pytest.skip(f"xllamacpp: {exc}")


def test_llama_cpp_honours_a_forced_tool_call_and_cannot_answer_after_it(isolated, llama_cpp_tools):
    """``tool_choice="required"`` goes to llama.cpp, whose grammar makes the random model call
    the tool; after the outputs the round is ``auto`` and llama.cpp cannot parse this model's
    text (see the module docstring): the run fails with llama.cpp's own words."""
    base, key = llama_cpp_tools
    city = {"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Madrid"]}},
        "required": ["city"]}}}
    with serve(llama_home(isolated, base), "--default-provider", "llama", env={"LLAMA_KEY": key}) as url, \
            warnings.catch_warnings(), record() as answers:
        warnings.simplefilter("ignore", DeprecationWarning)
        client = openai.OpenAI(base_url=url, api_key=KEY)
        assistant = client.beta.assistants.create(model="tiny", tools=[city])
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}])
        run = client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, tool_choice="required",
            parallel_tool_calls=False, max_completion_tokens=256)
        assert run.status == "requires_action", run
        (call,) = run.required_action.submit_tool_outputs.tool_calls
        assert call.function.name == "get_weather"
        assert json.loads(call.function.arguments)["city"] in ("Paris", "Madrid")  # the schema held
        (step,) = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
        assert step.type == "tool_calls" and step.step_details.tool_calls[0].id == call.id
        after = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "sunny"}])
    assert after.status == "failed", after
    assert "does not match the expected peg-native format" in after.last_error.message
    found = [line for answer in answers for line in problems(answer)]
    assert found == [] and len(answers) >= 7, "\n".join(found[:20])
