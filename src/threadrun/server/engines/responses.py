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
from . import EngineReply, Emit, Request, UpstreamError
from .chat import function_tools
from .http import HTTPEngine, error_message


def responses_body(request: Request, provider: Provider) -> dict:
    """The ``CreateResponse`` body of a run (only explicit settings are sent)."""
    body: dict[str, Any] = {"model": request.model, "store": False,
                            "input": [{"role": m["role"], "content": m["content"]}
                                      for m in request.messages]}
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
    if request.stream:
        body["stream"] = True
    return body


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
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    in_d, out_d = usage.get("input_tokens_details") or {}, usage.get("output_tokens_details") or {}
    reason = (payload.get("incomplete_details") or {}).get("reason") if status == "incomplete" else None
    return EngineReply(streamed_text if streamed_text is not None else "".join(texts),
                       prompt_tokens=_int(usage.get("input_tokens")),
                       completion_tokens=_int(usage.get("output_tokens")),
                       finish_reason="length" if reason else ("tool_calls" if calls else "stop"),
                       reasoning_tokens=_int(out_d.get("reasoning_tokens")),
                       cached_tokens=_int(in_d.get("cached_tokens")), tool_calls=calls)


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
        elif kind == "error":
            raise UpstreamError(f"{provider}: {error_message({'error': payload})}")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            return parse_response(payload.get("response"), provider, "".join(text))
    raise UpstreamError(f"{provider}: the stream ended before the response did")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class ResponsesEngine(HTTPEngine):
    """Runs a provider's models through its Responses endpoint."""

    path = "/responses"
    build, fold, parse = staticmethod(responses_body), staticmethod(read_stream), staticmethod(parse_response)
