"""Parse a thread (cell text, message dicts or a JSON request body) into a ``Thread``.

Cell syntax: a line ``user: text`` or ``assistant: text`` (role case-insensitive, at the very
start of the line) starts a message; ``system:`` / ``instructions:`` sets the run's instructions
(once). Following lines continue the current entry. A cell without role lines is one user
message. An indented line is always text, so ``  user: ...`` can be quoted inside a message.

A ``word:`` line that is no role is text, unless it looks like a mistyped role: ``tool:``,
``function:`` and ``developer:`` are always errors, and so is a misspelled role, judged by
``difflib`` ratio to the known roles. On the cell's first role-like line (no text before it) a
ratio of 0.75 is enough (``usr: hi`` is an error); on a line that would otherwise continue a
message only 0.89 is, so ``sytem:``, ``sysem:``, ``asistant:`` are errors there while ``Use:``,
``Users:``, ``usr:`` and ``Note:`` are text.

Request bodies are built in ``threadrun.grid.plan`` and validated in ``threadrun.grid.body``.

``{name}`` placeholders (``string.Formatter`` syntax: ``{x:.2f}``, ``{obj.attr}``, ``{d[key]}``;
``{{``/``}}`` for literal braces) are filled from ``namespace`` after the cell is split into
messages, so a value can never start a new message. With ``namespace=None`` nothing is
substituted: the text, braces and ``{{`` included, is sent verbatim.

A cell whose first non-blank character is ``{`` is a JSON request body (createThreadAndRun
shape, or ``{"messages": [...]}``); JSON bodies and message dicts get no ``{var}`` substitution.
A cell that is a whole JSON array is an error; other text starting with ``[`` is a message.
In message lists a ``system`` message becomes the instructions, as in cells.
"""
from __future__ import annotations

import _string  # type: ignore[import-not-found]  # str.format's own field-name parser
import copy
import difflib
import json
import os
import re
import string
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import scrub
from .body import FOREIGN_ROLES, INSTRUCTION_ROLES, THREAD_ROLES, check_message
from .checks import fail, is_object, is_type

__all__ = ["Message", "Thread", "parse", "parse_cell"]

#: How to send braces as they are typed.
BRACES = ("write {{ and }} for literal braces, or add --no-interpolate (interpolate=False) to "
          "send the cell as typed")
_ROLE_LINE = re.compile(r"^([A-Za-z][A-Za-z_-]*)[ \t]*:(.*)$")
_CUTOFF_FIRST = 0.75  # difflib ratio to a role that makes the cell's first role-like line an error
_CUTOFF_INSIDE = 0.89  # ... and a line inside a message: sytem (0.91) yes, users (8/9) no


@dataclass(frozen=True)
class Message:
    role: str  # "user" | "assistant"
    content: str | list  # str from cells; a parts list only when it came from a dict/JSON
    line: int | None = None  # 1-based line in the cell where it starts (None if not from a cell)
    extra: Mapping[str, Any] = field(default_factory=dict)  # attachments/metadata from dicts


@dataclass(frozen=True)
class Thread:
    messages: tuple[Message, ...]
    instructions: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)  # JSON body's other fields, under options


# --- cells -------------------------------------------------------------------------------

@dataclass
class _Entry:
    """A message or the instructions while the cell is read: role, first line, (line, text)s."""
    role: str
    line: int
    lines: list[tuple[int, str]]


def _role_of(line: str, lineno: int, inside: bool) -> tuple[str, str] | None:
    """``(role, rest)`` if ``line`` starts a message or instructions; raises on a bad role.

    ``inside``: the line would otherwise continue a message, so only a near-exact misspelling
    of a role is an error there.
    """
    match = _ROLE_LINE.match(line)
    if not match:
        return None
    word, rest = match.group(1), match.group(2)
    role = word.lower()
    if role in THREAD_ROLES or role in INSTRUCTION_ROLES:
        return role, rest.lstrip()
    if role in FOREIGN_ROLES:
        fail("role", f"role {word!r} is not allowed in a thread; use user or assistant", lineno)
    cutoff = _CUTOFF_INSIDE if inside else _CUTOFF_FIRST
    close = difflib.get_close_matches(role, THREAD_ROLES + INSTRUCTION_ROLES, n=1, cutoff=cutoff)
    if close:
        fail("role", f"unknown role {word!r} (did you mean {close[0]!r}?)", lineno)
    return None


