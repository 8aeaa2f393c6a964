"""Request validation and HTTP-level errors: 400 table, 401, 404, 405, 413, malformed JSON."""
from __future__ import annotations

import socket

import pytest

from threadrun.server import local_server

OK_MESSAGE = {"role": "user", "content": "hi"}


def with_thread(*messages):
    """A thread holding ``messages``."""
    return {"messages": list(messages)}


# (case id, body fields replacing the defaults, expected param); assistant_id is filled in.
INVALID = [
    ("missing-assistant-id", {"assistant_id": None}, "assistant_id"),
    ("assistant-id-not-string", {"assistant_id": 5}, "assistant_id"),
    ("temperature-above-2", {"temperature": 2.5}, "temperature"),
    ("temperature-below-0", {"temperature": -0.1}, "temperature"),
    ("temperature-string", {"temperature": "hot"}, "temperature"),
    ("temperature-bool", {"temperature": True}, "temperature"),
    ("top-p-above-1", {"top_p": 1.5}, "top_p"),
    ("max-prompt-tokens-below-256", {"max_prompt_tokens": 255}, "max_prompt_tokens"),
    ("max-completion-tokens-below-256", {"max_completion_tokens": 10}, "max_completion_tokens"),
    ("max-completion-tokens-float", {"max_completion_tokens": 300.5}, "max_completion_tokens"),
    ("system-role", {"thread": with_thread(OK_MESSAGE, {"role": "system", "content": "x"})},
     "thread.messages[1].role"),
    ("empty-content", {"thread": with_thread({"role": "user", "content": ""})}, "thread.messages[0].content"),
    ("empty-parts", {"thread": with_thread({"role": "user", "content": []})}, "thread.messages[0].content"),
    ("missing-content", {"thread": with_thread({"role": "user"})}, "thread.messages[0].content"),
    ("unknown-message-field", {"thread": with_thread({**OK_MESSAGE, "name": "x"})}, "thread.messages[0].name"),
    ("messages-not-array", {"thread": {"messages": "hi"}}, "thread.messages"),
    ("unknown-thread-field", {"thread": {"messages": [], "x": 1}}, "thread.x"),
    ("metadata-17-keys", {"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    ("metadata-long-key", {"metadata": {"k" * 65: "v"}}, "metadata"),
    ("metadata-long-value", {"metadata": {"k": "v" * 513}}, "metadata.k"),
    ("metadata-non-string-value", {"metadata": {"k": 1}}, "metadata.k"),
    ("unknown-top-level-field", {"frobnicate": True}, "frobnicate"),
    ("tools-bad-type", {"tools": [{"type": "web_browser"}]}, "tools[0].type"),
    ("tools-too-many", {"tools": [{"type": "code_interpreter"}] * 21}, "tools"),
    ("function-tool-without-function", {"tools": [{"type": "function"}]}, "tools[0].function"),
    ("stream-not-bool", {"stream": "yes"}, "stream"),
    ("model-not-string", {"model": 4}, "model"),
    ("tool-choice-bad", {"tool_choice": "always"}, "tool_choice"),
    ("response-format-bad", {"response_format": {"type": "xml"}}, "response_format.type"),
    ("truncation-bad", {"truncation_strategy": {"type": "first"}}, "truncation_strategy.type"),
    ("parallel-tool-calls-null", {"parallel_tool_calls": None}, "parallel_tool_calls"),
]


@pytest.mark.parametrize("fields,param", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_create_and_run_body_is_a_400_naming_the_field(api, srv, fields, param):
    assistant = api.assistant()
    body = {"assistant_id": assistant["id"], "thread": with_thread(OK_MESSAGE), **fields}
    body = {k: v for k, v in body.items() if not (k == "assistant_id" and v is None)}
    response = api.post("/threads/runs", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert isinstance(error["message"], str) and error["message"]
    assert set(error) == {"message", "type", "param", "code"}
    assert srv.runs_created == 0


@pytest.mark.parametrize("body,param", [
    ({}, "model"), ({"model": "m", "temperature": 3}, "temperature"),
    ({"model": "m", "name": "n" * 257}, "name"), ({"model": "m", "colour": "red"}, "colour"),
], ids=["missing-model", "temperature", "long-name", "unknown-field"])
def test_invalid_create_assistant_body_is_a_400(api, body, param):
    response = api.post("/assistants", body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.mark.parametrize("query,param", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                         ({"limit": "x"}, "limit"), ({"order": "up"}, "order"),
                                         ({"after": "msg_nope"}, "after")])
def test_invalid_list_messages_query_is_a_400(api, query, param):
    run = api.create_run()
    response = api.get(f"/threads/{run['thread_id']}/messages", params=query)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2", b'{"assistant_id": NaN}', b"\xff\xfe", b""])
def test_malformed_json_is_a_400_not_a_crash(api, raw):
    response = api.session.post(api.srv.url + "/threads/runs", data=raw,
                                headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert api.get("/assistants/asst_x").status_code == 404  # the connection still works


def test_non_object_body_is_a_400(api):
    assert api.post("/threads/runs", [1, 2]).status_code == 400


def test_unknown_assistant_in_create_body_is_a_404(api, srv):
    response = api.post("/threads/runs", {"assistant_id": "asst_missing"})
    assert response.status_code == 404 and "asst_missing" in response.json()["error"]["message"]
    assert srv.runs_created == 0


@pytest.mark.parametrize("path", ["/assistants/asst_x", "/threads/thread_x", "/threads/thread_x/messages",
                                  "/threads/thread_x/runs/run_x", "/nothing/here"])
def test_unknown_ids_and_routes_are_404(api, path):
    response = api.get(path)
    assert response.status_code == 404 and response.json()["error"]["type"] == "invalid_request_error"


def test_unknown_run_on_a_known_thread_is_404(api):
    run = api.create_run()
    assert api.get(f"/threads/{run['thread_id']}/runs/run_nope").status_code == 404
    assert api.post(f"/threads/{run['thread_id']}/runs/run_nope/cancel").status_code == 404


def test_path_outside_v1_is_404(api, session):
    assert session.get(api.srv.url[:-3] + "/threads/runs").status_code == 404


@pytest.mark.parametrize("method,path", [("PUT", "/threads/thread_x"), ("PATCH", "/assistants/asst_x"),
                                         ("PUT", "/threads/thread_x/messages"),
                                         ("GET", "/threads/t/runs/r/cancel"), ("GET", "/threads/runs"),
                                         ("DELETE", "/threads/runs")])
def test_known_path_with_wrong_method_is_405(api, method, path):
    response = api.session.request(method, api.srv.url + path, timeout=5)
    assert response.status_code == 405 and response.json()["error"]["message"]


def test_missing_or_wrong_api_key_is_401_without_echoing_keys(make_api):
    secret, wrong = "sk-right-Secret123", "sk-wrong-Guess456"
    with local_server(api_key=secret) as server:
        api = make_api(server)
        for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": wrong}):
            response = api.session.post(server.url + "/assistants", json={"model": "m"},
                                        headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "invalid_api_key"
            assert secret not in response.text and wrong not in response.text
            assert secret not in str(response.headers) and wrong not in str(response.headers)
        ok = api.session.post(server.url + "/assistants", json={"model": "m"},
                              headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200


def test_non_loopback_host_with_api_key_is_allowed():
    from threadrun.server import LocalServer
    assert LocalServer(host="0.0.0.0", api_key="k").host == "0.0.0.0"


def test_body_over_one_mib_is_413_and_connection_closed(api, srv):
    body = {"assistant_id": "asst_x", "instructions": "x" * (1 << 20)}
    response = api.post("/threads/runs", body)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.headers["connection"] == "close"
    assert srv.runs_created == 0 and srv.counts["POST /threads/runs"] == 1


def test_declared_oversized_body_is_refused_without_reading_it(srv):
    host, port = srv.url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /v1/threads/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n{")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b'"error"' in answer


def test_no_500_after_many_odd_requests(api, srv):
    odd = [None, 1, "x", {"assistant_id": []}, {"assistant_id": "a", "thread": []},
           {"assistant_id": "a", "thread": {"messages": [1]}},
           {"assistant_id": "a", "thread": {"messages": [{"role": "user", "content": [1]}]}},
           {"assistant_id": "a", "thread": {"messages": [{"role": "user", "content": [{"type": "text"}]}]}},
           {"assistant_id": "a", "tools": [None]}, {"assistant_id": "a", "metadata": []},
           {"assistant_id": "a", "truncation_strategy": {"type": "last_messages", "last_messages": 0}},
           {"assistant_id": "a", "tool_choice": {"type": "function"}}]
    for body in odd:
        response = api.post("/threads/runs", body)
        assert response.status_code in (400, 404), (body, response.text)
    assert srv.server_errors == []


#: The one ``include[]`` value the spec allows on run steps and createRun (file_search content).
INCLUDE = "step_details.tool_calls[*].file_search.results[*].content"


def include_targets(api) -> dict:
    """(method, path, body) of each endpoint the spec gives ``include[]``: createRun, steps, a step."""
    run = api.wait(api.create_run())
    steps = api.get(api.run_path(run) + "/steps").json()["data"]
    assert steps, "an ended echo run has a message step"
    body = {"assistant_id": run["assistant_id"]}
    return {"createRun": ("POST", f"/threads/{run['thread_id']}/runs", body),
            "listRunSteps": ("GET", api.run_path(run) + "/steps", None),
            "getRunStep": ("GET", api.run_path(run) + f"/steps/{steps[0]['id']}", None)}


def test_include_accepts_the_specs_one_value_on_run_steps_and_create_run(api):
    for name, (method, path, body) in include_targets(api).items():
        answer = api.session.request(method, api.srv.url + path, json=body, timeout=10,
                                     params=[("include[]", INCLUDE)])
        assert answer.status_code == 200, (name, answer.text)


@pytest.mark.parametrize("values, bad, index", [
    (["step_details.tool_calls[*].file_search.results"], "step_details.tool_calls[*].file_search.results", 0),
    ([INCLUDE, "usage"], "usage", 1),  # a good value first does not hide a bad one
    ([""], "", 0),
])
def test_another_include_value_is_a_400_naming_it_and_the_allowed_one(api, srv, values, bad, index):
    for name, (method, path, body) in include_targets(api).items():
        created = srv.runs_created
        answer = api.session.request(method, api.srv.url + path, json=body, timeout=10,
                                     params=[("include[]", v) for v in values])
        assert answer.status_code == 400, (name, answer.text)
        assert answer.json() == {"error": {
            "message": f"Invalid value: '{bad}'. Supported values are: '{INCLUDE}'.",
            "type": "invalid_request_error", "param": f"include[{index}]", "code": "invalid_value"}}
        assert srv.runs_created == created  # refused before a run was made
