"""In-memory Assistants objects (assistant, thread, message, run) and their JSON forms.

A run's status is computed lazily from the monotonic clock: ``queued`` until ``start_mono``,
``in_progress`` until ``end_mono`` (unknown = None while a bridge call is pending), then its
``outcome``; a cancel request makes it ``cancelled`` at once.  No thread is spent per run.
The ``requires_action`` outcome is not terminal: the run waits for tool outputs (then its next
round starts, see ``rounds``) until it is cancelled or ``expires_at`` passes (then ``expired``).

Beside the spec's fields a run says when it ended in every terminal status (``incomplete_at``
and ``expired_at``, named as on messages and run steps, which the spec's RunObject lacks), and
``last_error.type`` names a failure the spec's three codes have no word for (``connection_error``).
"""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from ..providers import Provider
from ..spec import TERMINAL
from .engines import Request

EXPIRY_S = 600
PLACEHOLDER_TOOL = "lookup"
#: The run object's vendor extension (RunObject allows more properties; SDKs keep unknown
#: fields): ``sent``, the settings its engine sent upstream, and ``notice``, one line on what
#: the provider did that they do not say (a capped setting sent anyway, a token cap not kept).
EXTENSION = "x_threadrun"


def new_id(prefix: str) -> str:
    """A fresh object id such as ``run_`` + 24 random alphanumerics."""
    return prefix + secrets.token_hex(12)


def text_part(text: str) -> dict:
    """A MessageContentTextObject holding ``text``."""
    return {"type": "text", "text": {"value": text, "annotations": []}}


@dataclass
class Message:
    """A thread message (input, or the assistant's reply to a run)."""

    id: str
    thread_id: str
    created_at: int
    role: str
    content: list[dict]
    run_id: str | None = None
    assistant_id: str | None = None
    attachments: list | None = None
    metadata: dict | None = None
    status: str = "completed"
    incomplete_reason: str | None = None

    def to_dict(self) -> dict:
        """The MessageObject JSON."""
        done = self.status == "completed"
        incomplete = self.status == "incomplete"
        return {"id": self.id, "object": "thread.message", "created_at": self.created_at,
                "thread_id": self.thread_id, "status": self.status,
                "incomplete_details": {"reason": self.incomplete_reason} if incomplete else None,
                "completed_at": self.created_at if done else None,
                "incomplete_at": self.created_at if incomplete else None,
                "role": self.role, "content": self.content, "assistant_id": self.assistant_id,
                "run_id": self.run_id, "attachments": self.attachments or [],
                "metadata": self.metadata or {}}


@dataclass
class Thread:
    """A thread and its messages in creation order."""

    id: str
    created_at: int
    metadata: dict | None = None
    tool_resources: dict | None = None
    messages: list[Message] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    kept: bool = False  # made by ``POST /threads``: never evicted with its runs (bounded by count)
    size: int = 0  # bytes of its messages added on their own (``Store.message_bytes``)

    def to_dict(self) -> dict:
        """The ThreadObject JSON."""
        return {"id": self.id, "object": "thread", "created_at": self.created_at,
                "tool_resources": self.tool_resources or {}, "metadata": self.metadata or {}}


