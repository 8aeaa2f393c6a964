"""Service tiers (issue #23 point 6): ``--service-tier`` is a grid dimension, sent upstream where
the provider offers it, read back from the answer (the row's ``service_tier`` is the provider's
word), priced per tier; a provider without it gets the capabilities treatment."""
from __future__ import annotations

import json

import pandas as pd
import pytest

import threadrun
from standin_upstream import StandIn
from threadrun.errors import ValidationError
from threadrun.providers.catalog import TIERS, cost_usd

THREAD = "user: Say hello."
KEY = "sk-standin-SECRET-0123456789"


@pytest.fixture
def upstream(isolated, monkeypatch):
    """``start(toml, **standin)``: a stand-in upstream and a providers.toml pointing at it."""
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "STANDIN_KEY"):
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


def run(model: str, **options) -> pd.DataFrame:
    return threadrun.run(THREAD, model=model, progress=False, log=False, **options)


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("stream", [True, False])
def test_the_tier_goes_upstream_and_the_row_has_the_one_the_provider_reports(upstream, api, stream):
    standin = upstream(f'[providers.openai]\nbase_url = "{{url}}"\napi = "{api}"\n',
                       served_tier="default")
    df = run("openai:gpt-4o", service_tier="flex,priority", stream=stream)
    asked = sorted(r["body"]["service_tier"] for r in standin.requests)
    assert asked == ["flex", "priority"]  # each cell sent its tier upstream
    # the stand-in ran both on "default", as OpenAI may: the row says what the provider said
    assert list(df["service_tier"]) == ["default", "default"]
    assert json.loads(df.loc[0, "sent"])["service_tier"] == "flex"  # what was asked is in `sent`


def test_the_row_is_priced_for_the_tier_reported(upstream):
    upstream('[providers.openai]\nbase_url = "{url}"\napi = "chat"\n')
    df = run("openai:gpt-4o", service_tier="flex,priority")
    assert list(df["service_tier"]) == ["flex", "priority"]
    standard = cost_usd("gpt-4o", 7, 5, provider="openai", cached=3)
    assert df.loc[0, "cost_usd"] == pytest.approx(standard * TIERS["flex"]["factor"])
    assert df.loc[1, "cost_usd"] == pytest.approx(standard * TIERS["priority"]["factor"])
    assert TIERS["flex"]["factor"] == 0.5 and TIERS["priority"]["factor"] == 2.0
    assert all(t["taken"] and t["source"] for t in TIERS.values())  # dated and sourced


def test_no_tier_asked_sends_none_and_reports_none(upstream):
    standin = upstream('[providers.openai]\nbase_url = "{url}"\napi = "chat"\n')
    df = run("openai:gpt-4o")
    assert "service_tier" not in standin.requests[0]["body"] and pd.isna(df.loc[0, "service_tier"])


def test_a_provider_without_tiers_is_not_sent_the_cell_unless_allowed(upstream):
    standin = upstream('[providers.anthropic]\nbase_url = "{url}"\n')
    with pytest.raises(ValidationError) as caught:
        run("anthropic:claude-sonnet-4-5", service_tier="flex")
    assert caught.value.param == "service_tier" and "\n" not in str(caught.value)
    assert "anthropic ignores service_tier" in str(caught.value) and "--allow-ignored" in str(caught.value)
    assert standin.requests == []
    mixed = threadrun.run(THREAD, model="anthropic:claude-sonnet-4-5,echo:gpt-4o", service_tier="flex",
                          progress=False, log=False)
    assert list(mixed["status"]) == ["not_sent", "completed"] and mixed.loc[0, "cost_usd"] == 0
    assert "leave --service-tier out" in mixed.loc[0, "error"]
    sent = run("anthropic:claude-sonnet-4-5", service_tier="flex", allow_ignored=True)
    assert "service_tier" not in standin.requests[-1]["body"]  # never put in a request it refuses
    assert sent.loc[0, "error"].startswith("sent anyway: anthropic ignores service_tier")


COORDINATES = ["model", "provider", "temperature", "top_p", "reasoning_effort", "service_tier",
               "input", "repeat"]


