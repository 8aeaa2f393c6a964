"""threadrun.providers.catalog: the spec's model list, packaged prices and their overrides, costs."""
from __future__ import annotations

import json
import math
import re
from datetime import date
from importlib import resources
from pathlib import Path

import pytest

from threadrun.providers import catalog
from threadrun.providers.catalog import (KNOWN_MODELS, PRICES_TAKEN, cost_usd, is_known_model, price, prices,
                               set_prices)
from threadrun.errors import ValidationError

SPEC = Path(__file__).parent / "assistants-v2.openapi.yaml"


@pytest.fixture(autouse=True)
def no_overrides():
    """Every test starts and ends with the packaged prices (conftest unsets THREADRUN_PRICES)."""
    set_prices(None)
    yield
    set_prices(None)


def packaged() -> dict:
    return json.loads(resources.files("threadrun").joinpath("data/prices.json").read_text())


# --- models ------------------------------------------------------------------------------

def test_known_models_are_the_specs_assistant_supported_models():
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load(SPEC.read_text())
    assert KNOWN_MODELS == tuple(spec["components"]["schemas"]["AssistantSupportedModels"]["enum"])


@pytest.mark.parametrize("model, known", [("gpt-4o-mini", True), ("o3-mini-2025-01-31", True),
                                          ("gpt-9", False), ("GPT-4O", False), ("", False)])
def test_is_known_model_matches_exact_ids(model, known):
    assert is_known_model(model) is known


# --- the packaged data file --------------------------------------------------------------

def test_price_file_says_when_and_where_prices_come_from():
    data = packaged()
    assert PRICES_TAKEN == data["taken"]
    date.fromisoformat(PRICES_TAKEN)
    assert "pricing" in data["source"]
    assert "check" in data["note"].lower() and "reported" in data["note"].lower()


def test_every_packaged_price_is_plausible_and_cached_is_cheaper_than_input():
    tables = [packaged()["models"], *packaged()["providers"].values()]
    for table in tables:
        for model, entry in table.items():
            assert set(entry) in ({"input", "output"}, {"input", "output", "cached"}), model
            assert 0 < entry["input"] <= entry["output"] <= 200, model
            assert entry.get("cached", 0) < entry["input"], model


@pytest.mark.parametrize("model, expected", [
    ("gpt-4o-mini", (0.15, 0.60)), ("gpt-4o", (2.50, 10.00)), ("gpt-4.1", (2.00, 8.00)),
    ("gpt-4.1-mini", (0.40, 1.60)), ("gpt-4.1-nano", (0.10, 0.40)), ("gpt-5", (1.25, 10.00)),
    ("gpt-5-mini", (0.25, 2.00)), ("gpt-5-nano", (0.05, 0.40)), ("gpt-4-turbo", (10.0, 30.0)),
    ("gpt-4", (30.0, 60.0)), ("gpt-3.5-turbo", (0.50, 1.50)), ("o3-mini", (1.10, 4.40)),
])
def test_list_prices_per_million_tokens(model, expected):
    assert prices()[model] == expected


@pytest.mark.parametrize("snapshot, alias", [
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-5-2025-08-07", "gpt-5"), ("gpt-4.1-nano-2025-04-14", "gpt-4.1-nano"),
    ("o3-mini-2025-01-31", "o3-mini"), ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"),
])
def test_dated_snapshot_costs_what_its_alias_costs(snapshot, alias):
    assert prices()[snapshot] == prices()[alias]
    assert price(snapshot) == price(alias)


def test_a_snapshot_priced_differently_keeps_its_own_price():
    assert prices()["gpt-4o-2024-05-13"] == (5.0, 15.0) != prices()["gpt-4o"]


def test_an_unlisted_dated_snapshot_follows_its_alias_too():
    assert price("gpt-4.1-mini-2031-01-01") == price("gpt-4.1-mini")
    assert price("gpt-9-2031-01-01") is None


def test_prices_returns_a_copy():
    prices()["gpt-4o"] = (0.0, 0.0)
    assert prices()["gpt-4o"] == (2.5, 10.0)


def test_dated_snapshots_of_known_models_are_priced_through_their_alias():
    table = prices()
    assert {"gpt-4o-mini-2024-07-18", "gpt-4.5-preview-2025-02-27", "o1-2024-12-17"} <= set(table)
    assert table["gpt-4o-mini-2024-07-18"] == table["gpt-4o-mini"]


# --- costs -------------------------------------------------------------------------------

def test_cost_is_tokens_times_price_per_million():
    assert cost_usd("gpt-4o-mini", 1_000_000, 500_000) == pytest.approx(0.15 + 0.30)
    assert cost_usd("gpt-4o", 1200, 300) == pytest.approx((1200 * 2.5 + 300 * 10) / 1e6)
    assert cost_usd("gpt-4o", 0, 0) == 0.0


