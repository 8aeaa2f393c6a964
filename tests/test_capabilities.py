"""Capabilities as data: cells a provider would cap, ignore or refuse are not sent (and say why),
every row records the settings sent upstream, and a token cap the provider did not keep is said.

The presets' rules (src/threadrun/data/providers.toml) are tried on our stand-in upstream
(tests/standin_upstream.py): a user's providers.toml points the preset at it, so the preset's
own rules apply, and the stand-in counts what reaches it.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest
import requests

import threadrun
from standin_upstream import StandIn
from threadrun import providers
from threadrun.errors import ValidationError

KEY = "sk-standin-SECRET-0123456789"
THREAD = "user: Say hello."


@pytest.fixture
def upstream(isolated, monkeypatch):
    """``start(toml, **standin)``: a stand-in, and providers.toml with ``{url}`` filled in."""
    for name in ("ANTHROPIC_API_KEY", "DEEPSEEK_API_KEY", "MISTRAL_API_KEY", "STANDIN_KEY"):
        monkeypatch.setenv(name, KEY)
    started: list[StandIn] = []

    def start(toml: str, **kwargs) -> StandIn:
        standin = StandIn(**kwargs)
        started.append(standin)
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(toml.replace("{url}", standin.url))
        return standin

    yield start
    for standin in started:
        standin.close()


ANTHROPIC = '[providers.anthropic]\nbase_url = "{url}"\n'


def run(model: str, **options) -> pd.DataFrame:
    return threadrun.run(THREAD, model=model, progress=False, **options)


# -- cells a provider would cap or ignore ----------------------------------------------------


@pytest.mark.parametrize("options, setting", [
    ({"temperature": "1.5,2"}, "temperature"),
    ({"reasoning_effort": "low,high"}, "reasoning_effort"),
])
def test_a_grid_of_settings_the_provider_caps_or_ignores_is_one_line_before_anything_is_sent(
        upstream, options, setting):
    standin = upstream(ANTHROPIC)
    with pytest.raises(ValidationError) as caught:
        run("anthropic:claude-sonnet-4-5", **options)
    text = str(caught.value)
    assert "\n" not in text and caught.value.param == setting
    assert text.startswith("no run of this grid would run as asked, so none is sent: anthropic ")
    assert "docs.anthropic.com/en/api/openai-sdk" in text and "--allow-ignored" in text
    assert standin.requests == []  # nothing reached the provider
    assert threadrun.log().empty  # nor the run log


def test_a_mixed_grid_sends_only_the_cells_the_provider_runs_as_asked(upstream):
    standin = upstream(ANTHROPIC)
    df = run("anthropic:claude-sonnet-4-5", temperature="0,1,1.5,2", label="mixed")
    assert list(df["temperature"]) == [0, 1, 1.5, 2]  # grid order, whatever was sent
    assert list(df["status"]) == ["completed", "completed", "not_sent", "not_sent"]
    assert len(standin.requests) == 2  # exactly the two cells within the cap
    assert sorted(r["body"]["temperature"] for r in standin.requests) == [0, 1]
    held = df.iloc[2]
    assert held["error"] == ("anthropic caps temperature at 1 (temperature is 0-1 there; "
                             "https://docs.anthropic.com/en/api/openai-sdk): temperature 1.5 would "
                             "run as 1; use -t/--temperature ≤ 1, or --allow-ignored to send it anyway")
    assert held["cost_usd"] == 0.0 and pd.isna(held["total_tokens"]) and pd.isna(held["sent"])
    assert (held["provider"], held["model"], held["label"]) == ("anthropic", "claude-sonnet-4-5", "mixed")
    logged = threadrun.log(label="mixed")
    assert sorted(logged["status"]) == ["completed", "completed", "not_sent", "not_sent"]  # logged as they end


def test_allow_ignored_sends_them_and_the_row_says_what_the_provider_did(upstream):
    standin = upstream(ANTHROPIC)
    df = run("anthropic:claude-sonnet-4-5", temperature="1,1.5", allow_ignored=True, log=False)
    assert list(df["status"]) == ["completed", "completed"] and len(standin.requests) == 2
    assert pd.isna(df.loc[0, "error"])
    assert df.loc[1, "error"] == ("sent anyway: anthropic caps temperature at 1 (temperature is 0-1 "
                                  "there; https://docs.anthropic.com/en/api/openai-sdk): temperature "
                                  "1.5 ran as 1")
    assert json.loads(df.loc[1, "sent"])["temperature"] == 1.5


def test_a_rule_for_some_models_holds_back_only_their_cells(upstream):
    standin = upstream('[providers.deepseek]\nbase_url = "{url}"\n')
    df = run("deepseek:deepseek-reasoner,deepseek:deepseek-chat", temperature=0.2, log=False)
    assert list(df["status"]) == ["not_sent", "completed"] and len(standin.requests) == 1
    assert df.loc[0, "error"].startswith("deepseek ignores temperature on deepseek-reasoner "
                                         "(accepted without an error, with no effect; "
                                         "https://api-docs.deepseek.com/guides/reasoning_model): "
                                         "temperature 0.2 would have no effect; leave -t/--temperature out")
    assert standin.requests[0]["body"]["model"] == "deepseek-chat"


def test_a_users_rule_comes_first_and_honours_lifts_a_presets(upstream):
    standin = upstream(ANTHROPIC + '\n[[providers.anthropic.rules]]\nsetting = "temperature"\n'
                                   'does = "honours"\n')
    df = run("anthropic:claude-sonnet-4-5", temperature=1.5, log=False)
    assert df.loc[0, "status"] == "completed" and len(standin.requests) == 1
    assert providers.providers()["anthropic"].rule("reasoning_effort", "claude-x").does == "ignores"


def test_rules_do_not_apply_on_another_assistants_server(server):
    threadrun.run(THREAD, model="anthropic:claude-sonnet-4-5", temperature=1.5,
                  base_url=server.url, progress=False, log=False)
    assert server.counts["POST /threads/runs"] == 1  # sent: that server runs models its own way


# -- the sent column ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_every_row_records_the_settings_sent_upstream(upstream, stream):
    standin = upstream('[providers.standin]\nbase_url = "{url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n')
    row = run("standin:m", temperature=0.3, max_completion_tokens=300, stream=stream, log=False).iloc[0]
    body = standin.requests[-1]["body"]
    sent = json.loads(row["sent"])
    assert sent == {k: v for k, v in body.items() if k != "messages"}  # as the engine built it
    expected = {"model": "m", "temperature": 0.3, "max_tokens": 300}
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
    assert sent == expected


def test_a_failed_run_still_records_what_was_sent(upstream):
    upstream('[providers.standin]\nbase_url = "{url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n',
             mode="http500")
    row = run("standin:m", temperature=0.7, log=False).iloc[0]
    assert row["status"] == "failed" and json.loads(row["sent"])["temperature"] == 0.7


def test_the_sent_column_is_missing_for_a_server_that_does_not_report_it():
    from standin_assistants import ASSISTANT_ID, StandIn as Assistants
    with Assistants() as srv:
        df = threadrun.run(THREAD, model="gpt-4o-mini", base_url=srv.url, assistant=ASSISTANT_ID,
                           progress=False, log=False)
    assert df.loc[0, "status"] == "completed" and pd.isna(df.loc[0, "sent"])


def test_the_responses_engine_sends_response_format_as_text_format(upstream):
    standin = upstream('[providers.standin-r]\nbase_url = "{url}"\napi = "responses"\nkey_env = "STANDIN_KEY"\n')
    schema = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True,
                                                     "schema": {"type": "object"}}}
    row = run("standin-r:m", response_format=schema, log=False).iloc[0]
    body = standin.requests[-1]["body"]
    assert "response_format" not in body
    assert body["text"] == {"format": {"type": "json_schema", "name": "answer", "strict": True,
                                       "schema": {"type": "object"}}}
    assert json.loads(row["sent"])["text"] == body["text"]


# -- Mistral refuses unknown fields ----------------------------------------------------------


def test_the_stand_in_refuses_stream_options_as_mistral_does(upstream):
    """The stand-in's 422 is Mistral's (dnakov/anon-kode#53): a test of the next test's premise."""
    standin = upstream("", strict=True)
    answer = requests.post(standin.url + "/chat/completions", timeout=5, json={
        "model": "m", "messages": [], "stream": True, "stream_options": {"include_usage": True}})
    assert answer.status_code == 422
    assert answer.json()["message"]["detail"][0]["loc"] == ["body", "stream_options"]


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "polled"])
def test_a_mistral_run_is_not_sent_stream_options_and_keeps_its_usage(upstream, stream):
    standin = upstream('[providers.mistral]\nbase_url = "{url}"\n', strict=True)
    row = run("mistral:mistral-small-latest", stream=stream, log=False).iloc[0]
    assert row["status"] == "completed", row["error"]
    assert "stream_options" not in standin.requests[-1]["body"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (7, 5)  # Mistral's last chunk


def test_a_422_from_a_strict_server_is_one_readable_line(upstream):
    upstream('[providers.strict]\nbase_url = "{url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n', strict=True)
    row = run("strict:m", log=False).iloc[0]
    assert row["status"] == "failed"
    assert row["error"].endswith("strict 422: stream_options: Extra inputs are not permitted")


# -- token caps bind or say so ---------------------------------------------------------------


def test_a_table_without_token_cap_sends_max_tokens_and_the_cap_binds(upstream):
    standin = upstream('[providers.lcp]\nbase_url = "{url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n',
                       cap_field="max_tokens", completion_tokens=301)
    row = run("lcp:tiny", max_completion_tokens=256, log=False).iloc[0]
    assert standin.requests[-1]["body"]["max_tokens"] == 256
    assert (row["status"], row["completion_tokens"]) == ("incomplete", 256)
    assert row["error"] == "run incomplete: max_completion_tokens"


def test_a_cap_the_provider_ignored_is_said_in_the_row(upstream):
    upstream('[providers.lcp]\nbase_url = "{url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n'
             'token_cap = "max_completion_tokens"\n', cap_field="max_tokens", completion_tokens=301)
    row = run("lcp:tiny", max_completion_tokens=256, log=False).iloc[0]
    assert (row["status"], row["completion_tokens"]) == ("completed", 301)
    assert row["error"] == ("lcp ignored the token cap: max_completion_tokens 256 was sent and 301 "
                            'completion tokens came back; set token_cap = "max_tokens" in '
                            "[providers.lcp] of providers.toml")


def test_token_cap_defaults_custom_tables_only(isolated):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        '[providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n\n'
        '[providers.mine-r]\nbase_url = "http://127.0.0.1:9/v1"\napi = "responses"\n\n'
        '[providers.azure]\nbase_url = "http://127.0.0.1:9/v1"\n')
    known = providers.providers()
    assert known["mine"].token_cap == "max_tokens" and known["mine-r"].token_cap == "max_output_tokens"
    assert known["azure"].token_cap == "max_completion_tokens"  # a preset keeps its own


