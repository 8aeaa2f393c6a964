"""A run's parameters from its request body and its assistant (``objects.RunParams``, built once
by ``resolve_params``): the provider and model a spec names, the messages an engine is sent,
and the texts of message contents."""
from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..providers import Provider, resolve
from .objects import Message, RunParams, text_part
from .validate import ErrorAnswer


def not_found(kind: str, object_id: str) -> ErrorAnswer:
    """The 404 answer for an unknown id."""
    return ErrorAnswer(404, f"No {kind} found with id '{object_id[:80]}'.", None, None)


def content_text(content: Any) -> str:
    """Reduce a message's content (a string or an array of parts) to its text."""
    if isinstance(content, str):
        return content
    texts = [p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str))


def provider_of(spec: str, default: str | None) -> tuple[Provider, str]:
    """The provider and model name of a run's model; unknown provider or missing key: a 400."""
    try:
        provider, model = resolve(spec, default)
        provider.check_ready()
    except ValidationError as exc:
        raise ErrorAnswer(400, str(exc), "model", "model_not_found") from None
    return provider, model


def input_content(content: Any) -> list[dict]:
    """A request message's content as MessageObject content parts."""
    if isinstance(content, str):
        return [text_part(content)]
    parts = []
    for part in content:
        parts.append(text_part(part["text"]) if part["type"] == "text" else dict(part))
    return parts


def resolve_params(body: dict, assistant: dict, default_provider: str | None = None) -> RunParams:
    """The run's settings: body values, else the assistant's, else API defaults."""
    def pick(key: str, default: Any) -> Any:
        return body[key] if body.get(key) is not None else default
    provider, model = provider_of(pick("model", assistant["model"]), default_provider)
    explicit = frozenset(k for k in ("temperature", "top_p")
                         if body.get(k) is not None or assistant.get(k) not in (None, 1.0))
    return RunParams(
        provider=provider, model=model, spec=f"{provider.name}:{model}", explicit=explicit,
        stream=bool(body.get("stream")), reasoning_effort=assistant.get("reasoning_effort"),
        instructions=pick("instructions", assistant.get("instructions") or ""),
        tools=pick("tools", assistant.get("tools") or []), metadata=body.get("metadata") or {},
        temperature=pick("temperature", assistant["temperature"]
                         if assistant.get("temperature") is not None else 1.0),
        top_p=pick("top_p", assistant["top_p"] if assistant.get("top_p") is not None else 1.0),
        max_prompt_tokens=body.get("max_prompt_tokens"),
        max_completion_tokens=body.get("max_completion_tokens"),
        truncation_strategy=pick("truncation_strategy", {"type": "auto", "last_messages": None}),
        tool_choice=pick("tool_choice", "auto"),
        parallel_tool_calls=pick("parallel_tool_calls", True),
        response_format=pick("response_format", assistant.get("response_format") or "auto"),
        service_tier=(body.get("x_threadrun") or {}).get("service_tier"))


def engine_messages(messages: list[Message], truncation: dict) -> list[dict]:
    """The thread as ``{"role", "content"}`` text messages, after the truncation strategy."""
    plain = [{"role": m.role, "content": content_text([{"type": "text", "text": p["text"]["value"]}
                                                      for p in m.content if p["type"] == "text"])}
             for m in messages]
    if truncation.get("type") == "last_messages" and truncation.get("last_messages"):
        plain = plain[-truncation["last_messages"]:]
    return plain
