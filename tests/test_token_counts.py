"""The forecast's input tokens, counted by each provider's own count endpoint (issue #23 point 5).

The runtime's ``POST /v1/threads/runs/input_tokens`` builds the request a run would send and asks
the provider named by ``token_count`` in providers.toml. llama.cpp's real server is asked in
tests/test_engines_real.py (its count equals its runs' usage); here our stand-in upstream plays
the answers of the vendors that cannot run on this machine, in their documented shapes, and
records what the runtime sent: the path, the auth header, the body.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import requests

import threadrun
from standin_upstream import Recorded, StandIn
from threadrun import config
from threadrun.grid import forecast
from threadrun.providers import apis
from threadrun.server.engines.counts import DIALECTS

KEY = "sk-count-test-0123456789abcdef"
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Find an order.",
                                         "parameters": {"type": "object", "properties": {
                                             "order": {"type": "string"}}}}}
BODY = {"instructions": "Be brief.", "tools": [TOOL], "thread": {"messages": [
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "Which order?"},
    {"role": "user", "content": "Order 42."}]}}


def home() -> Path:
    path = Path(os.environ["THREADRUN_HOME"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def table(name: str, base: str, count: str | None, key_env: str = "COUNT_KEY") -> str:
    line = f'token_count = "{count}"\n' if count else ""
    return (f'[providers.{name}]\napi = "chat"\nbase_url = "{base}"\nkey_env = "{key_env}"\n'
            f'prices = {{ "m" = [1.0, 2.0] }}\n{line}\n')


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("COUNT_KEY", KEY)
    with threadrun.local_server() as srv:
        yield srv


def ask(server, body: dict) -> requests.Response:
    return requests.post(server.url + "/threads/runs/input_tokens", json=body, timeout=30)


def test_every_token_count_name_a_providers_file_may_use_has_its_dialect():
    assert set(DIALECTS) == set(apis.TOKEN_COUNTS)


def test_a_misspelled_token_count_is_a_one_line_error_naming_the_close_one(capsys):
    (home() / "providers.toml").write_text(table("p", "http://127.0.0.1:9/v1", "antropic"))
    with pytest.raises(threadrun.errors.ValidationError) as caught:
        threadrun.dry_run("user: hi", model="p:m")
    assert str(caught.value).endswith("[providers.p].token_count: 'antropic' is not one of "
                                      "responses, anthropic, gemini, llamacpp, vllm (did you mean "
                                      "'anthropic'?)")


def test_anthropic_is_asked_at_messages_count_tokens_with_its_own_headers_and_shape(server):
    # https://docs.anthropic.com/en/api/messages-count-tokens: {"input_tokens": N}
    with StandIn(recorded=Recorded(body={"input_tokens": 41})) as up:
        (home() / "providers.toml").write_text(table("ant", up.url, "anthropic"))
        answer = ask(server, {**BODY, "model": "ant:m"})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"object": "thread.run.input_tokens", "input_tokens": 41,
                                 "model": "ant:m", "counted_by": "ant POST /messages/count_tokens "
                                 "(an estimate, as Anthropic says)"}
        [sent] = up.requests
    assert sent["path"] == "/v1/messages/count_tokens"
    assert sent["headers"]["x-api-key"] == KEY and "authorization" not in sent["headers"]
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["body"] == {"model": "m", "system": "Be brief.", "messages": [
        {"role": "user", "content": "Where is my parcel?"},
        {"role": "assistant", "content": "Which order?"},
        {"role": "user", "content": "Order 42."}], "tools": [
        {"name": "lookup", "description": "Find an order.",
         "input_schema": TOOL["function"]["parameters"]}]}


def test_gemini_is_asked_at_its_native_count_tokens_with_a_generate_content_request(server):
    # https://ai.google.dev/api/tokens#method:-models.counttokens: {"totalTokens": N, ...}
    with StandIn(recorded=Recorded(body={"totalTokens": 37, "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 37}]})) as up:
        base = up.url.replace("/v1", "/v1beta/openai")
        (home() / "providers.toml").write_text(table("gem", base, "gemini"))
        answer = ask(server, {**BODY, "model": "gem:gemini-x"})
        assert answer.json()["input_tokens"] == 37
        [sent] = up.requests
    assert sent["path"] == "/v1beta/models/gemini-x:countTokens"
    assert sent["headers"]["x-goog-api-key"] == KEY and "authorization" not in sent["headers"]
    inner = sent["body"]["generateContentRequest"]
    assert inner["model"] == "models/gemini-x"
    assert inner["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in inner["contents"]] == ["user", "model", "user"]
    assert inner["contents"][2] == {"role": "user", "parts": [{"text": "Order 42."}]}
    assert inner["tools"] == [{"functionDeclarations": [
        {"name": "lookup", "description": "Find an order.",
         "parameters": TOOL["function"]["parameters"]}]}]


def test_vllm_is_asked_at_tokenize_with_the_messages_and_the_generation_prompt(server):
    # vLLM's TokenizeChatRequest / TokenizeResponse: {"count", "max_model_len", "tokens"}
    with StandIn(recorded=Recorded(body={"count": 29, "max_model_len": 4096,
                                         "tokens": list(range(29))})) as up:
        (home() / "providers.toml").write_text(table("vl", up.url, "vllm"))
        answer = ask(server, {**BODY, "model": "vl:m"})
        assert answer.json()["input_tokens"] == 29
        [sent] = up.requests
    assert sent["path"] == "/tokenize" and sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"]["add_generation_prompt"] is True
    assert sent["body"]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["body"]["tools"] == [TOOL]


def test_a_count_answer_without_a_number_is_a_424_naming_the_provider(server):
    with StandIn(recorded=Recorded(body={"tokens": "many"})) as up:
        (home() / "providers.toml").write_text(table("vl", up.url, "vllm"))
        answer = ask(server, {**BODY, "model": "vl:m"})
    assert answer.status_code == 424  # final: a client does not retry it, as it would a 502
    assert answer.json()["error"]["message"] == "vl: /tokenize answered no 'count' count"


def test_a_count_needs_a_model_or_an_assistant_and_refuses_unknown_fields(server):
    missing = ask(server, {"thread": BODY["thread"]})
    assert (missing.status_code, missing.json()["error"]["param"]) == (400, "model")
    unknown = ask(server, {"model": "echo:m", "threads": {}})
    assert unknown.status_code == 400 and "threads" in unknown.json()["error"]["message"]


def test_a_dry_run_counts_each_prompt_once_and_sends_no_run(capsys):
    with StandIn(recorded=Recorded(body={"input_tokens": 11})) as up:
        os.environ["COUNT_KEY"] = KEY
        (home() / "providers.toml").write_text(table("ant", up.url, "anthropic"))
        bodies = threadrun.dry_run("user: Where is parcel {n}?", model="ant:m", repeat=3,
                                   over=[{"n": n} for n in range(4)], max_completion_tokens=300)
        paths = [r["path"] for r in up.requests]
    out = capsys.readouterr().out
    assert len(bodies) == 12 and paths == ["/v1/messages/count_tokens"] * 4  # 4 prompts, 3 repeats
    assert "forecast ant:m: 12 runs; input 132 tokens (counted by the provider);" in out
    low, high = 132 * 1.0 / 1e6, (132 * 1.0 + 12 * 300 * 2.0) / 1e6
    assert f"cost {forecast.usd(low)}–{forecast.usd(high)};" in out
    assert KEY not in out


def test_a_model_whose_first_count_fails_is_not_asked_again_and_its_line_says_why(capsys):
    with StandIn(mode="http500") as up:
        os.environ["COUNT_KEY"] = KEY
        (home() / "providers.toml").write_text(table("ant", up.url, "anthropic"))
        threadrun.dry_run("user: Where is parcel {n}?", model="ant:m", concurrency=1,
                          over=[{"n": n} for n in range(5)], max_completion_tokens=300)
        asked = len(up.requests)
    out = capsys.readouterr().out
    assert asked == 3  # the runtime's own retries of a 500 (two), then no other prompt is asked
    assert "input unknown for 5 of 5 runs" in out
    assert ("threadrun: input tokens not counted by the provider: ant:m: the count failed: ant 500: "
            "temperature: must be <= 1 (after 2 retries)\n") in out


def test_prompts_the_log_has_seen_are_not_counted_again(capsys):
    threadrun.run("user: Where is parcel {n}?", model="echo:gpt-4o", over=[{"n": 1}, {"n": 2}],
                  progress=False)
    capsys.readouterr()
    with threadrun.local_server() as srv:
        os.environ["THREADRUN_BASE_URL"] = srv.url
        try:
            threadrun.dry_run("user: Where is parcel {n}?", model="echo:gpt-4o",
                              over=[{"n": n} for n in (1, 2, 3)], max_completion_tokens=300)
        finally:
            del os.environ["THREADRUN_BASE_URL"]
        asked = srv.counts.get("POST /threads/runs/input_tokens", 0)
    out = capsys.readouterr().out
    assert asked == 1  # only parcel 3's prompt; 1 and 2 are in the log
    assert re.search(r"input \d+ tokens \(log history for 2, counted by the provider for 1\)", out)


def test_a_dry_run_counts_a_sample_of_its_limit_and_scales_the_others_by_length(monkeypatch, capsys):
    monkeypatch.setattr(config, "COUNT_MAX", 2)
    texts = [{"n": "x " * (1 + 3 * n)} for n in range(5)]  # 1, 4, 7, 10, 13 words
    threadrun.dry_run("user: Where is {n}?", model="echo:gpt-4o", over=texts,
                      max_completion_tokens=300)
    out = capsys.readouterr().out
    found = re.search(r"input ≈ ([\d,]+) tokens \(counted by the provider for 2, scaled by length "
                      r"from those counted for 3\)", out)
    assert found, out
    done = threadrun.run("user: Where is {n}?", model="echo:gpt-4o", over=texts,
                         max_completion_tokens=300, progress=False, log=False)
    actual = done["prompt_tokens"].sum()  # 3 + words each: 60
    assert 0.5 * actual <= int(found.group(1).replace(",", "")) <= 1.5 * actual  # an estimate


def test_the_echo_count_is_what_its_runs_then_report(capsys):
    rows = {"over": [{"n": n} for n in ("one", "two words", "three short words")]}
    threadrun.dry_run("system: Be brief.\nuser: Where is {n}?", model="echo:gpt-4o", **rows,
                      max_completion_tokens=300)
    counted = re.search(r"input (\d+) tokens \(counted by the provider\)", capsys.readouterr().out)
    done = threadrun.run("system: Be brief.\nuser: Where is {n}?", model="echo:gpt-4o", **rows,
                         max_completion_tokens=300, progress=False, log=False)
    assert counted and int(counted.group(1)) == done["prompt_tokens"].sum() > 3 * 3


def test_a_continued_threads_prompt_is_never_counted_from_its_body_alone():
    """Its earlier messages are on the server: counting the body alone would undercount."""
    from threadrun.grid.plan import Job
    fresh = Job(0, "echo:a", None, 0, {"model": "echo:a", "thread": {"messages": []}})
    continued = Job(1, "echo:a", None, 0, {"model": "echo:a", "additional_messages": []},
                    thread_id="thread_1")
    jobs = [fresh, continued]
    prompts = forecast.unseen(jobs, forecast.thread_hashes(jobs), None)
    assert list(prompts.values()) == [{"model": "echo:a", "thread": {"messages": []}}]


def test_a_server_that_cannot_be_reached_leaves_the_input_unknown_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("THREADRUN_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    threadrun.dry_run("user: Where is {n}?", model="echo:gpt-4o", over=[{"n": 1}, {"n": 2}],
                      max_completion_tokens=300, max_retries=0)
    out = capsys.readouterr().out
    assert "input unknown for 2 of 2 runs" in out
    assert ("threadrun: input tokens not counted by the provider: echo:gpt-4o: the count failed: "
            "POST /threads/runs/input_tokens: connection refused (is the server running?)\n") in out
