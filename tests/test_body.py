"""threadrun.grid.body: request-body validation, the unknown-model warning and option checks."""
from __future__ import annotations

import json
import math
import warnings

import pytest

from threadrun.grid.body import check_temperature, check_top_p, validate_body
from helpers import error_of

HI = {"assistant_id": "asst_1", "thread": {"messages": [{"role": "user", "content": "hi"}]}}


# --- validate_body -----------------------------------------------------------------------

def _with(**changes):
    body = json.loads(json.dumps(HI))
    for key, value in changes.items():
        if value is _DROP:
            body.pop(key)
        else:
            body[key] = value
    return body


_DROP = object()
MSG = "thread.messages[0]"


def _content(content):
    return {"thread": {"messages": [{"role": "user", "content": content}]}}


# (body, param, message, schema_rejects): False where the rule is only in the spec's prose (metadata
# limits, "if type is function, the function name must be set", the name pattern) or is ours alone
# (empty content, empty assistant_id/model, NaN): a server refuses them though the schema cannot say so.
BAD_BODIES = [
    (_with(assistant_id=_DROP), "assistant_id", "assistant_id is required", True),
    (_with(assistant_id=""), "assistant_id", "assistant_id must be a non-empty string, got ''", False),
    (_with(assistant_id=5), "assistant_id", "assistant_id must be a non-empty string, got 5", True),
    (_with(temprature=1), "temprature",
     "unknown field 'temprature' in the request body (did you mean 'temperature'?)", True),
    (_with(foo=1), "foo", "unknown field 'foo' in the request body", True),
    (_with(temperature=2.5), "temperature", "temperature must be between 0 and 2, got 2.5", True),
    (_with(temperature=-0.1), "temperature", "temperature must be between 0 and 2, got -0.1", True),
    (_with(temperature="1"), "temperature", "temperature must be a number, got '1'", True),
    (_with(temperature=True), "temperature", "temperature must be a number, got True", True),
    (_with(temperature=math.nan), "temperature", "temperature must be between 0 and 2, got nan", False),
    (_with(top_p=1.5), "top_p", "top_p must be between 0 and 1, got 1.5", True),
    (_with(max_prompt_tokens=255), "max_prompt_tokens", "max_prompt_tokens must be at least 256, got 255", True),
    (_with(max_completion_tokens=True), "max_completion_tokens",
     "max_completion_tokens must be an integer, got True", True),
    (_with(max_completion_tokens=300.5), "max_completion_tokens",
     "max_completion_tokens must be an integer, got 300.5", True),
    (_with(metadata={f"k{i}": "v" for i in range(17)}), "metadata",
     "metadata can have at most 16 pairs, got 17", False),
    (_with(metadata={"k" * 65: "v"}), "metadata",
     "metadata key 'kkkkkkkkkkkkkkkkk...kkkkkkkkkkkkkkkkkk' has 65 characters; the limit is 64", False),
    (_with(metadata={"k": "v" * 513}), "metadata.k", "metadata['k'] has 513 characters; the limit is 512", False),
    (_with(metadata={"n": 1}), "metadata", "metadata keys and values must be strings, got 'n': 1", True),
    (_with(metadata=[1]), "metadata", "metadata must be an object, got [1]", True),
    (_with(tools=[{"type": "code_interpreter"}] * 21), "tools", "tools can have at most 20 items, got 21", True),
    (_with(tools=[{"type": "web_search"}]), "tools[0]", "tools[0] must be an object of type "
     "code_interpreter, file_search or function, got {'type': 'web_search'}", True),
    (_with(tools=[{"type": "function"}]), "tools[0].function.name",
     "tools[0].function.name must be 1-64 letters, digits, _ or -, got None", True),
    (_with(tools=[{"type": "function", "function": {"name": "get weather"}}]), "tools[0].function.name",
     "tools[0].function.name must be 1-64 letters, digits, _ or -, got 'get weather'", False),
    (_with(tools="code_interpreter"), "tools", "tools must be a list, got 'code_interpreter'", True),
    (_with(truncation_strategy={"type": "first"}), "truncation_strategy", "truncation_strategy must be an "
     "object of type auto or last_messages, got {'type': 'first'}", True),
    (_with(truncation_strategy={"type": "last_messages", "last_messages": 0}),
     "truncation_strategy.last_messages", "truncation_strategy.last_messages must be at least 1, got 0", True),
    (_with(stream="yes"), "stream", "stream must be a boolean, got 'yes'", True),
    (_with(model=""), "model", "model must be a non-empty string, got ''", False),
    (_with(model=4), "model", "model must be a non-empty string, got 4", True),
    (_with(instructions=3), "instructions", "instructions must be a string, got 3", True),
    (_with(parallel_tool_calls=None), "parallel_tool_calls", "parallel_tool_calls must be a boolean, got None", True),
    (_with(tool_choice="sometimes"), "tool_choice", "tool_choice must be none, auto, required or an object "
     "of type code_interpreter, file_search or function, got 'sometimes'", True),
    (_with(tool_choice={"type": "function"}), "tool_choice.function.name",
     "tool_choice.function.name must be 1-64 letters, digits, _ or -, got None", False),
    (_with(response_format="json"), "response_format", "response_format must be auto or an object of "
     "type text, json_object or json_schema, got 'json'", True),
    (_with(response_format={"type": "json_schema", "json_schema": {}}), "response_format.json_schema.name",
     "response_format.json_schema.name is required", True),
    (_with(tool_resources="x"), "tool_resources", "tool_resources must be an object, got 'x'", True),
    (_with(thread=None), "thread", "thread must be an object, got None", True),
    (_with(thread={"foo": 1}), "thread.foo", "unknown field 'foo' in thread", True),
    (_with(thread={"messages": "hi"}), "thread.messages", "thread.messages must be a list, got 'hi'", True),
    (_with(thread={"messages": [{"role": "system", "content": "x"}]}), f"{MSG}.role",
     "role 'system' is not allowed in a thread; use user or assistant", True),
    (_with(thread={"messages": [{"role": "user"}]}), f"{MSG}.content", f"{MSG}.content is required", True),
    (_with(thread={"messages": [{"role": "user", "content": "x", "name": "bo"}]}), f"{MSG}.name",
     f"unknown field 'name' in {MSG}", True),
    (_with(**_content("")), f"{MSG}.content", f"{MSG}: empty user message", False),
    (_with(**_content([])), f"{MSG}.content",
     f"{MSG}.content must be a non-empty string or list of parts, got []", True),
    (_with(**_content([{"type": "text"}])), f"{MSG}.content[0].text",
     f"{MSG}.content[0].text must be a string, got None", True),
    (_with(**_content([{"type": "image_file", "image_file": {}}])), f"{MSG}.content[0].image_file.file_id",
     f"{MSG}.content[0].image_file.file_id is required", True),
    (_with(**_content([{"type": "audio"}])), f"{MSG}.content[0]", f"{MSG}.content[0] must be an object of "
     "type text, image_url or image_file, got {'type': 'audio'}", True),
    ([HI], "body", "the request body must be an object, got list", True),
    # tool_resources: the spec's shape (unknown keys are ours alone: the schema allows them)
    (_with(tool_resources={"file_search": {"vector_store_ids": ["a", "b"]}}),
     "tool_resources.file_search.vector_store_ids",
     "tool_resources.file_search.vector_store_ids can have at most 1 item, got 2", True),
    (_with(tool_resources={"code_interpreter": {"file_ids": ["f"] * 21}}),
     "tool_resources.code_interpreter.file_ids",
     "tool_resources.code_interpreter.file_ids can have at most 20 items, got 21", True),
    (_with(tool_resources={"code_interpreter": {"file_ids": [1]}}),
     "tool_resources.code_interpreter.file_ids[0]",
     "tool_resources.code_interpreter.file_ids[0] must be a string, got 1", True),
    (_with(tool_resources={"code_interpreter": []}), "tool_resources.code_interpreter",
     "tool_resources.code_interpreter must be an object, got []", True),
    (_with(tool_resources={"web": {}}), "tool_resources.web", "unknown field 'web' in tool_resources", False),
    (_with(tool_resources={"file_search": {"vector_stores": []}}), "tool_resources.file_search.vector_stores",
     "unknown field 'vector_stores' in tool_resources.file_search (did you mean 'vector_store_ids'?)", False),
    (_with(thread={"messages": [], "tool_resources": {"file_search": {}}}), "thread.tool_resources.file_search",
     "thread.tool_resources.file_search needs exactly one of vector_store_ids or vector_stores", True),
    (_with(thread={"tool_resources": {"file_search": {"vector_stores": [{"chunking_strategy": {
        "type": "static", "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0}}}]}}}),
     "thread.tool_resources.file_search.vector_stores[0].chunking_strategy.static.max_chunk_size_tokens",
     "thread.tool_resources.file_search.vector_stores[0].chunking_strategy.static.max_chunk_size_tokens "
     "must be at least 100, got 50", True),
    (_with(thread={"tool_resources": {"code_interpreter": {"files": []}}}),
     "thread.tool_resources.code_interpreter.files",
     "unknown field 'files' in thread.tool_resources.code_interpreter (did you mean 'file_ids'?)", False),
    # tool_choice: a function, when given, needs its name, whatever the type
    (_with(tool_choice={"type": "file_search", "function": {}}), "tool_choice.function.name",
     "tool_choice.function.name must be 1-64 letters, digits, _ or -, got None", True),
    (_with(tool_choice={"type": "code_interpreter", "function": "f"}), "tool_choice.function",
     "tool_choice.function must be an object, got 'f'", True),
    (_with(tool_choice={"type": "file_search", "name": "f"}), "tool_choice.name",
     "unknown field 'name' in tool_choice", False),
    # tools: function parameters, file_search overrides
    (_with(tools=[{"type": "function", "function": {"name": "f", "parameters": None}}]),
     "tools[0].function.parameters", "tools[0].function.parameters must be an object, got None", True),
    (_with(tools=[{"type": "function", "function": {"name": "f", "parameters": "{}"}}]),
     "tools[0].function.parameters", "tools[0].function.parameters must be an object, got '{}'", True),
    (_with(tools=[{"type": "function", "function": {"name": "f", "strict": "yes"}}]),
     "tools[0].function.strict", "tools[0].function.strict must be a boolean, got 'yes'", True),
    (_with(tools=[{"type": "file_search", "file_search": 3}]), "tools[0].file_search",
     "tools[0].file_search must be an object, got 3", True),
    (_with(tools=[{"type": "file_search", "file_search": {"max_num_results": 51}}]),
     "tools[0].file_search.max_num_results", "tools[0].file_search.max_num_results must be at most 50, got 51",
     True),
    (_with(tools=[{"type": "file_search", "file_search": {"max_num_results": 0}}]),
     "tools[0].file_search.max_num_results", "tools[0].file_search.max_num_results must be at least 1, got 0",
     True),
    (_with(tools=[{"type": "file_search", "file_search": {"ranking_options": {}}}]),
     "tools[0].file_search.ranking_options.score_threshold",
     "tools[0].file_search.ranking_options.score_threshold is required", True),
    (_with(tools=[{"type": "file_search", "file_search": {"ranking_options": {"score_threshold": 2}}}]),
     "tools[0].file_search.ranking_options.score_threshold",
     "tools[0].file_search.ranking_options.score_threshold must be between 0 and 1, got 2", True),
    (_with(tools=[{"type": "code_interpreter", "file_search": {}}]), "tools[0].file_search",
     "unknown field 'file_search' in tools[0]", False),
    # message attachments
    (_with(thread={"messages": [{**HI["thread"]["messages"][0], "attachments": [1]}]}),
     f"{MSG}.attachments[0]", f"{MSG}.attachments[0] must be an object, got 1", True),
    (_with(thread={"messages": [{**HI["thread"]["messages"][0], "attachments": [{"tools": []}]}]}),
     f"{MSG}.attachments[0].file_id", f"{MSG}.attachments[0].file_id is required", False),
    (_with(thread={"messages": [{**HI["thread"]["messages"][0], "attachments": [{"file_id": 7}]}]}),
     f"{MSG}.attachments[0].file_id", f"{MSG}.attachments[0].file_id must be a non-empty string, got 7", True),
    (_with(thread={"messages": [{**HI["thread"]["messages"][0], "attachments": [
        {"file_id": "f", "tools": [{"type": "function"}]}]}]}), f"{MSG}.attachments[0].tools[0]",
     f"{MSG}.attachments[0].tools[0] must be an object of type code_interpreter or file_search, "
     "got {'type': 'function'}", True),
    # an empty or blank text part, like empty content
    (_with(**_content([{"type": "text", "text": ""}])), f"{MSG}.content[0].text",
     f"{MSG}.content[0].text is empty", False),
    (_with(**_content([{"type": "text", "text": " \n"}])), f"{MSG}.content[0].text",
     f"{MSG}.content[0].text is empty", False),
    (_with(**_content([{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}])),
     f"{MSG}.content[0].image_url.detail",
     f"{MSG}.content[0].image_url.detail must be auto, low or high, got 'max'", True),
    # truncation_strategy: only type and last_messages
    (_with(truncation_strategy={"type": "last_messages", "last_messages": 3, "extra": {}}),
     "truncation_strategy.extra", "unknown field 'extra' in truncation_strategy", False),
    (_with(truncation_strategy={"type": "last_messages", "last_messages": "3"}),
     "truncation_strategy.last_messages", "truncation_strategy.last_messages must be an integer, got '3'",
     True),
    (_with(response_format={"type": "json_schema", "json_schema": {"name": "n", "strict": "no"}}),
     "response_format.json_schema.strict", "response_format.json_schema.strict must be a boolean, got 'no'",
     True),
]


@pytest.mark.parametrize("body, param, message, schema_rejects", BAD_BODIES)
def test_validate_body_names_the_param_in_one_line(body, param, message, schema_rejects):
    err = error_of(validate_body, body)
    assert (str(err), err.param) == (message, param)


FULL = {
    "assistant_id": "asst_1", "model": "gpt-4o-mini", "instructions": "Be terse.",
    "thread": {"messages": [
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "https://x/y.png"}}]},
        {"role": "assistant", "content": "ok", "metadata": {"a": "b"}}],
        "metadata": {"k": "v"}, "tool_resources": {"code_interpreter": {"file_ids": []}}},
    "temperature": 0, "top_p": 1, "stream": True, "max_prompt_tokens": 256,
    "max_completion_tokens": 1000, "metadata": {f"k{i}": "v" * 512 for i in range(16)},
    "tools": [{"type": "code_interpreter"}] * 18 + [{"type": "file_search"},
                                                      {"type": "function", "function": {"name": "f_1"}}],
    "tool_resources": {"file_search": {"vector_store_ids": ["vs_1"]}},
    "truncation_strategy": {"type": "last_messages", "last_messages": 3},
    "tool_choice": {"type": "function", "function": {"name": "f_1"}}, "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {}}},
}
GOOD_BODIES = [HI, FULL, _with(tool_choice="required", response_format="auto"),
               _with(temperature=None, top_p=None, model=None, metadata=None, tools=None, stream=None),
               _with(response_format={"type": "json_object"}, truncation_strategy={"type": "auto"}),
               _with(tool_choice={"type": "file_search"}, tool_resources={
                   "code_interpreter": {"file_ids": ["f"] * 20}, "file_search": {"vector_store_ids": []}},
                   tools=[{"type": "file_search", "file_search": {
                       "max_num_results": 50, "ranking_options": {"ranker": "auto", "score_threshold": 0.5}}},
                       {"type": "function", "function": {"name": "f", "description": "d",
                                                         "parameters": {"type": "object"}, "strict": True}}],
                   thread={"tool_resources": {"file_search": {"vector_stores": [{
                       "file_ids": ["f"], "metadata": {"a": "b"}, "chunking_strategy": {
                           "type": "static", "static": {"max_chunk_size_tokens": 800,
                                                        "chunk_overlap_tokens": 400}}}]}},
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}],
                                     "attachments": [{"file_id": "f", "tools": [
                                         {"type": "code_interpreter"}, {"type": "file_search"}]},
                                         {"file_id": "g"}]}]}),
               _with(tool_choice={"type": "code_interpreter", "function": {"name": "f"}},
                     thread={"messages": [], "tool_resources": {"file_search": {"vector_store_ids": ["v"]}}})]