def test_a_not_sent_row_carries_its_cells_coordinates_like_a_sent_one(upstream):
    upstream('[providers.anthropic]\nbase_url = "{url}"\n')
    inputs = pd.DataFrame({"text": ["a", "b"]}, index=["t1", "t2"])
    df = threadrun.run("user: {text}", over=inputs, model="echo:gpt-4o,anthropic:claude-sonnet-4-5",
                       temperature="0,1", service_tier="flex", repeat=2, progress=False, log=False)
    sent, unsent = df[df["status"] == "completed"], df[df["status"] == "not_sent"]
    assert len(sent) == len(unsent) == 8
    as_sent = sent[COORDINATES].drop(columns=["model", "provider"]).reset_index(drop=True)
    as_unsent = unsent[COORDINATES].drop(columns=["model", "provider"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(as_unsent, as_sent)  # same cells, model apart
    assert set(unsent["service_tier"]) == {"flex"} and set(unsent["temperature"]) == {0.0, 1.0}
    assert set(unsent["provider"]) == {"anthropic"} and not unsent["model"].isna().any()
    table = threadrun.compare(df, by=("model", "service_tier"))
    assert list(table.index) == [("claude-sonnet-4-5", "flex"), ("gpt-4o", "flex")]  # no NaN group
    assert list(table[("runs", "completion_rate")]) == [0.0, 1.0]


def test_a_not_sent_row_without_a_chosen_temperature_has_the_one_a_sent_run_reports(upstream):
    upstream('[providers.anthropic]\nbase_url = "{url}"\n')
    df = threadrun.run(THREAD, model="echo:gpt-4o,anthropic:claude-sonnet-4-5", service_tier="flex",
                       progress=False, log=False)
    assert list(df["status"]) == ["completed", "not_sent"]
    assert df.loc[1, "temperature"] == df.loc[0, "temperature"] == 1.0
    assert df.loc[1, "top_p"] == df.loc[0, "top_p"] == 1.0


def test_a_tier_is_a_grid_dimension_through_the_runtime_over_http(server):
    """On another Assistants server (our runtime, over HTTP): the tier travels as x_threadrun."""
    df = threadrun.run(THREAD, model="echo:gpt-4o", temperature="0,1", service_tier="flex,priority",
                       base_url=server.url, progress=False, log=False)
    assert list(zip(df["temperature"], df["service_tier"])) == [
        (0, "flex"), (0, "priority"), (1, "flex"), (1, "priority")]


def test_default_and_auto_compare_flex_with_the_standard_tier_on_echo():
    """OpenAI's service_tier takes auto|default|flex|priority (chat-completions.openapi.yaml and
    responses.openapi.yaml, ServiceTier): echo stands in for it, auto runs on (and reports) default."""
    df = run("echo:gpt-4o", service_tier="flex,default,auto")
    assert list(df["status"]) == ["completed"] * 3
    assert list(df["service_tier"]) == ["flex", "default", "default"]
    assert [json.loads(s)["service_tier"] for s in df["sent"]] == ["flex", "default", "auto"]
    standard = run("echo:gpt-4o").loc[0, "cost_usd"]
    assert df.loc[1, "cost_usd"] == pytest.approx(standard) and df.loc[2, "cost_usd"] == pytest.approx(standard)
    assert df.loc[0, "cost_usd"] == pytest.approx(standard * TIERS["flex"]["factor"])


def test_default_and_auto_go_upstream_to_openai_priced_at_the_standard_price(upstream):
    standin = upstream('[providers.openai]\nbase_url = "{url}"\napi = "chat"\n')
    df = run("openai:gpt-4o", service_tier="default,auto")
    assert sorted(r["body"]["service_tier"] for r in standin.requests) == ["auto", "default"]
    assert list(df["status"]) == ["completed", "completed"]
    assert list(df["service_tier"]) == ["default", "default"]  # what OpenAI reports it ran on
    standard = cost_usd("gpt-4o", 7, 5, provider="openai", cached=3)
    assert list(df["cost_usd"]) == pytest.approx([standard, standard])


def test_a_provider_whose_docs_list_no_standard_tier_keeps_it_not_sent():
    """Gemini's flex/priority are not documented with auto/default on its OpenAI endpoint."""
    gemini = threadrun.providers.get("gemini")
    assert not gemini.offers_tier("default") and not gemini.offers_tier("auto")
    assert gemini.offers_tier("flex")


def test_a_bad_tier_is_one_line_before_anything_is_sent():
    with pytest.raises(ValidationError, match=r"--service-tier 'flx' is not one of .*did you mean 'flex'"):
        run("echo:gpt-4o", service_tier="flx")


def test_a_bad_service_tiers_field_in_providers_toml_is_one_line(isolated):
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text('[providers.mine]\nbase_url = "http://127.0.0.1:9/v1"\n'
                                         'service_tiers = ["cheap"]\n')
    with pytest.raises(ValidationError, match=r"service_tiers: 'cheap' is not one of"):
        threadrun.providers.providers()
