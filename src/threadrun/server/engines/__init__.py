"""Engines: what turns a run's messages and settings into a reply.

An engine has one job: take a ``Request`` (the thread as text messages, the run's settings),
call its upstream, pass text pieces to ``emit`` as they arrive, and return an ``EngineReply``
with the upstream's own usage (None where it reported none). A failure is an ``UpstreamError``
carrying the upstream's status and message in one line. ``make_engine(provider)`` is the one
place an engine is chosen, from the registry (``register``; the names live in
``threadrun.providers.apis``, so a providers table may name any registered shape); the run state
machine (``store``) never branches on engine names. An engine that needs no upstream sets
``offline = True`` (echo): the store asks it when the run is created, and the run ends by its
clock, counted by the runtime's tokenizer; every other engine is called by a worker holding one
of its provider's slots.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from ...providers import Provider, apis


class UpstreamError(Exception):
    """An upstream call failed; ``str(exc)`` is one line, ``code`` what kind of failure it was.

    ``code`` is ``server_error``, ``rate_limit_exceeded`` or ``connection_error`` (the upstream
    could not be reached: DNS, refused, dropped); the store keeps the run's ``last_error.code``
    within the spec's words and says ``connection_error`` beside it.
    """

    def __init__(self, message: str, code: str = "server_error") -> None:
        super().__init__(" ".join(str(message).split())[:1000])
        self.code = code


@dataclass
class Request:
    """What an engine needs of a run (only explicit sampling settings are sent upstream)."""

    model: str
    messages: list[dict]
    instructions: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    tools: list[dict] = field(default_factory=list)
    tool_choice: Any = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: str | None = None
    response_format: Any = None
    stream: bool = False
    service_tier: str | None = None  # the tier asked (x_threadrun.service_tier); sent if offered
    timeout: float | None = None  # seconds each upstream read may wait (None: the engine's default)


@dataclass
class EngineReply:
    """An engine's result: text, the upstream's usage (None = not reported), finish, tool calls."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = "stop"
    reasoning_tokens: int | None = None
    cached_tokens: int | None = None
    tool_calls: list[dict] = field(default_factory=list)
    exact_usage: bool = True
    total_tokens: int | None = None  # the upstream's own total (Gemini's counts thinking tokens too)
    finish_said: str | None = None  # how the upstream said why it stopped: "finish_reason 'length'"
    service_tier: str | None = None  # the tier the upstream says it ran on (None: it said nothing)


#: Request fields that carry the conversation, not a setting: left out of what ``sent`` reports.
CONTENT_FIELDS = ("messages", "input", "instructions", "tools")


def sent_settings(body: dict) -> dict:
    """The settings of an upstream request body as sent (model, sampling, cap, formats, stream)."""
    return {k: v for k, v in body.items() if k not in CONTENT_FIELDS}


Emit = Callable[[str], None]
Watch = Callable[[Callable[[], None]], None]


class Engine(Protocol):
    """``reply(request, emit, watch)``: ``watch(close)`` registers how to abort the call at once.

    An engine that calls an upstream sets ``sent`` (``sent_settings`` of its body) before the
    call, so the run reports what went upstream even when the call fails.
    """

    sent: dict | None

    def reply(self, request: Request, emit: Emit, watch: Watch) -> EngineReply: ...


def register(api: str, engine: str | Callable[[Provider], Engine], *,
             offline: bool | None = None) -> None:
    """Make ``engine`` run the providers whose ``api`` is ``api``: a class (or any
    ``factory(provider)``), or ``"module:Class"`` to import it only when a run needs it. A
    providers table may name ``api`` from then on (``threadrun.providers.apis``); ``offline``:
    the engine calls no upstream, so its providers need neither a base URL nor a key."""
    apis.register(api, engine, offline=offline)


def make_engine(provider: Provider) -> Engine:
    """The engine that runs this provider's models (the registry's, see ``register``)."""
    try:
        factory = apis.factory(provider.api)
    except KeyError:
        raise ValueError(f"no engine for api {provider.api!r} (provider {provider.name!r}); "
                         f"registered: {', '.join(apis.names())}") from None
    return factory(provider)


def is_offline(engine: Engine) -> bool:
    """Whether the engine answers at once without an upstream (``offline = True``, as echo)."""
    return bool(getattr(engine, "offline", False))
