"""%%threadrun end to end against the local server: options, rows, dtypes, replies."""
from __future__ import annotations

import pandas as pd
import pytest

from threadrun.server.engines.echo import echo_reply

CONTRACT = ["model", "provider", "temperature", "top_p", "reasoning_effort", "status", "total_tokens",
            "cost_usd", "latency_s", "ttft_s", "queue_s", "reply", "error", "tool_calls", "sent", "label",
            "prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens",
            "repeat", "retries", "run_id", "thread_id", "assistant_id", "request_id",
            "created_at", "completed_at"]

THREE = """\
system: Answer in one word.
user: What is the capital of {country}?
assistant: Paris.
user: And of Spain?
"""


def creates(server):
    """Bodies of the createThreadAndRun requests the server received, in order."""
    return [r.body for r in server.requests if r.route == "POST /threads/runs"]


def test_three_message_thread_arrives_at_the_server_exactly_as_composed(ip, server):
    ip.user_ns["country"] = "France"
    df = ip.run_cell_magic("threadrun", "--model gpt-4o-mini --temperature 0.7", THREE)
    [body] = creates(server)
    assert body["thread"] == {"messages": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Spain?"}]}
    assert body["instructions"] == "Answer in one word."
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0.7
    assert body["assistant_id"].startswith("asst_")
    assert len(df) == 1 and df.loc[0, "status"] == "completed"


def test_reply_is_what_the_echo_engine_predicts(ip, server):
    ip.user_ns["country"] = "France"
    df = ip.run_cell_magic("threadrun", "-m gpt-4o-mini -t 0.7", THREE)
    messages = [{"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "Paris."},
                {"role": "user", "content": "And of Spain?"}]
    assert df.loc[0, "reply"] == echo_reply(messages, "Answer in one word.", "gpt-4o-mini", 0.7)


def test_row_has_the_contract_columns_in_order_with_their_dtypes(ip, server):
    df = ip.run_cell_magic("threadrun", "-m gpt-4o-mini -t 0.5 --top-p 0.9 --label first", "user: hi")
    assert list(df.columns[:len(CONTRACT)]) == CONTRACT
    for name in ("run_id", "thread_id", "assistant_id", "model", "status", "reply", "label"):
        assert pd.api.types.is_string_dtype(df[name]), name
    for name in ("temperature", "top_p", "cost_usd", "latency_s"):
        assert df[name].dtype == "float64", name
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        assert df[name].dtype == "Int64", name
    for name in ("created_at", "completed_at"):
        assert isinstance(df[name].dtype, pd.DatetimeTZDtype) and str(df[name].dt.tz) == "UTC"
    row = df.iloc[0]
    assert row["run_id"].startswith("run_") and row["thread_id"].startswith("thread_")
    assert row["temperature"] == 0.5 and row["top_p"] == 0.9 and row["label"] == "first"
    assert row["total_tokens"] == row["prompt_tokens"] + row["completion_tokens"]
    assert row["error"] is None
    assert row["cost_usd"] == pytest.approx(
        (row["prompt_tokens"] * 0.15 + row["completion_tokens"] * 0.60) / 1e6)
    assert 0.05 <= row["queue_s"] + row["latency_s"] < 5  # the echo run takes 0.05 s from its create
    assert row["completed_at"] >= row["created_at"]


def test_an_unknown_model_is_one_line_every_time_with_the_closest_and_cost_nan(ip, server, capfd):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a notice, never a Python warning with a file path
        for _ in range(2):
            df = ip.run_cell_magic("threadrun", "-m gpt-4o-mnii,my-local-model", "hi")
    assert list(df["status"]) == ["completed", "completed"] and df["cost_usd"].isna().all()
    err = capfd.readouterr().err
    assert err.count("threadrun: unknown model 'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?); "
                     "cost will be NaN\n") == 2
    assert err.count("threadrun: unknown model 'my-local-model'; cost will be NaN\n") == 2
    assert ".py:" not in err


def test_grid_of_two_models_three_temperatures_two_repeats_gives_twelve_rows_in_grid_order(ip, server):
    df = ip.run_cell_magic("threadrun", "--model gpt-4o-mini,gpt-4o -t 0,0.5,1 --repeat 2", "user: hi")
    assert len(df) == 12 and (df["status"] == "completed").all()
    expected = [(m, t, r) for m in ("gpt-4o-mini", "gpt-4o") for t in (0.0, 0.5, 1.0) for r in (0, 1)]
    assert list(zip(df["model"], df["temperature"], df["repeat"])) == expected
    assert df["run_id"].is_unique
    assert len(creates(server)) == 12


def test_streaming_and_polling_give_the_same_rows(ip, server):
    streamed = ip.run_cell_magic("threadrun", "-m gpt-4o-mini,gpt-4.1 -t 0,1.3", "user: compare")
    polled = ip.run_cell_magic("threadrun", "-m gpt-4o-mini,gpt-4.1 -t 0,1.3 --poll", "user: compare")
    same = ["model", "temperature", "top_p", "status", "prompt_tokens", "completion_tokens",
            "total_tokens", "cost_usd", "reply", "error", "label"]
    pd.testing.assert_frame_equal(streamed[same], polled[same])
    bodies = creates(server)
    assert [b.get("stream") for b in bodies] == [True] * 4 + [False] * 4


def test_every_request_option_reaches_the_body(ip, server):
    line = ("-m gpt-4o -t 0.3 --top-p 0.8 -i 'Be terse.' --max-prompt-tokens 1000 "
            "--max-completion-tokens 300 --tools code_interpreter,file_search "
            "--metadata team=data --metadata run=1")
    df = ip.run_cell_magic("threadrun", line, "user: hi")
    [body] = creates(server)
    assert body["model"] == "gpt-4o" and body["temperature"] == 0.3 and body["top_p"] == 0.8
    assert body["instructions"] == "Be terse."
    assert body["max_prompt_tokens"] == 1000 and body["max_completion_tokens"] == 300
    assert body["tools"] == [{"type": "code_interpreter"}, {"type": "file_search"}]
    assert body["metadata"] == {"team": "data", "run": "1"}
    assert df.loc[0, "status"] == "completed"


def test_assistant_option_uses_that_assistant_and_creates_none(ip, server):
    import requests
    made = requests.post(server.url + "/assistants", json={"model": "gpt-4o"}).json()["id"]
    server.reset_counts()
    df = ip.run_cell_magic("threadrun", f"--assistant {made}", "user: hi")
    assert df.loc[0, "assistant_id"] == made
    assert server.counts.get("POST /assistants", 0) == 0
    assert df.loc[0, "model"] == "gpt-4o"  # the assistant's own model when none is given


def test_scratch_assistant_is_created_once_per_base_url_and_cached_on_disk(ip, server, isolated):
    ip.run_cell_magic("threadrun", "", "user: one")
    ip.run_cell_magic("threadrun", "", "user: two")
    assert server.counts.get("POST /assistants") == 1
    cache = (isolated / "threadrun-home" / "assistants.json").read_text()
    assert server.url in cache


def test_out_stores_the_frame_in_the_namespace(ip, server):
    df = ip.run_cell_magic("threadrun", "--out result -m gpt-4o-mini", "user: hi")
    assert ip.user_ns["result"] is df


def test_dry_run_shows_the_bodies_and_sends_nothing(ip, server):
    bodies = ip.run_cell_magic("threadrun", "--dry-run -m gpt-4o,gpt-4o-mini -t 0,1 -n 2", "user: hi")
    # no run and no assistant: only the forecast's token counts, one per model's prompt (#23)
    assert server.counts == {"POST /threads/runs/input_tokens": 2}
    assert len(bodies) == 8
    assert [(b["model"], b["temperature"]) for b in bodies[::2]] == [
        ("gpt-4o", 0.0), ("gpt-4o", 1.0), ("gpt-4o-mini", 0.0), ("gpt-4o-mini", 1.0)]
    assert bodies[0]["thread"] == {"messages": [{"role": "user", "content": "hi"}]}


def test_base_url_option_overrides_the_environment(ip, server, monkeypatch):
    monkeypatch.setenv("THREADRUN_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    df = ip.run_cell_magic("threadrun", f"--base-url {server.url}", "user: hi")
    assert df.loc[0, "status"] == "completed"


def test_json_body_assistant_is_kept_and_no_scratch_assistant_is_made(ip, server):
    import requests
    mine = requests.post(server.url + "/assistants", json={"model": "gpt-4o"}).json()["id"]
    server.reset_counts()
    cell = '{"assistant_id": "%s", "thread": {"messages": [{"role": "user", "content": "hi"}]}}' % mine
    df = ip.run_cell_magic("threadrun", "", cell)
    assert creates(server)[0]["assistant_id"] == mine and df.loc[0, "assistant_id"] == mine
    assert server.counts.get("POST /assistants", 0) == 0


def test_a_request_that_never_connected_is_an_error_not_unknown(ip):
    df = ip.run_cell_magic("threadrun", "--base-url http://127.0.0.1:9/v1 --assistant asst_x", "hi")
    assert df.loc[0, "status"] == "error" and "connection refused" in df.loc[0, "error"]


def test_unreachable_server_gives_a_row_with_the_error_and_a_one_line_warning(ip, capsys):
    df = ip.run_cell_magic("threadrun", "--base-url http://127.0.0.1:9/v1 --max-retries 0", "hi")
    assert df.loc[0, "status"] == "error"
    assert "connection refused" in df.loc[0, "error"]
    err = capsys.readouterr().err.strip()
    assert err.startswith("threadrun: 1 of 1 runs did not complete") and "\n" not in err


def test_json_body_cell_is_merged_under_the_options(ip, server):
    cell = '{"thread": {"messages": [{"role": "user", "content": "hi"}]}, "temperature": 1.5, "top_p": 0.5}'
    ip.run_cell_magic("threadrun", "-t 0.2", cell)
    [body] = creates(server)
    assert body["temperature"] == 0.2 and body["top_p"] == 0.5


def test_help_lists_the_options(ip):
    from threadrun.faces.magic import ThreadrunMagics
    doc = ThreadrunMagics.threadrun.__doc__
    for option in ("--model", "--temperature", "--top-p", "--assistant", "--instructions",
                   "--max-prompt-tokens", "--max-completion-tokens", "--tools", "--metadata",
                   "--repeat", "--label", "--out", "--dry-run", "--poll", "--base-url",
                   "--timeout", "--max-retries"):
        assert option in doc, option


def test_settings_are_traitlets_that_config_changes(ip, server):
    ip.run_line_magic("config", "ThreadrunMagics.stream = False")
    try:
        ip.run_cell_magic("threadrun", "", "user: hi")
    finally:
        ip.run_line_magic("config", "ThreadrunMagics.stream = True")
    assert creates(server)[0]["stream"] is False


def test_python_api_takes_lists_and_message_dicts(server):
    import threadrun
    df = threadrun.run([{"role": "user", "content": "hi"}], model=["gpt-4o", "gpt-4o-mini"],
                       temperature=[0, 1], base_url=server.url, progress=False)
    assert len(df) == 4 and (df["status"] == "completed").all()


def test_a_trailing_comment_on_the_option_line_is_ignored_but_a_hash_inside_a_word_is_kept(ip, server):
    ip.run_cell_magic("threadrun", "-m echo:a --label a#b --no-log  # one run, labelled", "user: hi")
    df = ip.run_cell_magic("threadrun", "-m echo:a --label '#tag' --no-log # quoted", "user: hi")
    assert df["label"].tolist() == ["#tag"]
    rows = ip.run_cell_magic("threadrun", "-m echo:a --label a#b --no-log", "user: hi")
    assert rows["label"].tolist() == ["a#b"]
    logged = ip.run_line_magic("threadrun", "log --label nothing-here  # the same, as a line magic")
    assert len(logged) == 0
