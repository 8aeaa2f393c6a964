"""Fuzz: cells, option lines and JSON bodies never crash threadrun; any body never crashes the server.

(a) any cell + option line through ``%%threadrun --dry-run`` (a real shell) or ``command().plan()``
    gives bodies the spec's ``CreateThreadAndRunRequest`` accepts, or threadrun's own one-line error;
(b) the same for JSON request bodies written as cells (and passed as dicts);
(c) any JSON POSTed to the local server's ``/threads/runs`` and ``/assistants`` gets a 2xx, or a 4xx
    with the spec's error object; never a 500, a dropped connection or a server traceback.
"""
from __future__ import annotations

import copy
import json
import shlex
import warnings
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
import requests  # noqa: E402
from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from IPython.core.error import UsageError  # noqa: E402
from spec_schema import schema_errors as spec_schema_errors, validator  # noqa: E402

from threadrun.api import command  # noqa: E402
from threadrun.errors import ValidationError  # noqa: E402
from threadrun.server import local_server  # noqa: E402

FUZZ = settings(max_examples=300, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


VALIDATORS = {name: validator(name) for name in ("CreateThreadAndRunRequest", "ErrorResponse")}


def schema_errors(name: str, instance: Any) -> list[str]:
    return spec_schema_errors(name, instance, width=160)


def assert_valid_bodies(bodies: Any) -> None:
    event("bodies")
    assert isinstance(bodies, list) and bodies
    for body in bodies:
        assert schema_errors("CreateThreadAndRunRequest", body) == [], body


def assert_one_line(exc: BaseException, *, in_hypothesis: bool = True) -> None:
    if in_hypothesis:
        event(f"error {getattr(exc, 'param', None) or type(exc).__name__}")
    assert "\n" not in str(exc) and str(exc).strip(), repr(exc)


# -- strategies -----------------------------------------------------------------------------------

KNOWN_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini"]
ROLES = ["user:", "assistant:", "system:", "instructions:", "User:", "ASSISTANT :", "tool:",
         "usr:", "sytem:", "Note:", "  user:", "developer:", "function:"]
PLACEHOLDERS = ["{fz_x}", "{fz_x:.2f}", "{fz_d[k]}", "{fz_d[missing]}", "{fz_s!r}", "{fz_s.upper}",
                "{nope}", "{0}", "{}", "{{", "}}", "{", "}", "{fz_x:{fz_w}}", "{fz_s:>5}",
                "{fz_d.k}", "{fz_x!z}"]
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
json_scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | \
    st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(text, inner, max_size=4), max_leaves=12)


@st.composite
def cells(draw) -> str:
    """Cell text: mostly well-formed role lines with odd text, sometimes anything at all."""
    wild = draw(st.integers(0, 2)) == 0
    lines = []
    if not wild and draw(st.booleans()):
        lines.append(draw(st.sampled_from(["system:", "instructions:"])) + " " + draw(text))
    for index in range(draw(st.integers(0 if wild else 1, 6))):
        kind = draw(st.integers(0, 4)) if wild else draw(st.sampled_from([0, 0, 1, 2, 5]))
        if kind == 0:
            lines.append(draw(st.sampled_from(ROLES if wild else ["user:", "assistant:"])) + " "
                         + draw(text))
        elif kind == 1:
            lines.append(draw(text))
        elif kind == 2:
            lines.append(("user: " if not wild and index == 0 else "") + draw(text)
                         + draw(st.sampled_from(PLACEHOLDERS)) + draw(text))
        elif kind == 3:
            lines.append(draw(st.sampled_from(["", "  ", "\t", "\r", "[", "[1, 2]", "{", "{}",
                                               '{"messages": []}', "user:", "system: x"])))
        elif kind == 4:
            lines.append(draw(st.sampled_from(ROLES)) + draw(st.sampled_from(PLACEHOLDERS)))
        else:
            lines.append("  " + draw(text))
    if not wild and not lines[0].lower().startswith(("user", "assistant", "system", "instr")):
        lines.insert(0, "user: hi")
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines)


def _list_of(values) -> Any:
    return st.lists(values, min_size=1, max_size=3).map(lambda v: ",".join(map(str, v)))


