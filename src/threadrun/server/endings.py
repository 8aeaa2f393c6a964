"""How a real model's run ended, in the spec's words where it has them and in plain words where not.

The Assistants spec has two reasons for an incomplete run (``max_completion_tokens``,
``max_prompt_tokens``: caps set by the caller) and three error codes (``server_error``,
``rate_limit_exceeded``, ``invalid_prompt``). A model that filled its context, a content filter,
or an upstream that could not be reached are none of those: the run says so beside the spec's
fields (``incomplete_details.message``, ``last_error.type``), so its row tells what happened.
"""
from __future__ import annotations

from .engines import EngineReply

SPEC_ERROR_CODES = ("server_error", "rate_limit_exceeded", "invalid_prompt")  # RunObject.last_error.code


def why_incomplete(reply: EngineReply, cap: int | None) -> tuple[str | None, str | None, str]:
    """(the spec's reason, words when it has none, the message's reason) of a reply cut short.

    ``length`` is the cap set here only when one was set and the reply reached it; otherwise the
    model stopped at its own limit (its context window, or the provider's default output cap).
    """
    said = f" (the provider said {reply.finish_said})" if reply.finish_said else ""
    if reply.finish_reason == "content_filter":
        return None, f"content_filter: the provider's content filter stopped the reply{said}", "content_filter"
    used = reply.completion_tokens
    if cap is not None and (used is None or used >= cap):
        return "max_completion_tokens", None, "max_tokens"
    where = ("no max_completion_tokens was set" if cap is None
             else f"it stopped at {used} completion tokens, under the max_completion_tokens {cap} set")
    return None, (f"context_length: the model stopped at its own length limit (its context window "
                  f"or the provider's default output cap); {where}{said}"), "max_tokens"


def last_error(code: str, message: str) -> dict:
    """A run's ``last_error``: the spec's code, and ``type`` naming a failure it has no code for."""
    if code in SPEC_ERROR_CODES:
        return {"code": code, "message": message}
    return {"code": "server_error", "message": message, "type": code}
