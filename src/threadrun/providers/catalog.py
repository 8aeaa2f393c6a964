"""Known Assistants models and their token prices (pure stdlib, no network).

Prices are USD per million tokens, ``(input, output)``. They come from the packaged
``data/prices.json`` (see its ``taken``/``source``/``note``: list prices reported by secondary
sources in late 2026, with OpenAI's, Anthropic's and Google's tables), a provider's own
``prices`` in providers.toml, overlaid by the JSON file named in ``THREADRUN_PRICES`` (same
shape, its ``models`` merged over the packaged ones), overlaid by ``set_prices(...)``.

A dated snapshot id ``ALIAS-YYYY-MM-DD`` without its own price costs what ``ALIAS`` costs.
"""
from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .. import config
from ..errors import ValidationError

__all__ = ["KNOWN_MODELS", "PRICES_TAKEN", "PRICES_SOURCE", "PRICES_NOTE", "ENV_VAR", "prices",
           "price", "set_prices", "cost_usd", "is_known_model", "shutdown", "Shutdown"]

ENV_VAR = config.PRICES_ENV

#: The ids of ``AssistantSupportedModels`` in the Assistants v2 spec (openai-openapi 2.3.0).
KNOWN_MODELS: tuple[str, ...] = (
    "gpt-5", "gpt-5-mini", "gpt-5-nano",
    "gpt-5-2025-08-07", "gpt-5-mini-2025-08-07", "gpt-5-nano-2025-08-07",
    "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
    "gpt-4.1-2025-04-14", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano-2025-04-14",
    "o3-mini", "o3-mini-2025-01-31", "o1", "o1-2024-12-17",
    "gpt-4o", "gpt-4o-2024-11-20", "gpt-4o-2024-08-06", "gpt-4o-2024-05-13",
    "gpt-4o-mini", "gpt-4o-mini-2024-07-18",
    "gpt-4.5-preview", "gpt-4.5-preview-2025-02-27",
    "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "gpt-4-0125-preview", "gpt-4-turbo-preview",
    "gpt-4-1106-preview", "gpt-4-vision-preview",
    "gpt-4", "gpt-4-0314", "gpt-4-0613", "gpt-4-32k", "gpt-4-32k-0314", "gpt-4-32k-0613",
    "gpt-3.5-turbo", "gpt-3.5-turbo-16k", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-1106",
    "gpt-3.5-turbo-0125", "gpt-3.5-turbo-16k-0613",
)
_KNOWN = frozenset(KNOWN_MODELS)
_DATED = re.compile(r"^(?P<alias>.+)-\d{4}-\d{2}-\d{2}$")

Price = tuple[float, float]


def _read_packaged() -> dict[str, Any]:
    """The packaged data/prices.json as a dict."""
    text = resources.files("threadrun").joinpath("data/prices.json").read_text(encoding="utf-8")
    return json.loads(text)


_PACKAGED = _read_packaged()
PRICES_TAKEN: str = _PACKAGED["taken"]
PRICES_SOURCE: str = _PACKAGED["source"]
PRICES_NOTE: str = _PACKAGED["note"]

#: Providers billed from OpenAI's table (echo stands in for OpenAI's models, at their prices).
OPENAI_PRICED = (None, "openai", "azure", "echo")
_VENDOR_PRICES: dict[str, dict[str, Price]] = {
    vendor: {m: (float(v["input"]), float(v["output"])) for m, v in models.items()}
    for vendor, models in _PACKAGED.get("providers", {}).items()}
_CACHED: dict[str, float] = {m: float(v["cached"]) for m, v in _PACKAGED["models"].items()
                             if isinstance(v, dict) and v.get("cached") is not None}

_overrides: dict[str, Price] = {}
_cache: dict[str | None, dict[str, Price]] = {}