NUMBERS = st.integers(-3, 3000) | st.floats(-1, 3) | st.sampled_from(
    ["nan", "inf", "-0", "1e400", float("nan"), float("inf"), "0x1", "1_0", " 1 ", "", "0.5,", ",", "1,,2"])
OPTION_VALUES = {
    "--model": _list_of(st.sampled_from(KNOWN_MODELS) | text) | text,
    "--temperature": _list_of(NUMBERS) | text,
    "--top-p": NUMBERS | text,
    "--instructions": text,
    "--max-prompt-tokens": NUMBERS | text,
    "--max-completion-tokens": NUMBERS | text,
    "--tools": _list_of(st.sampled_from(["code_interpreter", "file_search", "function", "web"]) | text),
    "--metadata": st.tuples(text, st.sampled_from(["=", "", "=="]), text).map("".join)
    | st.text(min_size=60, max_size=600).map(lambda s: "k=" + s),
    "--repeat": st.integers(-2, 3) | st.sampled_from(["", "x", "1.5", "+2", "٣", "10000000000000000000000"]),
    "--label": text, "--assistant": text, "--timeout": NUMBERS, "--max-retries": NUMBERS,
    "--concurrency": NUMBERS, "--rate": NUMBERS, "--resume": text,
    "--out": st.sampled_from(["fz_out", "not a name", "1x", ""]),
    "--poll": st.none(), "--compare": st.none(), "--no-log": st.none(),
}


GOOD_VALUES = {
    "--model": _list_of(st.sampled_from(KNOWN_MODELS)),
    "--temperature": _list_of(st.floats(0, 2) | st.sampled_from([0, 1, 2, "0.5"])),
    "--top-p": st.floats(0, 1),
    "--instructions": text.filter(str.strip),
    "--max-prompt-tokens": st.integers(256, 100_000),
    "--max-completion-tokens": st.integers(256, 100_000),
    "--tools": _list_of(st.sampled_from(["code_interpreter", "file_search"])),
    "--metadata": st.tuples(st.text(min_size=1, max_size=64).filter(lambda k: "=" not in k and k.strip()),
                            st.text(max_size=512)).map("=".join),
    "--repeat": st.integers(1, 3),
    "--label": text, "--assistant": st.sampled_from(["asst_abc", "asst_x"]),
    "--poll": st.none(), "--no-log": st.none(),
}


@st.composite
def option_lines(draw) -> str:
    """An option line: known options with fuzzed values (usually quoted), plus junk."""
    wild = draw(st.integers(0, 2)) == 0
    table = OPTION_VALUES if wild else GOOD_VALUES
    words = []
    for _ in range(draw(st.integers(0, 5))):
        if wild and draw(st.integers(0, 9)) == 0:
            words.append(draw(st.sampled_from(["--", "-x", "--nope", "'", '"', "\\", "-m", "a b"])))
            continue
        name = draw(st.sampled_from(sorted(table)))
        value = draw(table[name])
        if value is None:
            words.append(name)
        elif draw(st.booleans()):
            words.append(f"{name} {shlex.quote(str(value))}")
        else:
            words.append(f"{name}={shlex.quote(str(value))}")
    return " ".join(words)


# -- (a) cells and option lines --------------------------------------------------------------------

@pytest.fixture
def fuzz_ns(ip):
    ns = {"fz_x": 1.5, "fz_d": {"k": "v"}, "fz_s": "text", "fz_w": "6"}
    ip.user_ns.update(ns)
    yield ip
    for name in [*ns, "fz_out"]:
        ip.user_ns.pop(name, None)


@FUZZ
@given(line=option_lines(), cell=cells())
@example(line="", cell="user: hi")
@example(line="-m gpt-4o,gpt-4o-mini -t 0,1 --metadata a=b", cell="system: be brief\nuser: {fz_x:.2f}")
def test_magic_dry_run_gives_spec_bodies_or_a_one_line_usage_error(fuzz_ns, line, cell):
    with warnings.catch_warnings():
        try:
            bodies = fuzz_ns.run_cell_magic("threadrun", line + " --dry-run", cell)
        except (UsageError, ValidationError) as exc:
            assert_one_line(exc)
            return
    assert_valid_bodies(bodies)


