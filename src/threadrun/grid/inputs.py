"""Each input fills the thread's ``{column}`` placeholders (``--over``), with the guards of ``{name}``.

The thread is parsed once as a template (nothing filled), then filled once per input from the
input's columns over the notebook's names, with ``thread``'s own substitution: the same key
guards, no ``_`` names, nothing reached through a module. A placeholder that is neither a column
nor a notebook name is a one-line error naming it and the columns, before anything is sent.
"""
from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own field-name parser
import string
from collections import ChainMap
from dataclasses import replace
from typing import Any, Iterator, Mapping

from .. import scrub
from ..errors import ValidationError
from ..rows.inputs import Table, missing_column, table
from .thread import Message, Thread, substitute
from .variables import variable

_FORMATTER = string.Formatter()


def read(value: Any, namespace: Mapping[str, Any] | None) -> Table:
    """The inputs ``--over`` names (a notebook variable) or gives (a DataFrame, a list of dicts)."""
    if isinstance(value, str):
        name = value.strip()
        if namespace is None:
            raise ValidationError(f"over={name!r} names a variable, but no namespace was given: "
                                  "pass the DataFrame itself (over=df) or namespace=globals()",
                                  param="over")
        frames = (k for k, v in namespace.items() if _is_table(v) and not k.startswith("_"))
        found = variable(name, namespace, "--over", param="over", among=sorted(frames),
                         spelled=repr(name))
        return table(found, name)
    return table(value)


def _is_table(value: Any) -> bool:
    import pandas as pd
    return isinstance(value, pd.DataFrame)


def texts(thread: Thread) -> Iterator[tuple[str, int | None]]:
    """Every text of the thread a placeholder can be in (with its line): contents, instructions."""
    if thread.instructions is not None:
        yield thread.instructions, None
    for message in thread.messages:
        if isinstance(message.content, str):
            yield message.content, message.line
        elif isinstance(message.content, list):
            for part in message.content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    yield part["text"], message.line


def names(text: str) -> list[str]:
    """The first names of the placeholders in ``text`` (unreadable ones are left to the fill)."""
    found = []
    try:
        for _, field, spec, _ in _FORMATTER.parse(text):
            if field is not None:
                try:
                    first, _rest = _string.formatter_field_name_split(field)
                except ValueError:
                    continue
                if isinstance(first, str) and first:
                    found.append(first)
                found += names(spec or "")
    except ValueError:
        pass
    return found


def check(thread: Thread, inputs: Table, namespace: Mapping[str, Any] | None) -> None:
    """Raise the one-line error for a placeholder that no column and no notebook name fills."""
    for text, line in texts(thread):
        for name in names(text):
            if name not in inputs.columns and (namespace is None or name not in namespace):
                raise ValidationError(missing_column(name, inputs.columns)
                                      + f" (placeholder {{{name}}})", param="over", line=line)


def fill(thread: Thread, record: Mapping[str, Any], namespace: Mapping[str, Any] | None) -> Thread:
    """The thread with one input's columns (then the notebook's names) filled in."""
    values: Mapping[str, Any] = ChainMap(dict(record), dict(namespace or {}))
    messages = tuple(replace(m, content=_content(m, values)) for m in thread.messages)
    instructions = (substitute(thread.instructions, values, None)
                    if thread.instructions is not None else None)
    return Thread(messages, instructions, thread.body)


def _content(message: Message, values: Mapping[str, Any]) -> Any:
    if isinstance(message.content, str):
        return substitute(message.content, values, message.line)
    if isinstance(message.content, list):
        return [{**part, "text": substitute(part["text"], values, message.line)}
                if isinstance(part, dict) and isinstance(part.get("text"), str) else part
                for part in message.content]
    return message.content


def threads(thread: Thread, inputs: Table, namespace: Mapping[str, Any] | None) -> list[tuple[Any, Thread]]:
    """(label, filled thread) per input, checked before anything is sent."""
    check(thread, inputs, namespace)
    with scrub.snapshot():  # the same secrets for every input
        return [(label, fill(thread, record, namespace))
                for label, record in zip(inputs.labels, inputs.records)]
