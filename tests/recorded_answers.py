"""Upstream answers in each vendor's documented shape, for the stand-in to play back.

Each answer cites the page its shape comes from (ids, texts and counts are ours). They are
served through the real runtime by ``standin_upstream.StandIn(recorded=...)``.
"""
from __future__ import annotations

import json
from typing import Any

from standin_upstream import Recorded


def sse(*payloads: Any) -> list[str]:
    """SSE events (``data: ...``) of JSON payloads; a string is sent as it is (``[DONE]``)."""
    return [f"data: {p if isinstance(p, str) else json.dumps(p)}" for p in payloads]


def chunk(model: str, delta: dict | None = None, finish: str | None = None, **extra: Any) -> dict:
    """A ``chat.completion.chunk`` with one choice (chat-completions.openapi.yaml)."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-rec", "object": "chat.completion.chunk", "created": 1764720000,
            "model": model, "choices": choices, **extra}


def completion(model: str, message: dict, finish: str, usage: dict) -> dict:
    """A ``chat.completion`` with one choice (chat-completions.openapi.yaml)."""
    return {"id": "chatcmpl-rec", "object": "chat.completion", "created": 1764720000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "logprobs": None,
                         "finish_reason": finish}], "usage": usage}


# -- DeepSeek: cache hits as prompt_cache_hit_tokens ------------------------------------------
# api-docs.deepseek.com/api/create-chat-completion (usage: prompt_cache_hit_tokens,
# prompt_cache_miss_tokens, completion_tokens_details.reasoning_tokens) and
# api-docs.deepseek.com/guides/kv_cache; deepseek-reasoner's thinking is message.reasoning_content
# (api-docs.deepseek.com/guides/reasoning_model).
DEEPSEEK_USAGE = {"prompt_tokens": 1936, "completion_tokens": 310, "total_tokens": 2246,
                  "prompt_cache_hit_tokens": 1920, "prompt_cache_miss_tokens": 16,
                  "completion_tokens_details": {"reasoning_tokens": 290}}
DEEPSEEK = Recorded(
    body=completion("deepseek-reasoner", {"content": "Paris.", "reasoning_content": "The capital..."},
                    "stop", DEEPSEEK_USAGE),
    events=sse(chunk("deepseek-reasoner", {"role": "assistant", "content": "",
                                           "reasoning_content": "The capital..."}),
               chunk("deepseek-reasoner", {"content": "Paris."}),
               chunk("deepseek-reasoner", {"content": ""}, "stop", usage=DEEPSEEK_USAGE),
               "[DONE]"))

# -- Gemini (OpenAI compatibility): total_tokens counts thinking; calls without index ---------
# ai.google.dev/gemini-api/docs/openai (thinking models: usage.total_tokens covers the thought
# tokens that completion_tokens leaves out); streamed parallel calls come without ``index``,
# one call per delta, ending with finish_reason "stop" (mozilla-ai/any-llm#1290).
GEMINI_USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 393}
GEMINI_TEXT = Recorded(
    body=completion("gemini-2.5-flash", {"content": "Hello there."}, "stop", GEMINI_USAGE),
    events=sse(chunk("gemini-2.5-flash", {"role": "assistant", "content": "Hello there."}, "stop",
                     usage=GEMINI_USAGE), "[DONE]"))


def gemini_call(call_id: str, city: str) -> dict:
    return {"id": call_id, "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps({"city": city})}}


GEMINI_PARALLEL_CALLS = Recorded(events=sse(
    chunk("gemini-2.5-flash", {"role": "assistant", "tool_calls": [gemini_call("function-call-1", "Paris")]}),
    chunk("gemini-2.5-flash", {"role": "assistant", "tool_calls": [gemini_call("function-call-2", "Tokyo")]},
          "stop", usage={"prompt_tokens": 40, "completion_tokens": 22, "total_tokens": 118}),
    "[DONE]"))

# -- Mistral reasoning models (Magistral): content as thinking / text parts -------------------
# docs.mistral.ai/capabilities/reasoning: message.content is a list of
# {"type": "thinking", "thinking": [{"type": "text", "text": ...}]} and {"type": "text", "text": ...}
# chunks, polled and streamed (streamed deltas carry the same chunks).
MISTRAL_USAGE = {"prompt_tokens": 14, "completion_tokens": 120, "total_tokens": 134}


def thinking(text: str) -> dict:
    return {"type": "thinking", "thinking": [{"type": "text", "text": text}]}


MISTRAL_REASONING = Recorded(
    body=completion("magistral-medium-latest",
                    {"content": [thinking("The user wants a greeting."), {"type": "text", "text": "Hello!"},
                                 {"type": "text", "text": " How can I help?"}], "tool_calls": None},
                    "stop", MISTRAL_USAGE),
    events=sse(chunk("magistral-medium-latest", {"role": "assistant", "content": [thinking("The user ")]}),
               chunk("magistral-medium-latest", {"content": [thinking("wants a greeting.")]}),
               chunk("magistral-medium-latest", {"content": [{"type": "text", "text": "Hello!"}]}),
               chunk("magistral-medium-latest", {"content": " How can I help?"}, "stop", usage=MISTRAL_USAGE),
               "[DONE]"))

# -- chat: why a reply stopped short -------------------------------------------------------------
# chat-completions.openapi.yaml: finish_reason "length" ("the maximum number of tokens specified
# in the request was reached", or the model's context) and "content_filter" ("content was
# omitted due to a flag from our content filters").
LENGTH_USAGE = {"prompt_tokens": 4000, "completion_tokens": 96, "total_tokens": 4096}


def chat_stopped(finish: str, usage: dict | None = None) -> Recorded:
    usage = usage or LENGTH_USAGE
    return Recorded(body=completion("m", {"content": "The story begins"}, finish, usage),
                    events=sse(chunk("m", {"role": "assistant", "content": "The story begins"}),
                               chunk("m", {}, finish), chunk("m", None, usage=usage), "[DONE]"))


# -- Responses: incomplete with a reason --------------------------------------------------------
# responses.openapi.yaml: Response.status "incomplete", incomplete_details.reason
# "max_output_tokens" | "content_filter"; the stream ends with response.incomplete.
def responses_incomplete(reason: str) -> Recorded:
    response = {"id": "resp_rec", "object": "response", "created_at": 1764720000, "status": "incomplete",
                "model": "m", "error": None, "incomplete_details": {"reason": reason},
                "output": [{"type": "message", "id": "msg_rec", "status": "incomplete", "role": "assistant",
                            "content": [{"type": "output_text", "text": "The story begins",
                                         "annotations": [], "logprobs": []}]}],
                "usage": {"input_tokens": 30, "output_tokens": 5, "total_tokens": 35,
                          "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}
    return Recorded(body=response, events=[
        "event: response.output_text.delta\ndata: " + json.dumps(
            {"type": "response.output_text.delta", "item_id": "msg_rec", "output_index": 0,
             "content_index": 0, "delta": "The story begins", "logprobs": [], "sequence_number": 0}),
        "event: response.incomplete\ndata: " + json.dumps(
            {"type": "response.incomplete", "response": response, "sequence_number": 1})])


# -- errors that used to lose the upstream's message -------------------------------------------
# An ``ErrorResponse`` body ({"error": {message, type, param, code}}, UPSTREAMS.md §3) sent as an
# SSE ``data:`` line without ``type`` on a Responses stream, after a 200 (as proxies relay a
# mid-stream failure; issue 19).
RESPONSES_UNTYPED_ERROR = Recorded(events=[
    "event: response.created\ndata: " + json.dumps(
        {"type": "response.created", "sequence_number": 0,
         "response": {"id": "resp_rec", "object": "response", "status": "in_progress", "output": []}}),
    "data: " + json.dumps({"error": {"message": "The model is overloaded (recorded)", "type": "server_error",
                                     "param": None, "code": "overloaded"}})])

# The same ``ErrorResponse`` answered as text/event-stream with a non-2xx status, as servers
# do to a streamed request they refuse (issue 19).
SSE_ERROR_400 = Recorded(status=400, events=[
    "data: " + json.dumps({"error": {"message": "max_tokens is too large: 99999 (recorded)",
                                     "type": "invalid_request_error", "param": "max_tokens", "code": None}})])