def _split(text: str) -> list[_Entry]:
    """The cell's entries in order; text before the first role line is an error."""
    entries: list[_Entry] = []
    loose: list[tuple[int, str]] = []
    first_text: int | None = None  # line of the first non-blank text before any role line
    for lineno, line in enumerate(text.split("\n"), start=1):
        found = _role_of(line, lineno, inside=bool(entries) or first_text is not None)
        if found:
            entries.append(_Entry(found[0], lineno, [(lineno, found[1])]))
        elif entries:
            entries[-1].lines.append((lineno, line))
        else:
            loose.append((lineno, line))
            if first_text is None and line.strip():
                first_text = lineno
    if entries and first_text is not None:
        fail("thread", "text before the first role line; start it with 'user:'", first_text)
    if not entries and first_text is not None:
        entries.append(_Entry("user", first_text, loose))
    return entries


def _trim(lines: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """``lines`` without leading and trailing whitespace-only lines."""
    keep = [i for i, (_, line) in enumerate(lines) if line.strip()]
    return lines[keep[0]:keep[-1] + 1] if keep else []


_FORMATTER = string.Formatter()


def substitute(text: str, namespace: Mapping[str, Any], lineno: int | None) -> str:
    """``text`` with its ``{...}`` placeholders filled from ``namespace``, with every guard below."""
    return _substitute(text, namespace, lineno)


def _substitute(text: str, namespace: Mapping[str, Any], lineno: int | None) -> str:
    """``text`` with its ``{...}`` placeholders filled from ``namespace``."""
    try:
        pieces = list(_FORMATTER.parse(text))
    except ValueError:
        fail("thread", f"unbalanced brace; {BRACES}", lineno)
    out, filled = [], []
    for literal, name, spec, conversion in pieces:
        out.append(literal)
        if name is not None:
            filled.append(_fill(name, spec or "", conversion, namespace, lineno))
            out.append(filled[-1])
    holder = scrub.part_holder("".join(filled)) if filled else None
    if holder is not None:  # pieces of a key, one placeholder each: {k[0]}{k[1]}...
        fail("thread", f"the filled-in values hold part of {holder}, a key; keys are never sent "
                       "in a thread", lineno)
    return "".join(out)


def _path(name: str, shown: str, lineno: int | None) -> tuple[str, list[tuple[bool, Any]]]:
    """A placeholder's first name and its ``.attr`` / ``[key]`` steps; none may start with ``_``.

    So ``{f.__globals__[x]}`` or ``{obj._private}`` cannot walk to other modules or internals.
    """
    try:
        first, rest = _string.formatter_field_name_split(name)
        steps = list(rest)
    except ValueError:
        fail("thread", f"{shown} is not a variable name; {BRACES}", lineno)
    if not isinstance(first, str) or not first or first.isdigit():
        fail("thread", f"{shown} is not a variable name; {BRACES}", lineno)
    for part in [first] + [key for _, key in steps]:
        if isinstance(part, str) and part.startswith("_"):
            fail("thread", f"{shown}: names, attributes and keys starting with '_' cannot be "
                           f"filled in; {BRACES}", lineno)
    return first, steps


def _fill(name: str, spec: str, conversion: str | None, namespace: Mapping[str, Any],
          lineno: int | None) -> str:
    """One placeholder's formatted value, or a ValidationError quoting the placeholder.

    The error quotes only what was typed (the placeholder, its name, attribute or key), never
    a value or a format spec it evaluated to: that could be a secret.
    """
    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
    shown += "}"
    first, steps = _path(name, shown, lineno)
    if first not in namespace:
        hint = "" if first.isidentifier() else f"; {BRACES}"
        fail("thread", f"unknown name {first!r} in {shown}{hint}", lineno)
    value = namespace[first]
    for is_attr, key in steps:
        if isinstance(value, types.ModuleType) or value is os.environ:
            fail("thread", f"{shown} reaches into {'the environment' if value is os.environ else 'a module'}; "
                           "only your own variables can be filled in (assign the value to one first)",
                 lineno)
        try:
            value = getattr(value, key) if is_attr else value[key]
        except Exception as exc:  # noqa: BLE001 - any failure is the user's placeholder's
            fail("thread", f"cannot fill {shown}: {_step_error(exc, value, is_attr, key)}", lineno)
    try:
        value = _FORMATTER.convert_field(value, conversion)
    except Exception as exc:  # noqa: BLE001
        fail("thread", f"cannot fill {shown}: {type(exc).__name__}: conversion !{conversion} "
                       f"failed", lineno)
    resolved = _substitute(spec, namespace, lineno)
    try:
        text = _FORMATTER.format_field(value, resolved)
    except Exception as exc:  # noqa: BLE001
        fail("thread", f"cannot fill {shown}: {_format_error(exc, value, spec, resolved)}", lineno)
    holder = scrub.which(text)
    if holder is not None:
        fail("thread", f"{shown} holds the value of {holder}, a key; "
                       "keys are never sent in a thread", lineno)
    part = scrub.part_holder(text)
    if part is not None:
        fail("thread", f"{shown} holds part of {part}, a key; keys are never sent in a thread",
             lineno)
    return text


def _step_error(exc: Exception, value: Any, is_attr: bool, key: Any) -> str:
    """Why ``.key`` / ``[key]`` failed, from the typed key and the value's type only."""
    kind = type(exc).__name__
    if is_attr and isinstance(exc, AttributeError):
        return f"{kind}: {type(value).__name__!r} object has no attribute {key!r}"
    if isinstance(exc, KeyError):
        return f"{kind}: {key!r}"
    if isinstance(exc, IndexError):
        return f"{kind}: no item [{key}] in a {type(value).__name__} of that length"
    return f"{kind}: no {'attribute .' if is_attr else 'item ['}{key}{'' if is_attr else ']'}"


#: Types whose ``format`` errors quote only the spec and the type (checked in the tests).
_PLAIN_TYPES = (str, int, float, complex, bool)


def _format_error(exc: Exception, value: Any, spec: str, resolved: str) -> str:
    """Why the format spec failed; the exception's text only when it can quote nothing resolved."""
    kind = type(exc).__name__
    if spec == resolved and type(value) in _PLAIN_TYPES and str(exc) and "\n" not in str(exc):
        return f"{kind}: {exc}"  # a typed spec and a built-in type: the text quotes only those
    return f"{kind}: the format spec does not apply to a {type(value).__name__} value"


def _render(entry: _Entry, namespace: Mapping[str, Any] | None) -> str:
    """The entry's text: trimmed, placeholders filled, lines joined."""
    lines = _trim(entry.lines)
    if namespace is not None:
        lines = [(n, _substitute(line, namespace, n)) for n, line in lines]
    return "\n".join(line for _, line in lines)


def parse_cell(text: str, namespace: Mapping[str, Any] | None = None) -> Thread:
    """The thread written in a cell body (role lines, plain text, or a JSON request body)."""
    text = text.replace("\r\n", "\n")
    if text.lstrip().startswith("{"):
        return _parse_json(text)
    _reject_json_array(text)
    messages: list[Message] = []
    instructions: str | None = None
    first = 0
    for entry in _split(text):
        content = _render(entry, namespace)
        if entry.role in INSTRUCTION_ROLES:
            if first:
                fail("instructions", f"instructions given twice (first on line {first})",
                      entry.line)
            if not content.strip():
                fail("instructions", "empty instructions", entry.line)
            instructions, first = content, entry.line
        elif not content.strip():
            fail("thread", f"empty {entry.role} message", entry.line)
        else:
            messages.append(Message(entry.role, content, entry.line))
    return _finish(messages, instructions, {}, first > 0)


def _finish(messages: list[Message], instructions: str | None, body: Mapping[str, Any],
            had_instructions: bool) -> Thread:
    """The Thread, or an error when it has no message."""
    if not messages:
        reason = "has only instructions, no message" if had_instructions else "is empty"
        fail("thread.messages", f"the thread {reason}")
    return Thread(tuple(messages), instructions, body)


# --- JSON bodies and message lists -------------------------------------------------------

def _parse_json(text: str) -> Thread:
    """A JSON request body written in a cell."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        fail("body", f"invalid JSON body: {exc.msg} (column {exc.colno}); a cell starting with "
                      "'{' is read as JSON, start it with 'user:' for text", exc.lineno)
    return _from_body(data)


def _reject_json_array(text: str) -> None:
    """Raise if the cell is a JSON array (text that merely starts with ``[`` is fine)."""
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            json.loads(stripped)
        except ValueError:
            return
        line = text.count("\n", 0, len(text) - len(stripped)) + 1
        fail("body", "a JSON body must be an object, got an array", line)


def _from_body(data: Mapping[str, Any]) -> Thread:
    """A Thread from a request body dict or ``{"messages": [...]}``."""
    body = copy.deepcopy(dict(data))
    thread, top = body.pop("thread", None), body.pop("messages", None)
    if thread is not None:
        is_object(thread, "thread")
    thread = dict(thread or {})
    if top is not None and "messages" in thread:
        fail("messages", "messages given both at the top level and in thread.messages")
    param = "thread.messages" if top is None else "messages"
    items = thread.pop("messages", None) if top is None else top
    if items is None:
        fail("thread.messages", "the request body has no messages (put them in thread.messages)")
    if thread:
        body["thread"] = thread
    return _from_items(items, param, body.pop("instructions", None), body)


def _from_items(items: Any, param: str, instructions: Any, body: Mapping[str, Any]) -> Thread:
    """A Thread from a list of message dicts (``system`` ones become the instructions)."""
    is_type((list, tuple), "a list")(items, param)
    if instructions is not None:
        is_type(str, "a string")(instructions, "instructions")
    had = instructions is not None
    messages = []
    for index, item in enumerate(items):
        where = f"{param}[{index}]"
        role = item.get("role") if isinstance(item, Mapping) else None
        if role not in INSTRUCTION_ROLES:
            check_message(item, where)
            extra = {k: v for k, v in item.items() if k not in ("role", "content")}
            messages.append(Message(str(role), copy.deepcopy(item["content"]), None,
                                    copy.deepcopy(extra)))
            continue
        if had:
            fail(where, f"instructions given twice ({where} is a second one)")
        is_type(str, "a non-empty string", non_empty=True)(item.get("content"), f"{where}.content")
        instructions, had = item["content"], True
    return _finish(messages, instructions, body, had)


def parse(thread: str | list[dict] | dict | Thread,
          namespace: Mapping[str, Any] | None = None) -> Thread:
    """A Thread from cell text, a list of message dicts, a request body dict, or a Thread."""
    if isinstance(thread, Thread):
        return thread
    if isinstance(thread, str):
        return parse_cell(thread, namespace)
    if isinstance(thread, (list, tuple)):
        return _from_items(thread, "messages", None, {})
    if isinstance(thread, Mapping):
        return _from_body(thread)
    fail("thread", "a thread must be text, a list of messages, a request body or a Thread, "
                    f"got {type(thread).__name__}")