@FUZZ
@given(cell=cells(), model=st.none() | _list_of(st.sampled_from(KNOWN_MODELS)),
       temperature=st.none() | _list_of(NUMBERS), top_p=st.none() | NUMBERS,
       metadata=st.none() | st.dictionaries(text, text, max_size=3) | st.lists(text, max_size=3),
       tools=st.none() | st.lists(st.sampled_from(["code_interpreter", "file_search", "x"]), max_size=3))
def test_command_plan_gives_spec_bodies_or_a_one_line_validation_error(cell, model, temperature,
                                                                       top_p, metadata, tools):
    ns = {"fz_x": 1.5, "fz_d": {"k": "v"}, "fz_s": "text", "fz_w": "6"}
    with warnings.catch_warnings():
        try:
            jobs = command(cell, namespace=ns, model=model, temperature=temperature, top_p=top_p,
                           metadata=metadata, tools=tools).plan()
        except ValidationError as exc:
            assert_one_line(exc)
            return
    assert_valid_bodies([job.body for job in jobs])


# -- (b) JSON bodies as cells ----------------------------------------------------------------------

def _valid_body() -> dict:
    return {"assistant_id": "asst_x", "model": "gpt-4o",
            "thread": {"messages": [{"role": "user", "content": "hi"}]}}


PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": text | json_values}),
    st.fixed_dictionaries({"type": st.just("image_url"),
                           "image_url": st.fixed_dictionaries({"url": text}, optional={
                               "detail": st.sampled_from(["auto", "low", "x"])}) | json_values}),
    st.fixed_dictionaries({"type": st.just("image_file"),
                           "image_file": st.fixed_dictionaries({"file_id": text}, optional={
                               "detail": st.sampled_from(["high", "y"])}) | json_values}),
    json_values)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool", "bot"]),
     "content": text | st.lists(PART, max_size=3) | json_values},
    optional={"attachments": st.lists(st.fixed_dictionaries({"file_id": text}, optional={
        "tools": st.lists(st.fixed_dictionaries({"type": st.sampled_from(
            ["code_interpreter", "file_search", "function"])}), max_size=2)}) | json_values,
        max_size=2) | json_values,
        "metadata": st.dictionaries(text, text | json_values, max_size=3) | json_values,
        "name": text})
TOOL = st.fixed_dictionaries({"type": st.sampled_from(["code_interpreter", "file_search", "function", "web"])},
                             optional={"function": st.fixed_dictionaries(
                                 {"name": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True) | text},
                                 optional={"description": text | json_values,
                                           "parameters": json_values, "strict": json_values}),
                                 "file_search": json_values | st.fixed_dictionaries(
                                     {}, optional={"max_num_results": st.integers(-5, 80)})})
FIELD_VALUES = {
    "assistant_id": text | json_values,
    "thread": st.fixed_dictionaries({}, optional={
        "messages": st.lists(MESSAGE, max_size=3) | json_values,
        "tool_resources": json_values, "metadata": json_values}) | json_values,
    "messages": st.lists(MESSAGE, max_size=3) | json_values,
    "model": st.sampled_from(KNOWN_MODELS) | text | json_values,
    "instructions": text | json_values,
    "tools": st.lists(TOOL, max_size=3) | json_values,
    "tool_resources": json_values | st.fixed_dictionaries({}, optional={
        "code_interpreter": st.fixed_dictionaries({}, optional={"file_ids": st.lists(text, max_size=22)}),
        "file_search": st.fixed_dictionaries({}, optional={"vector_store_ids": st.lists(text, max_size=2)})}),
    "metadata": st.dictionaries(text, text, max_size=3) | json_values,
    "temperature": NUMBERS | json_values, "top_p": NUMBERS | json_values,
    "stream": json_values, "parallel_tool_calls": json_values,
    "max_prompt_tokens": st.integers(0, 5000) | json_values,
    "max_completion_tokens": st.integers(0, 5000) | json_values,
    "truncation_strategy": st.fixed_dictionaries(
        {"type": st.sampled_from(["auto", "last_messages", "x"])},
        optional={"last_messages": st.integers(-1, 5) | json_values, "extra": json_values}) | json_values,
    "tool_choice": st.sampled_from(["none", "auto", "required", "x"]) | st.fixed_dictionaries(
        {"type": st.sampled_from(["function", "file_search", "x"])},
        optional={"function": st.fixed_dictionaries({}, optional={"name": text | json_values})}) | json_values,
    "response_format": st.sampled_from(["auto", "x"]) | st.fixed_dictionaries(
        {"type": st.sampled_from(["text", "json_object", "json_schema", "x"])},
        optional={"json_schema": st.fixed_dictionaries({}, optional={
            "name": text | json_values, "schema": json_values, "strict": json_values,
            "description": json_values})}) | json_values,
}


