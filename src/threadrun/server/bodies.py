"""Validation of the request bodies beside createThreadAndRun and createAssistant: threads,
messages, runs on a thread, updates, tool outputs (each schema has ``additionalProperties: false``)."""
from __future__ import annotations

from typing import Any, Callable

from .validate import (
    ASSISTANT_FIELDS,
    RUN_FIELDS,
    check_array,
    check_message,
    check_metadata,
    check_object,
    check_string,
    check_thread,
    check_type,
    fail,
    validate_fields,
)

Fields = dict[str, Callable[[Any, str], Any]]


def check_messages(value: Any, param: str) -> None:
    """Check a nullable array of CreateMessageRequest."""
    if check_array(value, param):
        for index, message in enumerate(value):
            check_message(message, f"{param}[{index}]")


CREATE_RUN_FIELDS: Fields = {
    **{k: v for k, v in RUN_FIELDS.items() if k not in ("thread", "tool_resources")},
    "reasoning_effort": ASSISTANT_FIELDS["reasoning_effort"],
    "additional_instructions": lambda v, p: check_string(v, p, 256_000),
    "additional_messages": check_messages,
}
MODIFY_ASSISTANT_FIELDS: Fields = {**ASSISTANT_FIELDS, "model": lambda v, p: check_string(v, p, min_len=1)}
MODIFY_THREAD_FIELDS: Fields = {"tool_resources": lambda v, p: check_type(v, p, (dict,)),
                                "metadata": check_metadata}
METADATA_FIELDS: Fields = {"metadata": check_metadata}


def check_outputs(value: Any, param: str) -> None:
    """Check ``tool_outputs``: an array of ``{tool_call_id, output}`` strings."""
    check_array(value, param, nullable=False)
    for index, item in enumerate(value):
        where = f"{param}[{index}]"
        check_object(item, where, ("tool_call_id", "output"), ("tool_call_id",))
        check_string(item["tool_call_id"], f"{where}.tool_call_id", nullable=False, min_len=1)
        check_string(item.get("output"), f"{where}.output")


SUBMIT_FIELDS: Fields = {"tool_outputs": check_outputs,
                         "stream": lambda v, p: check_type(v, p, (bool,))}


def validate_body(body: Any, fields: Fields, required: tuple[str, ...] = ()) -> dict:
    """``body`` checked against a field table (an absent body is ``{}`` when nothing is required)."""
    if body is None and not required:
        return {}
    validate_fields(body, fields, required)
    return body


def validate_thread(body: Any) -> dict:
    """A CreateThreadRequest (an empty body is an empty thread)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        fail(None, "Invalid body: expected an object.", "invalid_type")
    check_thread(body, "")
    return body


def validate_message(body: Any) -> dict:
    """A CreateMessageRequest."""
    if not isinstance(body, dict):
        fail(None, "Invalid body: expected an object.", "invalid_type")
    check_message(body, "")
    return body
