"""``--tools`` runs a model's function calls in the notebook and submits their outputs until the
run ends; ``--continue`` adds a cell's messages to each row's thread and runs it again.

Against threadrun's runtime over HTTP, on echo, which calls each function tool a message (or a
tool output) names, with ``{"query": <that text>}``.
"""
from __future__ import annotations

import json
from typing import Literal

import pytest

import threadrun
from threadrun.errors import ValidationError
from threadrun.grid.tools import toolbox


def get_weather(query: str, unit: Literal["C", "F"] = "C") -> str:
    """The weather for a place.

    More words that are not the description."""
    return f"sunny in {query[-5:]}"


def broken(query: str) -> str:
    """A tool that raises."""
    raise KeyError("no such city")


def server_json(server, path: str) -> dict:
    """A GET on the runtime, as any Assistants client would do it."""
    client = threadrun.Client(server.url, "")
    try:
        return client.get_json(path)[0]
    finally:
        client.close()


def test_a_functions_signature_and_docstring_become_its_tool_schema():
    (tool,) = toolbox([get_weather]).definitions
    assert tool == {"type": "function", "function": {
        "name": "get_weather", "description": "The weather for a place.",
        "parameters": {"type": "object", "required": ["query"], "properties": {
            "query": {"type": "string"}, "unit": {"enum": ["C", "F"]}}}}}


@pytest.mark.parametrize("stream", [True, False])
def test_each_call_runs_here_and_its_output_goes_back_until_the_run_completes(server, stream):
    df = threadrun.run("user: what does get_weather say for Paris?", model="echo:m",
                       tools=[get_weather], stream=stream, base_url=server.url, progress=False,
                       log=False)
    row = df.iloc[0]
    assert row["status"] == "completed" and row["error"] is None
    (call,) = json.loads(row["tool_calls"])
    assert call["name"] == "get_weather" and call["output"].startswith("sunny in ")
    assert json.loads(call["arguments"]) == {"query": "what does get_weather say for Paris?"}
    assert row["steps"] == 2
    assert "sunny in" in row["reply"]  # echo answers with what the tool said
    steps = server_json(server, f"/threads/{row['thread_id']}/runs/{row['run_id']}/steps?order=asc")
    assert [s["type"] for s in steps["data"]] == ["tool_calls", "message_creation"]
    assert row["total_tokens"] == sum(s["usage"]["total_tokens"] for s in steps["data"])


def test_a_tool_that_raises_tells_the_model_and_the_row_says_so(server):
    df = threadrun.run("user: try broken now", model="echo:m", tools={"broken": broken},
                       base_url=server.url, progress=False, log=False)
    row = df.iloc[0]
    assert row["status"] == "completed"
    (call,) = json.loads(row["tool_calls"])
    assert call["output"] == "error: KeyError: 'no such city'" and call["error"]
    assert "1 tool call(s) raised" in row["error"] and "no such city" in row["error"]
    assert "no such city" in row["reply"]  # the model was given the error text


def test_max_steps_bounds_the_rounds_and_the_row_says_why(server):
    def again(query: str) -> str:
        """Asks for itself again."""
        return "call again"
    df = threadrun.run("user: again please", model="echo:m", tools={"again": again}, max_steps=3,
                       base_url=server.url, progress=False, log=False)
    row = df.iloc[0]
    assert row["status"] == "requires_action" and row["steps"] == 3
    assert len(json.loads(row["tool_calls"])) == 3  # 2 answered rounds + the call left unanswered
    assert "--max-steps 3 allows 2" in row["error"] and "cancelled" in row["error"]


def test_the_magic_takes_the_tools_by_variable_name(ip):
    ip.user_ns["weather_tools"] = {"get_weather": get_weather}
    df = ip.run_cell_magic("threadrun", "--no-log -m echo:m --tools weather_tools",
                           "user: get_weather for Oslo")
    assert df.loc[0, "status"] == "completed" and df.loc[0, "steps"] == 2


