"""The assistant a run uses: the one given, or a scratch assistant per base URL, cached on disk.

createThreadAndRun needs an ``assistant_id``. Without ``--assistant`` (or
``$THREADRUN_ASSISTANT_ID``) threadrun creates one assistant per base URL, remembers its id in
``$THREADRUN_HOME/assistants.json`` (default ``~/.threadrun``) and reuses it; each run still
chooses its own model, so the assistant's model does not matter. A remembered id is checked
(``GET /assistants/{id}``) once per client (one per settings, kept for the session); when a run later answers 404 (the server forgot
it), ``forget`` drops the check and the sweep resolves again and resends that run once.
"""
from __future__ import annotations

import json
import os
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any

from .. import config, notify
from ..errors import APIError, NotFoundError
from .endpoints import Endpoints

_lock = threading.Lock()


def cache_path() -> Path:
    return config.home() / "assistants.json"


def cached(base_url: str) -> str | None:
    """The scratch assistant id remembered for this base URL, if any."""
    try:
        return _read_cache(cache_path()).get(base_url)
    except (OSError, ValueError, AttributeError):
        return None


_read: tuple[tuple, Any] | None = None


def _read_cache(path: Path) -> Any:
    """The cache file's JSON, parsed again only when the file changed (another path, inode,
    size or modification time): every ``threadrun.run`` call looks its assistant up here."""
    global _read
    info = path.stat()
    stamp = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
    if _read is None or _read[0] != stamp:
        _read = stamp, json.loads(path.read_text())
    return _read[1]


def remember(base_url: str, assistant_id: str) -> None:
    """Store the scratch assistant id for this base URL (atomic replace).

    The cache only saves creating an assistant next time: when it cannot be written (a
    read-only or unusable ``$THREADRUN_HOME``) this warns in one line and the run goes on.
    """
    path = cache_path()
    try:
        _write(path, base_url, assistant_id)
    except OSError as exc:
        reason = " ".join(str(exc.strerror or exc or type(exc).__name__).split())
        if exc.filename and str(exc.filename) != str(path):
            reason += f": {exc.filename}"
        notify.warn(f"could not cache the scratch assistant id in {path} ({reason}); "
                    "it is used for this run only")


def _write(path: Path, base_url: str, assistant_id: str) -> None:
    """Add one base URL's id to the cache file; a temporary file is renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        known = json.loads(path.read_text())
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    known[base_url] = assistant_id
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".assistants-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(known, f, indent=1)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_memory: dict[tuple[str, str | None], str] = {}
#: Clients (threadrun keeps one per base URL, key and settings for the session) whose server
#: answered for a remembered id: checked once, not on every call.
_checked: "weakref.WeakKeyDictionary[Endpoints, set[tuple[str, str]]]" = weakref.WeakKeyDictionary()


def forget(base_url: str, assistant_id: str) -> None:
    """A run answered that this assistant is gone: the next ``resolve`` checks (and replaces) it."""
    with _lock:
        for client, pairs in list(_checked.items()):
            if client.base_url == base_url:
                pairs.difference_update({p for p in pairs if p[1] == assistant_id})
        for key, known in list(_memory.items()):
            if known == assistant_id and key[0] == base_url:
                del _memory[key]


def resolve(client: Endpoints, explicit: str | None = None, model: str | None = None,
            effort: str | None = None, *, persist: bool = True) -> str:
    """The assistant id to run with; creates and caches a scratch one when none is configured.

    One scratch assistant per reasoning effort (an assistant carries the effort, a run cannot).
    ``persist=False`` (the embedded runtime, which lives as long as this process) keeps the id in
    memory only, so ``assistants.json`` does not fill with ids of servers that are gone.
    """
    chosen = config.assistant_id(explicit)
    if chosen:
        return chosen
    slot = client.base_url if effort is None else f"{client.base_url}|reasoning_effort={effort}"
    with _lock:
        if not persist and (client.base_url, effort) in _memory:
            return _memory[(client.base_url, effort)]
        known = cached(slot) if persist else None
        checked = _checked.setdefault(client, set()) if persist else set()
        if known and (slot, known) in checked:
            return known  # checked earlier by this client; a run that finds it gone calls forget()
        if known:
            try:
                client.get_assistant(known)
                checked.add((slot, known))
                return known
            except NotFoundError:
                pass  # the server forgot it (a restarted local server): make a new one
        answer = client.create_assistant(model or "gpt-4o-mini",
                                         **({"reasoning_effort": effort} if effort else {}))
        created = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(created, str) or not created:
            raise APIError("the server answered POST /assistants without an id")
        if persist:
            remember(slot, created)
            checked.add((slot, created))
        else:
            _memory[(client.base_url, effort)] = created
        return created
