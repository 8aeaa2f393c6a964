"""A prompt's input tokens counted by its provider, before any run (``token_count`` in providers.toml).

The ``--dry-run`` forecast asks the runtime (``POST /v1/threads/runs/input_tokens``); the runtime
builds the run's request as a run would, then asks the provider's own counter, named by the
table's ``token_count``:

- ``responses``: ``POST {base_url}/responses/input_tokens`` with the Responses body of the run
  (https://platform.openai.com/docs/api-reference/responses/input-tokens; llama.cpp's server
  answers it too); reads ``input_tokens``.
- ``anthropic``: ``POST {base_url}/messages/count_tokens`` (``x-api-key``, ``anthropic-version``;
  https://docs.anthropic.com/en/api/messages-count-tokens); reads ``input_tokens``. Anthropic
  calls it an estimate.
- ``gemini``: ``POST {native}/models/{model}:countTokens`` with a ``generateContentRequest``
  (``x-goog-api-key``; https://ai.google.dev/api/tokens), ``native`` being ``base_url`` without
  its ``/openai``; reads ``totalTokens``.
- ``llamacpp``: ``POST {root}/apply-template`` (the model's chat template over the messages),
  then ``POST {root}/tokenize`` of that prompt with its special tokens (llama.cpp
  tools/server/README.md), ``root`` being ``base_url`` without ``/v1``; counts ``tokens``. The
  template endpoint takes no tools: a prompt with tools is not counted (never undercounted).
- ``vllm``: ``POST {root}/tokenize`` with the messages and ``add_generation_prompt`` (vLLM's
  TokenizeChatRequest); reads ``count``.

Each call is bounded like a run's (``http.send``: connect and read timeouts, bytes read capped,
stoppable); a failure is an ``UpstreamError`` with the provider's own message, its key masked.
"""
from __future__ import annotations

import json
import zlib
from typing import Any, Callable

import requests

from ...providers import Provider
from . import Request, UpstreamError
from .chat import chat_messages, function_tools
from .http import headers_for, send
from .reading import read_body
from .responses import responses_body

#: Seconds each count call may wait for its answer; bytes of an answer read at most (a tokenize
#: answer lists every token id).
READ_TIMEOUT_S, MAX_ANSWER_BYTES = 60.0, 8 << 20
ANTHROPIC_VERSION = "2023-06-01"
#: What the Responses count endpoint takes of a run's body (no sampling, cap or stream fields).
RESPONSES_FIELDS = ("model", "input", "instructions", "tools", "tool_choice",
                    "parallel_tool_calls", "text", "reasoning")


class NotCountable(Exception):
    """The provider cannot count this prompt (no endpoint, or not this kind of prompt)."""


def count_input_tokens(provider: Provider, request: Request) -> tuple[int, str]:
    """The provider's count of ``request``'s prompt tokens and how it was counted
    (``"openai POST /responses/input_tokens"``); NotCountable, or an UpstreamError."""
    dialect = DIALECTS.get(provider.token_count or "")
    if dialect is None:
        raise NotCountable(f"provider {provider.name!r} has no token-count endpoint "
                           "(token_count in providers.toml names one)")
    return dialect(provider, request)


def _ask(provider: Provider, url: str, body: dict, headers: dict[str, str],
         key: str | None) -> Any:
    """POST one count request; its JSON answer."""
    response = send(provider, url, body, headers, key, READ_TIMEOUT_S)
    with response:
        try:
            return json.loads(read_body(response, provider.name, MAX_ANSWER_BYTES))
        except ValueError:
            raise UpstreamError(f"{provider.name}: its token count answer is not JSON") from None
        except (requests.exceptions.RequestException, OSError, zlib.error) as exc:
            raise UpstreamError(f"{provider.name}: the token count answer broke off "
                                f"({type(exc).__name__})") from None


