"""The ``echo`` engine: a deterministic, offline stand-in for a model (not a model).

Its reply is computed when the run is created, so echo runs cost no thread and finish by the
run's clock (``--latency``); the store calls ``echo_reply`` directly.
"""
from __future__ import annotations

import zlib

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
