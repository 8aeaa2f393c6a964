"""``threadrun providers`` / ``%threadrun providers``: each provider, its endpoint, API and key
variable (and whether it is set, never the key); ``check=True`` asks each for its models."""
from __future__ import annotations

import os
import unicodedata
from typing import Any

from .. import providers
from ..errors import ValidationError

COLUMNS = ("provider", "api", "base_url", "base_url_env", "key_env", "key_set", "local", "check")


def rows(check: bool = False) -> list[dict[str, Any]]:
    """One dict per provider (COLUMNS); ``check`` fills ``check`` with the /models answer."""
    out = []
    for name, provider in providers.providers().items():
        try:
            url = provider.endpoint() if not provider.offline else "(in process)"
        except ValidationError:
            url = f"(set ${provider.base_url_env})"
        key_set = bool(provider.key_env and os.environ.get(provider.key_env, "").strip())
        row = {"provider": name, "api": provider.api, "base_url": url,
               "base_url_env": provider.base_url_env or "", "key_env": provider.key_env or "",
               "key_set": key_set if provider.key_env else None, "local": provider.local,
               "check": ""}
        if check:
            row["check"] = _check(provider)
        out.append(row)
    return out


def _check(provider: providers.Provider) -> str:
    """``ok: N models`` or the one-line reason the provider could not be asked."""
    if provider.offline:
        return "ok: offline stand-in"
    from ..server.engines import UpstreamError
    from ..server.engines.http import list_models
    from ..server.masking import mask
    try:
        models = list_models(provider)
    except (UpstreamError, ValidationError) as exc:
        return printable(mask(str(exc)) or "")
    shown = ", ".join(models[:3]) + (", …" if len(models) > 3 else "")
    return printable(mask(f"ok: {len(models)} models" + (f" ({shown})" if models else "")) or "")


def printable(text: str) -> str:
    """``text`` without control, format (bidi) or unassigned characters: a model id an upstream
    chose never moves the terminal's cursor or rewrites its lines."""
    return "".join(ch for ch in text if not unicodedata.category(ch).startswith("C"))


def text(check: bool = False) -> str:
    """The table as aligned plain text (for the terminal)."""
    table = rows(check)
    head = [c for c in COLUMNS if check or c != "check"]
    cells = [[_cell(r[c]) for c in head] for r in table]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip() for c in cells]
    return "\n".join(lines) + f"\n\nadd or override providers in {providers.user_file()}"


def _cell(value: Any) -> str:
    return "yes" if value is True else "no" if value is False else "" if value is None else str(value)
