"""The assistant a run uses: the one given, or a scratch assistant per base URL, cached on disk.

createThreadAndRun needs an ``assistant_id``. Without ``--assistant`` (or
``$THREADRUN_ASSISTANT_ID``) threadrun creates one assistant per base URL, remembers its id in
``$THREADRUN_HOME/assistants.json`` (default ``~/.threadrun``) and reuses it; each run still
chooses its own model, so the assistant's model does not matter.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

from . import config
from .client import Client
from .errors import NotFoundError

_lock = threading.Lock()


def cache_path() -> Path:
    return config.home() / "assistants.json"


def cached(base_url: str) -> str | None:
    """The scratch assistant id remembered for this base URL, if any."""
    try:
        return json.loads(cache_path().read_text()).get(base_url)
    except (OSError, ValueError, AttributeError):
        return None


def remember(base_url: str, assistant_id: str) -> None:
    """Store the scratch assistant id for this base URL (atomic replace)."""
    path = cache_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        known = json.loads(path.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    known[base_url] = assistant_id
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".assistants-")
    with os.fdopen(fd, "w") as f:
        json.dump(known, f, indent=1)
    os.replace(tmp, path)


def resolve(client: Client, explicit: str | None = None, model: str | None = None) -> str:
    """The assistant id to run with; creates and caches a scratch one when none is configured."""
    chosen = config.assistant_id(explicit)
    if chosen:
        return chosen
    with _lock:
        known = cached(client.base_url)
        if known:
            try:
                client.get_assistant(known)
                return known
            except NotFoundError:
                pass  # the server forgot it (a restarted local server): make a new one
        created = client.create_assistant(model or "gpt-4o-mini")["id"]
        remember(client.base_url, created)
        return created
