"""Request validation against the Assistants v2 schemas, raising ErrorAnswer with OpenAI-style bodies."""
from __future__ import annotations

from typing import Any, Callable, Iterable

from ..spec import (
    EXTENSION_FIELDS,
    FUNCTION_NAME_CHARS,
    METADATA_KEY_CHARS,
    METADATA_PAIRS,
    METADATA_VALUE_CHARS,
    MIN_TOKEN_CAP,
    REASONING_EFFORTS,
    SERVICE_TIERS,
    TOOL_TYPES,
)

TYPE_NAMES = {str: "a string", bool: "a boolean", int: "an integer", float: "a decimal",
              dict: "an object", list: "an array", type(None): "null"}


class ErrorAnswer(Exception):
    """An error answer: HTTP status plus the ``{"error": {...}}`` body fields."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error", headers: dict[str, str] | None = None) -> None:
        """Keep the answer's parts; ``message`` must never contain secrets."""
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.type, self.headers = type, headers or {}

    def body(self) -> dict:
        """The ErrorResponse JSON object."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


def fail(param: str | None, message: str, code: str | None = "invalid_value") -> None:
    """Raise a 400 invalid_request_error for ``param``."""
    raise ErrorAnswer(400, message, param, code)


def _type_name(value: Any) -> str:
    """The JSON type name of a value, as the real API words it."""
    return TYPE_NAMES.get(type(value), "an unknown type")


def _join(prefix: str, name: str) -> str:
    """A dotted parameter path."""
    return f"{prefix}.{name}" if prefix else name


def check_type(value: Any, param: str, kinds: tuple[type, ...], nullable: bool = True) -> bool:
    """Check a JSON type; return False when the value is an allowed null."""
    if value is None and nullable:
        return False
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        want = " or ".join(TYPE_NAMES[k] for k in kinds if k is not int or float not in kinds)
        fail(param, f"Invalid type for '{param}': expected {want}, but got {_type_name(value)} "
                    "instead.", "invalid_type")
    return True


def check_number(value: Any, param: str, low: float | None = None, high: float | None = None,
                 integer: bool = False) -> None:
    """Check a nullable number (or integer) within [low, high]."""
    if not check_type(value, param, (int,) if integer else (int, float)):
        return
    word = "integer" if integer else "decimal"
    if low is not None and value < low:
        fail(param, f"Invalid '{param}': {word} below minimum value. Expected a value >= {low:g}, "
                    f"but got {value} instead.", f"{word}_below_min_value")
    if high is not None and value > high:
        fail(param, f"Invalid '{param}': {word} above maximum value. Expected a value <= {high:g}, "
                    f"but got {value} instead.", f"{word}_above_max_value")


def check_enum(value: Any, param: str, choices: Iterable[str]) -> None:
    """Check a string is one of ``choices``."""
    choices = tuple(choices)
    check_type(value, param, (str,), nullable=False)
    if value not in choices:
        listed = ", ".join(f"'{c}'" for c in choices)
        fail(param, f"Invalid value: '{value[:64]}'. Supported values are: {listed}.")


def check_string(value: Any, param: str, max_len: int | None = None, nullable: bool = True,
                 min_len: int = 0) -> None:
    """Check a (nullable) string's type and length."""
    if not check_type(value, param, (str,), nullable):
        return
    if len(value) < min_len:
        fail(param, f"Invalid '{param}': string too short. Expected a string with minimum length "
                    f"{min_len}, but got an empty string instead.", "empty_string")
    if max_len is not None and len(value) > max_len:
        fail(param, f"Invalid '{param}': string too long. Expected a string with maximum length "
                    f"{max_len}, but got a string with length {len(value)} instead.", "string_above_max_length")


def check_object(value: Any, param: str, allowed: Iterable[str], required: Iterable[str] = (),
                 nullable: bool = False) -> bool:
    """Check an object's type, unknown keys (additionalProperties false) and required keys."""
    if not check_type(value, param or "body", (dict,), nullable):
        return False
    allowed = set(allowed)
    for key in value:
        if key not in allowed:
            fail(_join(param, key), f"Unrecognized request argument supplied: {key[:64]}",
                 "unknown_parameter")
    for key in required:
        if key not in value:
            fail(_join(param, key), f"Missing required parameter: '{_join(param, key)}'.",
                 "missing_required_parameter")
    return True


