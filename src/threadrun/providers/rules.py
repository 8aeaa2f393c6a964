"""What a provider does with a setting, as data: the ``rules`` of a providers.toml table.

One rule is one documented sentence about a provider, with its source::

    [[providers.anthropic.rules]]
    setting = "temperature"            # or a list of settings
    does = "caps"                      # caps, ignores, refuses, or honours
    max = 1                            # caps/refuses: values outside [min, max]
    models = "claude-*"                # optional: glob patterns of the provider's model names
    source = "https://docs.anthropic.com/en/api/openai-sdk"
    note = "values above 1 run as 1"   # optional

For a setting and a model, the first rule that names both decides (the user's rules come
before the presets'); ``honours`` ends the search, so a user can lift a preset's rule.
Pure stdlib: the client screens a plan with it, the runtime's engines read it too.
"""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass
from typing import Any

#: Settings a rule can name: the run settings a user chooses, and ``stream_options``, the
#: field the chat engine adds to streamed requests (a provider that refuses it is not sent it).
NUMERIC = ("temperature", "top_p", "max_completion_tokens")
SETTINGS = (*NUMERIC, "reasoning_effort", "response_format", "stream_options", "service_tier")
VERBS = ("caps", "ignores", "refuses", "honours")
FIELDS = ("setting", "does", "min", "max", "models", "source", "note")


@dataclass(frozen=True)
class Rule:
    """One documented behaviour of a provider for some settings (and models)."""

    settings: tuple[str, ...]
    does: str
    source: str = ""
    min: float | None = None
    max: float | None = None
    models: tuple[str, ...] = ()
    note: str = ""

    def covers(self, setting: str, model: str) -> bool:
        """Whether this rule speaks of ``setting`` on ``model``."""
        return setting in self.settings and (
            not self.models or any(fnmatch.fnmatchcase(model, p) for p in self.models))

    def applies(self, value: Any) -> bool:
        """Whether a chosen ``value`` (not None) is capped, ignored or refused by this rule."""
        if value is None or self.does == "honours":
            return False
        if self.min is None and self.max is None:
            return True
        return isinstance(value, (int, float)) and not (
            (self.min is None or value >= self.min) and (self.max is None or value <= self.max))

    def bound(self) -> str:
        """``at 1`` / ``to 0–1`` / ``other than 1``: the rule's bounds in words."""
        lo, hi = (_num(self.min), _num(self.max))
        if self.does == "caps":
            return f"at {hi}" if self.min is None else f"at {lo}" if self.max is None else f"to {lo}–{hi}"
        if self.min is None and self.max is None:
            return ""
        if self.min == self.max:
            return f"other than {lo}"
        return f"below {lo}" if self.max is None else f"above {hi}" if self.min is None else f"outside {lo}–{hi}"

    def clamp(self, value: float) -> float:
        """The value a ``caps`` rule runs instead of ``value``."""
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        return min(max(value, low), high)


def parse_rules(value: Any) -> tuple[Rule, ...]:
    """The ``rules`` list of a table; ValueError("rules[N].field: problem") on the first bad one."""
    if not isinstance(value, list):
        raise ValueError("rules: expected a list of tables ([[providers.NAME.rules]])")
    return tuple(_rule(i, item) for i, item in enumerate(value, start=1))


def _rule(index: int, item: Any) -> Rule:
    """One rule table, each field checked."""
    def bad(key: str, problem: str) -> ValueError:
        return ValueError(f"rules[{index}].{key}: {problem}" if key else f"rules[{index}]: {problem}")
    if not isinstance(item, dict):
        raise bad("", "expected a table")
    for key in item:
        if key not in FIELDS:
            close = [f for f in FIELDS if f.startswith(key[:2])]
            hint = f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(FIELDS)}"
            raise bad(key, f"unknown field{hint}")
    settings = _names(item.get("setting"), "setting", bad)
    for name in settings:
        if name not in SETTINGS:
            raise bad("setting", f"{name!r} is not one of {', '.join(SETTINGS)}")
    does = item.get("does")
    if does not in VERBS:
        raise bad("does", f"{does!r} is not one of {', '.join(VERBS)}" if does is not None
                  else f"missing; one of {', '.join(VERBS)}")
    bounds = {k: _bound(item[k], k, bad) for k in ("min", "max") if k in item}
    if bounds and does not in ("caps", "refuses"):
        raise bad(next(iter(bounds)), 'min and max go with does = "caps" or "refuses"')
    if bounds and any(s not in NUMERIC for s in settings):
        raise bad(next(iter(bounds)), f"min and max need numeric settings ({', '.join(NUMERIC)})")
    if does == "caps" and not bounds:
        raise bad("max", 'does = "caps" needs max (or min): the bound the provider caps at')
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise bad("min", f"min {bounds['min']:g} is above max {bounds['max']:g}")
    source = item.get("source", "")
    if not isinstance(source, str) or (does != "honours" and not source.strip()):
        raise bad("source", "give the page that documents this (a URL or where it was measured)")
    note = item.get("note", "")
    if not isinstance(note, str):
        raise bad("note", f"expected a string, got {note!r}")
    models = _names(item["models"], "models", bad) if "models" in item else ()
    return Rule(settings, does, source.strip(), bounds.get("min"), bounds.get("max"), models, note.strip())


def _names(value: Any, key: str, bad: Any) -> tuple[str, ...]:
    """A string or a non-empty list of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise bad(key, f"expected a string or a list of strings, got {value!r}")
    return tuple(items)


def _bound(value: Any, key: str, bad: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(key, f"expected a number, got {value!r}")
    return float(value)


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def first_rule(rules: tuple[Rule, ...], setting: str, model: str) -> Rule | None:
    """The rule that decides ``setting`` on ``model`` (None: nothing documented)."""
    return next((r for r in rules if r.covers(setting, model)), None)
