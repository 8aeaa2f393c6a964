"""Copy as cell: the ``%%threadrun`` cell that sends the same request bodies as a ``Command``.

Option values are escaped for IPython's expansion of the magic's line (``{expr}``, ``$name``),
so the copied cell sends what the form would. The cell is written from a *validated* ``Command`` (what ``api.command`` parsed), never from the
raw form fields, so it carries exactly what the form would send. The thread becomes role lines
(``system:``, ``user:``, ``assistant:``) with ``{``/``}`` doubled, because the magic fills
``{name}`` from the notebook; when the parser would not read that text back to the very same
messages (a line inside a message that looks like a role, leading blanks, ...), the thread is
written as a JSON request body instead, which the magic sends as written.
"""
from __future__ import annotations

import json
import re
import shlex
from typing import Any

from ..api import Command
from ..errors import ValidationError
from ..grid import options
from ..grid.options import Option
from ..grid.thread import Thread, parse_cell


def number(value: float) -> str:
    """``0.7`` → ``"0.7"``, ``1.0`` → ``"1"``: the shortest text that reads back to ``value``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _option(name: str, value: Any) -> str:
    """``--name value``, shell-quoted for the magic's POSIX ``shlex.split``."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValidationError(f"cannot copy as a cell: --{name} contains a line break",
                              param=name)
    if text.startswith("-"):  # argparse would read "--x -y" as two options
        return f"--{name}={_quote(text)}"
    return f"--{name} {_quote(text)}"


def _quote(text: str) -> str:
    """``text`` shell-quoted so that IPython's expansion of the magic's line gives it back.

    IPython runs the line of a cell magic through ``var_expand`` (``DollarFormatter``): ``{expr}``
    is evaluated and ``$name`` replaced, ``{{``/``}}`` are literal braces. So braces are doubled,
    and the text is quoted in pieces that each end at a ``$``, so that a ``$`` is always followed
    by a quote, which ``$name`` never matches (``'$''HOME'`` reads back as ``$HOME``).
    """
    pieces = [piece for piece in re.split(r"(?<=\$)", text) if piece]
    quoted = "".join(shlex.quote(piece) for piece in pieces) if pieces else "''"
    return quoted.replace("{", "{{").replace("}", "}}")


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def _entry(role: str, content: str, escape: bool = True) -> str:
    return f"{role}: {_escape(content) if escape else content}"


def _same(parsed: Thread, thread: Thread, instructions: str | None) -> bool:
    """Whether the parsed cell holds exactly the thread's messages and instructions."""
    return (parsed.instructions == instructions and not parsed.body
            and [(m.role, m.content) for m in parsed.messages]
            == [(m.role, m.content) for m in thread.messages])


def thread_text(thread: Thread, instructions: str | None = None, escape: bool = True) -> str:
    """The cell body for ``thread`` (and ``instructions``, when given): role lines, else JSON.

    ``escape=False``: the thread is a template (``--over``) whose braces are placeholders already.
    """
    simple = not thread.body and all(isinstance(m.content, str) and not m.extra
                                     for m in thread.messages)
    if simple:
        entries = [_entry("system", instructions, escape)] if instructions is not None else []
        entries += [_entry(m.role, str(m.content), escape) for m in thread.messages]
        text = "\n".join(entries)
        try:
            if _same(parse_cell(text, {} if escape else None), thread, instructions):
                return text
        except ValidationError:
            pass
    body: dict[str, Any] = json.loads(json.dumps(dict(thread.body)))
    inner = dict(body.pop("thread", None) or {})
    if instructions is not None:
        body["instructions"] = instructions
    dump = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731
    messages = ",\n".join("  " + dump({"role": m.role, "content": m.content, **m.extra})
                          for m in thread.messages)
    head = "".join(f"{dump(k)}: {dump(v)}, " for k, v in body.items())
    rest = "".join(f", {dump(k)}: {dump(v)}" for k, v in inner.items())
    return f'{{{head}"thread": {{"messages": [\n{messages}\n]{rest}}}}}'


def _value(cmd: Command, option: Option) -> Any:
    """What ``cmd`` holds for ``option`` (grid options as their list of items)."""
    if option.role == "grid":
        grid: Any = {"model": cmd.models, "temperature": cmd.temperatures,
                "reasoning_effort": cmd.efforts, "repeat": cmd.repeat,
                "service_tier": cmd.tiers}[option.name]
        return grid if option.name == "repeat" else [v for v in grid if v is not None] or None
    if option.role == "field":
        return cmd.fields.get(option.name)
    return cmd.settings.get(option.name)


def _text(value: Any) -> str:
    """A value as the magic reads it back: lists comma-separated, floats shortest."""
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float):
        return number(value)
    return str(value)


def _tool_names(tools: list) -> str:
    names = [t.get("type") if isinstance(t, dict) and set(t) == {"type"} else t for t in tools]
    if not all(isinstance(n, str) for n in names):
        raise ValidationError("cannot copy as a cell: tools with settings", param="tools")
    return ",".join(str(n) for n in names)


def _words(cmd: Command, option: Option, value: Any) -> list[str]:
    """The option's words on the cell's first line ([] when it is left at its default)."""
    if callable(value):
        raise ValidationError(f"cannot copy as a cell: {option.dashed} is a Python function",
                              param=option.name)
    if value is None or value == option.default or (value == [] and option.role != "send"):
        return []
    if value is False and option.off:
        return [option.off]
    if not option.flag:
        raise ValidationError(f"cannot copy as a cell: no option for {option.name!r}",
                              param=option.name)
    if option.action == "store_true":
        return [option.dashed] if value else []
    if option.name == "metadata":
        return [_option("metadata", f"{k}={v}") for k, v in value.items()]
    text = _tool_names(value) if option.name == "tools" else _text(value)
    return [_option(option.dashed[2:], text)]


def cell_text(cmd: Command) -> str:
    """The ``%%threadrun`` cell (first line: the options) equivalent to ``cmd``."""
    unknown = [k for k in cmd.fields if not options.find(k).flag]
    if unknown:
        raise ValidationError(f"cannot copy as a cell: no option for {unknown[0]!r}",
                              param=unknown[0])
    instructions = cmd.fields.get("instructions", cmd.thread.instructions)
    in_option = (instructions is not None and "\n" not in instructions and "\r" not in instructions
                 and cmd.inputs is None)  # with --over the instructions are a template too
    opts: list[str] = []
    for option in options.OPTIONS:
        if option.role in ("cell", "input") or not option.copy:
            continue
        value = _value(cmd, option)
        if option.name == "instructions":
            value = instructions if in_option else None
        opts += _words(cmd, option, value)
    if cmd.inputs is not None:
        if cmd.inputs.name is None:
            raise ValidationError("cannot copy as a cell: the inputs (over=) are not a notebook "
                                  "variable; assign them to one and use --over NAME", param="over")
        opts.append(_option("over", cmd.inputs.name))
    head = " ".join(["%%threadrun", *opts])
    return head + "\n" + thread_text(cmd.thread, None if in_option else instructions,
                                      escape=cmd.inputs is None)
