"""The ``chat`` engine: a run on any OpenAI-compatible ``POST /chat/completions``.

Streams when the run streams (``stream_options.include_usage`` asks for usage; servers that
ignore it leave the tokens unreported, never estimated). Function tools map onto chat tools; a
tool call from the model ends the reply with ``tool_calls`` (the run then requires action).
"""
from __future__ import annotations

import json
from typing import Any

from ...providers import Provider
from . import Emit, EngineReply, Request, UpstreamError
from .http import HTTPEngine, error_message
from .reading import MAX_REPLY_CHARS, over_cap

#: A turn's keys in the chat shape: text turns, the tool loop's calls and outputs (``rounds``).
TURN_KEYS = ("role", "content", "tool_calls", "tool_call_id")


def chat_messages(request: Request, system_role: str = "system") -> list[dict]:
    """The conversation: the instructions as a system message, then the thread and tool turns."""
    head = [{"role": system_role, "content": request.instructions}] if request.instructions else []
    return head + [{k: v for k, v in m.items() if k in TURN_KEYS} for m in request.messages]


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
    if provider.offers_tier(request.service_tier):
        body["service_tier"] = request.service_tier
    if request.stream:
        body["stream"] = True
        if not provider.refuses("stream_options", request.model):  # Mistral: a 422 (providers.toml)
            body["stream_options"] = {"include_usage": True}
    return body


def usage_fields(usage: Any) -> dict[str, Any]:
    """Tokens of a ``CompletionUsage``, read where each vendor puts them (None when absent).

    Cached: ``prompt_tokens_details.cached_tokens``, else DeepSeek's ``prompt_cache_hit_tokens``
    (api-docs.deepseek.com/guides/kv_cache). Anthropic's OpenAI-compatible endpoint reports no
    cache fields (docs.anthropic.com/en/api/openai-sdk: prompt caching is not available there).
    Reasoning: ``completion_tokens_details.reasoning_tokens``. ``total_tokens`` as reported:
    Gemini's counts thinking tokens beside prompt + completion (ai.google.dev/gemini-api/docs/openai).
    """
    usage = usage if isinstance(usage, dict) else {}
    prompt_d = _dict(usage.get("prompt_tokens_details"))
    completion_d = _dict(usage.get("completion_tokens_details"))
    cached = _int(prompt_d.get("cached_tokens"))
    return {"prompt_tokens": _int(usage.get("prompt_tokens")),
            "completion_tokens": _int(usage.get("completion_tokens")),
            "total_tokens": _int(usage.get("total_tokens")),
            "reasoning_tokens": _int(completion_d.get("reasoning_tokens")),
            "cached_tokens": cached if cached is not None else _int(usage.get("prompt_cache_hit_tokens"))}


def content_text(content: Any) -> str:
    """The reply text of a message's ``content``: a string, or the ``text`` parts of a list.

    Mistral's reasoning models answer a list of ``thinking`` and ``text`` parts, polled and
    streamed (docs.mistral.ai/capabilities/reasoning); the thinking is not the reply, and the
    Assistants run has no place for it, so it is left out.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(p if isinstance(p, str) else str(p.get("text") or "") for p in content
                   if isinstance(p, str) or (isinstance(p, dict) and p.get("type") == "text"))


def finish_words(finish: Any) -> str | None:
    """How a chat upstream said why it stopped, for the run's words (``finish_reason 'length'``)."""
    return f"finish_reason '{finish}'" if isinstance(finish, str) else None


