"""A notebook variable named in a cell (``--over VAR``, ``--tools NAME``, ``--continue VAR``):
its value, or one line naming the problem and the closest name there is."""
from __future__ import annotations

import difflib
from typing import Any, Iterable, Mapping

from ..errors import ValidationError


def variable(name: str, namespace: Mapping[str, Any], flag: str, *, param: str,
             among: Iterable[str] | None = None, spelled: str | None = None) -> Any:
    """``namespace[name]``; else a ValidationError ``"{flag} {name}: no such variable in the
    notebook (did you mean ...?)"``, the closest of ``among`` (default: the public names)."""
    if name in namespace:
        return namespace[name]
    names = list(among) if among is not None else [k for k in namespace if not k.startswith("_")]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValidationError(f"{flag} {spelled or name}: no such variable in the notebook{hint}", param=param)