# -- the data file ---------------------------------------------------------------------------


def _rule(**fields: str) -> str:
    body = {"setting": '"temperature"', "does": '"ignores"', "source": '"https://example.com/doc"', **fields}
    return "[providers.work]\napi = \"chat\"\n\n[[providers.work.rules]]\n" + "".join(
        f"{k} = {v}\n" for k, v in body.items() if v is not None)


@pytest.mark.parametrize("text, message", [
    (_rule(setting='"temprature"'), r"line 5: \[providers\.work\]\.rules\[1\]\.setting: 'temprature' is not one of temperature"),
    (_rule(does='"clamps"'), r"line 6: \[providers\.work\]\.rules\[1\]\.does: 'clamps' is not one of caps, ignores, refuses, honours"),
    (_rule(does='"caps"'), r"line 4: \[providers\.work\]\.rules\[1\]\.max: does = \"caps\" needs max"),
    (_rule(does='"caps"', max='"one"'), r"line 8: \[providers\.work\]\.rules\[1\]\.max: expected a number, got 'one'"),
    (_rule(max="1"), r"line 8: \[providers\.work\]\.rules\[1\]\.max: min and max go with does = \"caps\" or \"refuses\""),
    (_rule(setting='"reasoning_effort"', does='"caps"', max="1"),
     r"line 8: .*rules\[1\]\.max: min and max need numeric settings"),
    (_rule(source=None), r"line 4: \[providers\.work\]\.rules\[1\]\.source: give the page that documents this"),
    (_rule(models="[]"), r"line 8: .*rules\[1\]\.models: expected a string or a list of strings, got \[\]"),
    (_rule(sorce='"x"'), r"line 8: .*rules\[1\]\.sorce: unknown field \(did you mean 'source'\?\)"),
    ('[providers.work]\nrules = "none"\n', r"line 2: \[providers\.work\]\.rules: expected list"),
])
def test_a_bad_rule_is_one_line_naming_the_file_line_table_and_field(isolated, text, message):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(text)
    with pytest.raises(ValidationError, match=message) as caught:
        providers.providers()
    assert "\n" not in str(caught.value) and "providers.toml" in str(caught.value)


def test_every_preset_rule_cites_its_source():
    rules = [(name, rule) for name, p in providers.providers().items() for rule in p.rules]
    assert {name for name, _ in rules} >= {"anthropic", "deepseek", "mistral", "openai"}
    assert all(rule.source for _, rule in rules)