def parse_completion(payload: Any, provider: str) -> EngineReply:
    """Text, usage, finish reason and tool calls of a non-streamed answer."""
    if isinstance(payload, dict) and payload.get("error"):
        raise UpstreamError(f"{provider}: {error_message(payload)}")
    try:
        choice = payload["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise UpstreamError(f"{provider}: the answer has no choices[0].message") from None
    if not isinstance(message, dict):
        raise UpstreamError(f"{provider}: the answer has no choices[0].message")
    text = content_text(message.get("content")) or content_text(message.get("refusal"))
    calls = [_call(c.get("function") or {}) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    finish = choice.get("finish_reason")
    return EngineReply(text, finish_reason=finish, tool_calls=calls, finish_said=finish_words(finish),
                       service_tier=tier_of(payload), **usage_fields(payload.get("usage")))


def read_stream(stream: Any, emit: Emit, provider: str) -> EngineReply:
    """Fold ``chat.completion.chunk`` events: text to ``emit``, tool-call pieces, the usage chunk."""
    text: list[str] = []
    calls: list[dict] = []
    finish, usage, tier = None, None, None
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
        tier = tier_of(chunk) or tier
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            found = choice.get("delta")
            delta: dict = found if isinstance(found, dict) else {}
            piece = content_text(delta.get("content"))
            if piece:
                text.append(piece)
                emit(piece)
            parts = delta.get("tool_calls")
            for part in parts if isinstance(parts, list) else []:
                _fold_call(calls, part, provider)
            finish = choice.get("finish_reason") or finish
    if finish is None and usage is None:
        raise UpstreamError(f"{provider}: the stream ended before the reply did")
    tool_calls = [_call(c) for c in calls]
    return EngineReply("".join(text), finish_reason=finish or "stop", tool_calls=tool_calls,
                       finish_said=finish_words(finish), service_tier=tier, **usage_fields(usage))


def tier_of(answer: dict) -> str | None:
    """The service tier an answer (or a chunk) says the request ran on, if it says one."""
    tier = answer.get("service_tier")
    return tier if isinstance(tier, str) and tier else None


def _fold_call(calls: list[dict], part: Any, provider: str = "") -> None:
    """Add one streamed tool-call piece to the call it belongs to (see ``_call_for``); arguments
    past the reply cap fail the call (``reading.MAX_REPLY_CHARS``)."""
    if not isinstance(part, dict):
        return
    call = _call_for(calls, part)
    found = part.get("function")
    function: dict = found if isinstance(found, dict) else {}
    call["name"] = call["name"] or function.get("name") or ""
    arguments = function.get("arguments")
    call["arguments"] += arguments if isinstance(arguments, str) else json.dumps(arguments) if arguments else ""
    if len(call["arguments"]) > MAX_REPLY_CHARS:
        raise over_cap(provider, "tool call arguments", MAX_REPLY_CHARS, "chars")


def _call_for(calls: list[dict], part: dict) -> dict:
    """The call a streamed piece continues, or a new one.

    Pieces are joined per ``index`` (the spec); a piece with an ``id`` not seen yet starts a new
    call even without an ``index`` or with a reused one: Gemini streams parallel calls without
    ``index`` (ai.google.dev/gemini-api/docs/openai; mozilla-ai/any-llm#1290). A piece with
    neither continues the last call.
    """
    call_id, index = part.get("id") or None, part.get("index")
    index = index if isinstance(index, int) and not isinstance(index, bool) else None
    if call_id is not None:
        same = [c for c in calls if c["id"] == call_id]
        if same:
            return same[-1]
    elif index is not None:
        same = [c for c in calls if c["index"] == index]
        if same:
            return same[-1]
    elif calls:
        return calls[-1]
    calls.append({"id": call_id, "index": index, "name": "", "arguments": ""})
    return calls[-1]


def _call(function: dict) -> dict:
    """``{name, arguments}`` of one tool call (arguments as the model wrote them)."""
    args = function.get("arguments")
    return {"name": str(function.get("name") or ""),
            "arguments": args if isinstance(args, str) else json.dumps(args or {})}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


class ChatEngine(HTTPEngine):
    """Runs a provider's models through its chat-completions endpoint."""

    path = "/chat/completions"
    build, fold, parse = staticmethod(chat_body), staticmethod(read_stream), staticmethod(parse_completion)
