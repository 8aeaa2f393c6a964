"""The notices before a sweep is sent (said through ``threadrun.notify``, the one channel):
where unprefixed models run, models the catalog does not know (their cost will be NaN), and
sampling settings a reasoning model is known to refuse. The form shows the same lines."""
from __future__ import annotations

import datetime
import difflib
import re
from typing import Any, Iterable

from .. import notify, providers
from ..providers import catalog

#: Models that refuse a temperature other than the default (o-series, gpt-5 and later families;
#: see UPSTREAMS §4): what people sweep on them is the reasoning effort.
REASONING_MODEL = re.compile(r"^(o\d+(-mini|-pro)?|gpt-[5-9](\.\d+)?(-[a-z]+)*)(-\d{4}-\d{2}-\d{2})?$")

_told_default = False


def before_sending(cmd: Any, jobs: list[Any]) -> None:
    """Print every notice for this command, one line each, prefixed ``threadrun:``: information
    on stdout (a notebook shows it plainly), warnings on stderr (shown on a red background)."""
    for line in info_lines(cmd):
        notify.info(line)
    for line in warning_lines(jobs):
        notify.warn(line)


def lines(cmd: Any, jobs: list[Any]) -> list[str]:
    """Every notice, information first (the form shows them all alike)."""
    return info_lines(cmd) + warning_lines(jobs)


def info_lines(cmd: Any) -> list[str]:
    """Where models without a provider run (once per session): information, not a warning.
    ``--continue`` runs each thread on the model it ran on: nothing to say there."""
    if getattr(cmd, "continue_from", None) is not None:
        return []
    if cmd.embedded and any(not m or providers.split_spec(m)[0] is None for m in cmd.models):
        return default_provider_line()
    return []


def warning_lines(jobs: list[Any]) -> list[str]:
    """Unknown models, temperatures a reasoning model may refuse, models going away."""
    return unknown_model_lines(jobs) + temperature_warnings(jobs) + shutdown_lines(jobs)


def default_provider_line() -> list[str]:
    """Where models without a ``provider:`` prefix run and how to change it, once per session."""
    global _told_default
    if _told_default:
        return []
    _told_default = True
    if providers.default_provider() == "openai":
        return ["models without a provider prefix run on openai ($OPENAI_API_KEY is set); write "
                "echo:MODEL for the offline stand-in, or another provider:MODEL"]
    return ["models without a provider prefix run on echo, the offline stand-in (not a model); "
            "set $OPENAI_API_KEY to run them on openai, or write provider:MODEL "
            "(`threadrun providers` lists them)"]


def unknown_model_lines(jobs: Iterable[Any]) -> list[str]:
    """``unknown model 'gpt-4o-mnii' (did you mean 'gpt-4o-mini'?); cost will be NaN``, per model.

    Only OpenAI's names are checked (openai, azure, echo, or no provider): other providers'
    names are their own, and a model with a price in providers.toml is known.
    """
    out = []
    for spec in dict.fromkeys(j.body.get("model") for j in jobs):
        if not isinstance(spec, str):
            continue
        provider, model = providers.split_spec(spec)
        if (provider not in catalog.OPENAI_PRICED or catalog.is_known_model(model)
                or catalog.provider_price(model, provider) is not None):
            continue
        close = difflib.get_close_matches(model, _openai_names(), n=1, cutoff=0.8)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        out.append(f"unknown model {model!r}{hint}; cost will be NaN")
    return out


def _openai_names() -> list[str]:
    return sorted(set(catalog.KNOWN_MODELS) | set(catalog.prices()))


def temperature_warnings(jobs: Iterable[Any]) -> list[str]:
    """One line per reasoning model that is sent a temperature other than the default."""
    seen: dict[str, float] = {}
    for job in jobs:
        spec, temperature = job.body.get("model"), job.body.get("temperature")
        if isinstance(spec, str) and temperature not in (None, 1, 1.0) and spec not in seen:
            provider, model = providers.split_spec(spec)
            if provider != "echo" and REASONING_MODEL.match(model):
                seen[spec] = temperature
    return [f"{spec} is a reasoning model and may refuse temperature {t:g} "
            f"(sweep --reasoning-effort instead); the row will carry its answer"
            for spec, t in seen.items()]


#: How many days before a model's shutdown date the notice starts.
SHUTDOWN_NOTICE_DAYS = 30


def shutdown_lines(jobs: Iterable[Any], today: datetime.date | None = None) -> list[str]:
    """One line per model that is past, or within 30 days of, its vendor's shutdown date."""
    today = today or datetime.date.today()
    out = []
    for spec in dict.fromkeys(j.body.get("model") for j in jobs):
        if not isinstance(spec, str):
            continue
        provider, model = providers.split_spec(spec)
        end = catalog.shutdown(model, provider)
        if end is None or (end.date - today).days > SHUTDOWN_NOTICE_DAYS:
            continue
        days = (end.date - today).days
        when = (f"was shut down on {end.date}" if days < 0 else
                f"is shut down on {end.date} (in {days} day{'s' * (days != 1)})")
        what = f"its snapshot {end.snapshot}" if end.snapshot else spec
        then = (" (the alias then runs another snapshot, or fails)" if end.snapshot else "")
        fix = f"; pick a model that stays, e.g. {end.replacement}" if end.replacement else ""
        out.append(f"{spec}: {what} {when} by its vendor{then}{fix}")
    return out
