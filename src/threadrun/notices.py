"""One-line notices printed before a sweep is sent: where unprefixed models run, and sampling
settings a reasoning model is known to refuse. They go to stderr, never as Python warnings."""
from __future__ import annotations

import re
import sys
from typing import Any, Iterable

from . import providers

#: Models that refuse a temperature other than the default (o-series, gpt-5 and later families;
#: see UPSTREAMS §4): what people sweep on them is the reasoning effort.
REASONING_MODEL = re.compile(r"^(o\d+(-mini|-pro)?|gpt-[5-9](\.\d+)?(-[a-z]+)*)(-\d{4}-\d{2}-\d{2})?$")

_told_default = False


def before_sending(cmd: Any, jobs: Iterable[Any]) -> None:
    """Print the default-provider line (once per session) and reasoning-model warnings."""
    if cmd.embedded and any(not m or providers.split_spec(m)[0] is None for m in cmd.models):
        default_provider_line()
    for line in temperature_warnings(jobs):
        print(line, file=sys.stderr)


def default_provider_line() -> None:
    """Say, once per session, where models without a ``provider:`` prefix run and how to change it."""
    global _told_default
    if _told_default:
        return
    _told_default = True
    if providers.default_provider() == "openai":
        text = ("models without a provider prefix run on openai ($OPENAI_API_KEY is set); write "
                "echo:MODEL for the offline stand-in, or another provider:MODEL")
    else:
        text = ("models without a provider prefix run on echo, the offline stand-in (not a model); "
                "set $OPENAI_API_KEY to run them on openai, or write provider:MODEL "
                "(`threadrun providers` lists them)")
    print(f"threadrun: {text}", file=sys.stderr)


def temperature_warnings(jobs: Iterable[Any]) -> list[str]:
    """One line per reasoning model that is sent a temperature other than the default."""
    seen: dict[str, float] = {}
    for job in jobs:
        spec, temperature = job.body.get("model"), job.body.get("temperature")
        if isinstance(spec, str) and temperature not in (None, 1, 1.0) and spec not in seen:
            provider, model = providers.split_spec(spec)
            if provider != "echo" and REASONING_MODEL.match(model):
                seen[spec] = temperature
    return [f"threadrun: {spec} is a reasoning model and may refuse temperature {t:g} "
            f"(sweep --reasoning-effort instead); the row will carry its answer"
            for spec, t in seen.items()]
