"""Validate a createThreadAndRun request body as the API would.

``validate_body`` raises ValidationError (with ``param``, the body path of the bad value) for
anything the API would answer 400 to (a model the catalog does not know is no error: it gets
a one-line notice before sending, see ``notices``). ``check_temperature`` / ``check_top_p`` check option
values (numeric strings allowed). The role, content and message checks here are shared with
``threadrun.grid.thread``, which parses threads; this module never imports it.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..spec import (
    EXTENSION_FIELDS,
    FUNCTION_NAME_CHARS,
    MESSAGE_FIELDS,
    MIN_TOKEN_CAP,
    REQUEST_FIELDS,
    SERVICE_TIERS,
    THREAD_FIELDS,
    TOOL_TYPES,
)
from .checks import (
    check_enum,
    check_int,
    check_keys,
    check_list,
    check_metadata,
    check_unknown_keys,
    fail,
    is_bool_or_null,
    is_id,
    is_object,
    is_str,
    is_type,
    show,
    typed,
)

__all__ = ["validate_body", "check_temperature", "check_top_p",
           "check_message", "check_encodable"]

THREAD_ROLES = ("user", "assistant")
INSTRUCTION_ROLES = ("system", "instructions")
FOREIGN_ROLES = ("tool", "function", "developer")
_FUNCTION_NAME = re.compile(rf"^[A-Za-z0-9_-]{{1,{FUNCTION_NAME_CHARS}}}$")


# --- messages (also used by threadrun.grid.thread) --------------------------------------------

def _check_role(role: Any, param: str) -> None:
    """Raise unless ``role`` is user or assistant."""
    if role in THREAD_ROLES:
        return
    if role in FOREIGN_ROLES + INSTRUCTION_ROLES:
        fail(param, f"role {role!r} is not allowed in a thread; use user or assistant")
    close = difflib.get_close_matches(str(role), THREAD_ROLES, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else "; use user or assistant"
    fail(param, f"unknown role {show(role)} in {param}{hint}")


def _check_content(content: Any, role: Any, where: str, param: str) -> None:
    """Raise unless ``content`` is a non-empty string or a non-empty list of valid parts."""
    if isinstance(content, str):
        if not content.strip():
            fail(param, f"{where}: empty {role} message")
        return
    if not isinstance(content, list) or not content:
        fail(param, f"{param} must be a non-empty string or list of parts, got {show(content)}")
    for index, part in enumerate(content):
        _check_part(part, f"{param}[{index}]")


_PART_NEEDS = {"text": ("text", None), "image_url": ("image_url", "url"),
               "image_file": ("image_file", "file_id")}


def _check_part(part: Any, param: str) -> None:
    """Raise unless ``part`` is a text (not blank), image_url or image_file content part."""
    key, inner = _PART_NEEDS[typed(part, param, tuple(_PART_NEEDS))]
    check_unknown_keys(part, ("type", key), param, f"{param}.")
    value = part.get(key)
    if inner is None:
        if not isinstance(value, str):
            fail(f"{param}.text", f"{param}.text must be a string, got {show(value)}")
        if not value.strip():
            fail(f"{param}.text", f"{param}.text is empty")
        return
    if not (isinstance(value, Mapping) and isinstance(value.get(inner), str)):
        fail(f"{param}.{key}.{inner}", f"{param}.{key}.{inner} is required")
    check_keys(value, f"{param}.{key}", (inner, "detail"))
    if "detail" in value:
        check_enum(value["detail"], f"{param}.{key}.detail", ("auto", "low", "high"))


def _check_attachment(value: Any, param: str) -> None:
    """``{"file_id": str, "tools": [{"type": code_interpreter|file_search}, ...]}``."""
    check_keys(value, param, ("file_id", "tools"), ("file_id",))
    is_id(value["file_id"], f"{param}.file_id")
    if "tools" in value:
        check_list(value["tools"], f"{param}.tools", None, _check_attachment_tool)


def _check_attachment_tool(value: Any, param: str) -> None:
    typed(value, param, ("code_interpreter", "file_search"))
    check_unknown_keys(value, ("type",), param, f"{param}.")


def check_message(message: Any, where: str) -> None:
    is_object(message, where)
    check_unknown_keys(message, MESSAGE_FIELDS, where, f"{where}.")
    for key in ("role", "content"):
        if key not in message:
            fail(f"{where}.{key}", f"{where}.{key} is required")
    _check_role(message["role"], f"{where}.role")
    _check_content(message["content"], message["role"], where, f"{where}.content")
    if message.get("attachments") is not None:
        check_list(message["attachments"], f"{where}.attachments", None, _check_attachment)
    check_metadata(message.get("metadata"), f"{where}.metadata")


def _check_thread(thread: Any, param: str) -> None:
    is_object(thread, param)
    check_unknown_keys(thread, THREAD_FIELDS, param, f"{param}.")
    messages = thread.get("messages", [])
    is_type(list, "a list")(messages, f"{param}.messages")
    for index, message in enumerate(messages):
        check_message(message, f"{param}.messages[{index}]")
    if thread.get("tool_resources") is not None:
        _check_tool_resources(thread["tool_resources"], f"{param}.tool_resources", thread=True)
    check_metadata(thread.get("metadata"), f"{param}.metadata")


# --- options -----------------------------------------------------------------------------

def _number(value: Any, name: str, low: float, high: float, strings: bool) -> float:
    """``value`` as a float in [low, high]; numeric strings only when ``strings``."""
    if strings and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(name, f"{name} must be a number, got {show(value)}")
    if math.isnan(value) or not low <= value <= high:
        fail(name, f"{name} must be between {low:g} and {high:g}, got {value!r}")
    return float(value)


def check_temperature(value: Any, name: str = "temperature") -> float:
    """``value`` (number or numeric string) as a temperature in [0, 2]."""
    return _number(value, name, 0, 2, strings=True)


def check_top_p(value: Any, name: str = "top_p") -> float:
    """``value`` (number or numeric string) as a top_p in [0, 1]."""
    return _number(value, name, 0, 1, strings=True)


# --- the request body --------------------------------------------------------------------

def _check_function(value: Any, param: str) -> None:
    """``{"name": 1-64 of a-z A-Z 0-9 _ -, ...}``."""
    if value is not None:
        is_object(value, param)
    name = value.get("name") if isinstance(value, Mapping) else None
    if not isinstance(name, str) or not _FUNCTION_NAME.match(name):
        fail(f"{param}.name", f"{param}.name must be 1-64 letters, digits, _ or -, "
                               f"got {show(name)}")


def _check_named_schema(value: Mapping[str, Any], param: str, schema_key: str) -> None:
    """The name/description/<schema>/strict shape of functions and JSON-schema formats."""
    check_unknown_keys(value, ("name", "description", schema_key, "strict"), param, f"{param}.")
    if "description" in value:
        is_str(value["description"], f"{param}.description")
    if schema_key in value:
        is_object(value[schema_key], f"{param}.{schema_key}")
    is_bool_or_null(value.get("strict"), f"{param}.strict")


def _check_function_tool(value: Any, param: str) -> None:
    """A FunctionObject: name, and optionally description, parameters (an object), strict."""
    _check_function(value, param)
    _check_named_schema(value, param, "parameters")


def _check_file_search(value: Any, param: str) -> None:
    """The file_search tool's overrides: max_num_results 1-50, ranking_options."""
    check_keys(value, param, ("max_num_results", "ranking_options"))
    if "max_num_results" in value:
        check_int(value["max_num_results"], f"{param}.max_num_results", 1, 50)
    if "ranking_options" in value:
        where, ranking = f"{param}.ranking_options", value["ranking_options"]
        check_keys(ranking, where, ("ranker", "score_threshold"), ("score_threshold",))
        _number(ranking["score_threshold"], f"{where}.score_threshold", 0, 1, strings=False)
        if "ranker" in ranking:
            check_enum(ranking["ranker"], f"{where}.ranker", ("auto", "default_2024_08_21"))


