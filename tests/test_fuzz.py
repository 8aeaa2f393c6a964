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


# -- (d) issue 15, point 6: known-valid inputs MUST be accepted, known-bad ones MUST be refused -----
# The properties above accept "spec bodies or a one-line error", so a validator that refuses
# everything (or everything odd) passes them. Here the fuzzers build inputs that are valid by
# construction and must give exactly the bodies asked for, and inputs with one known fault each
# (the reason is the table key) that must be refused with one line naming the fault.

#: derandomize: a fixed seed, so a failure here is the same on every machine and every run.
STRICT = settings(max_examples=60, deadline=None, database=None, print_blob=True, derandomize=True,
                  suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
#: Message text that is valid anywhere: no braces (interpolation), no colon (role lines), no
#: line breaks, no leading or trailing spaces; some non-ASCII letters.
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCXYZ 0123456789 .,!?'-\u00e9\u00fc\u4e2d",
                min_size=1, max_size=40).map(str.strip).filter(bool)
META_KEYS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=64)
METADATA = st.dictionaries(META_KEYS, st.text(alphabet="abcxyz 0123456789-\u00e9", max_size=512)
                           .map(str.strip), max_size=16)  # the magic strips `k= v` to "v"
TEMPS = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0, 1.5, 2.0]), min_size=1, max_size=3, unique=True)


@st.composite
def good_threads(draw) -> tuple[str, str | None, list[dict]]:
    """(cell text, its instructions or None, the messages it must give), valid by construction."""
    instructions = draw(st.none() | WORDS)
    roles = draw(st.lists(st.sampled_from(["user", "assistant"]), min_size=1, max_size=5))
    messages = [{"role": role, "content": draw(WORDS)} for role in roles]
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    if instructions is not None:
        lines.insert(draw(st.integers(0, len(lines))),
                     f"{draw(st.sampled_from(['system', 'instructions']))}: {instructions}")
    return draw(st.sampled_from(["\n", "\r\n", "\n\n"])).join(lines), instructions, messages


