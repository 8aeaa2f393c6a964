"""Issue 19, point 3: usage on every path, read where each vendor reports it.

Through the real runtime: our stand-in upstream playing answers in each vendor's documented
shape (tests/recorded_answers.py cites the pages), and llmock (a server nobody here wrote) for
tool calls. The row a data scientist sees, and the run object the runtime keeps, must both
carry the provider's own numbers.
"""
from __future__ import annotations

import contextlib
import json

import pytest
import requests

import recorded_answers as rec
import threadrun
from standin_upstream import StandIn
from upstreams.servers import UpstreamUnavailable, mock_server

KEY = "sk-standin-usage-0123456789"
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


@pytest.fixture
def upstream(isolated, monkeypatch):
    """``start(**StandIn options)``: a stand-in as providers ``rec`` (chat) and ``rec-r`` (responses)."""
    monkeypatch.setenv("REC_KEY", KEY)
    started: list[StandIn] = []

    def start(**kwargs) -> StandIn:
        standin = StandIn(**kwargs)
        started.append(standin)
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.rec]\nbase_url = "{standin.url}"\napi = "chat"\nkey_env = "REC_KEY"\n'
            f'token_cap = "max_tokens"\nprices = {{ "m" = [1.0, 2.0] }}\n\n'
            f'[providers.rec-r]\nbase_url = "{standin.url}"\napi = "responses"\nkey_env = "REC_KEY"\n'
            f'prices = {{ "m" = [1.0, 2.0] }}\n')
        return standin

    yield start
    for standin in started:
        standin.close()


def run(model: str = "rec:m", **options):
    return threadrun.run("user: Weather in Paris?", model=model, log=False, progress=False, **options).iloc[0]


def run_object(row) -> dict:
    """The run as the embedded runtime keeps it (after the client's cancel, for a tool call)."""
    from threadrun.client import Client
    from threadrun.server.embedded import embedded
    url, token = embedded()
    return Client(url, token).retrieve_run(row["thread_id"], row["run_id"])[0]


# -- tool-call runs keep their usage -----------------------------------------------------------


