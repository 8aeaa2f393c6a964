"""The Assistants v2 surface a program uses beyond createThreadAndRun: assistants, threads,
messages, runs on a thread, run steps; every answer checked against the spec's schemas."""
from __future__ import annotations

import time
from typing import Any

import pytest
import spec_schema
from conftest import parse_sse

from threadrun.server import echo_reply

TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def check(name: str, instance: Any) -> None:
    """Assert ``instance`` validates against spec schema ``name``."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def ok(response: Any, schema: str) -> dict:
    """The JSON of a 200 answer, checked against ``schema``."""
    assert response.status_code == 200, response.text
    check(schema, response.json())
    return response.json()


def delete(api: Any, path: str) -> Any:
    """DELETE ``/v1{path}``."""
    return api.session.delete(api.srv.url + path, timeout=10)


def wait_status(api: Any, thread_id: str, run_id: str, statuses: tuple[str, ...], timeout: float = 5) -> dict:
    """Poll a run until its status is one of ``statuses``."""
    deadline = time.monotonic() + timeout
    while True:
        run = api.get(f"/threads/{thread_id}/runs/{run_id}").json()
        if run["status"] in statuses or time.monotonic() > deadline:
            return run
        time.sleep(0.01)


def test_assistants_list_pages_as_the_spec_says_and_update_and_delete_answer_its_objects(api):
    made = [api.assistant(name=f"a{i}") for i in range(5)]
    ids = [a["id"] for a in made]
    first = ok(api.get("/assistants", params={"limit": 2}), "ListAssistantsResponse")
    assert [a["id"] for a in first["data"]] == ids[::-1][:2]  # newest first by default
    assert first["has_more"] is True and first["first_id"] == ids[4] and first["last_id"] == ids[3]
    rest = ok(api.get("/assistants", params={"limit": 10, "after": first["last_id"]}), "ListAssistantsResponse")
    assert [a["id"] for a in rest["data"]] == ids[::-1][2:] and rest["has_more"] is False
    asc = ok(api.get("/assistants", params={"order": "asc", "before": ids[3]}), "ListAssistantsResponse")
    assert [a["id"] for a in asc["data"]] == ids[:3]
    assert api.get("/assistants", params={"after": "asst_nope"}).status_code == 400
    assert api.get("/assistants", params={"limit": 101}).status_code == 400
    changed = ok(api.post(f"/assistants/{ids[0]}", {"name": "renamed", "metadata": {"k": "v"},
                                                    "tools": [TOOL]}), "AssistantObject")
    assert changed["name"] == "renamed" and changed["metadata"] == {"k": "v"} and changed["tools"] == [TOOL]
    assert changed["created_at"] == made[0]["created_at"] and changed["model"] == made[0]["model"]
    assert api.get(f"/assistants/{ids[0]}").json() == changed
    assert api.post(f"/assistants/{ids[0]}", {"nope": 1}).status_code == 400
    gone = ok(delete(api, f"/assistants/{ids[0]}"), "DeleteAssistantResponse")
    assert gone == {"id": ids[0], "object": "assistant.deleted", "deleted": True}
    assert api.get(f"/assistants/{ids[0]}").status_code == 404
    assert delete(api, f"/assistants/{ids[0]}").status_code == 404


def test_threads_and_messages_are_made_read_changed_and_deleted(api):
    thread = ok(api.post("/threads", {"messages": [{"role": "user", "content": "one"}],
                                      "metadata": {"k": "v"}}), "ThreadObject")
    assert ok(api.post("/threads"), "ThreadObject")["id"] != thread["id"]  # no body: empty thread
    tid = thread["id"]
    assert ok(api.get(f"/threads/{tid}"), "ThreadObject") == thread
    assert ok(api.post(f"/threads/{tid}", {"metadata": {"k": "w"}}), "ThreadObject")["metadata"] == {"k": "w"}
    made = ok(api.post(f"/threads/{tid}/messages", {"role": "user", "content": [{"type": "text", "text": "two"}]}),
              "MessageObject")
    assert made["thread_id"] == tid and made["content"][0]["text"]["value"] == "two"
    page = ok(api.get(f"/threads/{tid}/messages", params={"order": "asc"}), "ListMessagesResponse")
    assert [m["content"][0]["text"]["value"] for m in page["data"]] == ["one", "two"]
    assert ok(api.get(f"/threads/{tid}/messages/{made['id']}"), "MessageObject") == made
    changed = ok(api.post(f"/threads/{tid}/messages/{made['id']}", {"metadata": {"m": "1"}}), "MessageObject")
    assert changed["metadata"] == {"m": "1"}
    assert api.post(f"/threads/{tid}/messages", {"role": "system", "content": "x"}).status_code == 400
    gone = ok(delete(api, f"/threads/{tid}/messages/{made['id']}"), "DeleteMessageResponse")
    assert gone["deleted"] is True and gone["object"] == "thread.message.deleted"
    assert api.get(f"/threads/{tid}/messages/{made['id']}").status_code == 404
    assert ok(delete(api, f"/threads/{tid}"), "DeleteThreadResponse")["deleted"] is True
    assert api.get(f"/threads/{tid}").status_code == 404
    assert api.get(f"/threads/{tid}/messages").status_code == 404


def test_a_thread_continues_over_runs_and_a_message_waits_for_the_active_run(make_api):
    from threadrun.server import local_server
    with local_server(latency=0.3) as server:
        api = make_api(server)
        assistant = api.assistant(instructions="Be brief.")
        tid = api.post("/threads", {"messages": [{"role": "user", "content": "first"}]}).json()["id"]
        run = ok(api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"]}), "RunObject")
        assert run["status"] == "queued" and run["thread_id"] == tid
        refused = api.post(f"/threads/{tid}/messages", {"role": "user", "content": "too soon"})
        assert refused.status_code == 400 and run["id"] in refused.json()["error"]["message"]
        assert api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"]}).status_code == 400
        assert api.wait(run)["status"] == "completed"
        second = api.post(f"/threads/{tid}/runs", {"assistant_id": assistant["id"], "additional_messages": [
            {"role": "user", "content": "second"}], "metadata": {"n": "2"}}).json()
        done = api.wait(second)
        assert done["status"] == "completed" and done["metadata"] == {"n": "2"}
        texts = [m["content"][0]["text"]["value"] for m in api.messages(tid, order="asc")["data"]]
        model = "gpt-4o"
        first_reply = echo_reply([{"role": "user", "content": "first"}], None, model, 1.0)
        assert texts == ["first", first_reply, "second",
                         echo_reply([{"role": "user", "content": "second"}], None, model, 1.0)]
        assert done["usage"]["prompt_tokens"] > api.get(api.run_path(run)).json()["usage"]["prompt_tokens"]
        runs = ok(api.get(f"/threads/{tid}/runs"), "ListRunsResponse")
        assert [r["id"] for r in runs["data"]] == [second["id"], run["id"]]
        assert ok(api.get(f"/threads/{tid}/runs", params={"limit": 1}), "ListRunsResponse")["has_more"] is True
        changed = ok(api.post(api.run_path(run), {"metadata": {"tag": "x"}}), "RunObject")
        assert changed["metadata"] == {"tag": "x"} and api.get(api.run_path(run)).json()["metadata"] == {"tag": "x"}
        assert server.server_errors == []


def test_a_streamed_run_on_a_thread_sends_the_runs_events_without_a_thread_created(api):
    assistant = api.assistant()
    tid = api.post("/threads", {"messages": [{"role": "user", "content": "hi"}]}).json()["id"]
    with api.session.post(f"{api.srv.url}/threads/{tid}/runs", json={"assistant_id": assistant["id"],
                                                                      "stream": True}, stream=True,
                          timeout=10) as response:
        assert response.status_code == 200
        events = parse_sse(response.iter_lines(decode_unicode=True))
    names = [name for name, _ in events]
    assert names[:4] == ["thread.run.created", "thread.run.queued", "thread.run.in_progress",
                         "thread.run.step.created"]
    assert names[-3:] == ["thread.run.step.completed", "thread.run.completed", "done"]
    for name, data in events:
        check("AssistantStreamEvent", {"event": name, "data": data})


def test_run_steps_list_a_message_creation_step_and_a_tool_calls_step(api):
    assistant = api.assistant(tools=[TOOL])
    run = api.create_run(assistant["id"], text="hi")
    done = api.wait(run)
    steps = ok(api.get(api.run_path(run) + "/steps"), "ListRunStepsResponse")
    (step,) = steps["data"]
    assert step["type"] == "message_creation" and step["status"] == "completed"
    assert step["usage"]["total_tokens"] == done["usage"]["total_tokens"]
    message = api.messages(run["thread_id"], run_id=run["id"])["data"][0]
    assert step["step_details"]["message_creation"]["message_id"] == message["id"]
    assert ok(api.get(api.run_path(run) + f"/steps/{step['id']}"), "RunStepObject") == step
    assert api.get(api.run_path(run) + "/steps/step_nope").status_code == 404
    asking = api.create_run(assistant["id"], text="what does get_weather say for Paris?")
    waiting = wait_status(api, asking["thread_id"], asking["id"], ("requires_action",))
    (call,) = waiting["required_action"]["submit_tool_outputs"]["tool_calls"]
    assert call["function"]["name"] == "get_weather"
    (tool_step,) = ok(api.get(api.run_path(asking) + "/steps"), "ListRunStepsResponse")["data"]
    assert tool_step["type"] == "tool_calls" and tool_step["status"] == "in_progress"
    assert tool_step["step_details"]["tool_calls"][0]["id"] == call["id"] and tool_step["usage"] is None


@pytest.mark.parametrize("tool", ["code_interpreter", "file_search"])
def test_hosted_tools_on_a_real_model_are_a_clear_400_before_anything_runs(make_api, isolated, monkeypatch, tool):
    from standin_upstream import StandIn

    from threadrun.server import local_server
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    with StandIn() as standin, local_server() as server:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(f'[providers.standin]\nbase_url = "{standin.url}"\napi = "chat"\n'
                                             'key_env = "STANDIN_KEY"\n')
        api = make_api(server)
        assistant = api.assistant(model="standin:m", tools=[{"type": tool}])
        answers = [api.post("/threads/runs", api.run_body(assistant["id"])),
                   api.post(f"/threads/{api.post('/threads').json()['id']}/runs", {"assistant_id": assistant["id"]})]
        for answer in answers:
            assert answer.status_code == 400, answer.text
            error = answer.json()["error"]
            assert f"does not run {tool}" in error["message"] and error["param"] == "tools"
        assert server.runs_created == 0 and standin.requests == []
        echo = api.assistant(tools=[{"type": tool}])  # echo takes them, as before
        assert api.post("/threads/runs", api.run_body(echo["id"])).status_code == 200


def test_threads_made_on_their_own_are_bounded_with_a_clear_error(make_api):
    from threadrun.server import local_server
    with local_server(max_runs=2) as server:
        api = make_api(server)
        for _ in range(2):
            assert api.post("/threads").status_code == 200
        full = api.post("/threads")
        assert full.status_code == 400 and "at most 2 threads" in full.json()["error"]["message"]
        check("ErrorResponse", full.json())


def test_the_byte_bound_of_threads_and_messages_frees_what_is_deleted(make_api):
    from threadrun.server import local_server
    with local_server(max_bytes=200_000) as server:  # threads and messages: half, 100,000 bytes
        api = make_api(server)
        big = {"role": "user", "content": "z" * 30_000}
        made = [api.post("/threads", {"messages": [big]}).json()["id"] for _ in range(3)]
        full = api.post("/threads", {"messages": [big]})
        assert full.status_code == 400 and "100000 bytes" in full.json()["error"]["message"]
        assert api.post(f"/threads/{made[0]}/messages", big).status_code == 400
        assert api.session.delete(f"{server.url}/threads/{made[0]}", timeout=10).status_code == 200
        again = api.post("/threads", {"messages": [big]})
        assert again.status_code == 200
        (message,) = api.messages(made[1])["data"]
        assert api.post(f"/threads/{made[1]}/messages", big).status_code == 400
        assert api.session.delete(f"{server.url}/threads/{made[1]}/messages/{message['id']}",
                                  timeout=10).status_code == 200
        assert api.post(f"/threads/{made[1]}/messages", big).status_code == 200