@st.composite
def good_options(draw) -> dict[str, Any]:
    """``command()`` options that are all valid, as Python values."""
    options: dict[str, Any] = {}
    if draw(st.booleans()):
        options["model"] = draw(st.lists(st.sampled_from(["gpt-4o", "gpt-4o-mini", "gpt-4.1"]),
                                         min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        options["temperature"] = draw(TEMPS)
    if draw(st.booleans()):
        options["top_p"] = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]))
    if draw(st.booleans()):
        options["max_completion_tokens"] = draw(st.integers(256, 100_000))
    if draw(st.booleans()):
        options["metadata"] = draw(METADATA.filter(bool))
    if draw(st.booleans()):
        options["tools"] = draw(st.lists(st.sampled_from(["code_interpreter", "file_search"]),
                                         min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        options["repeat"] = draw(st.integers(1, 3))
    return options


def assert_bodies_as_asked(bodies: list[dict], instructions: str | None, messages: list[dict],
                           options: dict[str, Any]) -> None:
    """Every body is the spec's and carries exactly the thread and settings asked for."""
    models = options.get("model") or [None]
    temps = options.get("temperature") or [None]
    assert len(bodies) == len(models) * len(temps) * options.get("repeat", 1)
    for body in bodies:
        assert schema_errors("CreateThreadAndRunRequest", body) == [], body
        assert body["thread"]["messages"] == messages
        assert body.get("instructions") == instructions
        if options.get("model"):
            assert body["model"].rpartition(":")[2] in models  # "echo:gpt-4o" on the embedded runtime
        if options.get("temperature"):
            assert body["temperature"] in temps
        for name in ("top_p", "max_completion_tokens"):
            assert body.get(name) == options.get(name), name
        assert body.get("metadata") == (options.get("metadata") or None)
        assert [t["type"] for t in body.get("tools") or []] == (options.get("tools") or [])
    if options.get("model"):
        assert {b["model"].rpartition(":")[2] for b in bodies} == set(models)
    if options.get("temperature"):
        assert {b["temperature"] for b in bodies} == set(temps)


@STRICT
@given(thread=good_threads(), options=good_options())
@example(thread=("user: hi", None, [{"role": "user", "content": "hi"}]), options={})
def test_valid_cells_and_options_must_be_accepted_and_give_the_bodies_asked_for(thread, options):
    """Planted bug: a validator that refuses everything (or anything beyond the simplest cell)."""
    cell, instructions, messages = thread
    with warnings.catch_warnings():
        jobs = command(cell, **options).plan()  # a ValidationError here fails the test
    assert_bodies_as_asked([job.body for job in jobs], instructions, messages, options)


def option_line(options: dict[str, Any]) -> str:
    """The magic's option line for ``options`` (as a user would type it)."""
    words = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if name == "metadata":
            words += [f"{flag} {shlex.quote(f'{k}={v}')}" for k, v in value.items()]
        elif isinstance(value, list):
            words.append(f"{flag} {','.join(map(str, value))}")
        else:
            words.append(f"{flag} {value}")
    return " ".join(words)


@STRICT
@given(thread=good_threads(), options=good_options())
def test_valid_cells_and_option_lines_must_be_accepted_by_the_magic(fuzz_ns, thread, options):
    """Planted bug: a validator that refuses everything; the magic's dry run must give the bodies."""
    cell, instructions, messages = thread
    with warnings.catch_warnings():
        bodies = fuzz_ns.run_cell_magic("threadrun", option_line(options) + " --dry-run", cell)
    assert_bodies_as_asked(bodies, instructions, messages, options)


FUNCTION_TOOL = st.fixed_dictionaries({"type": st.just("function"), "function": st.fixed_dictionaries(
    {"name": st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)},
    optional={"description": WORDS,
              "parameters": st.just({"type": "object", "properties": {"q": {"type": "string"}}})})})
GOOD_FIELDS = {
    "model": st.sampled_from(KNOWN_MODELS[:3]),
    "temperature": st.sampled_from([0, 1, 2, 0.0, 0.3, 1.99]),
    "top_p": st.sampled_from([0, 1, 0.5, 0.01]),
    "max_completion_tokens": st.integers(256, 100_000),
    "max_prompt_tokens": st.integers(256, 100_000),
    "metadata": METADATA,
    "tools": st.lists(st.sampled_from([{"type": "code_interpreter"}, {"type": "file_search"}])
                      | FUNCTION_TOOL, max_size=3),
    "truncation_strategy": st.sampled_from([{"type": "auto"}]) | st.fixed_dictionaries(
        {"type": st.just("last_messages"), "last_messages": st.integers(1, 50)}),
    "tool_choice": st.sampled_from(["none", "auto"]),
    "response_format": st.sampled_from(["auto", {"type": "text"}]),
    "parallel_tool_calls": st.booleans(),
}


@st.composite
def good_bodies(draw) -> dict:
    """A createThreadAndRun body valid by construction (text or part-list contents, some fields)."""
    _, instructions, messages = draw(good_threads())
    for message in messages:
        if draw(st.integers(0, 3)) == 0:
            message["content"] = [{"type": "text", "text": message["content"]}]
    thread: dict[str, Any] = {"messages": messages}
    if draw(st.booleans()):
        thread["metadata"] = draw(METADATA)
    body: dict[str, Any] = {"thread": thread}
    if instructions is not None:
        body["instructions"] = instructions
    for name in draw(st.lists(st.sampled_from(sorted(GOOD_FIELDS)), unique=True, max_size=6)):
        body[name] = draw(GOOD_FIELDS[name])
    return body


def assert_body_kept(sent: dict, built: dict) -> None:
    assert schema_errors("CreateThreadAndRunRequest", built) == [], built
    for name, value in sent.items():
        if name == "model":
            assert built[name].rpartition(":")[2] == value
        else:
            assert built[name] == value, name


@STRICT
@given(body=good_bodies(), as_dict=st.booleans())
@example(body={"thread": {"messages": [{"role": "user", "content": "hi"}]}}, as_dict=False)
def test_valid_json_bodies_must_be_accepted_and_kept_as_sent(body, as_dict):
    """Planted bug: a validator that refuses everything (or every field beyond the messages)."""
    with warnings.catch_warnings():
        jobs = command(copy.deepcopy(body) if as_dict else json.dumps(body)).plan()
    assert len(jobs) == 1
    assert_body_kept(body, jobs[0].body)


@settings(STRICT, max_examples=40)
@given(body=good_bodies())
def test_valid_json_bodies_must_be_accepted_by_threadrun_and_the_local_server(fuzz_server, body):
    """Planted bug: a validator that refuses everything; what it accepts, the server runs (200)."""
    srv, session, asst = fuzz_server
    with warnings.catch_warnings():
        jobs = command(json.dumps(body)).plan()
    sent = {**jobs[0].body, "assistant_id": asst, "stream": False}
    sent["model"] = sent.get("model", "gpt-4o").rpartition(":")[2]
    answer = session.post(srv.url + "/threads/runs", json=sent, timeout=10)
    assert answer.status_code == 200, (sent, answer.text)


def _set(path: str, value: Any):
    """A mutation setting ``path`` (dotted; ``messages.0`` = the first thread message) to ``value``."""
    def mutate(body: dict) -> dict:
        node = body
        *parents, last = path.split(".")
        for key in parents:
            node = node["thread"]["messages"] if key == "messages" else node[int(key) if key.isdigit() else key]
        node[int(last) if last.isdigit() else last] = value
        return body
    return mutate


def _drop_content(body: dict) -> dict:
    del body["thread"]["messages"][0]["content"]
    return body


def _system_message_too(body: dict) -> dict:
    body["instructions"] = "be brief"
    body["thread"]["messages"].insert(0, {"role": "system", "content": "be long"})
    return body


def _top_level_messages_too(body: dict) -> dict:
    body["messages"] = [{"role": "user", "content": "again"}]
    return body


# reason: (mutation of a valid body, a fragment the one-line refusal must contain)
BAD_BODIES = {
    "temperature above 2": (_set("temperature", 2.5), "temperature"),
    "temperature below 0": (_set("temperature", -0.1), "temperature"),
    "temperature not a number": (_set("temperature", "hot"), "temperature"),
    "top_p above 1": (_set("top_p", 1.5), "top_p"),
    "max_completion_tokens below 256": (_set("max_completion_tokens", 10), "max_completion_tokens"),
    "max_prompt_tokens below 256": (_set("max_prompt_tokens", 255), "max_prompt_tokens"),
    "a misspelt field": (_set("temprature", 1), "temprature"),
    "a metadata key over 64 characters": (_set("metadata", {"k" * 65: "v"}), "metadata"),
    "a metadata value over 512 characters": (_set("metadata", {"k": "v" * 513}), "metadata"),
    "17 metadata keys": (_set("metadata", {f"k{i}": "v" for i in range(17)}), "metadata"),
    "an unknown role": (_set("messages.0.role", "robot"), "robot"),
    "a tool role": (_set("messages.0.role", "tool"), "tool"),
    "an empty message": (_set("messages.0.content", ""), "empty"),
    "a message without content": (_drop_content, "content"),
    "an unknown message field": (_set("messages.0.name", "bob"), "name"),
    "no messages": (_set("thread.messages", []), "thread"),  # "is empty" / "has only instructions"
    "a thread that is text": (_set("thread", "hi"), "thread"),
    "messages given twice": (_top_level_messages_too, "both"),
    "instructions given twice": (_system_message_too, "instructions"),
    "an unknown tool type": (_set("tools", [{"type": "web_browser"}]), "web_browser"),
    "a function tool without a name": (_set("tools", [{"type": "function", "function": {}}]), "name"),
    "a model that is not text": (_set("model", 42), "model"),
    "an unknown tool_choice": (_set("tool_choice", "sometimes"), "tool_choice"),
    "an unknown response_format": (_set("response_format", "xml"), "response_format"),
    "parallel_tool_calls not a boolean": (_set("parallel_tool_calls", "yes"), "parallel_tool_calls"),
    "an unknown truncation type": (_set("truncation_strategy", {"type": "middle"}), "truncation_strategy"),
}


def assert_refused(call, fragment: str) -> ValidationError:
    with warnings.catch_warnings():
        with pytest.raises(ValidationError) as info:
            call()
    message = str(info.value)
    assert "\n" not in message and message.strip(), repr(message)
    assert fragment.lower() in message.lower(), message
    return info.value


@pytest.mark.parametrize("reason", BAD_BODIES)
@settings(STRICT, max_examples=25)
@given(body=good_bodies())
def test_a_valid_body_with_one_known_fault_must_be_refused_naming_it(reason, body):
    """Planted bug: a validator that accepts everything (or lets this one fault through)."""
    mutate, fragment = BAD_BODIES[reason]
    bad = mutate(copy.deepcopy(body))
    assert_refused(lambda: command(json.dumps(bad)).plan(), fragment)


# reason: (bad command() options, a fragment the one-line refusal must contain)
BAD_OPTIONS = {
    "temperature above 2": ({"temperature": 2.5}, "temperature"),
    "one temperature of a list out of range": ({"temperature": "0,3"}, "temperature"),
    "temperature not a number": ({"temperature": "hot"}, "temperature"),
    "top_p above 1": ({"top_p": 1.5}, "top_p"),
    "max_completion_tokens below 256": ({"max_completion_tokens": 10}, "max_completion_tokens"),
    "repeat 0": ({"repeat": 0}, "repeat"),
    "repeat not a number": ({"repeat": "two"}, "repeat"),
    "an unknown tool": ({"tools": "web_browser"}, "web_browser"),
    "a metadata key over 64 characters": ({"metadata": {"k" * 65: "v"}}, "metadata"),
    "an empty model in a list": ({"model": "gpt-4o,,gpt-4o-mini"}, "empty"),
    "a misspelt option": ({"temprature": 0.5}, "temprature"),
    "timeout 0": ({"timeout": 0}, "timeout"),
    "concurrency 0": ({"concurrency": 0}, "concurrency"),
}


@pytest.mark.parametrize("reason", BAD_OPTIONS)
@settings(STRICT, max_examples=15)
@given(thread=good_threads())
def test_a_valid_cell_with_one_bad_option_must_be_refused_naming_it(reason, thread):
    """Planted bug: a validator that accepts everything (or lets this one option through)."""
    options, fragment = BAD_OPTIONS[reason]
    assert_refused(lambda: command(thread[0], **options).plan(), fragment)


# reason: (edit of a valid cell, a fragment the one-line refusal must contain)
BAD_CELLS = {
    "a misspelt role line": (lambda cell: "usr: hi\n" + cell, "usr"),
    "a misspelt system line": (lambda cell: cell + "\nsytem: be brief", "sytem"),
    "a tool role line": (lambda cell: cell + "\ntool: 42", "tool"),
    "text before the first role": (lambda cell: "hello\n" + cell, "line 1"),
    "an undefined name": (lambda cell: cell + " {fz_undefined_name}", "fz_undefined_name"),
    "a lone brace": (lambda cell: cell + " {", "brace"),
    "an empty message": (lambda cell: cell + "\nuser:", "empty user message"),
    "instructions twice": (lambda cell: "system: a\ninstructions: b\n" + cell, "instructions given twice"),
    "nothing but spaces": (lambda cell: " \n\t\n", "empty"),
}


@pytest.mark.parametrize("reason", BAD_CELLS)
@settings(STRICT, max_examples=15)
@given(thread=good_threads())
def test_a_valid_cell_with_one_known_fault_must_be_refused_naming_it(reason, thread):
    """Planted bug: a validator (or the cell parser) that accepts everything."""
    edit, fragment = BAD_CELLS[reason]
    assert_refused(lambda: command(edit(thread[0]), namespace={}).plan(), fragment)


def test_every_bad_input_of_every_table_is_refused_in_a_dry_run_naming_its_problem(fuzz_ns):
    """Replaces counting a list (``test_there_are_at_least_25_bad_inputs`` only checked its
    length): every bad input, each with its reason, is run here and must be refused. The magic's
    own table (test_magic_errors.BAD_INPUT) goes through ``--dry-run``, ours through the magic as
    a JSON body cell, an option line or a cell. Planted bug: a validator that accepts everything."""
    from test_magic_errors import BAD_INPUT
    base = {"thread": {"messages": [{"role": "user", "content": "hi"}]}, "temperature": 1,
            "metadata": {"a": "b"}, "tools": [{"type": "code_interpreter"}], "tool_choice": "auto",
            "truncation_strategy": {"type": "auto"}, "parallel_tool_calls": True, "top_p": 1,
            "response_format": "auto", "max_completion_tokens": 300, "max_prompt_tokens": 300}
    cases = [(line, cell, fragment, f"magic table: {line} | {cell}") for line, cell, fragment in BAD_INPUT]
    cases += [("", json.dumps(mutate(copy.deepcopy(base)), indent=1), fragment, f"body: {reason}")
              for reason, (mutate, fragment) in BAD_BODIES.items()]
    cases += [("", edit("user: hi"), fragment, f"cell: {reason}") for reason, (edit, fragment) in BAD_CELLS.items()]
    refused = []
    for line, cell, fragment, reason in cases:
        with warnings.catch_warnings():
            try:
                bodies = fuzz_ns.run_cell_magic("threadrun", f"{line} --dry-run", cell)
            except (UsageError, ValidationError) as exc:
                assert "\n" not in str(exc) and fragment.lower() in str(exc).lower(), (reason, str(exc))
                refused.append(reason)
                continue
        pytest.fail(f"accepted a bad input ({reason}): {bodies}")
    assert len(refused) == len(cases) >= 25 + len(BAD_BODIES)