def check_array(value: Any, param: str, max_items: int | None = None, min_items: int = 0,
                nullable: bool = True) -> bool:
    """Check a (nullable) array's type and length."""
    if not check_type(value, param, (list,), nullable):
        return False
    if len(value) < min_items:
        fail(param, f"Invalid '{param}': empty array. Expected an array with minimum length "
                    f"{min_items}, but got an empty array instead.", "empty_array")
    if max_items is not None and len(value) > max_items:
        fail(param, f"Invalid '{param}': array too long. Expected an array with maximum length "
                    f"{max_items}, but got an array with length {len(value)} instead.",
             "array_above_max_length")
    return True


def check_metadata(value: Any, param: str) -> None:
    """Check Metadata: at most 16 string pairs, keys <= 64 chars, values <= 512 chars."""
    if not check_type(value, param, (dict,)):
        return
    if len(value) > METADATA_PAIRS:
        fail(param, f"Invalid '{param}': too many properties. Expected an object with at most {METADATA_PAIRS} "
                    f"properties, but got an object with {len(value)} properties instead.",
             "object_above_max_properties")
    for key, item in value.items():
        if len(key) > METADATA_KEY_CHARS:
            fail(param, f"Invalid '{param}': metadata key too long. Expected keys of at most {METADATA_KEY_CHARS} "
                        f"characters, but got a key with length {len(key)} instead.",
                 "string_above_max_length")
        check_string(item, f"{param}.{key}", METADATA_VALUE_CHARS, nullable=False)


def check_tool(tool: Any, param: str) -> None:
    """Check one tool: code_interpreter, file_search or function (with function.name)."""
    check_type(tool, param, (dict,), nullable=False)
    if "type" not in tool:
        fail(_join(param, "type"), f"Missing required parameter: '{param}.type'.",
             "missing_required_parameter")
    check_enum(tool["type"], _join(param, "type"), TOOL_TYPES)
    if tool["type"] == "function":
        function = tool.get("function")
        check_object(function, _join(param, "function"), ("name", "description", "parameters",
                                                          "strict"), ("name",))
        check_string(function["name"], _join(param, "function.name"), FUNCTION_NAME_CHARS, nullable=False,
                     min_len=1)


def check_tools(value: Any, param: str, max_items: int) -> None:
    """Check a nullable tools array."""
    if check_array(value, param, max_items):
        for index, tool in enumerate(value):
            check_tool(tool, f"{param}[{index}]")


def check_tool_choice(value: Any, param: str) -> None:
    """Check AssistantsApiToolChoiceOption (nullable)."""
    if value is None or isinstance(value, str):
        if value is not None:
            check_enum(value, param, ("none", "auto", "required"))
        return
    check_object(value, param, ("type", "function"), ("type",))
    check_enum(value["type"], _join(param, "type"), TOOL_TYPES)


def check_response_format(value: Any, param: str) -> None:
    """Check AssistantsApiResponseFormatOption (nullable)."""
    if value is None or isinstance(value, str):
        if value is not None:
            check_enum(value, param, ("auto",))
        return
    check_object(value, param, ("type", "json_schema"), ("type",))
    check_enum(value["type"], _join(param, "type"), ("text", "json_object", "json_schema"))
    if value["type"] == "json_schema":
        check_object(value.get("json_schema"), _join(param, "json_schema"),
                     ("name", "description", "schema", "strict"), ("name",))


def check_truncation(value: Any, param: str) -> None:
    """Check TruncationObject (nullable)."""
    if check_object(value, param, ("type", "last_messages"), ("type",), nullable=True):
        check_enum(value["type"], _join(param, "type"), ("auto", "last_messages"))
        check_number(value.get("last_messages"), _join(param, "last_messages"), 1, integer=True)


def check_content(value: Any, param: str) -> None:
    """Check a message's content: a non-empty string or a non-empty array of parts."""
    if isinstance(value, str):
        check_string(value, param, nullable=False, min_len=1)
        return
    check_array(value, param, min_items=1, nullable=False)
    for index, part in enumerate(value):
        where = f"{param}[{index}]"
        check_type(part, where, (dict,), nullable=False)
        check_enum(part.get("type"), _join(where, "type"), ("text", "image_url", "image_file"))
        if part["type"] == "text":
            check_object(part, where, ("type", "text"), ("text",))
            check_string(part["text"], _join(where, "text"), nullable=False, min_len=1)
        else:
            check_object(part, where, ("type", part["type"]), (part["type"],))
            check_type(part[part["type"]], _join(where, part["type"]), (dict,), nullable=False)


