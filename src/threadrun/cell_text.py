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

from . import config
from .api import Command
from .errors import ValidationError
from .thread import Thread, parse_cell

_SIMPLE_FIELDS = ("top_p", "instructions", "max_prompt_tokens", "max_completion_tokens",
                  "tools", "metadata")


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


def _entry(role: str, content: str) -> str:
    return f"{role}: {_escape(content)}"


def _same(parsed: Thread, thread: Thread, instructions: str | None) -> bool:
    """Whether the parsed cell holds exactly the thread's messages and instructions."""
    return (parsed.instructions == instructions and not parsed.body
            and [(m.role, m.content) for m in parsed.messages]
            == [(m.role, m.content) for m in thread.messages])


def thread_text(thread: Thread, instructions: str | None = None) -> str:
    """The cell body for ``thread`` (and ``instructions``, when given): role lines, else JSON."""
    simple = not thread.body and all(isinstance(m.content, str) and not m.extra
                                     for m in thread.messages)
    if simple:
        entries = [_entry("system", instructions)] if instructions is not None else []
        entries += [_entry(m.role, m.content) for m in thread.messages]
        text = "\n".join(entries)
        try:
            if _same(parse_cell(text, {}), thread, instructions):
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


def cell_text(cmd: Command) -> str:
    """The ``%%threadrun`` cell (first line: the options) equivalent to ``cmd``."""
    unknown = [k for k in cmd.fields if k not in _SIMPLE_FIELDS]
    if unknown:
        raise ValidationError(f"cannot copy as a cell: no option for {unknown[0]!r}",
                              param=unknown[0])
    fields = dict(cmd.fields)
    instructions = fields.pop("instructions", None)
    if instructions is None:
        instructions = cmd.thread.instructions
    opts: list[str] = []
    models = [m for m in cmd.models if m]
    if models:
        opts.append(_option("model", ",".join(models)))
    temps = [t for t in cmd.temperatures if t is not None]
    if temps:
        opts.append(_option("temperature", ",".join(number(t) for t in temps)))
    if fields.get("top_p") is not None:
        opts.append(_option("top-p", number(fields["top_p"])))
    efforts = [e for e in cmd.efforts if e]
    if efforts:
        opts.append(_option("reasoning-effort", ",".join(efforts)))
    if cmd.repeat != 1:
        opts.append(_option("repeat", cmd.repeat))
    if cmd.assistant:
        opts.append(_option("assistant", cmd.assistant))
    in_option = instructions is not None and "\n" not in instructions \
        and "\r" not in instructions
    if in_option:
        opts.append(_option("instructions", instructions))
    for name in ("max_prompt_tokens", "max_completion_tokens"):
        if fields.get(name) is not None:
            opts.append(_option(name.replace("_", "-"), fields[name]))
    if fields.get("tools"):
        names = [t.get("type") if isinstance(t, dict) and set(t) == {"type"} else t
                 for t in fields["tools"]]
        if not all(isinstance(n, str) for n in names):
            raise ValidationError("cannot copy as a cell: tools with settings", param="tools")
        opts.append(_option("tools", ",".join(names)))
    for key, val in (fields.get("metadata") or {}).items():
        opts.append(_option("metadata", f"{key}={val}"))
    if cmd.label:
        opts.append(_option("label", cmd.label))
    if cmd.concurrency != config.CONCURRENCY:
        opts.append(_option("concurrency", cmd.concurrency))
    if cmd.base_url:
        opts.append(_option("base-url", cmd.base_url))
    if not cmd.stream:
        opts.append("--poll")
    head = " ".join(["%%threadrun", *opts])
    return head + "\n" + thread_text(cmd.thread, None if in_option else instructions)
