"""Reply engines: ``echo`` (deterministic, offline) and ``chat-completions`` (a bridge upstream).

The server reduces every message to ``{"role", "content"}`` with string content before calling
an engine (text parts joined by newlines, other parts dropped).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from typing import Any

ENGINES = ("echo", "chat-completions")
FILLER = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliett", "kilo", "lima", "mike", "november", "oscar", "papa")


class UpstreamError(Exception):
    """The upstream chat-completions call failed; ``str(exc)`` is a short one-line reason."""


@dataclass
class EngineReply:
    """What an engine produced: the text, token counts when known, and the finish reason."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = "stop"


def echo_reply(messages: list[dict], instructions: str | None, model: str,
               temperature: float | None) -> str:
    """The echo engine's reply: a pure, reproducible function of model, temperature and messages.

    Formula::

        last = content of the last message with role "user" ("" when there is none)
        t    = 1.0 if temperature is None else temperature
        key  = zlib.crc32(f"{model}|{t:.3f}".encode("utf-8"))
        n    = 2 + key % 6 + round(4 * t)                  # 2..15 filler words
        words = [FILLER[(key + i) % 16] for i in range(n)]  # FILLER = alpha, bravo, ... papa
        reply = "echo: " + last + " " + " ".join(words)

    ``instructions`` do not change the reply (they only count as prompt tokens).
    """
    last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    t = 1.0 if temperature is None else float(temperature)
    key = zlib.crc32(f"{model}|{t:.3f}".encode("utf-8"))
    n = 2 + key % 6 + round(4 * t)
    words = [FILLER[(key + i) % len(FILLER)] for i in range(n)]
    return "echo: " + last + " " + " ".join(words)


def content_text(content: Any) -> str:
    """Reduce a message's content (a string or an array of parts) to its text."""
    if isinstance(content, str):
        return content
    texts = [p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "text"]
    return "\n".join(t for t in texts if isinstance(t, str))


def split_pieces(text: str, pieces: int = 8) -> list[str]:
    """Split ``text`` into at most ``pieces`` consecutive chunks at spaces; they join back to it."""
    words = text.split(" ")
    if len(words) <= 1 or pieces <= 1:
        return [text]
    size = -(-len(words) // pieces)
    chunks = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [c if i == 0 else " " + c for i, c in enumerate(chunks)]


def chat_body(model: str, messages: list[dict], instructions: str | None, temperature: float | None,
              top_p: float | None, max_tokens: int | None) -> dict:
    """The upstream ``/chat/completions`` request body for a run."""
    chat = [{"role": "system", "content": instructions}] if instructions else []
    chat += [{"role": m["role"], "content": m["content"]} for m in messages]
    body: dict[str, Any] = {"model": model, "messages": chat, "temperature": temperature,
                            "top_p": top_p}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    return body


def call_chat_completions(upstream: str, body: dict, api_key: str | None = None,
                          timeout: float = 120.0) -> EngineReply:
    """POST ``body`` to ``{upstream}/chat/completions``; raise UpstreamError with a short reason."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    url = upstream.rstrip("/") + "/chat/completions"
    request = urllib.request.Request(url, json.dumps(body).encode("utf-8"), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        raise UpstreamError(f"upstream answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise UpstreamError(f"upstream unreachable: {type(exc).__name__}") from None
    except ValueError:
        raise UpstreamError("upstream answered invalid JSON") from None
    return parse_chat_reply(payload)


def parse_chat_reply(payload: Any) -> EngineReply:
    """Extract the reply text, usage and finish reason from a chat-completions answer."""
    try:
        choice = payload["choices"][0]
        text = choice["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise UpstreamError("upstream answer has no choices[0].message.content") from None
    if not isinstance(text, str):
        raise UpstreamError("upstream message content is not a string")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return EngineReply(text, prompt if isinstance(prompt, int) else None,
                       completion if isinstance(completion, int) else None,
                       choice.get("finish_reason"))
