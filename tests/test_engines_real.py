"""The chat and responses engines against real OpenAI-compatible servers nobody here wrote.

Each test runs ``threadrun.run`` on the embedded runtime with a providers.toml whose providers
point at one of three servers (see ``tests/upstreams/servers.py``), each started once for this
module:

* llama.cpp's own C++ server (the ``xllamacpp`` wheel) on a tiny random model: a real
  tokenizer, real usage, chat completions and the Responses API;
* ``llmock``: scripted replies and faults (a 503 then a reply, 429s past the retries);
* llama-cpp-python's server on the same model (skipped when ``llama_cpp`` is not installed,
  unless ``THREADRUN_REQUIRE_LLAMACPP=1``): no usage in streams, ``max_tokens`` only, FastAPI
  ``{"detail": ...}`` errors.

The tiny model never emits an end-of-sequence token, so every reply runs to the token cap
(``finish_reason == "length"``): the runs end ``incomplete`` with exactly ``cap`` completion
tokens wherever the server says so.
"""
from __future__ import annotations

import contextlib
import math
import os
import re
import time

import pytest
import requests

import threadrun
from upstreams.servers import UpstreamUnavailable, llamacpp_server, mock_server, xllamacpp_server

CAP = 256  # the smallest max_completion_tokens the Assistants spec allows
BAD_KEY = "sk-wrong-upstream-key-0123456789"
THREAD = "system: Be brief.\nuser: Say hello."
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
USAGE = ["prompt_tokens", "completion_tokens", "total_tokens"]


def run(model: str, **options):
    """One run on the embedded runtime: the row a data scientist would see."""
    return threadrun.run(THREAD, model=model, log=False, progress=False, **options).iloc[0]


def write_providers(isolated, text: str) -> None:
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(text)


def provider(name: str, base: str, *, api: str = "chat", key_env: str = "UPSTREAM_KEY",
             token_cap: str = "max_completion_tokens") -> str:
    return (f'[providers.{name}]\nbase_url = "{base}"\napi = "{api}"\nkey_env = "{key_env}"\n'
            f'token_cap = "{token_cap}"\nlocal = true\n\n')


def probe(base: str, key: str | None, path: str, body: dict) -> dict:
    """The server's own answer to the same request, sent directly (not through threadrun)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = requests.post(base + path, json=body, headers=headers, timeout=60)
    response.raise_for_status()
    return response.json()


def assert_no_key(row, *keys: str) -> None:
    cells = " ".join(str(value) for value in row.to_dict().values())
    for key in keys:
        assert key not in cells


def is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def assert_timing(row, stream: bool) -> None:
    if stream:
        assert 0 < row["ttft_s"] <= row["latency_s"]
    else:
        assert is_nan(row["ttft_s"])  # a polled run has no first token to time


# -- the servers: one each for the module --------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """The tiny GGUF model, written once for every llama.cpp server of this module."""
    pytest.importorskip("gguf", reason="gguf writes the tiny model: pip install gguf numpy")
    from upstreams.tiny_gguf import write_tiny_model
    path = tmp_path_factory.mktemp("upstreams")
    write_tiny_model(path / "tiny.gguf")
    return path


def start(stack: contextlib.ExitStack, server, *args, required: str | None = None, **kwargs):
    """Enter ``server(...)``; skip its tests if its package is missing (fail when ``required``)."""
    try:
        return stack.enter_context(server(*args, **kwargs))
    except UpstreamUnavailable as exc:
        if required:
            pytest.fail(f"{server.__name__}: {exc} ({required})", pytrace=False)
        pytest.skip(f"{server.__name__}: {exc}")


@pytest.fixture(scope="module")
def xllamacpp_upstream(model_dir):
    """llama.cpp's C++ server (xllamacpp) on the tiny model: ``(base_url, key)``."""
    with contextlib.ExitStack() as stack:
        yield start(stack, xllamacpp_server, model_dir, model=model_dir / "tiny.gguf", threads=1)


@pytest.fixture(scope="module")
def llmock_upstream(tmp_path_factory):
    """An llmock server (no key checked): its base URL."""
    with contextlib.ExitStack() as stack:
        base, _ = start(stack, mock_server, tmp_path_factory.mktemp("llmock"),
                        required="llmock is in the test extras")
        yield base


