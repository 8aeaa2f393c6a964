"""The embedded runtime: one Assistants server per process, started on first use.

Without ``THREADRUN_BASE_URL`` (or ``--base-url``), the magic, the form and ``threadrun.run``
talk to this server: it listens on a free 127.0.0.1 port, answers only requests that carry its
random per-process token, and runs each model on its provider (``threadrun.providers``). So no
notebook has to start a server, and no other local user or web page can spend your keys
through its port.
"""
from __future__ import annotations

import atexit
import secrets
import threading
from typing import Any

from .. import scrub

_lock = threading.Lock()
_server: Any = None
_token: str | None = None


def embedded() -> tuple[str, str]:
    """The embedded runtime's base URL and bearer token (starting it the first time)."""
    global _server, _token
    with _lock:
        if _server is None:
            from . import LocalServer
            _token = secrets.token_urlsafe(32)
            scrub.remember(_token, "the embedded runtime's token")
            _server = LocalServer(host="127.0.0.1", port=0, api_key=_token).start()
            atexit.register(_server.stop)
        return _server.url, _token or ""


def running() -> Any:
    """The embedded LocalServer if it has started, else None."""
    return _server


def is_embedded(url: str | None) -> bool:
    """Whether ``url`` is the embedded runtime's."""
    return _server is not None and url == _server.url
