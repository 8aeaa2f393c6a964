"""Keys kept out of what threadrun sends in a thread and stores: any value of an environment
variable named like a secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``), the key a
client was given, and the embedded runtime's token. Stdlib only.

A secret is also looked for as JSON writes it (quotes, backslashes and control characters
escaped), since run objects and bodies are stored as JSON text.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import os
import re
from typing import Iterator

from .errors import ValidationError

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
#: Shorter values are not taken for keys (``KEY_ENABLED=1`` would mask every "1").
MIN_LEN = 8
MASK = "***"
_remembered: dict[str, str] = {}
#: Inside ``snapshot()``: the secrets looked up once (known, and with every provider's key).
_snapshot: contextvars.ContextVar[tuple[dict[str, str], dict[str, str]] | None] = \
    contextvars.ContextVar("threadrun_secrets", default=None)


@contextlib.contextmanager
def snapshot() -> Iterator[None]:
    """Look the secrets up once for the block (filling 10,000 inputs' placeholders would
    otherwise scan the environment and the providers for every value)."""
    token = _snapshot.set(None)
    _snapshot.set((known(), {**provider_keys(), **known()}))
    try:
        yield
    finally:
        _snapshot.reset(token)


def remember(secret: str, name: str) -> None:
    """A secret threadrun was given or made (a client's key, the embedded runtime's token)."""
    if len(secret) >= MIN_LEN:
        _remembered[secret] = name


def known() -> dict[str, str]:
    """Secret (and its JSON-escaped spellings) → what holds it, longest first (a new dict)."""
    taken = _snapshot.get()
    if taken is not None:
        return taken[0]
    global _last
    # the environment is read on every call (a key set a moment ago counts); only the work
    # done from what it holds is kept, while the secret variables and remembered keys stay the same
    state = (tuple((name, os.environ.get(name, "")) for name in os.environ if _secret_name(name)),
             tuple(_remembered.items()))
    if _last is None or _last[0] != state:
        _last = state, _spellings(state)
    return dict(_last[1])


_last: tuple[tuple, dict[str, str]] | None = None


@functools.lru_cache(maxsize=4096)
def _secret_name(name: str) -> bool:
    return SECRET_NAME.search(name) is not None


def _spellings(state: tuple) -> dict[str, str]:
    """The secrets of (secret variables, remembered keys) and their JSON spellings, longest first."""
    variables, remembered = state
    found = {value.strip(): f"${name}" for name, value in variables if len(value.strip()) >= MIN_LEN}
    found.update(remembered)
    for secret, name in list(found.items()):
        for spelling in (json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]):
            found.setdefault(spelling, name)
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def which(text: str, secrets: dict[str, str] | None = None) -> str | None:
    """What holds the secret ``text`` contains (``$OPENAI_API_KEY``...), if any."""
    for secret, name in (secrets if secrets is not None else known()).items():
        if secret in text:
            return name
    return None


def provider_keys() -> dict[str, str]:
    """Every loaded provider's key, whatever its variable is called → ``$VARIABLE``."""
    try:
        from .providers import providers
        loaded = list(providers().values())
    except (ValidationError, OSError):  # a bad providers file is reported where it is read
        return {}
    return {value.strip(): f"${p.key_env}" for p in loaded if p.key_env
            and len((value := os.environ.get(p.key_env, "")).strip()) >= MIN_LEN}


def part_holder(text: str) -> str | None:
    """What holds a key of which ``text`` contains any run of ``MIN_LEN`` characters or more
    (``{k:.30}``, or ``{k[0]}{k[1]}...`` joined): known secrets and every provider's key."""
    taken = _snapshot.get()
    secrets = taken[1] if taken is not None else {**provider_keys(), **known()}
    for secret, name in secrets.items():
        if any(secret[i:i + MIN_LEN] in text for i in range(len(secret) - MIN_LEN + 1)):
            return name
    return None


def scrub(text: str | None, secrets: dict[str, str] | None = None) -> str | None:
    """``text`` with every known secret (or every one of ``secrets``) replaced by ``***``."""
    if not text:
        return text
    return mask(text, *(secrets if secrets is not None else known()))


def mask(text: str, *keys: str | None) -> str:
    """``text`` with each of these keys replaced by ``***`` (the one masker: every other mask
    in threadrun, the client's, the engines' and ``scrub``, calls it)."""
    for key in keys:
        if key and len(key) >= 4 and key in text:
            text = text.replace(key, MASK)
    return text