@pytest.fixture(scope="module")
def llamacpp_upstream(model_dir):
    """llama-cpp-python's server on the tiny model: ``(base_url, key)``."""
    required = os.environ.get("THREADRUN_REQUIRE_LLAMACPP") == "1"
    with contextlib.ExitStack() as stack:
        yield start(stack, llamacpp_server, model_dir, model=model_dir / "tiny.gguf",
                    required="THREADRUN_REQUIRE_LLAMACPP=1" if required else None)


# -- providers.toml per test -----------------------------------------------------------------


@pytest.fixture
def xll(isolated, monkeypatch, xllamacpp_upstream):
    """Providers on xllamacpp: xll (chat), xll-mt (chat, max_tokens), xll-r (responses), xll-bad."""
    base, key = xllamacpp_upstream
    monkeypatch.setenv("UPSTREAM_KEY", key)
    monkeypatch.setenv("UPSTREAM_BAD_KEY", BAD_KEY)
    write_providers(isolated, provider("xll", base) + provider("xll-mt", base, token_cap="max_tokens")
                    + provider("xll-r", base, api="responses")
                    + provider("xll-bad", base, key_env="UPSTREAM_BAD_KEY")
                    + provider("xll-badc", base, key_env="UPSTREAM_BAD_KEY")
                    + 'token_count = "responses"\n')
    return base, key


@pytest.fixture
def llm(isolated, monkeypatch, llmock_upstream):
    """Provider ``llm`` on a freshly reset llmock; yields its admin URL."""
    monkeypatch.setenv("UPSTREAM_KEY", "sk-llmock-any")
    # llmock answers GET /models from its script too: no model check, so each step is a chat call
    write_providers(isolated, provider("llm", llmock_upstream) + "check_models = false\n")
    admin = llmock_upstream.removesuffix("/v1") + "/_llmock"
    requests.post(admin + "/reset", timeout=10).raise_for_status()
    yield admin
    requests.post(admin + "/reset", timeout=10)


@pytest.fixture
def lcp(isolated, monkeypatch, llamacpp_upstream):
    """Providers on llama-cpp-python: lcp (chat, max_tokens) and lcp-bad (a wrong key)."""
    base, key = llamacpp_upstream
    monkeypatch.setenv("UPSTREAM_KEY", key)
    monkeypatch.setenv("UPSTREAM_BAD_KEY", BAD_KEY)
    write_providers(isolated, provider("lcp", base, token_cap="max_tokens")
                    + provider("lcp-bad", base, key_env="UPSTREAM_BAD_KEY"))
    return base, key


# -- llama.cpp's own server (xllamacpp) -------------------------------------------------------


@pytest.mark.parametrize("model", ["xll:tiny", "xll-mt:tiny"])  # max_completion_tokens, max_tokens
@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llama_cpp_chat_run_has_the_servers_usage_and_ends_incomplete_at_the_cap(xll, model, stream):
    base, key = xll
    server = probe(base, key, "/chat/completions",
                   {"model": "tiny", "messages": MESSAGES, "max_tokens": CAP})
    assert server["choices"][0]["finish_reason"] == "length"  # the tiny model runs to the cap
    row = run(model, stream=stream, max_completion_tokens=CAP)
    assert (row["status"], row["error"]) == ("incomplete", "run incomplete: max_completion_tokens")
    assert isinstance(row["reply"], str) and row["reply"].strip()
    assert row["completion_tokens"] == CAP  # the cap went out in the provider's field, and held
    assert row["prompt_tokens"] == server["usage"]["prompt_tokens"]  # its tokenizer, not ours
    assert row["total_tokens"] == server["usage"]["total_tokens"] == row["prompt_tokens"] + CAP
    assert 0 <= row["cached_tokens"] <= row["prompt_tokens"]  # reported by llama.cpp's cache
    assert row["cost_usd"] == 0  # local = true
    assert_timing(row, stream)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_a_table_without_token_cap_sends_max_tokens_and_the_row_records_what_was_sent(
        isolated, monkeypatch, xllamacpp_upstream, stream):
    import json
    base, key = xllamacpp_upstream
    monkeypatch.setenv("UPSTREAM_KEY", key)
    write_providers(isolated, f'[providers.plain]\nbase_url = "{base}"\nkey_env = "UPSTREAM_KEY"\n')
    row = run("plain:tiny", stream=stream, max_completion_tokens=CAP, temperature=0.5)
    sent = json.loads(row["sent"])
    assert (sent["max_tokens"], sent["temperature"], sent["model"]) == (CAP, 0.5, "tiny")
    assert "max_completion_tokens" not in sent and ("stream_options" in sent) == stream
    assert (row["status"], row["completion_tokens"]) == ("incomplete", CAP)  # the cap held
    assert row["error"] == "run incomplete: max_completion_tokens"  # no cap-ignored notice


