"""Endpoints of the local server: assistants, create-and-run, polling, thread, messages, cancel."""
from __future__ import annotations

import re
import time

import pytest

from threadrun.server import LocalServer, count_tokens, echo_reply, local_server


def test_assistant_is_created_and_retrieved(api):
    created = api.assistant(name="helper", instructions="Be brief.", temperature=0.3)
    assert created["id"].startswith("asst_") and created["object"] == "assistant"
    fetched = api.get(f"/assistants/{created['id']}")
    assert fetched.status_code == 200 and fetched.json() == created


def test_create_and_run_answers_queued_then_completes_with_tokenizer_usage(api):
    assistant = api.assistant(instructions="Be brief.")
    run = api.create_run(assistant["id"], "Hello, world!", temperature=0.5)
    assert run["status"] == "queued" and run["usage"] is None and run["started_at"] is None
    assert run["id"].startswith("run_") and run["thread_id"].startswith("thread_")
    assert run["expires_at"] == run["created_at"] + 600
    final = api.wait(run)
    assert final["status"] == "completed"
    reply = echo_reply([{"role": "user", "content": "Hello, world!"}], "Be brief.", "gpt-4o", 0.5)
    prompt = count_tokens("Be brief.") + count_tokens("Hello, world!")
    assert final["usage"] == {"prompt_tokens": prompt, "completion_tokens": count_tokens(reply),
                              "total_tokens": prompt + count_tokens(reply)}
    assert final["completed_at"] >= final["started_at"] >= final["created_at"]
    assert final["expires_at"] is None


def test_reply_message_equals_echo_reply_and_follows_the_input(api):
    assistant = api.assistant(model="gpt-4o-mini")
    run = api.wait(api.create_run(assistant["id"], "What is 2+2?", temperature=0.0))
    page = api.messages(run["thread_id"], order="asc")
    user, reply = page["data"]
    assert user["role"] == "user" and user["run_id"] is None and user["assistant_id"] is None
    assert user["content"] == [{"type": "text", "text": {"value": "What is 2+2?", "annotations": []}}]
    expected = echo_reply([{"role": "user", "content": "What is 2+2?"}], None, "gpt-4o-mini", 0.0)
    assert reply["role"] == "assistant" and reply["run_id"] == run["id"]
    assert reply["assistant_id"] == assistant["id"] and reply["id"].startswith("msg_")
    assert reply["content"][0]["text"]["value"] == expected


def test_echo_reply_is_deterministic_and_its_length_depends_on_model_and_temperature():
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]
    assert echo_reply(messages, None, "gpt-4o", 0.7) == echo_reply(messages, "other", "gpt-4o", 0.7)
    assert echo_reply(messages, None, "gpt-4o", 0.7).startswith("echo: hi ")
    lengths = {len(echo_reply(messages, None, m, t).split()) for m in ("gpt-4o", "gpt-4.1", "o3")
               for t in (0.0, 1.0, 2.0)}
    assert len(lengths) > 3


def test_content_parts_are_reduced_to_their_text_for_the_engine(api):
    assistant = api.assistant()
    body = {"assistant_id": assistant["id"], "thread": {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "part one"}, {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
        {"type": "text", "text": "part two"}]}]}}
    run = api.wait(api.post("/threads/runs", body).json())
    reply = api.messages(run["thread_id"])["data"][0]["content"][0]["text"]["value"]
    assert reply == echo_reply([{"role": "user", "content": "part one\npart two"}], None, "gpt-4o", None)


