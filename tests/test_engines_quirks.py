"""The chat and responses engines against our stand-in upstream: quirks and faults, end to end.

Each test runs ``threadrun.run`` on the embedded runtime with a providers.toml whose providers
point at the stand-in, and checks the row a data scientist would see.
"""
from __future__ import annotations

import json
import time

import pytest

import threadrun
from standin_upstream import StandIn

KEY = "sk-standin-SECRET-0123456789"


@pytest.fixture
def upstream(isolated, monkeypatch):
    """A stand-in upstream and providers.toml entries ``standin`` (chat) and ``standin-r`` (responses)."""
    monkeypatch.setenv("STANDIN_KEY", KEY)

    def start(**kwargs):
        standin = StandIn(**kwargs)
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.standin]\nbase_url = "{standin.url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n'
            f'token_cap = "max_tokens"\nprices = {{ "m" = [1.0, 2.0] }}\n\n'
            f'[providers.standin-r]\nbase_url = "{standin.url}"\napi = "responses"\nkey_env = "STANDIN_KEY"\n')
        started.append(standin)
        return standin

    started: list[StandIn] = []
    yield start
    for standin in started:
        standin.close()


def run(model: str = "standin:m", **options):
    return threadrun.run("system: Be brief.\nuser: Say hello.", model=model, log=False, progress=False,
                         **options)


@pytest.mark.parametrize("stream", [True, False])
def test_a_chat_run_gets_the_upstreams_text_usage_and_cost(upstream, stream):
    standin = upstream()
    row = run(stream=stream).iloc[0]
    assert (row["status"], row["model"], row["provider"]) == ("completed", "m", "standin")
    assert row["reply"] == "Hello from the stand-in"
    assert (row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]) == (7, 5, 12)
    assert (row["reasoning_tokens"], row["cached_tokens"]) == (2, 3)
    assert row["cost_usd"] == pytest.approx((7 * 1.0 + 5 * 2.0) / 1e6)
    sent = standin.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {KEY}"
    assert sent["body"]["messages"] == [{"role": "system", "content": "Be brief."},
                                        {"role": "user", "content": "Say hello."}]
    assert sent["body"]["model"] == "m" and bool(sent["body"].get("stream")) == stream
    if stream:
        assert sent["body"]["stream_options"] == {"include_usage": True}
        assert 0 < row["ttft_s"] <= row["latency_s"]
    else:
        assert row["ttft_s"] != row["ttft_s"]  # NaN: a polled run has no first token to time


def test_only_settings_the_user_chose_are_sent_and_the_token_cap_uses_the_providers_field(upstream):
    standin = upstream()
    run(temperature=0.3, max_completion_tokens=300)
    body = standin.requests[-1]["body"]
    assert body["temperature"] == 0.3 and body["max_tokens"] == 300
    assert "top_p" not in body and "max_completion_tokens" not in body
    run()
    assert "temperature" not in standin.requests[-1]["body"]


def test_a_stream_without_usage_leaves_tokens_missing_not_estimated(upstream):
    upstream(usage=False)
    row = run().iloc[0]
    assert row["status"] == "completed" and row["reply"] == "Hello from the stand-in"
    assert row[["prompt_tokens", "completion_tokens", "total_tokens"]].isna().all()
    assert row["cost_usd"] != row["cost_usd"]


@pytest.mark.parametrize("mode, expected", [
    ("http500", "standin 500: temperature: must be <= 1 (after 2 retries)"),  # 5xx are retried
    ("detail401", "standin 401: Invalid API key"),
])
def test_an_upstream_error_is_one_line_with_its_own_status_and_message(upstream, mode, expected):
    upstream(mode=mode)
    row = run().iloc[0]
    assert row["status"] == "failed"
    assert row["error"] == f"run failed: server_error: {expected}"


def test_an_error_in_the_middle_of_a_stream_fails_the_run_with_its_message(upstream):
    upstream(mode="error-mid")
    row = run().iloc[0]
    assert row["status"] == "failed" and "the model crashed (stand-in)" in row["error"]