@st.composite
def json_bodies(draw) -> dict:
    """A request body: a valid one with fields replaced, added or dropped, or a random object."""
    if draw(st.integers(0, 5)) == 0:
        return draw(st.dictionaries(st.sampled_from(sorted(FIELD_VALUES)) | text, json_values, max_size=5))
    body = _valid_body()
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(sorted(FIELD_VALUES) + ["bogus"]))
        if name in body and draw(st.integers(0, 3)) == 0:
            del body[name]
        else:
            body[name] = draw(FIELD_VALUES.get(name, json_values))
    return body


@FUZZ
@given(body=json_bodies(), options=st.sampled_from([
    {}, {"model": "gpt-4o-mini", "temperature": "0,1"}, {"top_p": 0.5},
    {"max_completion_tokens": 300}, {"tools": "file_search"}, {"metadata": ["a=b"]}]),
       as_dict=st.booleans())
@example(body=_valid_body(), options={}, as_dict=False)
def test_json_bodies_give_spec_bodies_or_a_one_line_validation_error(body, options, as_dict):
    with warnings.catch_warnings():
        try:
            thread = copy.deepcopy(body) if as_dict else json.dumps(body)
            jobs = command(thread, **options).plan()
        except ValidationError as exc:
            assert_one_line(exc)
            return
    assert_valid_bodies([job.body for job in jobs])


@FUZZ
@given(body=json_bodies())
def test_json_body_cells_through_the_magic(fuzz_ns, body):
    with warnings.catch_warnings():
        try:
            bodies = fuzz_ns.run_cell_magic("threadrun", "--dry-run", json.dumps(body, indent=1))
        except (UsageError, ValidationError) as exc:
            assert_one_line(exc)
            return
    assert_valid_bodies(bodies)


# Bodies threadrun accepted that the spec (or the local server) refuses: found by the fuzzers above.
HI = {"role": "user", "content": "hi"}
LOOSE_BODIES = {
    "tool_resources_unchecked": {"thread": {"messages": [HI]},
                                 "tool_resources": {"file_search": {"vector_store_ids": ["a", "b"]}}},
    "tool_choice_function_without_name": {"thread": {"messages": [HI]},
                                          "tool_choice": {"type": "file_search", "function": {}}},
    "function_parameters_not_an_object": {"thread": {"messages": [HI]}, "tools": [
        {"type": "function", "function": {"name": "f", "parameters": None}}]},
    "file_search_settings_not_an_object": {"thread": {"messages": [HI]}, "tools": [
        {"type": "file_search", "file_search": 3}]},
    "attachment_not_an_object": {"thread": {"messages": [{**HI, "attachments": [1]}]}},
    "empty_text_part": {"thread": {"messages": [{"role": "user",
                                                 "content": [{"type": "text", "text": ""}]}]}},
    "unknown_truncation_field": {"thread": {"messages": [HI]}, "truncation_strategy": {
        "type": "last_messages", "last_messages": 3, "extra": {}}},
}


@pytest.mark.parametrize("name", sorted(LOOSE_BODIES))
def test_a_body_threadrun_accepts_is_one_the_spec_and_the_server_accept(fuzz_server, name):
    """threadrun must refuse (one line, before sending) what the spec or the server refuses."""
    srv, session, asst = fuzz_server
    try:
        jobs = command(json.dumps(LOOSE_BODIES[name])).plan()
    except ValidationError as exc:
        assert_one_line(exc, in_hypothesis=False)
        return
    body = {**jobs[0].body, "assistant_id": asst}
    assert schema_errors("CreateThreadAndRunRequest", body) == [], body
    answer = session.post(srv.url + "/threads/runs", json=body, timeout=10)
    assert answer.status_code == 200, answer.text