@pytest.mark.parametrize("model, prompt, completion", [
    ("gpt-9", 10, 10), ("", 10, 10), ("gpt-4o", None, 10), ("gpt-4o", 10, None),
])
def test_cost_is_nan_for_an_unknown_model_or_missing_counts(model, prompt, completion):
    assert math.isnan(cost_usd(model, prompt, completion))


# --- overrides ---------------------------------------------------------------------------

def test_env_file_prices_are_merged_over_the_packaged_ones(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"taken": "2030-01-01", "source": "mine", "note": "",
                                "models": {"gpt-4o": {"input": 1, "output": 2},
                                           "my-model": {"input": 3, "output": 4}}}))
    monkeypatch.setenv("THREADRUN_PRICES", str(path))
    assert prices()["gpt-4o"] == (1.0, 2.0)
    assert prices()["gpt-4o-2024-08-06"] == (1.0, 2.0)
    assert prices()["gpt-4o-mini"] == (0.15, 0.60)
    assert cost_usd("my-model", 1_000_000, 1_000_000) == pytest.approx(7.0)
    monkeypatch.delenv("THREADRUN_PRICES")
    assert prices()["gpt-4o"] == (2.5, 10.0)


@pytest.mark.parametrize("content, message", [
    (None, "THREADRUN_PRICES: cannot read {path}: No such file or directory"),
    ("{nope", "THREADRUN_PRICES: {path} is not valid JSON: Expecting property name enclosed in "
              "double quotes (line 1, column 2)"),
    ('{"gpt-4o": [1, 2]}', "THREADRUN_PRICES: {path} must be a JSON object with a 'models' object"),
    ('{"models": {"gpt-4o": {"input": -1, "output": 2}}}',
     "THREADRUN_PRICES: {path}: input price of 'gpt-4o' must be a number >= 0, got -1"),
    ('{"models": {"gpt-4o": {"input": 1}}}',
     "THREADRUN_PRICES: {path}: price of 'gpt-4o' must be (input, output) or "
     "{'input': ..., 'output': ...}, got {'input': 1}"),
])
def test_a_bad_env_file_is_a_one_line_error_naming_it(tmp_path, monkeypatch, content, message):
    path = tmp_path / "prices.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("THREADRUN_PRICES", str(path))
    with pytest.raises(ValidationError) as info:
        prices()
    assert str(info.value) == message.replace("{path}", str(path))
    assert info.value.param == "THREADRUN_PRICES"


def test_set_prices_overrides_and_none_resets():
    set_prices({"gpt-4o": (1, 2), "gpt-4o-mini": {"input": 0.5, "output": 0.25}, "custom": [3, 4]})
    assert prices()["gpt-4o"] == (1.0, 2.0)
    assert prices()["gpt-4o-mini"] == (0.5, 0.25)
    assert cost_usd("custom", 1_000_000, 0) == pytest.approx(3.0)
    assert prices()["gpt-4.1"] == (2.0, 8.0)
    set_prices(None)
    assert prices()["gpt-4o"] == (2.5, 10.0)
    assert math.isnan(cost_usd("custom", 1, 1))


def test_set_prices_wins_over_the_env_file(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"models": {"gpt-4o": {"input": 1, "output": 2}}}))
    monkeypatch.setenv("THREADRUN_PRICES", str(path))
    set_prices({"gpt-4o": (7, 8)})
    assert prices()["gpt-4o"] == (7.0, 8.0)


@pytest.mark.parametrize("mapping, message", [
    ({"gpt-4o": (1,)}, "price of 'gpt-4o' must be (input, output) or {'input': ..., 'output': ...}, got (1,)"),
    ({"gpt-4o": ("1", 2)}, "input price of 'gpt-4o' must be a number >= 0, got '1'"),
    ({"gpt-4o": (1, math.inf)}, "output price of 'gpt-4o' must be a number >= 0, got inf"),
    ({"": (1, 2)}, "model names in prices must be non-empty strings, got ''"),
    ([("gpt-4o", (1, 2))], "prices must map model names to prices, got list"),
])
def test_set_prices_rejects_bad_entries_and_keeps_the_old_ones(mapping, message):
    with pytest.raises(ValidationError) as info:
        set_prices(mapping)
    assert str(info.value) == message
    assert prices()["gpt-4o"] == (2.5, 10.0)


def test_snapshot_ids_in_the_data_file_are_only_those_priced_unlike_their_alias():
    models = packaged()["models"]
    dated = [m for m in models if re.search(r"-\d{4}-\d{2}-\d{2}$", m)]
    assert dated == ["gpt-4o-2024-05-13"]
    assert catalog.ENV_VAR == "THREADRUN_PRICES"
