"""Where threadrun reads its settings from the environment, and where it keeps its files.

``THREADRUN_BASE_URL`` (with ``THREADRUN_API_KEY``, the bearer sent to it) points threadrun at an
Assistants v2 server; without it, threadrun runs its own runtime in the process. ``OPENAI_BASE_URL``
and ``OPENAI_API_KEY`` mean what they mean to the openai SDK: the ``openai`` provider's endpoint
and key (see ``providers``).
"""
from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ValidationError

BASE_URL_ENV = "THREADRUN_BASE_URL"
API_KEY_ENV = "THREADRUN_API_KEY"
LOG_ENV = "THREADRUN_LOG"
PRICES_ENV = "THREADRUN_PRICES"
SERVER_KEY_ENV = "THREADRUN_SERVER_API_KEY"

#: Defaults of how runs are sent (the magic's traitlets, ``api.Command`` and ``Client`` read them).
TIMEOUT_S = 120.0
#: The request header that tells our runtime the client's read timeout (seconds; not secret).
TIMEOUT_HEADER = "X-Threadrun-Timeout"
#: Seconds one run may take, from its create to its end, before it is cancelled and recorded.
DEADLINE_S = 600.0
MAX_RETRIES = 2
#: Seconds to wait for a TCP (and TLS) connection, for the client and the engines alike.
CONNECT_TIMEOUT_S = 10.0
CONCURRENCY = 8
#: A dry run's token counts (``client.counting``): distinct prompts counted at most, seconds
#: spent counting at most (each count is one call to the provider's count endpoint; no run).
COUNT_MAX, COUNT_DEADLINE_S = 300, 90.0


def home() -> Path:
    """threadrun's folder: ``$THREADRUN_HOME``, else ``~/.threadrun``."""
    return _home(os.environ.get("THREADRUN_HOME") or "", os.environ.get("HOME") or "",
                 os.environ.get("USERPROFILE") or "")


@functools.lru_cache(maxsize=32)
def _home(explicit: str, user_home: str, windows_home: str) -> Path:
    """The folder for these variables (read on every call; the Path is made once per value)."""
    return Path(explicit or Path.home() / ".threadrun")


def base_url(explicit: str | None = None) -> str | None:
    """The Assistants server's base URL: the argument, else ``$THREADRUN_BASE_URL``; None = embedded.

    A URL with ``user:pass@`` (it would replace the Bearer key with Basic auth, and be stored and
    shown), a ``?query`` or a ``#fragment`` (requests would answer 404 later) is a one-line
    ValidationError that never repeats the URL.
    """
    url = explicit or os.environ.get(BASE_URL_ENV) or None
    if not url:
        return None
    _check_base_url(url, "base_url" if explicit else BASE_URL_ENV)
    return url.rstrip("/")


def _check_base_url(url: str, where: str) -> None:
    """Raise on userinfo, a query or a fragment in ``url``; the message never quotes the URL."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return  # unusable: the first request says why
    if "@" in netloc:
        raise ValidationError(f"the base URL ({where}) contains a user name or password "
                              "(user:pass@); remove it and give the key with THREADRUN_API_KEY "
                              "(or --api-key-env)", param="base_url")
    if "?" in url:
        raise ValidationError(f"the base URL ({where}) contains a ?query; give the server's base "
                              "URL only, e.g. http://127.0.0.1:8000/v1", param="base_url")
    if "#" in url:
        raise ValidationError(f"the base URL ({where}) contains a #fragment; give the server's "
                              "base URL only, e.g. http://127.0.0.1:8000/v1", param="base_url")


def log_path() -> Path:
    """The run log file: ``$THREADRUN_LOG``, else ``$THREADRUN_HOME/runs.sqlite``."""
    return Path(os.environ.get(LOG_ENV) or home() / "runs.sqlite")


def prices_file() -> str | None:
    """A prices file to merge over the packaged one: ``$THREADRUN_PRICES``, or None."""
    return os.environ.get(PRICES_ENV) or None


def server_api_key(explicit: str | None = None) -> str | None:
    """The key ``threadrun serve`` demands: ``--api-key``, else ``$THREADRUN_SERVER_API_KEY``."""
    return explicit or os.environ.get(SERVER_KEY_ENV) or None


def assistant_id(explicit: str | None = None) -> str | None:
    """The assistant to run with: the argument, else ``$THREADRUN_ASSISTANT_ID``, else None."""
    return explicit or os.environ.get("THREADRUN_ASSISTANT_ID") or None


def api_key(env_name: str | None = None) -> str:
    """The Assistants server's key: ``$THREADRUN_API_KEY``, or the variable ``env_name`` names."""
    return os.environ.get(env_name or API_KEY_ENV, "")


def is_loopback(host: str | None) -> bool:
    """Whether a host (name or address) is this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False