@FUZZ
@given(body=json_bodies())
def test_bodies_threadrun_accepts_are_accepted_by_the_local_server(fuzz_server, body):
    srv, session, asst = fuzz_server
    with warnings.catch_warnings():
        try:
            jobs = command(json.dumps(body)).plan()
        except ValidationError as exc:
            assert_one_line(exc)
            return
    for job in jobs:
        sent = {**job.body, "assistant_id": asst, "stream": False}
        answer = session.post(srv.url + "/threads/runs", json=sent, timeout=10)
        assert answer.status_code == 200, (sent, answer.text)


# -- (c) the server takes any JSON body ----------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_server():
    with local_server() as srv:
        with requests.Session() as session:
            asst = session.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10).json()
            yield srv, session, asst["id"]


def _post(fuzz_server, path: str, raw: bytes) -> None:
    srv, session, _ = fuzz_server
    try:
        response = session.post(srv.url + path, data=raw, timeout=10,
                                headers={"Content-Type": "application/json"})
    except requests.RequestException as exc:  # a dropped connection or a hang
        pytest.fail(f"POST {path} {raw[:200]!r}: no answer: {exc}")
    status = response.status_code
    assert srv.server_errors == [], srv.server_errors[-1]
    assert 200 <= status < 300 or 400 <= status < 500, (status, raw[:300], response.text[:300])
    if status >= 400:
        assert schema_errors("ErrorResponse", response.json()) == [], response.text


def _mutated(base: dict, data) -> Any:
    """``base`` with one path set to a random value, or deleted."""
    body = copy.deepcopy(base)
    node, path = body, []
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
        if not isinstance(node[key], (dict, list)):
            break
        node, path = node[key], path + [key]
    if isinstance(node, dict):
        key = data.draw(st.sampled_from(sorted(node) + ["zz_extra"]) | text)
        if key in node and data.draw(st.booleans()):
            del node[key]
        else:
            node[key] = data.draw(json_values)
    elif isinstance(node, list):
        node.append(data.draw(json_values))
    return body


@FUZZ
@given(value=json_values | st.dictionaries(st.sampled_from(sorted(FIELD_VALUES)) | text,
                                           json_values, max_size=6),
       path=st.sampled_from(["/threads/runs", "/assistants"]))
def test_server_answers_any_json_with_2xx_or_a_4xx_error_object(fuzz_server, value, path):
    _post(fuzz_server, path, json.dumps(value).encode())


@FUZZ
@given(data=st.data(), path=st.sampled_from(["/threads/runs", "/assistants"]))
def test_server_answers_mutated_valid_bodies_with_2xx_or_a_4xx_error_object(fuzz_server, data, path):
    _, _, asst = fuzz_server
    base = {"assistant_id": asst, "model": "gpt-4o", "instructions": "i", "temperature": 1,
            "top_p": 1, "max_completion_tokens": 300, "metadata": {"a": "b"},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            "truncation_strategy": {"type": "last_messages", "last_messages": 2},
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": {}}},
            "thread": {"metadata": {"k": "v"}, "tool_resources": {},
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}],
                                     "attachments": [], "metadata": {}}]}}
    if path == "/assistants":
        base = {"model": "gpt-4o", "name": "n", "description": "d", "instructions": "i",
                "tools": [{"type": "code_interpreter"}], "metadata": {"a": "b"}, "temperature": 1,
                "top_p": 1, "response_format": "auto", "reasoning_effort": "low"}
    _post(fuzz_server, path, json.dumps(_mutated(base, data)).encode())


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"1e400", b'{"assistant_id": 1e400}',
                                 b'{"temperature": -1e400, "assistant_id": "a"}', b"\xff\xfe",
                                 b"{" * 5000, b"[" * 100000, b'"\\ud800"', b"NaN",
                                 b'{"model": "gpt-4o", "metadata": {"\\ud800": "x"}}'])
@pytest.mark.parametrize("path", ["/threads/runs", "/assistants"])
def test_server_answers_odd_bytes_with_an_error_object(fuzz_server, raw, path):
    _post(fuzz_server, path, raw)