def check_message(message: Any, param: str) -> None:
    """Check one CreateMessageRequest."""
    check_object(message, param, ("role", "content", "attachments", "metadata"), ("role", "content"))
    check_enum(message["role"], _join(param, "role"), ("user", "assistant"))
    check_content(message["content"], _join(param, "content"))
    check_array(message.get("attachments"), _join(param, "attachments"))
    check_metadata(message.get("metadata"), _join(param, "metadata"))


def check_thread(value: Any, param: str) -> None:
    """Check CreateThreadRequest (the ``thread`` of createThreadAndRun)."""
    if not check_object(value, param, ("messages", "tool_resources", "metadata"), nullable=True):
        return
    if check_array(value.get("messages"), _join(param, "messages")):
        for index, message in enumerate(value["messages"]):
            check_message(message, f"{param}.messages[{index}]")
    check_type(value.get("tool_resources"), _join(param, "tool_resources"), (dict,))
    check_metadata(value.get("metadata"), _join(param, "metadata"))



RUN_FIELDS: dict[str, Callable[[Any, str], Any]] = {  # each raises ErrorAnswer; results unused
    "assistant_id": lambda v, p: check_string(v, p, nullable=False, min_len=1),
    "thread": check_thread,
    "model": lambda v, p: check_string(v, p),
    "instructions": lambda v, p: check_string(v, p, 256_000),
    "tools": lambda v, p: check_tools(v, p, 20),
    "tool_resources": lambda v, p: check_type(v, p, (dict,)),
    "metadata": check_metadata,
    "temperature": lambda v, p: check_number(v, p, 0, 2),
    "top_p": lambda v, p: check_number(v, p, 0, 1),
    "stream": lambda v, p: check_type(v, p, (bool,)),
    "max_prompt_tokens": lambda v, p: check_number(v, p, MIN_TOKEN_CAP, integer=True),
    "max_completion_tokens": lambda v, p: check_number(v, p, MIN_TOKEN_CAP, integer=True),
    "truncation_strategy": check_truncation,
    "tool_choice": check_tool_choice,
    "parallel_tool_calls": lambda v, p: check_type(v, p, (bool,), nullable=False),
    "response_format": check_response_format,
    "x_threadrun": lambda v, p: check_extension(v, p),
}


def check_extension(value: Any, param: str) -> None:
    """threadrun's own run settings (``spec.EXTENSION_FIELDS``): a service tier."""
    if check_object(value, param, EXTENSION_FIELDS, nullable=True) and value.get("service_tier") is not None:
        check_enum(value["service_tier"], f"{param}.service_tier", SERVICE_TIERS)


ASSISTANT_FIELDS: dict[str, Callable[[Any, str], Any]] = {
    "model": lambda v, p: check_string(v, p, nullable=False, min_len=1),
    "name": lambda v, p: check_string(v, p, 256),
    "description": lambda v, p: check_string(v, p, 512),
    "instructions": lambda v, p: check_string(v, p, 256_000),
    "reasoning_effort": lambda v, p: None if v is None else check_enum(v, p, REASONING_EFFORTS),
    "tools": lambda v, p: check_tools(v, p, 128),
    "tool_resources": lambda v, p: check_type(v, p, (dict,)),
    "metadata": check_metadata,
    "temperature": lambda v, p: check_number(v, p, 0, 2),
    "top_p": lambda v, p: check_number(v, p, 0, 1),
    "response_format": check_response_format,
}


def validate_fields(body: Any, fields: dict[str, Callable[[Any, str], None]], required: tuple[str, ...]) -> None:
    """Check a request body against a field table (unknown fields rejected)."""
    if not isinstance(body, dict):
        fail(None, f"Invalid body: expected an object, but got {_type_name(body)} instead.",
             "invalid_type")
    check_object(body, "", fields, required)
    for name, check in fields.items():
        if name in body:
            check(body[name], name)


def validate_thread_and_run(body: Any) -> None:
    """Validate a CreateThreadAndRunRequest body; raise ErrorAnswer(400) naming the bad field."""
    validate_fields(body, RUN_FIELDS, ("assistant_id",))


def validate_assistant(body: Any) -> None:
    """Validate a CreateAssistantRequest body; raise ErrorAnswer(400) naming the bad field."""
    validate_fields(body, ASSISTANT_FIELDS, ("model",))
