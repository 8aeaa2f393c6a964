"""The ``chat`` engine: a run on any OpenAI-compatible ``POST /chat/completions``.

Streams when the run streams (``stream_options.include_usage`` asks for usage; servers that
ignore it leave the tokens unreported, never estimated). Function tools map onto chat tools; a
tool call from the model ends the reply with ``tool_calls`` (the run then requires action).
"""
from __future__ import annotations

import json
from typing import Any

from ...providers import Provider
from . import EngineReply, Emit, Request, UpstreamError
from .http import HTTPEngine, error_message


def chat_messages(request: Request, system_role: str = "system") -> list[dict]:
    """The conversation: the instructions as a system message, then the thread."""
    head = [{"role": system_role, "content": request.instructions}] if request.instructions else []
    return head + [{"role": m["role"], "content": m["content"]} for m in request.messages]


def function_tools(tools: list[dict], provider: str) -> list[dict]:
    """The run's function tools; other tool types cannot run on an upstream model."""
    out = []
    for tool in tools:
        if tool.get("type") != "function":
            raise UpstreamError(f"{provider}: {tool.get('type')} tools run only on the echo engine; "
                                "real models here take function tools")
        out.append({"type": "function", "function": tool["function"]})
    return out


def chat_body(request: Request, provider: Provider) -> dict:
    """The ``CreateChatCompletionRequest`` of a run (only explicit settings are sent)."""
    body: dict[str, Any] = {"model": request.model, "messages": chat_messages(request)}
    for name in ("temperature", "top_p", "reasoning_effort"):
        if getattr(request, name) is not None:
            body[name] = getattr(request, name)
    if request.max_tokens is not None:
        cap = provider.token_cap if provider.token_cap != "max_output_tokens" else "max_completion_tokens"
        body[cap] = request.max_tokens
    if request.tools:
        body["tools"] = function_tools(request.tools, provider.name)
        if request.tool_choice not in (None, "auto"):
            body["tool_choice"] = request.tool_choice
        if request.parallel_tool_calls is False:
            body["parallel_tool_calls"] = False
    if isinstance(request.response_format, dict):
        body["response_format"] = request.response_format
    if request.stream:
        body["stream"] = True
        if not provider.refuses("stream_options", request.model):  # Mistral: a 422 (providers.toml)
            body["stream_options"] = {"include_usage": True}
    return body


def usage_fields(usage: Any) -> dict[str, int | None]:
    """prompt/completion/reasoning/cached tokens of a ``CompletionUsage`` (None when absent)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt_d = usage.get("prompt_tokens_details") or {}
    completion_d = usage.get("completion_tokens_details") or {}
    return {"prompt_tokens": _int(usage.get("prompt_tokens")),
            "completion_tokens": _int(usage.get("completion_tokens")),
            "reasoning_tokens": _int(completion_d.get("reasoning_tokens")) if isinstance(completion_d, dict) else None,
            "cached_tokens": _int(prompt_d.get("cached_tokens")) if isinstance(prompt_d, dict) else None}


def parse_completion(payload: Any, provider: str) -> EngineReply:
    """Text, usage, finish reason and tool calls of a non-streamed answer."""
    if isinstance(payload, dict) and payload.get("error"):
        raise UpstreamError(f"{provider}: {error_message(payload)}")
    try:
        choice = payload["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError(f"{provider}: the answer has no choices[0].message") from None
    text = message.get("content") or message.get("refusal") or ""
    calls = [_call(c.get("function") or {}) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    return EngineReply(text if isinstance(text, str) else str(text), finish_reason=choice.get("finish_reason"),
                       tool_calls=calls, **usage_fields(payload.get("usage")))


def read_stream(stream: Any, emit: Emit, provider: str) -> EngineReply:
    """Fold ``chat.completion.chunk`` events: text to ``emit``, tool-call pieces, the usage chunk."""
    text: list[str] = []
    calls: dict[int, dict] = {}
    finish, usage = None, None
    for _, data in stream:
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError:
            raise UpstreamError(f"{provider}: sent a stream chunk that is not JSON") from None
        if not isinstance(chunk, dict):
            continue
        if chunk.get("error"):
            raise UpstreamError(f"{provider}: {error_message(chunk)}")
        if chunk.get("usage"):
            usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            piece = delta.get("content")
            if isinstance(piece, str) and piece:
                text.append(piece)
                emit(piece)
            for part in delta.get("tool_calls") or []:
                _fold_call(calls, part)
            finish = choice.get("finish_reason") or finish
    if finish is None and usage is None:
        raise UpstreamError(f"{provider}: the stream ended before the reply did")
    tool_calls = [_call(c) for _, c in sorted(calls.items())]
    return EngineReply("".join(text), finish_reason=finish or "stop", tool_calls=tool_calls,
                       **usage_fields(usage))


def _fold_call(calls: dict[int, dict], part: Any) -> None:
    """Add one streamed tool-call piece (``arguments`` arrive in fragments, per ``index``)."""
    if not isinstance(part, dict):
        return
    call = calls.setdefault(int(part.get("index") or 0), {"name": "", "arguments": ""})
    function = part.get("function") or {}
    call["name"] = call["name"] or function.get("name") or ""
    call["arguments"] += function.get("arguments") or ""


def _call(function: dict) -> dict:
    """``{name, arguments}`` of one tool call (arguments as the model wrote them)."""
    args = function.get("arguments")
    return {"name": str(function.get("name") or ""),
            "arguments": args if isinstance(args, str) else json.dumps(args or {})}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


class ChatEngine(HTTPEngine):
    """Runs a provider's models through its chat-completions endpoint."""

    path = "/chat/completions"
    build, fold, parse = staticmethod(chat_body), staticmethod(read_stream), staticmethod(parse_completion)
