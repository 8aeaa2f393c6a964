"""The API shapes a provider table may name (``api = "chat"``), each with the engine that speaks it.

This is the engines' registry, kept here as data so that checking a providers file stays cheap:
an engine is written ``"module:Class"`` and imported only when a run needs it (importing this
module imports neither ``requests`` nor the server). ``threadrun.server.engines.register`` adds a
shape; ``names()`` is then what a providers file may name, in the order registered.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

#: api name -> its engine: ``"module:Class"`` (imported on first use) or ``factory(provider)``.
_ENGINES: dict[str, str | Callable[[Any], Any]] = {
    "echo": "threadrun.server.engines.echo:EchoEngine",
    "chat": "threadrun.server.engines.chat:ChatEngine",
    "responses": "threadrun.server.engines.responses:ResponsesEngine",
}
#: api names whose engine calls nobody (no base URL, no key, nothing to list): echo's.
_OFFLINE: set[str] = {"echo"}
#: How a provider counts a prompt's tokens before a run (``token_count`` in providers.toml): the
#: count endpoint each name stands for is in ``threadrun.server.engines.counts``.
TOKEN_COUNTS = ("responses", "anthropic", "gemini", "llamacpp", "vllm")


def register(api: str, engine: str | Callable[[Any], Any], *, offline: bool | None = None) -> None:
    """Make ``engine`` (``"module:Class"`` or ``factory(provider)``) run providers whose ``api`` is
    ``api``; ``offline``: it calls no upstream, so its providers need no base URL or key (None:
    as the api was registered before, else False)."""
    if not isinstance(api, str) or not api.strip() or api != api.strip():
        raise ValueError(f"an api name is a non-empty word without surrounding spaces, got {api!r}")
    if isinstance(engine, str) and engine.count(":") != 1:
        raise ValueError(f"an engine is written 'module:Class', got {engine!r}")
    _ENGINES[api] = engine
    if offline:
        _OFFLINE.add(api)
    elif offline is not None:
        _OFFLINE.discard(api)


def offline(api: str) -> bool:
    """Whether ``api``'s engine calls no upstream (echo)."""
    return api in _OFFLINE


def names() -> tuple[str, ...]:
    """The api names a provider table may use, in the order registered."""
    return tuple(_ENGINES)


def factory(api: str) -> Callable[[Any], Any]:
    """The engine factory of ``api`` (its module imported now); KeyError when none is registered."""
    engine = _ENGINES[api]
    if isinstance(engine, str):
        module, _, name = engine.partition(":")
        return getattr(importlib.import_module(module), name)
    return engine