def _number(value: Any, where: str, param: str | None) -> float:
    """A price as a finite float >= 0, or a ValidationError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value < 0:
        raise ValidationError(f"{where} must be a number >= 0, got {value!r}", param=param)
    return float(value)


def _entry(model: Any, value: Any, param: str | None) -> Price:
    """One price entry: ``(input, output)`` or ``{"input": ..., "output": ...}``."""
    if not isinstance(model, str) or not model:
        raise ValidationError(f"model names in prices must be non-empty strings, got {model!r}",
                              param=param)
    if isinstance(value, Mapping) and set(value) >= {"input", "output"}:
        pair = (value["input"], value["output"])
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        pair = tuple(value)
    else:
        raise ValidationError(f"price of {model!r} must be (input, output) or "
                              f"{{'input': ..., 'output': ...}}, got {value!r}", param=param)
    return (_number(pair[0], f"input price of {model!r}", param),
            _number(pair[1], f"output price of {model!r}", param))


def _entries(models: Any, param: str | None) -> dict[str, Price]:
    """A validated ``{model: (input, output)}`` from a models mapping."""
    if not isinstance(models, Mapping):
        raise ValidationError(f"prices must map model names to prices, got {type(models).__name__}",
                              param=param)
    return {model: _entry(model, value, param) for model, value in models.items()}


def _read_env_file(path: str) -> dict[str, Price]:
    """The ``models`` of the JSON file named by THREADRUN_PRICES."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        raise ValidationError(f"{ENV_VAR}: cannot read {path}: {exc.strerror or exc}",
                              param=ENV_VAR) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{ENV_VAR}: {path} is not valid JSON: {exc.msg} "
                              f"(line {exc.lineno}, column {exc.colno})", param=ENV_VAR) from None
    if not isinstance(data, Mapping) or "models" not in data:
        raise ValidationError(f"{ENV_VAR}: {path} must be a JSON object with a 'models' object",
                              param=ENV_VAR)
    try:
        return _entries(data["models"], ENV_VAR)
    except ValidationError as exc:
        raise ValidationError(f"{ENV_VAR}: {path}: {exc}", param=ENV_VAR) from None


def _with_snapshots(table: dict[str, Price]) -> dict[str, Price]:
    """``table`` plus each known dated snapshot id priced only through its alias."""
    for model in KNOWN_MODELS:
        alias = _alias(model)
        if model not in table and alias in table:
            table[model] = table[alias]
    return table


def _alias(model: str) -> str | None:
    """``gpt-4o-mini`` for ``gpt-4o-mini-2024-07-18``; None when ``model`` has no date suffix."""
    match = _DATED.match(model)
    return match.group("alias") if match else None


def _table() -> dict[str, Price]:
    """The merged price table (cached until ``set_prices`` or ``$THREADRUN_PRICES`` changes)."""
    path = config.prices_file()
    if path not in _cache:
        table = _entries(_PACKAGED["models"], None)
        if path:
            table.update(_read_env_file(path))
        table.update(_overrides)
        _cache.clear()
        _cache[path] = _with_snapshots(table)
    return _cache[path]


def prices() -> dict[str, Price]:
    """Every priced model: packaged, then THREADRUN_PRICES, then set_prices (a fresh copy)."""
    return dict(_table())


def set_prices(mapping: Mapping[str, Any] | None) -> None:
    """Override prices for this process (merged over the others); None drops every override."""
    global _overrides
    _cache.clear()
    _overrides = {} if mapping is None else {**_overrides, **_entries(mapping, "prices")}


def price(model: str) -> Price | None:
    """``(input, output)`` USD per million tokens for ``model``, or None when unknown."""
    table = _table()
    if model in table:
        return table[model]
    alias = _alias(model) if isinstance(model, str) else None
    return table.get(alias) if alias else None


def provider_price(model: str, provider: str | None) -> Price | None:
    """The price of a provider's model: providers.toml, else 0 for a local provider, else the
    packaged table of that vendor (OpenAI's for openai, azure, echo and unnamed providers)."""
    if provider is not None:
        from .. import providers
        known = providers.providers().get(provider)
        if known is not None and model in known.prices:
            return known.prices[model]
        if model in _overrides:
            return _overrides[model]
        if known is not None and known.local:
            return (0.0, 0.0)
        if provider not in OPENAI_PRICED:
            table = _VENDOR_PRICES.get(provider, {})
            return table.get(model) or table.get(_alias(model) or "")
    return price(model)


#: Service tiers billed at the standard price (what a run without a tier reports).
STANDARD_TIERS = (None, "default", "auto", "standard")
#: Service tiers priced as a factor of the standard price (``tiers`` of data/prices.json, each
#: with its date and source); a model's own ``tiers`` entry in the ``models`` table wins.
TIERS: dict[str, dict[str, Any]] = dict(_PACKAGED.get("tiers", {}))
_MODEL_TIERS: dict[tuple[str, str], Price] = {
    (m, tier): (float(p["input"]), float(p["output"]))
    for m, v in _PACKAGED["models"].items() if isinstance(v, dict)
    for tier, p in (v.get("tiers") or {}).items()}


