"""Does a local server know the model a run names? llama.cpp's server (and others like it) runs
whatever model it loaded, whatever name a request gives, so ``llamacpp:wrong-name`` completes
without a word. The runtime asks a local provider's ``GET /models`` once, after the first run
(so no run's timing includes it), and a run whose model is not listed gets a one-line notice.
"""
from __future__ import annotations

import threading

from ..errors import ValidationError
from ..providers import Provider
from .engines import UpstreamError
from .engines.http import list_models

_known: dict[tuple[str, str], list[str] | None] = {}
_lock = threading.Lock()


def listed(provider: Provider) -> list[str] | None:
    """The model ids a provider lists (asked once per provider and endpoint); None if unknown."""
    try:
        key = (provider.name, provider.endpoint())
    except ValidationError:
        return None
    with _lock:
        if key in _known:
            return _known[key]
    try:
        models: list[str] | None = list_models(provider, timeout=5.0)
    except (UpstreamError, ValidationError):
        models = None
    with _lock:
        _known[key] = models
    return models


def unlisted_notice(provider: Provider, model: str) -> str | None:
    """``llamacpp does not list 'x' at /models (it lists: tiny); ...`` for a local provider."""
    wanted = provider.local if provider.check_models is None else provider.check_models
    if not wanted or provider.offline:
        return None
    models = listed(provider)
    if not models or model in models:
        return None
    shown = ", ".join(models[:5]) + (", …" if len(models) > 5 else "")
    return (f"{provider.name} does not list {model!r} at /models (it lists: {shown}); the server "
            f"may have run another model under that name")