@pytest.mark.parametrize("body", GOOD_BODIES)
def test_validate_body_accepts_every_allowed_field(body):
    validate_body(body)


@pytest.fixture(scope="module")
def schema_validator():
    """The spec's CreateThreadAndRunRequest."""
    import spec_schema
    return spec_schema.validator("CreateThreadAndRunRequest")


JSON_BAD_BODIES = [case for case in BAD_BODIES if isinstance(case[0], dict) and "nan" not in case[2]]


@pytest.mark.parametrize("body, param, message, schema_rejects", JSON_BAD_BODIES)
def test_bad_bodies_are_rejected_by_the_spec_too_unless_marked_stricter(schema_validator, body, param,
                                                                         message, schema_rejects):
    assert schema_validator.is_valid(body) is not schema_rejects


@pytest.mark.parametrize("body", [b for b in GOOD_BODIES if None not in b.values()])
def test_good_bodies_pass_the_spec(schema_validator, body):
    schema_validator.validate(body)


# --- models ------------------------------------------------------------------------------

def test_an_unknown_model_is_not_an_error_and_no_python_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_body(_with(model="gpt-9"))
        validate_body(_with(model="my-ft-model"))


def test_known_model_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_body(_with(model="gpt-4o-mini-2024-07-18"))


# --- option checks -----------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [(0, 0.0), (2, 2.0), ("0.7", 0.7), (1.25, 1.25)])
def test_check_temperature_accepts_numbers_and_numeric_text(value, expected):
    assert check_temperature(value) == expected


@pytest.mark.parametrize("value, message", [
    (2.01, "temperature must be between 0 and 2, got 2.01"),
    ("hot", "temperature must be a number, got 'hot'"),
    (None, "temperature must be a number, got None"),
    (False, "temperature must be a number, got False"),
    ("nan", "temperature must be between 0 and 2, got nan"),
])
def test_check_temperature_rejects_naming_the_option(value, message):
    err = error_of(check_temperature, value)
    assert (str(err), err.param) == (message, "temperature")


def test_check_top_p_range_and_custom_option_name():
    assert check_top_p("1") == 1.0
    err = error_of(check_top_p, 1.1, name="--top-p")
    assert (str(err), err.param) == ("--top-p must be between 0 and 1, got 1.1", "--top-p")