@dataclass(frozen=True)
class RunParams:
    """A run's settings as it echoes them, built once (``params.resolve_params``) and read by attribute.

    ``spec`` is the model as the run echoes it (``provider:model``), ``model`` the name the
    provider knows; ``explicit`` names the sampling settings the request or assistant chose
    (only those are sent to a real model: reasoning models refuse some).
    """

    provider: Provider
    model: str
    spec: str
    explicit: frozenset[str]
    stream: bool
    reasoning_effort: str | None
    instructions: str
    tools: list[dict]
    metadata: dict
    temperature: float
    top_p: float
    max_prompt_tokens: int | None
    max_completion_tokens: int | None
    truncation_strategy: dict
    tool_choice: Any  # "auto", "none", "required" or a named tool
    parallel_tool_calls: bool
    response_format: Any  # "auto" or a format object
    service_tier: str | None = None  # the tier asked (x_threadrun.service_tier); sent if offered

    def request(self, messages: list[dict], timeout: float | None = None) -> Request:
        """What the run's engine is asked (sampling settings only where chosen)."""
        return Request(
            model=self.model, messages=messages, instructions=self.instructions or None,
            temperature=self.temperature if "temperature" in self.explicit else None,
            top_p=self.top_p if "top_p" in self.explicit else None,
            max_tokens=self.max_completion_tokens, tools=list(self.tools or []),
            tool_choice=self.tool_choice, parallel_tool_calls=self.parallel_tool_calls,
            reasoning_effort=self.reasoning_effort, response_format=self.response_format,
            stream=self.stream, service_tier=self.service_tier, timeout=timeout)