def test_a_key_echoed_by_the_upstream_is_scrubbed_from_the_row(upstream):
    upstream(mode="echo-key")
    row = run().iloc[0]
    assert row["status"] == "failed" and KEY not in row["error"] and "***" in row["error"]


def test_a_429_is_retried_honouring_retry_after_then_the_run_completes(upstream):
    standin = upstream(fail_first=1, retry_after="1")
    started = time.monotonic()
    row = run().iloc[0]
    assert row["status"] == "completed" and len(standin.requests) == 2
    assert time.monotonic() - started >= 0.9


def test_429s_past_the_retries_become_rate_limit_exceeded(upstream):
    standin = upstream(fail_first=10, retry_after="0")
    row = run().iloc[0]
    assert row["status"] == "failed"
    assert row["error"].startswith("run failed: rate_limit_exceeded: standin 429: Rate limit reached")
    assert len(standin.requests) == 3  # the first try and 2 retries


@pytest.mark.parametrize("model", ["standin:m", "standin-r:m"])
@pytest.mark.parametrize("stream", [True, False])
def test_a_function_call_ends_the_run_in_requires_action_with_the_calls_in_the_row(upstream, model, stream):
    upstream(tool_call=True)
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    row = threadrun.run("user: Weather in Paris?", model=model, tools=[tool], stream=stream, log=False,
                        progress=False).iloc[0]
    assert row["status"] == "requires_action"
    assert json.loads(row["tool_calls"]) == [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]


@pytest.mark.parametrize("stream", [True, False])
def test_a_responses_run_gets_text_and_usage(upstream, stream):
    standin = upstream()
    row = run("standin-r:m", stream=stream, max_completion_tokens=500).iloc[0]
    assert (row["status"], row["reply"], row["provider"]) == ("completed", "Hello from the stand-in", "standin-r")
    assert (row["prompt_tokens"], row["completion_tokens"], row["reasoning_tokens"]) == (9, 4, 1)
    sent = standin.requests[-1]
    assert sent["path"] == "/v1/responses"
    assert sent["body"]["instructions"] == "Be brief." and sent["body"]["max_output_tokens"] == 500
    assert sent["body"]["input"] == [{"role": "user", "content": "Say hello."}]


def test_cancelling_a_run_aborts_its_upstream_request_at_once(upstream):
    from threadrun.client import Client
    from threadrun.server.embedded import embedded
    standin = upstream(mode="hang")
    url, token = embedded()
    client = Client(url, token)
    asst = client.create_assistant("standin:m")["id"]
    started = []
    import threading
    stop = threading.Event()
    body = {"assistant_id": asst, "model": "standin:m",
            "thread": {"messages": [{"role": "user", "content": "go"}]}}
    worker = threading.Thread(target=lambda: client.run(
        body, on_started=lambda t, r: started.append((t, r)), stop=stop))
    worker.start()
    deadline = time.monotonic() + 10
    while not (started and standin.requests) and time.monotonic() < deadline:
        time.sleep(0.02)
    thread_id, run_id = started[0]
    client.cancel_run(thread_id, run_id)
    assert standin.aborted.wait(5), "the upstream call was not aborted"
    stop.set()
    worker.join(10)
    assert client.retrieve_run(thread_id, run_id)[0]["status"] == "cancelled"


def test_a_missing_key_fails_before_anything_is_sent(upstream, monkeypatch):
    standin = upstream()
    monkeypatch.delenv("STANDIN_KEY")
    with pytest.raises(threadrun.ValidationError, match=r"provider 'standin' needs a key: set \$STANDIN_KEY"):
        run()
    assert standin.requests == []


