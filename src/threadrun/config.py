"""Where threadrun reads its settings from the environment, and where it keeps its files."""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path

DEFAULT_BASE_URL = "https://api.openai.com/v1"


def home() -> Path:
    """threadrun's folder: ``$THREADRUN_HOME``, else ``~/.threadrun``."""
    return Path(os.environ.get("THREADRUN_HOME") or Path.home() / ".threadrun")


def base_url(explicit: str | None = None) -> str:
    """The API base URL: the argument, else ``$OPENAI_BASE_URL``, else OpenAI's."""
    return (explicit or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")


def assistant_id(explicit: str | None = None) -> str | None:
    """The assistant to run with: the argument, else ``$THREADRUN_ASSISTANT_ID``, else None."""
    return explicit or os.environ.get("THREADRUN_ASSISTANT_ID") or None


def api_key(env_name: str | None = None) -> str:
    """The API key: ``$OPENAI_API_KEY``, or the variable ``env_name`` names ("" when unset)."""
    return os.environ.get(env_name or "OPENAI_API_KEY", "")


def is_loopback(host: str | None) -> bool:
    """Whether a host (name or address) is this machine's loopback interface."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address((host or "").strip("[]")).is_loopback
    except ValueError:
        return False
