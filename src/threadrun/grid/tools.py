"""Python functions as a run's function tools: their JSON schemas, and their calls run locally.

``--tools NAME`` (``tools=`` in Python) names a function, a list of functions or a dict of them.
Each becomes an Assistants ``function`` tool: its name (the dict key, else ``__name__``), the
first paragraph of its docstring as the description, and a JSON schema of its parameters from
the signature (annotations ``str``/``int``/``float``/``bool``/``list``/``dict``, ``Optional``,
``Literal``; parameters without a default are required). A call is run with the model's
arguments; what it returns is sent back as text (JSON unless it is a string); what it raises is
sent back as ``error: ...`` so the model can see it, and the row says so.
"""
from __future__ import annotations

import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..errors import ValidationError
from .variables import variable

#: Built-in tools the Assistants API names (our runtime answers 400 for them on a real model).
BUILT_IN = ("code_interpreter", "file_search")
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: The most characters of one tool output sent back (the spec's limit is far higher; a row must
#: stay readable and a runaway function must not send megabytes to a model).
MAX_OUTPUT_CHARS = 100_000

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                               list: "array", tuple: "array", dict: "object"}


@dataclass(frozen=True)
class Toolbox:
    """The function tools of a command: the request's tool definitions, and the functions."""

    definitions: list[dict] = field(default_factory=list)
    functions: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.functions)


def toolbox(value: Any) -> Toolbox:
    """A function, a list of functions or a dict name → function → a ``Toolbox``."""
    if callable(value) and not isinstance(value, type):
        value = [value]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, (list, tuple)):
        items = [(getattr(f, "__name__", ""), f) for f in value]
    else:
        raise ValidationError(f"--tools takes a function, a list of functions or a dict of them, "
                              f"not {type(value).__name__}", param="tools")
    functions: dict[str, Callable[..., Any]] = {}
    for name, func in items:
        if not callable(func):
            raise ValidationError(f"tool {name!r} holds {type(func).__name__}, not a function",
                                  param="tools")
        if not isinstance(name, str) or not NAME.match(name):
            raise ValidationError(f"tool name {name!r}: use 1-64 letters, digits, _ or - "
                                  "(give a dict to name a lambda)", param="tools")
        if name in functions:
            raise ValidationError(f"two tools are named {name!r}", param="tools")
        functions[name] = func
    if not functions:
        raise ValidationError("--tools names no function", param="tools")
    return Toolbox([definition(name, f) for name, f in functions.items()], functions)


def definition(name: str, func: Callable[..., Any]) -> dict:
    """The Assistants function tool for ``func``."""
    doc = inspect.getdoc(func) or ""
    described = doc.split("\n\n")[0].replace("\n", " ").strip()
    tool: dict[str, Any] = {"name": name, "parameters": parameters(func)}
    if described:
        tool["description"] = described[:1024]
    return {"type": "function", "function": tool}


def parameters(func: Callable[..., Any]) -> dict:
    """The JSON schema of ``func``'s parameters (``*args``/``**kwargs`` are not described)."""
    try:
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func)
    except (TypeError, ValueError, NameError):
        signature, hints = inspect.signature(lambda **kw: None), {}
    properties: dict[str, dict] = {}
    required = []
    for p in signature.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        properties[p.name] = schema_of(hints.get(p.name, p.annotation))
        if p.default is p.empty:
            required.append(p.name)
    return {"type": "object", "properties": properties, "required": required}


def schema_of(annotation: Any) -> dict:
    """The JSON schema of one annotation (unknown or absent: any value)."""
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return schema_of(kept[0]) if len(kept) == 1 else {"anyOf": [schema_of(a) for a in kept]}
    if origin in (list, tuple):
        return {"type": "array", **({"items": schema_of(args[0])} if args else {})}
    if origin is dict:
        return {"type": "object"}
    return {}


def from_names(names: Any, namespace: Mapping[str, Any] | None) -> Any:
    """``--tools NAME,...`` as the magic writes it (variable names) → a ``Toolbox`` of those
    variables' functions; built-in tool names (and anything but a string) stay as they are."""
    if namespace is None or not isinstance(names, str):
        return names
    if any(n.strip() not in BUILT_IN for n in names.split(",") if n.strip()):
        values: list[Any] = []
        for name in (n.strip() for n in names.split(",") if n.strip()):
            value = variable(name, namespace, "--tools", param="tools")
            if not (callable(value) or isinstance(value, (list, tuple, Mapping))):
                raise ValidationError(f"--tools {name}: that variable holds {type(value).__name__}, not a "
                                      "function (or a list or dict of them)", param="tools")
            values += list(value) if isinstance(value, (list, tuple)) else [value]
        merged: dict[str, Any] = {}
        for value in values:
            merged.update(value if isinstance(value, Mapping) else {getattr(value, "__name__", ""): value})
        return toolbox(merged)
    return names


@dataclass
class Call:
    """One tool call a run asked for, and what running it gave."""

    id: str
    name: str
    arguments: str
    output: str = ""
    error: str | None = None

    def as_row(self) -> dict:
        """The call as the row's ``tool_calls`` keeps it."""
        shown = {"name": self.name, "arguments": self.arguments, "output": self.output}
        return {**shown, "error": self.error} if self.error else shown


def run_call(tools: Toolbox, call: Call) -> Call:
    """Run one call with the model's arguments; an error is the output the model sees."""
    func = tools.functions.get(call.name)
    try:
        if func is None:
            raise LookupError(f"no tool named {call.name!r} (tools: {', '.join(tools.functions)})")
        arguments = json.loads(call.arguments or "{}")
        if not isinstance(arguments, dict):
            raise TypeError("the arguments are not a JSON object")
        value = func(**arguments)
        call.output = value if isinstance(value, str) else json.dumps(value, default=str)
    except Exception as exc:  # noqa: BLE001 - the model is told, and the row says so
        call.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
        call.output = f"error: {call.error}"
    call.output = call.output[:MAX_OUTPUT_CHARS]
    return call


def answerer(tools: Toolbox) -> Callable[[dict], tuple[list[dict], list[dict]]]:
    """What answers a ``requires_action`` run: its calls run here → (tool outputs, row calls)."""
    def answer(run: dict) -> tuple[list[dict], list[dict]]:
        calls = [run_call(tools, c) for c in requested(run)]
        return ([{"tool_call_id": c.id, "output": c.output} for c in calls],
                [c.as_row() for c in calls])
    return answer


def requested(run: dict) -> list[Call]:
    """The function calls a ``requires_action`` run asks for."""
    action = (run.get("required_action") or {}).get("submit_tool_outputs") or {}
    calls = []
    for c in action.get("tool_calls") or []:
        function = c.get("function") or {}
        calls.append(Call(str(c.get("id", "")), str(function.get("name", "")),
                          str(function.get("arguments", ""))))
    return calls