@pytest.mark.parametrize("model, usage", [("rec:m", (7, 5, 12)), ("rec-r:m", (9, 4, 13))],
                         ids=["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_a_tool_call_row_keeps_the_providers_usage_and_cost_and_so_does_the_cancelled_run(
        upstream, model, usage, stream):
    upstream(tool_call=True)
    row = run(model, tools=[TOOL], stream=stream)
    assert row["status"] == "requires_action"
    assert json.loads(row["tool_calls"]) == [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == usage
    assert row["cost_usd"] == pytest.approx((usage[0] * 1.0 + usage[1] * 2.0) / 1e6)
    assert row["completed_at"] >= row["created_at"]  # when it ended (cancelled), not NaT
    kept = run_object(row)
    assert kept["status"] == "cancelled"
    assert (kept["usage"]["prompt_tokens"], kept["usage"]["completion_tokens"],
            kept["usage"]["total_tokens"]) == usage


@pytest.fixture(scope="module")
def llmock_base(tmp_path_factory):
    """An llmock server (PyPI, MIT; no key checked): its base URL."""
    with contextlib.ExitStack() as stack:
        try:
            yield stack.enter_context(mock_server(tmp_dir=tmp_path_factory.mktemp("llmock")))[0]
        except UpstreamUnavailable as exc:
            pytest.fail(f"llmock is in the test extras: {exc}", pytrace=False)


@pytest.fixture
def llm(isolated, monkeypatch, llmock_base):
    """Provider ``llm`` on a freshly reset llmock; yields its admin URL."""
    monkeypatch.setenv("LLM_KEY", "sk-llmock-any")
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        f'[providers.llm]\nbase_url = "{llmock_base}"\napi = "chat"\nkey_env = "LLM_KEY"\nlocal = true\n'
        f'check_models = false\n\n'  # llmock answers GET /models from its script too
        f'[providers.llm-r]\nbase_url = "{llmock_base}"\napi = "responses"\nkey_env = "LLM_KEY"\n'
        f'local = true\ncheck_models = false\n')
    admin = llmock_base.removesuffix("/v1") + "/_llmock"
    requests.post(admin + "/reset", timeout=10).raise_for_status()
    yield admin
    requests.post(admin + "/reset", timeout=10)


def llmock_usage(base: str, path: str, body: dict) -> dict:
    """llmock's own usage for the same request, sent directly (it is deterministic)."""
    answer = requests.post(base + path, json={**body, "stream": False}, timeout=30)
    answer.raise_for_status()
    return answer.json()["usage"]


@pytest.mark.parametrize("model, path", [("llm:tiny", "/chat/completions"), ("llm-r:tiny", "/responses")],
                         ids=["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llmock_tool_call_rows_keep_llmocks_own_usage(llm, llmock_base, model, path, stream):
    call = {"type": "reply", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}
    requests.post(llm + "/scenario", json={"behaviors": [call, call]}, timeout=10).raise_for_status()
    row = run(model, tools=[TOOL], stream=stream)
    sent = requests.get(llm + "/requests", timeout=10).json()["requests"][-1]["body"]
    usage = llmock_usage(llmock_base, path, sent)
    names = ("prompt_tokens", "completion_tokens") if path.startswith("/chat") else ("input_tokens", "output_tokens")
    assert row["status"] == "requires_action"
    assert json.loads(row["tool_calls"])[0]["name"] == "get_weather"
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage[names[0]], usage[names[1]])
    assert row["total_tokens"] == usage["total_tokens"] > 0


# -- usage where each vendor reports it ---------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_deepseek_cache_hits_are_the_rows_cached_tokens(upstream, stream):
    upstream(recorded=rec.DEEPSEEK)
    row = run(stream=stream)
    assert (row["status"], row["reply"]) == ("completed", "Paris.")  # reasoning_content is not the reply
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (1936, 310, 2246)
    assert (row["cached_tokens"], row["reasoning_tokens"]) == (1920, 290)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_geminis_own_total_tokens_is_kept_not_recomputed(upstream, stream):
    upstream(recorded=rec.GEMINI_TEXT)
    row = run(stream=stream)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (9, 12)
    assert row["total_tokens"] == 393  # thinking tokens included, as Gemini reported
    assert run_object(row)["usage"]["total_tokens"] == 393


def test_geminis_streamed_parallel_calls_without_index_stay_two_calls(upstream):
    upstream(recorded=rec.GEMINI_PARALLEL_CALLS)
    row = run(tools=[TOOL], stream=True)
    assert row["status"] == "requires_action"
    assert json.loads(row["tool_calls"]) == [{"name": "get_weather", "arguments": '{"city": "Paris"}'},
                                             {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}]
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (40, 22, 118)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_mistral_thinking_and_text_parts_give_the_text_as_the_reply(upstream, stream):
    upstream(recorded=rec.MISTRAL_REASONING)
    row = run(stream=stream)
    assert (row["status"], row["reply"]) == ("completed", "Hello! How can I help?")
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (14, 120, 134)


# -- the upstream's own message, whatever the framing -------------------------------------------


def test_an_error_event_without_type_on_a_responses_stream_keeps_its_message(upstream):
    upstream(recorded=rec.RESPONSES_UNTYPED_ERROR)
    row = run("rec-r:m", stream=True)
    assert row["status"] == "failed"
    assert row["error"] == "run failed: server_error: rec-r: The model is overloaded (recorded)"


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_an_event_stream_error_body_on_a_400_keeps_the_upstreams_message(upstream, stream):
    upstream(recorded=rec.SSE_ERROR_400)
    row = run(stream=stream)
    assert row["status"] == "failed"
    assert row["error"] == "run failed: server_error: rec 400: max_tokens is too large: 99999 (recorded)"


def test_streamed_call_pieces_join_per_index_and_a_new_id_starts_a_new_call():
    from threadrun.server.engines.chat import read_stream

    def piece(**part):
        return "message", json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [part]}}]})
    events = [piece(index=0, id="a", function={"name": "f", "arguments": '{"x"'}),
              piece(index=0, function={"arguments": ": 1}"}),
              piece(index=0, id="b", function={"name": "g", "arguments": "{}"}),  # index reused, new id
              piece(id="c", function={"name": "h", "arguments": '{"y": '}),  # no index (Gemini)
              piece(function={"arguments": "2}"}),  # neither: continues the last call
              ("message", json.dumps({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))]
    reply = read_stream(iter(events), lambda _: None, "p")
    assert reply.tool_calls == [{"name": "f", "arguments": '{"x": 1}'}, {"name": "g", "arguments": "{}"},
                                {"name": "h", "arguments": '{"y": 2}'}]
