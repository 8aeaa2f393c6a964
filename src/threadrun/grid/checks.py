"""Small checkers shared by the request-body validation: types, keys, lists, numbers, metadata.

Each raises ``ValidationError`` with ``param`` set to the body path of the bad value.
"""
from __future__ import annotations

import difflib
import reprlib
from collections.abc import Mapping
from typing import Any, NoReturn

from ..errors import ValidationError
from ..spec import METADATA_KEY_CHARS, METADATA_PAIRS, METADATA_VALUE_CHARS

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 40


def show(value: Any) -> str:
    """A short one-line repr for error messages."""
    return _repr.repr(value)


def fail(param: str, message: str, line: int | None = None) -> NoReturn:
    raise ValidationError(message, param=param, line=line)


# --- shared checkers ---------------------------------------------------------------------

def or_list(words: tuple[str, ...]) -> str:
    """``a, b or c``."""
    return ", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else words[0]


def check_unknown_keys(value: Mapping[str, Any], allowed: tuple[str, ...], where: str,
                  prefix: str = "") -> None:
    """Raise on the first key of ``value`` not in ``allowed`` (with a did-you-mean)."""
    for key in value:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fail(f"{prefix}{key}", f"unknown field {show(key)} in {where}{hint}")


def typed(value: Any, param: str, kinds: tuple[str, ...], words: tuple[str, ...] = ()) -> str:
    """``value`` if it is one of ``words``, else its ``type``, which must be one of ``kinds``."""
    if isinstance(value, str) and value in words:
        return value
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind not in kinds:
        ways = words + (f"an object of type {or_list(kinds)}",)
        fail(param, f"{param} must be {or_list(ways)}, got {show(value)}")
    return kind


def is_type(kind: type | tuple[type, ...], label: str, non_empty: bool = False) -> Any:
    """A checker: the value must be an instance of ``kind`` (and truthy if ``non_empty``)."""
    def check(value: Any, param: str) -> None:
        if not isinstance(value, kind) or (non_empty and not value):
            fail(param, f"{param} must be {label}, got {show(value)}")
    return check


is_object = is_type(Mapping, "an object")
is_str = is_type(str, "a string")
is_id = is_type(str, "a non-empty string", non_empty=True)
is_bool_or_null = is_type((bool, type(None)), "a boolean")


def check_keys(value: Any, param: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    """An object with no key outside ``allowed`` and every key in ``required``."""
    is_object(value, param)
    check_unknown_keys(value, allowed, param, f"{param}.")
    for key in required:
        if key not in value:
            fail(f"{param}.{key}", f"{param}.{key} is required")


def check_list(value: Any, param: str, most: int | None = None, item: Any = None) -> None:
    """A list of at most ``most`` entries, each passing ``item``."""
    is_type(list, "a list")(value, param)
    if most is not None and len(value) > most:
        fail(param, f"{param} can have at most {most} item{'s' * (most > 1)}, got {len(value)}")
    for index, entry in enumerate(value if item else ()):
        item(entry, f"{param}[{index}]")


def check_enum(value: Any, param: str, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        fail(param, f"{param} must be {or_list(choices)}, got {show(value)}")


def check_int(value: Any, param: str, minimum: int, maximum: int | None = None) -> None:
    """An int (not a bool) of at least ``minimum`` (and at most ``maximum``)."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(param, f"{param} must be an integer, got {show(value)}")
    if value < minimum:
        fail(param, f"{param} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        fail(param, f"{param} must be at most {maximum}, got {value}")


def check_metadata(value: Any, param: str) -> None:
    """At most 16 pairs, string keys of at most 64 chars, string values of at most 512."""
    if value is None:
        return
    is_object(value, param)
    if len(value) > METADATA_PAIRS:
        fail(param, f"{param} can have at most {METADATA_PAIRS} pairs, got {len(value)}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, str):
            fail(param, f"{param} keys and values must be strings, "
                         f"got {show(key)}: {show(item)}")
        if len(key) > METADATA_KEY_CHARS:
            fail(param, f"{param} key {show(key)} has {len(key)} characters; the limit is "
                        f"{METADATA_KEY_CHARS}")
        if len(item) > METADATA_VALUE_CHARS:
            fail(f"{param}.{key}",
                  f"{param}[{key!r}] has {len(item)} characters; the limit is {METADATA_VALUE_CHARS}")