@dataclass
class Run:
    """A run; its status and timestamps derive from the clock (see the module docstring)."""

    id: str
    thread_id: str
    assistant_id: str
    params: RunParams
    created_wall: float
    created_mono: float
    start_mono: float
    end_mono: float | None
    prompt_tokens: int | None
    engine_messages: list[dict] = field(default_factory=list)
    outcome: str = "completed"
    forced: Any = None
    reply: str | None = None
    completion_tokens: int | None = 0
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    total_tokens: int | None = None  # the upstream's own total, when it reported one
    tool_calls: list[dict] = field(default_factory=list)
    live: bool = False
    engine: Any = None  # a live run's engine until a worker calls it (engines.make_engine)
    pieces: list[str] = field(default_factory=list)
    closers: list[Any] = field(default_factory=list)
    call_limits: tuple[float | None, int | None] = (None, None)  # the client's deadline (s), retries
    wakers: list[Any] = field(default_factory=list)  # called when the run changes (its streams)
    incomplete_reason: str | None = None  # the spec's word for it, when it has one
    incomplete_note: str | None = None  # why, in words, when the spec has none (context, filter)
    message_reason: str = "max_tokens"  # the reply message's incomplete reason
    last_error: dict | None = None
    cancel_mono: float | None = None
    message_id: str = field(default_factory=lambda: new_id("msg_"))
    step_id: str = field(default_factory=lambda: new_id("step_"))
    call_id: str = field(default_factory=lambda: new_id("call_"))
    message_added: bool = False
    min_end: float = 0.0
    size: int = 0  # approximate bytes kept for this run (its request and reply), for max_bytes
    sent: dict | None = None  # the settings its engine sent upstream (see engines.sent_settings)
    notice: str | None = None  # what the provider did that the settings do not say (one line)
    service_tier: str | None = None  # the tier the provider reports the run ran on
    client_timeout: float | None = None  # the client's read bound (X-Threadrun-Timeout), seconds
    transcript: list[dict] = field(default_factory=list)  # the tool loop's turns (see ``rounds``)
    history: list[dict] = field(default_factory=list)  # finished steps of earlier rounds
    used: dict | None = None  # the usage of earlier rounds, summed (RunCompletionUsage)
    max_rounds: int = 10  # tool rounds a run may take; the model asking for more ends it incomplete

    def status(self, now: float | None = None) -> str:
        """The status at monotonic time ``now``."""
        now = time.monotonic() if now is None else now
        if self.cancel_mono is not None:
            return "cancelled"
        if now < self.start_mono:
            return "queued"
        if self.end_mono is None or now < self.end_mono:
            return "in_progress"
        if self.outcome == "requires_action" and now >= self.expires_mono:
            return "expired"
        return self.outcome

    @property
    def expires_mono(self) -> float:
        """Monotonic instant of ``expires_at`` (a run still waiting then expires)."""
        return self.created_mono + EXPIRY_S

    def wall(self, mono: float) -> int:
        """Unix seconds of a monotonic instant of this run."""
        return int(self.created_wall + (mono - self.created_mono))

    def _ended_at(self, status: str) -> int | None:
        """Unix seconds of the terminal event, when ``status`` is terminal."""
        if status == "cancelled":
            return self.wall(self.cancel_mono if self.cancel_mono is not None else time.monotonic())
        if status == "expired" and self.outcome == "requires_action":
            return self.wall(self.expires_mono)
        if status in TERMINAL and self.end_mono is not None:
            return self.wall(self.end_mono)
        return None

    def usage(self, status: str) -> dict | None:
        """RunCompletionUsage once terminal: this round's plus the earlier rounds' (``used``)."""
        current = self.round_usage(status)
        if self.used is None or status not in TERMINAL:
            return current
        return add_usage(self.used, current)

    def round_usage(self, status: str) -> dict | None:
        """This round's RunCompletionUsage once terminal (None too when the engine's upstream reported none).

        A real model's usage is what its upstream reported, whatever the run's end: a run that
        asked for tool outputs and was then cancelled or expired still used those tokens. An
        echo run that did not finish used no completion tokens. ``total_tokens`` is the
        upstream's own when it sent one (Gemini's counts thinking tokens too). Reasoning and
        cached tokens, when reported, are added as chat completions reports them
        (``completion_tokens_details``, ``prompt_tokens_details``).
        """
        if status not in TERMINAL or self.prompt_tokens is None:
            return None
        completion = self.completion_tokens if self.live or status in ("completed", "incomplete") else 0
        if completion is None:
            return None
        total = self.prompt_tokens + completion
        usage: dict[str, Any] = {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                                 "total_tokens": self.total_tokens if self.live and self.total_tokens
                                 is not None else total}
        if self.reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": self.reasoning_tokens}
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return usage

    def incomplete_details(self) -> dict:
        """Why the run is incomplete: the spec's ``reason`` where it has the word (a cap set
        here), else a ``message`` (the model's context, a content filter, as the upstream said)."""
        details: dict[str, str] = {"reason": self.incomplete_reason} if self.incomplete_reason else {}
        if self.incomplete_note:
            details["message"] = self.incomplete_note
        return details

    def to_dict(self, status: str | None = None, now: float | None = None) -> dict:
        """The RunObject JSON, at ``now`` or as it looked in ``status`` (stream snapshots)."""
        status = status or self.status(now)
        ended = self._ended_at(status)
        started = status != "queued" and (self.cancel_mono is None or self.cancel_mono >= self.start_mono)
        p = self.params
        return {
            "id": self.id, "object": "thread.run", "created_at": int(self.created_wall),
            "thread_id": self.thread_id, "assistant_id": self.assistant_id, "status": status,
            "required_action": self.required_action() if status == "requires_action" else None,
            "last_error": self.last_error if status == "failed" else None,
            "expires_at": None if status in TERMINAL else self.wall(self.expires_mono),
            "started_at": self.wall(self.start_mono) if started else None,
            "cancelled_at": ended if status == "cancelled" else None,
            "failed_at": ended if status == "failed" else None,
            "completed_at": ended if status == "completed" else None,
            "incomplete_at": ended if status == "incomplete" else None,
            "expired_at": ended if status == "expired" else None,
            "incomplete_details": self.incomplete_details() if status == "incomplete" else None,
            "model": p.spec, "instructions": p.instructions, "tools": p.tools,
            "metadata": p.metadata, "usage": self.usage(status),
            "temperature": p.temperature, "top_p": p.top_p,
            "max_prompt_tokens": p.max_prompt_tokens,
            "max_completion_tokens": p.max_completion_tokens,
            "truncation_strategy": p.truncation_strategy, "tool_choice": p.tool_choice,
            "parallel_tool_calls": p.parallel_tool_calls, "response_format": p.response_format,
            EXTENSION: {"sent": self.sent, "notice": self.notice, "service_tier": self.service_tier},
        }

    def reply_message(self, status: str, text: str | None = None, reason: str | None = None) -> Message:
        """The assistant's reply as a Message (``text`` None = empty content)."""
        at = self.wall(self.end_mono) if self.end_mono is not None else int(time.time())
        content = [text_part(text)] if text is not None else []
        return Message(self.message_id, self.thread_id, at, "assistant", content, self.id,
                       self.assistant_id, [], {}, status, reason)

    def calls(self) -> list[dict]:
        """The function calls a ``requires_action`` run asks for: the model's, else a placeholder."""
        if self.tool_calls:
            return [{"id": f"{self.call_id}_{i}", "type": "function", "function": dict(call)}
                    for i, call in enumerate(self.tool_calls)]
        return [self.tool_call()]

    def tool_call(self) -> dict:
        """The placeholder call of an injected ``requires_action``: the first function tool's name."""
        names = [t["function"]["name"] for t in self.params.tools or []
                 if isinstance(t, dict) and t.get("type") == "function" and t.get("function")]
        last = self.engine_messages[-1]["content"] if self.engine_messages else ""
        return {"id": self.call_id, "type": "function",
                "function": {"name": names[0] if names else PLACEHOLDER_TOOL,
                             "arguments": json.dumps({"query": last[:200]})}}

    def required_action(self) -> dict:
        """The RunObject ``required_action`` of a run waiting for tool outputs."""
        return {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": self.calls()}}

    def step_details(self, calls_shown: bool = True) -> dict:
        """The step's details: message creation, or the pending tool call (``requires_action``);
        ``calls_shown`` False: none yet (a stream's ``step.created``; its deltas bring them)."""
        if self.outcome == "requires_action":
            calls = self.calls() if calls_shown else []
            for call in calls:
                call["function"] = {**call["function"], "output": None}
            return {"type": "tool_calls", "tool_calls": calls}
        return {"type": "message_creation", "message_creation": {"message_id": self.message_id}}

    def step_dict(self, status: str, calls_shown: bool = True) -> dict:
        """The RunStepObject (message_creation or tool_calls) of this run's round in ``status``."""
        ended = self._ended_at(status)
        details = self.step_details(calls_shown)
        return {"id": self.step_id, "object": "thread.run.step", "created_at": self.wall(self.start_mono),
                "assistant_id": self.assistant_id, "thread_id": self.thread_id, "run_id": self.id,
                "type": details["type"],
                "status": status,
                "step_details": details,
                "last_error": self.last_error if status == "failed" else None,
                "expired_at": ended if status == "expired" else None,
                "cancelled_at": ended if status == "cancelled" else None,
                "failed_at": ended if status == "failed" else None,
                "completed_at": ended if status == "completed" else None,
                "metadata": {}, "usage": self.round_usage(status)}


def add_usage(one: dict | None, other: dict | None) -> dict | None:
    """Two RunCompletionUsages summed (details too, where either has them)."""
    if one is None or other is None:
        return one or other
    total = {k: one[k] + other[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    for outer, inner in (("completion_tokens_details", "reasoning_tokens"),
                         ("prompt_tokens_details", "cached_tokens")):
        if outer in one or outer in other:
            total[outer] = {inner: sum((u.get(outer) or {}).get(inner, 0) for u in (one, other))}
    return total



def assistant_dict(assistant_id: str, created_at: int, body: dict) -> dict:
    """The AssistantObject JSON for a CreateAssistantRequest body."""
    return {"id": assistant_id, "object": "assistant", "created_at": created_at,
            "name": body.get("name"), "description": body.get("description"),
            "model": body["model"], "instructions": body.get("instructions"),
            "tools": body.get("tools") or [], "tool_resources": body.get("tool_resources") or {},
            "metadata": body.get("metadata") or {},
            "temperature": body.get("temperature", 1.0), "top_p": body.get("top_p", 1.0),
            "response_format": body.get("response_format", "auto"),
            **({"reasoning_effort": body["reasoning_effort"]} if body.get("reasoning_effort") else {})}