def test_each_provider_gets_only_its_own_key_and_no_key_reaches_the_row_or_log(isolated, monkeypatch):
    with StandIn() as a, StandIn() as b:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.a]\nbase_url = "{a.url}"\nkey_env = "A_KEY"\n\n'
            f'[providers.b]\nbase_url = "{b.url}"\nkey_env = "B_KEY"\nauth = "api-key"\n')
        monkeypatch.setenv("A_KEY", "sk-aaaa-SECRET")
        monkeypatch.setenv("B_KEY", "sk-bbbb-SECRET")
        df = threadrun.run("user: hi", model="a:m,b:m", label="keys", progress=False)
        assert list(df["status"]) == ["completed", "completed"]
        assert [r["headers"].get("authorization") for r in a.requests] == ["Bearer sk-aaaa-SECRET"]
        assert "api-key" not in a.requests[0]["headers"]
        assert b.requests[0]["headers"].get("api-key") == "sk-bbbb-SECRET"
        assert "authorization" not in b.requests[0]["headers"]
        assert "SECRET" not in df.to_json(date_format="iso")
        log_bytes = b"".join(p.read_bytes() for p in home.glob("runs.sqlite*"))
        assert b"SECRET" not in log_bytes and b"sk-aaaa" not in log_bytes


def test_a_json_bodys_provider_model_runs_on_that_provider(upstream):
    standin = upstream()
    body = '{"model": "standin:m", "thread": {"messages": [{"role": "user", "content": "hi"}]}}'
    row = threadrun.run(body, log=False, progress=False).iloc[0]
    assert (row["status"], row["provider"], row["model"]) == ("completed", "standin", "m")
    assert standin.requests[-1]["body"]["model"] == "m"


@pytest.mark.parametrize("model, field", [("standin:m", "reasoning_effort"), ("standin-r:m", "reasoning")])
def test_reasoning_effort_is_a_grid_dimension_sent_upstream_and_kept_in_the_row(upstream, model, field):
    standin = upstream()
    df = run(model, reasoning_effort="low,high", repeat=2)
    assert list(df["reasoning_effort"]) == ["low", "low", "high", "high"]
    assert len(set(df["assistant_id"])) == 2  # one scratch assistant per effort
    sent = [r["body"][field] for r in standin.requests]
    expected = ["low", "low", "high", "high"] if field == "reasoning_effort" else \
        [{"effort": e} for e in ("low", "low", "high", "high")]
    assert sorted(map(str, sent)) == sorted(map(str, expected))


def test_an_unknown_reasoning_effort_is_a_one_line_error_with_the_closest():
    with pytest.raises(threadrun.ValidationError,
                       match=r"--reasoning-effort 'hgih' is not one of none, minimal, low, medium, high, xhigh, max \(did you mean 'high'\?\)"):
        run("echo:gpt-5", reasoning_effort="hgih")


def test_text_reaches_the_client_as_the_model_writes_it_not_at_the_end(upstream):
    text = "one two three four five six seven eight nine ten eleven"
    upstream(mode="slow", text=text)  # 0.2 s after each word: 2.2 s in all
    row = run().iloc[0]
    assert row["status"] == "completed" and row["reply"] == text
    assert row["latency_s"] >= 2.0
    # the first word came long before the last (text held to the end makes them equal); 1 s of
    # the 2 s spread is left to a loaded machine's scheduling
    assert row["ttft_s"] < row["latency_s"] - 1.0, (row["ttft_s"], row["latency_s"])


def test_engines_go_through_the_users_proxy_settings(isolated, monkeypatch):
    with StandIn() as proxy:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            '[providers.corp]\nbase_url = "http://llm.corp.invalid/v1"\nkey_required = false\n')
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/v1"))
        row = threadrun.run("user: hi", model="corp:m", log=False, progress=False).iloc[0]
        assert row["status"] == "completed"
        assert proxy.requests[-1]["path"] == "http://llm.corp.invalid/v1/chat/completions"
        monkeypatch.setenv("NO_PROXY", "llm.corp.invalid")
        row = threadrun.run("user: hi", model="corp:m", log=False, progress=False).iloc[0]
        assert row["status"] == "failed" and "llm.corp.invalid" in row["error"]


def test_an_oversize_upstream_event_fails_the_run_in_one_line_not_a_server_error(upstream, monkeypatch):
    from threadrun.server import embedded as runtime
    from threadrun.http import sse
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 8)  # every chunk of the stand-in is larger
    monkeypatch.setattr(sse.iter_events, "__defaults__", (8,))
    upstream()
    before = len(runtime.embedded() and runtime.running().server_errors)
    row = run().iloc[0]
    assert row["status"] == "failed" and "standin: the server sent a stream" in row["error"]
    assert len(runtime.running().server_errors) == before