def test_a_model_the_local_server_does_not_list_completes_with_a_notice_saying_so(xll):
    """llama.cpp runs its one model whatever name a request gives: the row says so."""
    row = run("xll:wrong-name", max_completion_tokens=CAP)
    assert row["status"] == "incomplete" and row["completion_tokens"] == CAP  # it did run
    assert "xll does not list 'wrong-name' at /models (it lists: tiny)" in row["error"]
    listed = run("xll:tiny", max_completion_tokens=CAP)
    assert "does not list" not in listed["error"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llama_cpp_responses_run_has_usage_from_the_response_and_honours_the_cap(xll, stream):
    base, key = xll
    server = probe(base, key, "/responses", {"model": "tiny", "input": MESSAGES, "store": False,
                                             "max_output_tokens": CAP})
    row = run("xll-r:tiny", stream=stream, max_completion_tokens=CAP)
    # llama.cpp answers status "completed" (no incomplete_details) even when it stopped at
    # max_output_tokens; the run reports what the server said.
    expected = "incomplete" if server["status"] == "incomplete" else "completed"
    assert row["status"] == expected
    assert isinstance(row["reply"], str) and row["reply"].strip()
    assert row["completion_tokens"] == server["usage"]["output_tokens"] == CAP
    assert row["prompt_tokens"] == server["usage"]["input_tokens"]
    assert row["total_tokens"] == row["prompt_tokens"] + CAP
    assert row["cost_usd"] == 0
    assert_timing(row, stream)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llama_cpp_wrong_key_fails_the_run_with_its_401_message_and_no_key(xll, stream):
    _, key = xll
    row = run("xll-bad:tiny", stream=stream, max_completion_tokens=CAP)
    assert row["status"] == "failed"
    assert "401" in row["error"] and "Invalid API Key" in row["error"]
    assert row[USAGE].isna().all()
    assert_no_key(row, BAD_KEY, key)


@pytest.mark.parametrize("count,how", [("llamacpp", "POST /apply-template + /tokenize"),
                                       ("responses", "POST /responses/input_tokens")])
def test_a_dry_run_counts_the_prompt_on_llama_cpp_exactly_as_its_run_then_reports_it(
        isolated, monkeypatch, xllamacpp_upstream, capsys, count, how):
    """The forecast's input tokens are llama.cpp's own count (its chat template, its tokenizer):
    the runs sent afterwards report exactly that many prompt tokens each."""
    base, key = xllamacpp_upstream
    monkeypatch.setenv("UPSTREAM_KEY", key)
    write_providers(isolated, provider("xc", base) + f'token_count = "{count}"\n')
    threadrun.dry_run(THREAD, model="xc:tiny", repeat=3, max_completion_tokens=CAP)
    out = capsys.readouterr().out
    found = re.search(r"forecast xc:tiny: 3 runs; input ([\d,]+) tokens \(counted by the provider\)", out)
    assert found, out
    assert f"input tokens of xc:tiny counted by xc {how}; no run was sent" in out
    rows = threadrun.run(THREAD, model="xc:tiny", repeat=3, max_completion_tokens=CAP,
                         progress=False, log=False)
    assert rows["prompt_tokens"].min() > 10  # a chat template's worth, not a word count
    assert int(found.group(1).replace(",", "")) == rows["prompt_tokens"].sum()
    assert key not in out


def test_a_failed_count_on_llama_cpp_says_the_servers_401_in_one_line_and_leaves_the_input_unknown(
        xll, capsys):
    """A wrong key: the count's 401 is one line with llama.cpp's own message, never the key."""
    threadrun.dry_run("user: Say hello to {x}.", model="xll-badc:tiny",
                      over=[{"x": i} for i in range(4)], max_completion_tokens=CAP)
    out = capsys.readouterr().out
    assert "input unknown for 4 of 4 runs" in out
    assert ("threadrun: input tokens not counted by the provider: xll-badc:tiny: the count failed: "
            "xll-badc 401: Invalid API Key\n") in out
    assert BAD_KEY not in out and xll[1] not in out


# -- llmock: usage in streams, scripted faults ----------------------------------------------


def scenario(admin: str, *behaviors: dict) -> None:
    requests.post(admin + "/scenario", json={"behaviors": list(behaviors)},
                  timeout=10).raise_for_status()


def served(admin: str) -> list[dict]:
    return requests.get(admin + "/requests", timeout=10).json()["requests"]


def test_llmock_stream_with_include_usage_gives_the_servers_usage(llm, llmock_upstream):
    text = "Hello there, from a scripted llmock reply."
    scenario(llm, {"type": "reply", "text": text}, {"type": "reply", "text": text})
    row = run("llm:tiny", stream=True)
    body = served(llm)[-1]["body"]
    server = probe(llmock_upstream, None, "/chat/completions", body | {"stream": False})
    assert (row["status"], row["reply"]) == ("completed", text)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert [row[c] for c in USAGE] == [server["usage"][c] for c in USAGE]
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"] > 0
    assert row["cost_usd"] == 0
    assert 0 < row["ttft_s"] <= row["latency_s"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llmock_503_is_retried_after_its_retry_after_and_the_run_completes(llm, stream):
    scenario(llm, {"type": "fail", "status": 503, "retry_after": 1, "times": 1},
             {"type": "reply", "text": "Back on my feet."})
    row = run("llm:tiny", stream=stream)
    assert (row["status"], row["reply"], row["error"]) == ("completed", "Back on my feet.", None)
    calls = served(llm)
    assert [c["status"] for c in calls] == [503, 200]
    assert calls[0]["fingerprint"] == calls[1]["fingerprint"]  # the same request, sent again
    assert calls[1]["started_at"] - calls[0]["ended_at"] >= 0.9  # Retry-After: 1 was honoured


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llmock_429s_past_the_retries_fail_the_run_with_rate_limit_exceeded(llm, stream):
    scenario(llm, {"type": "fail", "status": 429, "retry_after": 0.1, "times": 3})
    started = time.monotonic()
    row = run("llm:tiny", stream=stream)
    assert row["status"] == "failed"
    assert row["error"].startswith("run failed: rate_limit_exceeded: llm 429: ")
    assert "(after 2 retries)" in row["error"]
    assert [c["status"] for c in served(llm)] == [429, 429, 429]  # the first try and 2 retries
    assert time.monotonic() - started < 10


# -- llama-cpp-python's server ------------------------------------------------------------


def test_llama_cpp_python_stream_has_text_but_no_usage_and_none_is_estimated(lcp):
    row = run("lcp:tiny", stream=True, max_completion_tokens=CAP)
    assert (row["status"], row["error"]) == ("incomplete", "run incomplete: max_completion_tokens")
    assert isinstance(row["reply"], str) and row["reply"].strip()
    assert row[USAGE].isna().all()  # it never sends usage in streams
    assert is_nan(row["cost_usd"])
    assert 0 < row["ttft_s"] <= row["latency_s"]


def test_llama_cpp_python_polled_run_has_usage_and_max_tokens_caps_it(lcp):
    base, key = lcp
    server = probe(base, key, "/chat/completions",
                   {"model": "tiny", "messages": MESSAGES, "max_tokens": CAP})
    row = run("lcp:tiny", stream=False, max_completion_tokens=CAP)
    assert (row["status"], row["error"]) == ("incomplete", "run incomplete: max_completion_tokens")
    assert isinstance(row["reply"], str) and row["reply"].strip()
    assert row["completion_tokens"] == CAP
    assert row["prompt_tokens"] == server["usage"]["prompt_tokens"]
    assert row["total_tokens"] == row["prompt_tokens"] + CAP
    assert row["cost_usd"] == 0
    assert is_nan(row["ttft_s"])


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_llama_cpp_python_wrong_key_fails_with_its_401_detail_and_no_key(lcp, stream):
    _, key = lcp
    row = run("lcp-bad:tiny", stream=stream, max_completion_tokens=CAP)
    assert row["status"] == "failed"
    assert "401" in row["error"] and "Invalid API key" in row["error"]
    assert row[USAGE].isna().all()
    assert_no_key(row, BAD_KEY, key)
