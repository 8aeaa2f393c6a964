"""The ``responses`` engine: a run on ``POST /responses`` (OpenAI's own API, and servers that copy it).

The thread is sent whole as ``input`` with ``store: false`` (stateless, so nothing is kept
upstream); the instructions go in ``instructions``, the effort in ``reasoning.effort``, the
response format in ``text.format`` (``CreateResponse.text``). Usage is
read from ``response.completed`` (or ``.incomplete``); a function call ends the reply with
``tool_calls``.
"""
from __future__ import annotations

import json
from typing import Any

from ...providers import Provider
from . import Emit, EngineReply, Request, UpstreamError
from .chat import function_tools
from .http import HTTPEngine, error_message


def responses_body(request: Request, provider: Provider) -> dict:
    """The ``CreateResponse`` body of a run (only explicit settings are sent)."""
    body: dict[str, Any] = {"model": request.model, "store": False,
                            "input": [item for m in request.messages for item in input_items(m)]}
    if request.instructions:
        body["instructions"] = request.instructions
    for name in ("temperature", "top_p"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.max_tokens is not None:
        body["max_output_tokens"] = request.max_tokens
    if request.reasoning_effort is not None:
        body["reasoning"] = {"effort": request.reasoning_effort}
    if request.tools:
        body["tools"] = [{"type": "function", "name": t["function"]["name"],
                          "description": t["function"].get("description"),
                          "parameters": t["function"].get("parameters"),
                          "strict": t["function"].get("strict")}
                         for t in function_tools(request.tools, provider.name)]
        if request.tool_choice not in (None, "auto"):
            choice = request.tool_choice
            body["tool_choice"] = ({"type": "function", "name": choice["function"]["name"]}
                                   if isinstance(choice, dict) else choice)
        if request.parallel_tool_calls is False:
            body["parallel_tool_calls"] = False
    if isinstance(request.response_format, dict):
        body["text"] = {"format": text_format(request.response_format)}
    if provider.offers_tier(request.service_tier):
        body["service_tier"] = request.service_tier
    if request.stream:
        body["stream"] = True
    return body


def input_items(turn: dict) -> list[dict]:
    """A chat-shaped turn as Responses input items: a message, the assistant's ``function_call``
    items (after its text, if any), or a tool's ``function_call_output`` (responses.openapi.yaml,
    ``FunctionToolCall`` and ``FunctionCallOutputItemParam``)."""
    if turn["role"] == "tool":
        return [{"type": "function_call_output", "call_id": turn["tool_call_id"],
                 "output": turn["content"]}]
    keep = turn.get("content") or not turn.get("tool_calls")
    items = [{"role": turn["role"], "content": turn["content"]}] if keep else []
    return items + [{"type": "function_call", "call_id": call["id"], "name": call["function"]["name"],
                     "arguments": call["function"]["arguments"]} for call in turn.get("tool_calls") or []]


def text_format(response_format: dict) -> dict:
    """An Assistants ``response_format`` as Responses' ``text.format`` (its json_schema is flat)."""
    if response_format.get("type") == "json_schema" and isinstance(response_format.get("json_schema"), dict):
        return {"type": "json_schema", **response_format["json_schema"]}
    return dict(response_format)


def parse_response(payload: Any, provider: str, streamed_text: str | None = None) -> EngineReply:
    """Text, usage, finish and function calls of a ``Response`` object."""
    if not isinstance(payload, dict):
        raise UpstreamError(f"{provider}: the answer is not a Response object")
    status = payload.get("status")
    if status == "failed" or payload.get("error"):
        err = payload.get("error") or {}
        raise UpstreamError(f"{provider}: response failed: "
                            f"{error_message({'error': err}) if err else 'no reason given'}")
    texts, calls = [], []
    for item in payload.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            texts += [p.get("text") or p.get("refusal") or "" for p in item.get("content") or []
                      if isinstance(p, dict) and p.get("type") in ("output_text", "refusal")]
        elif item.get("type") == "function_call":
            args = item.get("arguments")
            calls.append({"name": str(item.get("name") or ""),
                          "arguments": args if isinstance(args, str) else json.dumps(args or {})})
    tier = payload.get("service_tier")
    return EngineReply(streamed_text if streamed_text is not None else "".join(texts), tool_calls=calls,
                       service_tier=tier if isinstance(tier, str) and tier else None,
                       **finish_fields(payload, calls), **usage_fields(payload.get("usage")))


def finish_fields(payload: dict, calls: list[dict]) -> dict[str, Any]:
    """Why the response stopped, in the chat engine's words, and as the upstream said it.

    ``incomplete_details.reason`` is ``max_output_tokens`` or ``content_filter``
    (responses.openapi.yaml, ``Response.incomplete_details``); the first is chat's ``length``.
    """
    if payload.get("status") == "incomplete":
        details = payload.get("incomplete_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        said = f"incomplete_details.reason '{reason}'" if isinstance(reason, str) else "status 'incomplete'"
        return {"finish_reason": "content_filter" if reason == "content_filter" else "length",
                "finish_said": said}
    return {"finish_reason": "tool_calls" if calls else "stop", "finish_said": None}


def usage_fields(usage: Any) -> dict[str, Any]:
    """Tokens of a ``ResponseUsage`` (responses.openapi.yaml), None where absent; the total as reported."""
    usage = usage if isinstance(usage, dict) else {}
    in_d, out_d = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    in_d, out_d = in_d if isinstance(in_d, dict) else {}, out_d if isinstance(out_d, dict) else {}
    return {"prompt_tokens": _int(usage.get("input_tokens")),
            "completion_tokens": _int(usage.get("output_tokens")),
            "total_tokens": _int(usage.get("total_tokens")),
            "reasoning_tokens": _int(out_d.get("reasoning_tokens")),
            "cached_tokens": _int(in_d.get("cached_tokens"))}


def read_stream(stream: Any, emit: Emit, provider: str) -> EngineReply:
    """Fold response stream events: text deltas to ``emit``; the terminal event has the usage."""
    text: list[str] = []
    for event, data in stream:
        try:
            payload = json.loads(data) if data != "[DONE]" else None
        except ValueError:
            raise UpstreamError(f"{provider}: sent a stream event that is not JSON") from None
        if not isinstance(payload, dict):
            continue
        kind = payload.get("type") or event
        if kind == "response.output_text.delta" and isinstance(payload.get("delta"), str):
            text.append(payload["delta"])
            emit(payload["delta"])
        elif kind == "error" or (payload.get("error") and not str(kind).startswith("response.")):
            raise UpstreamError(f"{provider}: {stream_error(payload)}")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            return parse_response(payload.get("response"), provider, "".join(text))
    raise UpstreamError(f"{provider}: the stream ended before the response did")


def stream_error(payload: dict) -> str:
    """The message of an error event: the spec's ``{type: "error", code, message}``, or an
    ``{"error": {...}}`` object sent without ``type`` (proxies, servers that copy chat's shape)."""
    inner = payload.get("error")
    return error_message(payload if inner and not payload.get("message") else {"error": payload})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class ResponsesEngine(HTTPEngine):
    """Runs a provider's models through its Responses endpoint."""

    path = "/responses"
    build, fold, parse = staticmethod(responses_body), staticmethod(read_stream), staticmethod(parse_response)
