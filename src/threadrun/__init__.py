"""threadrun: compare models from Jupyter, one Assistants v2 thread run per row.

Public API (imported lazily so ``%load_ext threadrun`` stays fast):

- ``run(thread, model=..., temperature=..., **options) -> pandas.DataFrame`` (always)
- ``dry_run(...)``: the request bodies ``run`` would send with the same arguments; nothing sent
- ``log(label=None, model=None, since=None)``: every logged run, as the same DataFrame
- ``compare(df, by=..., values=..., baseline=...)`` and ``plot(df, x=..., y=..., by=...)``
- ``join(results, inputs)``: the inputs' columns beside the rows that ran them (``over=``)
- ``rescore(df, score=...)``: scores computed again on rows (logged ones too), no run again
- ``form()``: the ipywidgets form
- ``local_server(...)``: the Assistants runtime as a server you start (``threadrun serve``)
- ``Client``: the Assistants v2 client itself (``Client(base_url).run(body)``)
- ``set_prices({...})``: your own token prices, per million tokens
- ``load_ipython_extension``: ``%load_ext threadrun`` registers ``%%threadrun``
- the error types in ``threadrun.errors``
"""
from __future__ import annotations

from typing import Any

from .errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    RateLimitError,
    RunLogError,
    ServerError,
    ThreadrunError,
    ValidationError,
)

__version__ = "0.1.0"

_LAZY = {
    "run": ("threadrun.api", "run"),
    "dry_run": ("threadrun.api", "dry_run"),
    "Client": ("threadrun.client", "Client"),
    "set_prices": ("threadrun.providers.catalog", "set_prices"),
    "log": ("threadrun.rows.runlog", "log"),
    "compare": ("threadrun.rows.comparison", "compare"),
    "plot": ("threadrun.rows.comparison", "plot"),
    "join": ("threadrun.rows.inputs", "join"),
    "rescore": ("threadrun.rows.scores", "rescore"),
    "form": ("threadrun.faces.form", "show_form"),
    "local_server": ("threadrun.server", "local_server"),
    "LocalServer": ("threadrun.server", "LocalServer"),
}

__all__ = ["run", "dry_run", "Client", "set_prices", "log", "compare", "plot", "join", "rescore", "form", "local_server", "LocalServer", "load_ipython_extension", "ThreadrunError",
           "ValidationError", "APIError", "AuthenticationError", "BadRequestError",
           "NotFoundError", "RateLimitError", "ServerError", "APIConnectionError", "RunLogError",
           "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'threadrun' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names, the lazy ones included (so completion and ``dir()`` show them)."""
    return sorted(set(globals()) | set(_LAZY))


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%threadrun`` / ``%threadrun`` magics (``%load_ext threadrun``)."""
    from .faces.display import register
    from .faces.magic import ThreadrunMagics
    ipython.register_magics(ThreadrunMagics)
    register(ipython)
