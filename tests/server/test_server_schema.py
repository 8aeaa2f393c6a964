"""Every object the server emits validates against the Assistants v2 OpenAPI schemas."""
from __future__ import annotations

from typing import Any

import pytest
import spec_schema

from threadrun.server import local_server

@pytest.fixture(scope="module")
def schemas() -> dict:
    """The spec's component schemas, made valid OpenAPI 3.1."""
    return spec_schema.schemas()


def check(schemas: dict, name: str, instance: Any) -> None:
    """Assert ``instance`` validates against schema ``name`` (listing every error)."""
    assert spec_schema.schema_errors(name, instance) == [], (name, instance)


def test_the_rewritten_schema_rejects_what_it_should(schemas):
    with pytest.raises(AssertionError):
        check(schemas, "RunObject", {"id": "run_x"})
    with pytest.raises(AssertionError):
        check(schemas, "ErrorResponse", {"error": {"message": "m"}})


def test_assistant_thread_run_and_message_objects_match_the_spec(api, schemas):
    assistant = api.assistant(name="a", description="d", instructions="i", tools=[
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}])
    check(schemas, "AssistantObject", assistant)
    run = api.create_run(assistant["id"], metadata={"k": "v"}, response_format={"type": "text"},
                         tool_choice={"type": "function", "function": {"name": "f"}})
    check(schemas, "RunObject", run)
    check(schemas, "RunObject", api.wait(run))
    check(schemas, "ThreadObject", api.get(f"/threads/{run['thread_id']}").json())
    page = api.messages(run["thread_id"])
    check(schemas, "ListMessagesResponse", page)
    for message in page["data"]:
        check(schemas, "MessageObject", message)


@pytest.mark.parametrize("script,fields", [
    ("failed", {}), ("expired", {}), ("incomplete", {}), ("incomplete:max_prompt_tokens", {}),
    ("ok", {"max_completion_tokens": 256, "text": "w " * 300}),
])
def test_run_endings_match_the_spec(make_api, schemas, script, fields):
    with local_server() as server:
        api = make_api(server)
        server.faults.script([script], route="create")
        run = api.wait(api.create_run(**fields))
        assert run["status"] in ("failed", "expired", "incomplete")
        check(schemas, "RunObject", run)
        for message in api.messages(run["thread_id"])["data"]:
            check(schemas, "MessageObject", message)


def test_cancelling_and_cancelled_runs_match_the_spec(make_api, schemas):
    with local_server(latency=5) as server:
        api = make_api(server)
        run = api.create_run()
        check(schemas, "RunObject", api.get(api.run_path(run)).json())
        check(schemas, "RunObject", api.post(api.run_path(run) + "/cancel").json())
        check(schemas, "RunObject", api.get(api.run_path(run)).json())


def test_error_answers_match_the_spec(api, schemas, srv):
    answers = [api.post("/threads/runs", {"temperature": 9}), api.get("/threads/thread_x"),
               api.session.put(srv.url + "/assistants/asst_x"), api.get("/x"),
               api.post("/threads/runs", {"assistant_id": "a", "instructions": "x" * (1 << 20)})]
    srv.faults.script(["429", "500", "502", "503"])
    answers += [api.get("/threads/thread_x") for _ in range(4)]
    assert [a.status_code for a in answers] == [400, 404, 405, 404, 413, 429, 500, 502, 503]
    for answer in answers:
        check(schemas, "ErrorResponse", answer.json())


@pytest.mark.parametrize("fields", [{}, {"max_completion_tokens": 256, "text": "w " * 300}])
def test_stream_events_match_the_spec(api, schemas, fields):
    body = api.run_body(api.assistant()["id"], fields.pop("text", "hi"), **fields)
    events = api.stream(body)
    for name, data in events:
        check(schemas, "AssistantStreamEvent", {"event": name, "data": data})


def test_failed_and_expired_stream_events_match_the_spec(make_api, schemas):
    with local_server() as server:
        api = make_api(server)
        server.faults.script(["failed", "expired"], route="create")
        for _ in range(2):
            for name, data in api.stream(api.run_body(api.assistant()["id"])):
                check(schemas, "AssistantStreamEvent", {"event": name, "data": data})
