"""The ``echo`` engine: a deterministic, offline stand-in for a model (not a model).

Registered like the others (``api = "echo"``), but ``offline``: the store asks it when the run
is created, so echo runs cost no thread and finish by the run's clock (``--latency``).
"""
from __future__ import annotations

import zlib
from typing import Any

from . import EngineReply, Request

FILLER = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
          "juliett", "kilo", "lima", "mike", "november", "oscar", "papa")


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

    ``model`` is the name without its provider prefix; ``instructions`` do not change the reply
    (they only count as prompt tokens).
    """
    last = next((m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"), "")
    t = 1.0 if temperature is None else float(temperature)
    key = zlib.crc32(f"{model}|{t:.3f}".encode())
    n = 2 + key % 6 + round(4 * t)
    words = [FILLER[(key + i) % len(FILLER)] for i in range(n)]
    return "echo: " + last + " " + " ".join(words)


class EchoEngine:
    """The ``echo`` API shape: ``echo_reply`` of the run, or a tool call when the thread names a
    function tool (``echo_tools``), no upstream (``offline``)."""

    offline = True

    def __init__(self, provider: Any) -> None:
        self.provider = provider
        self.sent: dict | None = None

    def reply(self, request: Request, emit: Any, watch: Any) -> EngineReply:
        """The echo reply; ``sent`` is the model, the temperature and the cap it was run with."""
        temperature = 1.0 if request.temperature is None else request.temperature  # the API default
        asked = request.service_tier if self.provider.offers_tier(request.service_tier) else None
        tier = "default" if asked == "auto" else asked  # auto: the project's tier, default (OpenAI)
        self.sent = {"model": request.model, "temperature": temperature,
                     **({"max_completion_tokens": request.max_tokens} if request.max_tokens is not None else {}),
                     **({"service_tier": asked} if asked else {})}
        from .echo_tools import echo_calls, echo_text  # they build on echo_reply
        calls = echo_calls(request.messages, request.tools, request.tool_choice)
        if calls:  # the thread names one of the run's function tools
            return EngineReply("", finish_reason="tool_calls", tool_calls=calls, exact_usage=False,
                               service_tier=tier)
        text = echo_text(request.messages, request.instructions, request.model, temperature)
        return EngineReply(text, exact_usage=False, service_tier=tier)  # the tier, as OpenAI reports it