_TOOL_KEYS = {"code_interpreter": ("type",), "file_search": ("type", "file_search"),
              "function": ("type", "function")}


def _check_tool(tool: Any, param: str) -> None:
    kind = typed(tool, param, TOOL_TYPES)
    check_unknown_keys(tool, _TOOL_KEYS[kind], param, f"{param}.")
    if kind == "function":
        _check_function_tool(tool.get("function"), f"{param}.function")
    elif "file_search" in tool:
        _check_file_search(tool["file_search"], f"{param}.file_search")


def _check_vector_store(value: Any, param: str) -> None:
    """A thread's vector_stores helper entry: file_ids, chunking_strategy, metadata."""
    check_keys(value, param, ("file_ids", "chunking_strategy", "metadata"))
    if "file_ids" in value:
        check_list(value["file_ids"], f"{param}.file_ids", None, is_str)
    check_metadata(value.get("metadata"), f"{param}.metadata")
    where, chunking = f"{param}.chunking_strategy", value.get("chunking_strategy", {"type": "auto"})
    if typed(chunking, where, ("auto", "static")) == "auto":
        return check_unknown_keys(chunking, ("type",), where, f"{where}.")
    names, static = ("max_chunk_size_tokens", "chunk_overlap_tokens"), chunking.get("static")
    check_keys(chunking, where, ("type", "static"), ("static",))
    check_keys(static, f"{where}.static", names, names)
    check_int(static[names[0]], f"{where}.static.{names[0]}", 100, 4096)
    check_int(static[names[1]], f"{where}.static.{names[1]}", 0, static[names[0]] // 2)


def _check_tool_resources(value: Any, param: str, thread: bool = False) -> None:
    """The spec's shape; a thread's file_search takes vector_store_ids or vector_stores."""
    check_keys(value, param, ("code_interpreter", "file_search"))
    if "code_interpreter" in value:
        where, code = f"{param}.code_interpreter", value["code_interpreter"]
        check_keys(code, where, ("file_ids",))
        if "file_ids" in code:
            check_list(code["file_ids"], f"{where}.file_ids", 20, is_str)
    if "file_search" in value:
        where, search = f"{param}.file_search", value["file_search"]
        check_keys(search, where, ("vector_store_ids", "vector_stores") if thread else ("vector_store_ids",))
        if "vector_store_ids" in search:
            check_list(search["vector_store_ids"], f"{where}.vector_store_ids", 1, is_str)
        if "vector_stores" in search:
            check_list(search["vector_stores"], f"{where}.vector_stores", 1, _check_vector_store)
        if thread and ("vector_store_ids" in search) == ("vector_stores" in search):
            fail(where, f"{where} needs exactly one of vector_store_ids or vector_stores")


def _check_truncation(value: Any, param: str) -> None:
    typed(value, param, ("auto", "last_messages"))
    check_unknown_keys(value, ("type", "last_messages"), param, f"{param}.")
    if value.get("last_messages") is not None:
        check_int(value["last_messages"], f"{param}.last_messages", 1)


def _check_tool_choice(value: Any, param: str) -> None:
    """A word, or ``{"type": ..., "function": {"name": ...}}`` (function needed for functions)."""
    kind = typed(value, param, TOOL_TYPES, ("none", "auto", "required"))
    if isinstance(value, Mapping):
        check_unknown_keys(value, ("type", "function"), param, f"{param}.")
        if kind == "function" or "function" in value:
            _check_function(value.get("function"), f"{param}.function")


def _check_response_format(value: Any, param: str) -> None:
    kind = typed(value, param, ("text", "json_object", "json_schema"), ("auto",))
    if isinstance(value, Mapping):
        keys = ("type", "json_schema") if kind == "json_schema" else ("type",)
        check_unknown_keys(value, keys, param, f"{param}.")
    if kind == "json_schema":
        where, schema = f"{param}.json_schema", value.get("json_schema")
        if not isinstance(schema, Mapping) or not isinstance(schema.get("name"), str):
            fail(f"{where}.name", f"{where}.name is required")
        _check_named_schema(schema, where, "schema")


def _check_model(model: Any, param: str) -> None:
    """A non-empty string (whether the model is known is a notice, not an error)."""
    is_type(str, "a non-empty string", non_empty=True)(model, param)


_CHECKS = {
    "assistant_id": is_type(str, "a non-empty string", non_empty=True),
    "thread": _check_thread,
    "model": _check_model,
    "instructions": is_type(str, "a string"),
    "tools": lambda value, param: check_list(value, param, 20, _check_tool),
    "tool_resources": _check_tool_resources,
    "metadata": check_metadata,
    "temperature": lambda value, param: _number(value, param, 0, 2, strings=False),
    "top_p": lambda value, param: _number(value, param, 0, 1, strings=False),
    "stream": is_type(bool, "a boolean"),
    "max_prompt_tokens": lambda value, param: check_int(value, param, MIN_TOKEN_CAP),
    "max_completion_tokens": lambda value, param: check_int(value, param, MIN_TOKEN_CAP),
    "truncation_strategy": _check_truncation,
    "tool_choice": _check_tool_choice,
    "parallel_tool_calls": is_type(bool, "a boolean"),
    "response_format": _check_response_format,
    "x_threadrun": lambda value, param: _check_extension(value, param),
}
_NOT_NULL = ("assistant_id", "thread", "parallel_tool_calls")


def _check_extension(value: Any, param: str) -> None:
    """threadrun's own run settings (``{"service_tier": "flex"}``), for its runtime."""
    if not isinstance(value, Mapping):
        fail(param, f"{param} must be an object, got {show(value)}")
    check_unknown_keys(value, EXTENSION_FIELDS, param, f"{param}.")
    if value.get("service_tier") is not None:
        check_enum(value["service_tier"], f"{param}.service_tier", SERVICE_TIERS)


def check_encodable(value: Any, param: str) -> None:
    """Raise if a string anywhere in ``value`` (keys included) cannot be sent as UTF-8.

    A lone surrogate (``"\\ud800"``, from a JSON cell's ``\\ud800`` escape, a message dict or a
    ``{name}`` value) would pass every other check, run, and then fail to be logged. Iterative,
    so deeply nested JSON cannot exhaust the stack here.
    """
    if isinstance(value, str):
        _check_utf8(value, param)
        return
    if _encodes(value):
        return
    stack: list[tuple[Any, str]] = [(value, param)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _check_utf8(item, where)
        elif isinstance(item, Mapping):
            for key, inner in item.items():
                if isinstance(key, str):
                    _check_utf8(key, f"a key in {where}")
                stack.append((inner, f"{where}.{key}" if isinstance(key, str) and key.isascii()
                              else where))
        elif isinstance(item, (list, tuple)):
            stack.extend((inner, f"{where}[{i}]") for i, inner in enumerate(item))


def _encodes(value: Any) -> bool:
    """Whether every string in ``value`` encodes as UTF-8: the usual case, checked at C speed (a
    lone surrogate fails here; the walk of ``check_encodable`` then finds and names it)."""
    try:
        json.dumps(value, ensure_ascii=False, default=repr).encode("utf-8")
        return True
    except (UnicodeEncodeError, TypeError, ValueError, RecursionError):
        return False


def _check_utf8(text: str, where: str) -> None:
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        fail(where, f"{where} contains a lone surrogate (U+{ord(text[exc.start]):04X}) at "
                    f"character {exc.start + 1}, which cannot be sent as UTF-8; remove it or "
                    "write the character it stands for")


def validate_body(body: Mapping[str, Any]) -> None:
    """Raise ValidationError (with ``param``) for anything the API would answer 400 to."""
    if not isinstance(body, Mapping):
        fail("body", f"the request body must be an object, got {type(body).__name__}")
    if not _encodes(body):  # find the string that cannot go, and name it
        for name, value in body.items():
            check_encodable(value, str(name))
    check_unknown_keys(body, REQUEST_FIELDS, "the request body")
    if "assistant_id" not in body:
        fail("assistant_id", "assistant_id is required")
    for name, value in body.items():
        if value is not None or name in _NOT_NULL:
            _CHECKS[name](value, name)