def test_run_echoes_settings_and_defaults_to_the_assistants_model_and_instructions(api):
    assistant = api.assistant(model="gpt-4.1", instructions="Sys")
    run = api.create_run(assistant["id"], top_p=0.5, metadata={"k": "v"}, tools=[{"type": "code_interpreter"}],
                         max_prompt_tokens=1000, tool_choice="none", parallel_tool_calls=False,
                         truncation_strategy={"type": "last_messages", "last_messages": 3},
                         response_format={"type": "json_object"})
    assert (run["model"], run["instructions"], run["temperature"], run["top_p"]) == ("echo:gpt-4.1", "Sys", 1.0, 0.5)
    assert run["metadata"] == {"k": "v"} and run["tools"] == [{"type": "code_interpreter"}]
    assert run["max_prompt_tokens"] == 1000 and run["max_completion_tokens"] is None
    assert run["tool_choice"] == "none" and run["parallel_tool_calls"] is False
    assert run["truncation_strategy"] == {"type": "last_messages", "last_messages": 3}
    assert run["response_format"] == {"type": "json_object"}
    other = api.create_run(assistant["id"], model="gpt-4o", instructions="Other")
    assert (other["model"], other["instructions"]) == ("echo:gpt-4o", "Other")


def test_run_takes_latency_seconds_and_poll_after_header_only_while_active(api, srv):
    # 2 s: the first poll comes long before the end even on a loaded machine; each header is
    # checked against the time left as the client can bound it, not against a fixed window
    srv.latency = latency = 2.0
    before = time.monotonic()
    run = api.create_run()
    created = time.monotonic()  # the server made the run between `before` and now
    seen = []
    while True:
        asked = time.monotonic()
        answer = api.get(api.run_path(run))
        status = answer.json()["status"]
        if status not in ("queued", "in_progress"):
            break
        left_ms = (created + latency - asked) * 1000  # at least the server's time left
        seen.append(int(answer.headers["openai-poll-after-ms"]))
        assert 10 <= seen[-1] <= max(10, min(1000, left_ms)) + 1, (seen, left_ms)
        assert asked - before < latency + 10, "the run never finished"
        time.sleep(0.05)
    assert status == "completed" and "openai-poll-after-ms" not in answer.headers
    assert time.monotonic() - before >= latency  # it took its latency
    assert len(seen) >= 10 and min(seen) < 1000, seen  # polled all along, the header shrinking


def test_poll_after_ms_can_be_fixed(make_api):
    with local_server(latency=5, poll_after_ms=42) as server:
        api = make_api(server)
        run = api.create_run()
        assert api.get(api.run_path(run)).headers["openai-poll-after-ms"] == "42"


def test_every_answer_has_request_id_processing_ms_and_json_content_type(api):
    for response in (api.post("/assistants", {"model": "m"}), api.get("/nope"),
                     api.get("/threads/thread_x")):
        assert re.fullmatch(r"req_[0-9a-f]+", response.headers["x-request-id"])
        assert int(response.headers["openai-processing-ms"]) >= 0
        assert response.headers["content-type"] == "application/json"


def test_thread_is_retrievable(api):
    run = api.create_run()
    thread = api.get(f"/threads/{run['thread_id']}").json()
    assert thread["id"] == run["thread_id"] and thread["object"] == "thread"
    assert thread["metadata"] == {} and thread["tool_resources"] == {}


def test_messages_paginate_with_order_limit_after_before_and_run_id(api):
    assistant = api.assistant()
    texts = [f"m{i}" for i in range(5)]
    body = {"assistant_id": assistant["id"],
            "thread": {"messages": [{"role": "user", "content": t} for t in texts]}}
    run = api.wait(api.post("/threads/runs", body).json())
    tid = run["thread_id"]
    everything = api.messages(tid, order="asc", limit=100)["data"]
    ids = [m["id"] for m in everything]
    assert len(ids) == 6 and everything[-1]["role"] == "assistant"
    assert [m["id"] for m in api.messages(tid)["data"]] == ids[::-1]
    first = api.messages(tid, order="asc", limit=2)
    assert [m["id"] for m in first["data"]] == ids[:2] and first["has_more"] is True
    assert (first["first_id"], first["last_id"]) == (ids[0], ids[1])
    second = api.messages(tid, order="asc", limit=2, after=first["last_id"])
    assert [m["id"] for m in second["data"]] == ids[2:4]
    before = api.messages(tid, order="asc", limit=2, before=ids[4])
    assert [m["id"] for m in before["data"]] == ids[2:4]
    last = api.messages(tid, order="asc", limit=10, after=ids[3])
    assert [m["id"] for m in last["data"]] == ids[4:] and last["has_more"] is False
    assert [m["id"] for m in api.messages(tid, run_id=run["id"])["data"]] == [ids[-1]]


