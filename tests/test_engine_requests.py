"""Every request an engine sends validates against the upstream's OpenAPI schema, and every
answer our stand-in plays for the responses engine validates against its schema too."""
from __future__ import annotations

import itertools

import pytest

from spec_schema import schema_errors
from threadrun.providers import Provider
from threadrun.server.engines import Request
from threadrun.server.engines.chat import chat_body
from threadrun.server.engines.responses import responses_body

TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather of a city",
                                         "parameters": {"type": "object",
                                                        "properties": {"city": {"type": "string"}}}}}
MESSAGES = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Weather in Paris?"}]


def requests_to_send() -> list[Request]:
    """A spread of run settings: each optional setting on and off, streamed and not."""
    out = []
    for stream, temperature, cap, effort, tools in itertools.product(
            (True, False), (None, 0.0, 1.7), (None, 256), (None, "low", "minimal"), (False, True)):
        out.append(Request(model="gpt-5-mini", messages=MESSAGES, instructions="Be brief.",
                           temperature=temperature, top_p=0.9 if temperature else None,
                           max_tokens=cap, reasoning_effort=effort, stream=stream,
                           tools=[TOOL] if tools else [], tool_choice="required" if tools else None,
                           parallel_tool_calls=False if tools else None))
    return out


@pytest.mark.parametrize("token_cap", ["max_completion_tokens", "max_tokens"])
def test_every_chat_request_is_a_valid_create_chat_completion_request(token_cap):
    provider = Provider(name="p", api="chat", base_url="http://127.0.0.1:9/v1", token_cap=token_cap)
    for request in requests_to_send():
        body = chat_body(request, provider)
        assert schema_errors("CreateChatCompletionRequest", body, spec="chat") == [], body
        assert (token_cap in body) == (request.max_tokens is not None)


def test_every_responses_request_is_a_valid_create_response():
    provider = Provider(name="p", api="responses", base_url="http://127.0.0.1:9/v1")
    for request in requests_to_send():
        body = responses_body(request, provider)
        assert schema_errors("CreateResponse", body, spec="responses") == [], body
        assert body["store"] is False


def test_the_schema_check_catches_a_wrong_request():
    """The validator in use refuses what the upstream would: a test that can fail."""
    assert schema_errors("CreateChatCompletionRequest", {"model": "m", "messages": [], "temperature": 3},
                         spec="chat")
    assert schema_errors("CreateResponse", {"model": "m", "max_output_tokens": "many"}, spec="responses")


def test_the_stand_ins_responses_answers_are_valid_response_objects():
    from standin_upstream import StandIn
    import requests
    with StandIn() as plain, StandIn(tool_call=True) as calls:
        for standin in (plain, calls):
            answer = requests.post(standin.url + "/responses", json={"model": "m", "input": "hi"},
                                   timeout=5).json()
            assert schema_errors("Response", answer, spec="responses") == [], answer


FORMATS = [{"type": "text"}, {"type": "json_object"},
           {"type": "json_schema", "json_schema": {"name": "answer", "description": "d", "strict": True,
                                                   "schema": {"type": "object"}}}]


@pytest.mark.parametrize("response_format", FORMATS, ids=lambda f: f["type"])
def test_response_formats_are_valid_in_both_apis_and_responses_spells_them_text_format(response_format):
    request = Request(model="m", messages=MESSAGES, response_format=response_format, stream=True)
    chat = chat_body(request, Provider(name="p", api="chat", base_url="http://127.0.0.1:9/v1"))
    assert schema_errors("CreateChatCompletionRequest", chat, spec="chat") == [], chat
    assert chat["response_format"] == response_format
    body = responses_body(request, Provider(name="p", api="responses", base_url="http://127.0.0.1:9/v1"))
    assert schema_errors("CreateResponse", body, spec="responses") == [], body
    assert "response_format" not in body and body["text"]["format"]["type"] == response_format["type"]


def test_a_provider_that_refuses_stream_options_is_not_sent_them():
    from threadrun.providers.rules import parse_rules
    rules = parse_rules([{"setting": "stream_options", "does": "refuses", "source": "s", "models": "x-*"}])
    provider = Provider(name="p", api="chat", base_url="http://127.0.0.1:9/v1", rules=rules)
    for model, sent in (("x-1", False), ("y-1", True)):
        body = chat_body(Request(model=model, messages=MESSAGES, stream=True), provider)
        assert ("stream_options" in body) == sent and body["stream"] is True
