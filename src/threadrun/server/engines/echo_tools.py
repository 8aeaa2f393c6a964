"""The echo engine in the tool loop: when it asks for a tool call, and what it says after one.

Deterministic, so a program's tool loop can be tested offline:

- ``tool_choice`` ``"none"``, or no function tools: never a call.
- After a user message, each function tool the message names (as a word) is called
  (``"what does get_weather say for Paris?"`` calls ``get_weather``); ``tool_choice`` does not
  force one (echo's replies stay what they were for every thread that names no tool).
- After tool outputs: each function tool an output asks for as ``call NAME`` is called again
  (so an output can ask for another round; an output merely naming the tool does not);
  otherwise the reply follows.
- A call's arguments are ``{"query": <that text, first 200 characters>}``.
- The reply after tool outputs is ``echo_reply`` of one user message holding the outputs joined
  by newlines (so it shows what the tools answered).
"""
from __future__ import annotations

import json
import re
from typing import Any

from .echo import echo_reply


def function_names(tools: Any) -> list[str]:
    """The names of a run's function tools, in order."""
    return [t["function"]["name"] for t in tools or []
            if isinstance(t, dict) and t.get("type") == "function" and isinstance(t.get("function"), dict)]


def last_turn(messages: list[dict]) -> tuple[str, str]:
    """(``"user"``, text) of a trailing user message, (``"tool"``, outputs joined) of trailing
    tool outputs, else (``"assistant"``, "")."""
    outputs = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        outputs.append(str(message.get("content") or ""))
    if outputs:
        return "tool", "\n".join(reversed(outputs))
    if messages and messages[-1].get("role") == "user":
        return "user", str(messages[-1].get("content") or "")
    return "assistant", ""


def named(name: str, text: str) -> bool:
    """Whether ``text`` names the tool as a word of its own (``f`` is not in ``of``)."""
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def echo_calls(messages: list[dict], tools: Any, tool_choice: Any) -> list[dict]:
    """The ``{name, arguments}`` calls echo asks for (see the module docstring)."""
    names = function_names(tools)
    if not names or tool_choice == "none":
        return []
    turn, text = last_turn(messages)
    chosen = [name for name in names if turn == "user" and named(name, text)
              or turn == "tool" and named("call " + name.lower(), text.lower())]
    arguments = json.dumps({"query": text[:200]})
    return [{"name": name, "arguments": arguments} for name in chosen]


def echo_text(messages: list[dict], instructions: str | None, model: str,
              temperature: float | None) -> str:
    """Echo's reply: ``echo_reply`` of the thread, or of the tool outputs that end it."""
    turn, text = last_turn(messages)
    if turn == "tool":
        return echo_reply([{"role": "user", "content": text}], instructions, model, temperature)
    return echo_reply(messages, instructions, model, temperature)