def test_cancel_active_run_answers_cancelling_then_cancelled(api, srv):
    srv.latency = 5
    run = api.create_run()
    answer = api.post(api.run_path(run) + "/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelling"
    final = api.get(api.run_path(run)).json()
    assert final["status"] == "cancelled" and final["cancelled_at"] is not None
    assert final["usage"]["completion_tokens"] == 0 and final["expires_at"] is None
    assert [m["role"] for m in api.messages(run["thread_id"])["data"]] == ["user"]


def test_cancel_terminal_run_is_a_400(api):
    run = api.wait(api.create_run())
    response = api.post(api.run_path(run) + "/cancel")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "Cannot cancel run with status 'completed'."
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_max_completion_tokens_truncates_the_reply_and_ends_incomplete(api):
    text = " ".join(f"w{i}" for i in range(400))
    run = api.wait(api.create_run(text=text, max_completion_tokens=256))
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] == {"reason": "max_completion_tokens"}
    assert run["usage"]["completion_tokens"] == 256 and run["completed_at"] is None
    reply = api.messages(run["thread_id"])["data"][0]
    assert count_tokens(reply["content"][0]["text"]["value"]) == 256
    assert reply["status"] == "incomplete" and reply["incomplete_details"] == {"reason": "max_tokens"}


def test_prompt_over_max_prompt_tokens_ends_incomplete_without_reply(api):
    run = api.wait(api.create_run(text="word " * 300, max_prompt_tokens=256))
    assert run["status"] == "incomplete"
    assert run["incomplete_details"] == {"reason": "max_prompt_tokens"}
    assert len(api.messages(run["thread_id"])["data"]) == 1


def test_truncation_strategy_last_messages_limits_prompt_tokens(api):
    assistant = api.assistant()
    body = {"assistant_id": assistant["id"], "truncation_strategy": {"type": "last_messages", "last_messages": 1},
            "thread": {"messages": [{"role": "user", "content": "one two three"},
                                    {"role": "user", "content": "four"}]}}
    run = api.wait(api.post("/threads/runs", body).json())
    assert run["usage"]["prompt_tokens"] == 1


def test_store_keeps_at_most_max_runs_evicting_the_oldest_finished(make_api):
    with local_server(max_runs=3) as server:
        api = make_api(server)
        assistant = api.assistant()
        runs = [api.create_run(assistant["id"]) for _ in range(5)]
        assert len(server.app.store.runs) == 3 and len(server.app.store.threads) == 3
        assert api.get(api.run_path(runs[0])).status_code == 404
        assert api.get(api.run_path(runs[-1])).status_code == 200


def test_active_runs_are_not_evicted(make_api):
    with local_server(max_runs=2, latency=5) as server:
        api = make_api(server)
        runs = [api.create_run() for _ in range(3)]
        assert all(api.get(api.run_path(r)).status_code == 200 for r in runs)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_non_loopback_host_without_api_key_is_refused(host):
    with pytest.raises(ValueError, match="non-loopback"):
        LocalServer(host=host)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown provider 'opnai'.*did you mean 'openai'"):
        LocalServer(default_provider="opnai")
    with pytest.raises(ValueError, match="latency"):
        LocalServer(latency=-1)


def test_local_server_also_starts_without_a_with_block(make_api):
    server = local_server().start()
    try:
        assert make_api(server).get("/assistants/asst_x").status_code == 404
    finally:
        server.stop()


def test_stop_is_idempotent_and_closes_the_port():
    import requests
    server = LocalServer().start()
    url = server.url
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/assistants/asst_x", timeout=2)