def _number(provider: Provider, payload: Any, field: str, where: str) -> int:
    value = payload.get(field) if isinstance(payload, dict) else None
    if isinstance(value, list):
        value = len(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UpstreamError(f"{provider.name}: {where} answered no {field!r} count")
    return value


def _root(provider: Provider, suffix: str) -> str:
    """The base URL without ``suffix`` (``/v1``, ``/openai``) when it ends with it."""
    base = provider.endpoint()
    return base[:-len(suffix)] if base.endswith(suffix) else base


def responses(provider: Provider, request: Request) -> tuple[int, str]:
    body = responses_body(request, provider)
    body = {k: v for k, v in body.items() if k in RESPONSES_FIELDS}
    key = provider.key()
    answer = _ask(provider, provider.endpoint() + "/responses/input_tokens", body,
                  headers_for(provider, key), key)
    return (_number(provider, answer, "input_tokens", "/responses/input_tokens"),
            f"{provider.name} POST /responses/input_tokens")


def anthropic(provider: Provider, request: Request) -> tuple[int, str]:
    body: dict[str, Any] = {"model": request.model, "messages": [
        {"role": m["role"], "content": m.get("content") or ""} for m in request.messages
        if m.get("role") in ("user", "assistant")]}
    if request.instructions:
        body["system"] = request.instructions
    if request.tools:
        body["tools"] = [{"name": t["function"]["name"],
                          "description": t["function"].get("description") or "",
                          "input_schema": t["function"].get("parameters") or {"type": "object"}}
                         for t in function_tools(request.tools, provider.name)]
    key = provider.key()
    headers = {"Content-Type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
    if key:
        headers["x-api-key"] = key
    answer = _ask(provider, provider.endpoint() + "/messages/count_tokens", body, headers, key)
    return (_number(provider, answer, "input_tokens", "/messages/count_tokens"),
            f"{provider.name} POST /messages/count_tokens (an estimate, as Anthropic says)")


def gemini(provider: Provider, request: Request) -> tuple[int, str]:
    contents = [{"role": "model" if m["role"] == "assistant" else "user",
                 "parts": [{"text": m.get("content") or ""}]}
                for m in request.messages if m.get("role") in ("user", "assistant")]
    inner: dict[str, Any] = {"model": f"models/{request.model}", "contents": contents}
    if request.instructions:
        inner["systemInstruction"] = {"parts": [{"text": request.instructions}]}
    if request.tools:
        inner["tools"] = [{"functionDeclarations": [
            {k: v for k, v in t["function"].items() if k in ("name", "description", "parameters")}
            for t in function_tools(request.tools, provider.name)]}]
    key = provider.key()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["x-goog-api-key"] = key
    url = f"{_root(provider, '/openai')}/models/{request.model}:countTokens"
    answer = _ask(provider, url, {"generateContentRequest": inner}, headers, key)
    return (_number(provider, answer, "totalTokens", ":countTokens"),
            f"{provider.name} POST models/{{model}}:countTokens")


def llamacpp(provider: Provider, request: Request) -> tuple[int, str]:
    if request.tools:
        raise NotCountable(f"provider {provider.name!r} counts prompts without tools only "
                           "(llama.cpp's /apply-template takes no tools)")
    key, root = provider.key(), _root(provider, "/v1")
    headers = headers_for(provider, key)
    templated = _ask(provider, root + "/apply-template", {"messages": chat_messages(request)},
                     headers, key)
    prompt = templated.get("prompt") if isinstance(templated, dict) else None
    if not isinstance(prompt, str):
        raise UpstreamError(f"{provider.name}: /apply-template answered no prompt")
    tokens = _ask(provider, root + "/tokenize", {"content": prompt, "add_special": True},
                  headers, key)
    return (_number(provider, tokens, "tokens", "/tokenize"),
            f"{provider.name} POST /apply-template + /tokenize")


def vllm(provider: Provider, request: Request) -> tuple[int, str]:
    body: dict[str, Any] = {"model": request.model, "messages": chat_messages(request),
                            "add_generation_prompt": True}
    if request.tools:
        body["tools"] = function_tools(request.tools, provider.name)
    key = provider.key()
    answer = _ask(provider, _root(provider, "/v1") + "/tokenize", body,
                  headers_for(provider, key), key)
    return _number(provider, answer, "count", "/tokenize"), f"{provider.name} POST /tokenize"


DIALECTS: dict[str, Callable[[Provider, Request], tuple[int, str]]] = {
    "responses": responses, "anthropic": anthropic, "gemini": gemini, "llamacpp": llamacpp,
    "vllm": vllm}