def tier_price(model: str, provider: str | None, tier: str | None) -> tuple[Price, float] | None:
    """``((input, output), factor)`` USD per 1M tokens on ``tier``: the factor scales the
    cached rate too (1 for the standard tier, or when the model has its own tier price);
    None when the model or the tier has no price."""
    rate = provider_price(model, provider)
    if rate is None:
        return None
    if tier in STANDARD_TIERS:
        return rate, 1.0
    assert tier is not None
    own = _MODEL_TIERS.get((model, tier)) or _MODEL_TIERS.get((_alias(model) or "", tier))
    if own is not None:
        return own, own[0] / rate[0] if rate[0] else 1.0
    factor = TIERS.get(tier, {}).get("factor")
    if not isinstance(factor, (int, float)):
        return None
    return (rate[0] * factor, rate[1] * factor), float(factor)


def cost_usd(model: str, prompt_tokens: int | None, completion_tokens: int | None, *,
             provider: str | None = None, cached: int | None = None,
             tier: str | None = None) -> float:
    """The run's cost in USD; NaN when the model has no price or a token count is None.

    Cached prompt tokens are billed at the model's cached rate where the table has one,
    else at the input rate (an upper bound). ``tier``: the service tier the provider reported
    (``flex``, ``priority``...), priced by ``tier_price``; NaN for a tier with no price.
    """
    priced = tier_price(model, provider, tier)
    if priced is None or prompt_tokens is None or completion_tokens is None:
        return math.nan
    rate, factor = priced
    cached_rate = _CACHED.get(model) if provider in OPENAI_PRICED else None
    cached_rate = cached_rate * factor if cached_rate is not None else None
    if cached and cached_rate is not None:
        cheap = min(cached, prompt_tokens)
        return ((prompt_tokens - cheap) * rate[0] + cheap * cached_rate
                + completion_tokens * rate[1]) / 1_000_000
    return (prompt_tokens * rate[0] + completion_tokens * rate[1]) / 1_000_000


@dataclass(frozen=True)
class Shutdown:
    """When a vendor stops serving a model (``data/shutdowns.json``)."""

    model: str
    date: datetime.date
    replacement: str | None
    snapshot: str | None  #: for an alias: the snapshot whose removal this is
    reported_only: bool  #: no stored copy of the vendor's page confirms the date


def _read_shutdowns() -> dict[str, Shutdown]:
    data = json.loads(resources.files("threadrun").joinpath("data/shutdowns.json").read_text("utf-8"))
    return {name: Shutdown(name, datetime.date.fromisoformat(entry["date"]), entry.get("replacement"),
                           entry.get("snapshot"), bool(entry.get("reported_only")))
            for name, entry in data["models"].items()}


_SHUTDOWNS: dict[str, Shutdown] | None = None


def shutdown(model: str, provider: str | None = None) -> Shutdown | None:
    """The shutdown of an OpenAI model (openai, azure or unnamed provider), else None."""
    global _SHUTDOWNS
    if provider not in (None, "openai", "azure"):
        return None
    if _SHUTDOWNS is None:
        _SHUTDOWNS = _read_shutdowns()
    return _SHUTDOWNS.get(model)


def live_models(today: datetime.date | None = None) -> list[str]:
    """OpenAI's priced models not shut down within 30 days, newest families first (the form's
    picker): undated names only, so the list stays short."""
    today = today or datetime.date.today()
    names = [m for m in _table() if not _DATED.match(m) and m in _PACKAGED["models"]
             and not _LEGACY.search(m)]
    alive = [m for m in names if (end := shutdown(m)) is None or (end.date - today).days > 30]
    return sorted(alive, key=lambda m: (-_family(m), m))


#: Names OpenAI retired or marks legacy (previews, gpt-3.5, gpt-4 and its turbo/32k forms, o1,
#: o3-mini): priced for old rows, not offered in the form.
_LEGACY = re.compile(r"preview|turbo|32k|^gpt-4(-\d|$)|^gpt-3|^o1|^o3-mini")


def _family(model: str) -> float:
    """``gpt-5.4-mini`` → 5.4: sorts newer families first."""
    match = re.match(r"^(?:gpt-|o)(\d+(?:\.\d+)?)", model)
    return float(match.group(1)) if match else 0.0


def is_known_model(model: str) -> bool:
    """Whether ``model`` is one of the spec's AssistantSupportedModels ids."""
    return model in _KNOWN
