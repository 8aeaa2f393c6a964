"""Keys kept out of what threadrun sends in a thread and stores: any value of an environment
variable named like a secret (``*KEY*``, ``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``), and the
embedded runtime's token. Stdlib only.
"""
from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD", re.IGNORECASE)
#: Shorter values are not taken for keys (``KEY_ENABLED=1`` would mask every "1").
MIN_LEN = 8
MASK = "***"
_extra: set[str] = set()


def remember(secret: str) -> None:
    """A secret threadrun made itself (the embedded runtime's token)."""
    if len(secret) >= MIN_LEN:
        _extra.add(secret)


def known() -> dict[str, str]:
    """Secret value → the variable holding it (longest first, so a key inside another is masked whole)."""
    found = {value.strip(): name for name, value in os.environ.items()
             if SECRET_NAME.search(name) and len(value.strip()) >= MIN_LEN}
    found.update({secret: "the embedded runtime's token" for secret in _extra})
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def which(text: str) -> str | None:
    """The name of the variable whose secret ``text`` contains, if any."""
    for secret, name in known().items():
        if secret in text:
            return name
    return None


def scrub(text: str | None, secrets: dict[str, str] | None = None) -> str | None:
    """``text`` with every known secret replaced by ``***``."""
    if not text:
        return text
    for secret in secrets if secrets is not None else known():
        if secret in text:
            text = text.replace(secret, MASK)
    return text