@pytest.mark.parametrize("line,fragment", [
    ("--tools wether_tools", "--tools wether_tools: no such variable in the notebook (did you mean 'weather_tools'?)"),
    ("--tools not_a_function", "--tools not_a_function: that variable holds int, not a function"),
    ("--continue frist", "--continue frist: no such variable in the notebook (did you mean 'first'?)"),
    ("--continue not_a_function", "--continue takes the DataFrame of an earlier run"),
    ("--max-steps 0", "--max-steps must be 1 or more"),
])
def test_bad_tools_and_continue_input_is_one_line_and_sends_nothing(ip, server, capsys, line, fragment):
    ip.user_ns.update(weather_tools=[get_weather], not_a_function=3, first=[])
    server.reset_counts()
    result = ip.run_cell(f"%%threadrun --no-log -m echo:m {line}\nuser: hi".replace("-m echo:m --continue", "--continue"))
    shown = capsys.readouterr().err.strip()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert shown == f"UsageError: {fragment}" or (fragment in shown and "\n" not in shown), shown
    assert sum(server.counts.values()) == 0


def test_without_tools_a_tool_call_is_cancelled_as_before(server):
    definitions = toolbox([get_weather]).definitions
    df = threadrun.run({"thread": {"messages": [{"role": "user", "content": "get_weather?"}]},
                        "tools": definitions}, model="echo:m", base_url=server.url,
                       progress=False, log=False)
    assert df.loc[0, "status"] == "requires_action" and "no --tools" in df.loc[0, "error"]


def test_continue_adds_the_messages_to_each_thread_and_links_the_new_row(server):
    first = threadrun.run("user: Name a colour.", model="echo:a,echo:b", temperature="0,1",
                          base_url=server.url, progress=False, log=False)
    second = threadrun.run("user: And another one?", continue_from=first, base_url=server.url,
                           progress=False, log=False)
    assert len(second) == len(first) == 4
    assert list(second["parent_run_id"]) == list(first["run_id"])
    assert list(second["thread_id"]) == list(first["thread_id"])
    assert list(second["model"]) == list(first["model"])
    assert list(second["temperature"]) == list(first["temperature"])
    assert (second["status"] == "completed").all()
    assert set(second["run_id"]).isdisjoint(first["run_id"])
    messages = server_json(server, f"/threads/{second.loc[0, 'thread_id']}/messages?order=asc")["data"]
    texts = [m["content"][0]["text"]["value"] for m in messages]
    assert texts[0] == "Name a colour." and texts[2] == "And another one?" and len(texts) == 4


def test_continue_with_a_grid_option_is_refused_before_sending(server):
    first = threadrun.run("user: hi", model="echo:a", base_url=server.url, progress=False, log=False)
    created = server.runs_created
    with pytest.raises(ValidationError, match="drop --model"):
        threadrun.run("user: more", continue_from=first, model="echo:b", base_url=server.url)
    assert server.runs_created == created


def test_continue_does_not_say_unprefixed_models_run_on_echo(ip, capsys, monkeypatch):
    """Its models are the rows' own (a browser check found the notice on a --continue cell)."""
    from threadrun.grid import notices
    first = ip.run_cell_magic("threadrun", "--no-log -m echo:a", "user: one")
    ip.user_ns["first"] = first
    monkeypatch.delenv("THREADRUN_BASE_URL")  # the embedded runtime, where the notice is said
    monkeypatch.setattr(notices, "_told_default", False)
    capsys.readouterr()
    ip.run_cell_magic("threadrun", "--no-log --continue first", "user: two")
    assert "without a provider prefix" not in capsys.readouterr().out


def test_continue_in_the_magic_takes_the_variable(ip):
    first = ip.run_cell_magic("threadrun", "--no-log -m echo:a", "user: one")
    ip.user_ns["first"] = first
    df = ip.run_cell_magic("threadrun", "--no-log --continue first", "user: two")
    assert df.loc[0, "parent_run_id"] == first.loc[0, "run_id"]
    assert df.loc[0, "thread_id"] == first.loc[0, "thread_id"]
