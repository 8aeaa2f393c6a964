"""Fault injection for the local server: HTTP faults per request, outcome faults per created run.

Spec grammar (``--fault`` and ``LocalServer(fault=...)``), comma-separated ``KEY=VALUE`` items::

    KIND=P            probability 0..1 of an HTTP kind per request, or of a run kind per created run
    seed=INT          random seed (default 0); same seed + same request order = same outcomes
    slow_s=SECONDS    delay of the ``slow`` kind (default 2.0)
    retry_after=SEC   ``retry-after`` of 429/503 answers (default 1.0)
    route=ROUTE       HTTP kinds only hit this route: a template like ``POST /threads/runs`` or an
                      alias (create, poll, cancel, messages, thread, assistants, assistant)
    incomplete_reason=max_completion_tokens|max_prompt_tokens   (for ``incomplete``)
    script=K1|K2|...  scripted outcomes in order (``ok`` = normal), then normal again

HTTP kinds: 429 500 502 503 drop drop-after drop-mid slow 500-after (the request is handled,
e.g. its run created, then answered 500 like a failing proxy would) echo-key (a 400 whose error
message quotes the request's ``Authorization`` header, key and all, to test that clients mask
it).  Run kinds: failed expired incomplete requires_action (``incomplete:max_prompt_tokens`` in
a script picks the reason).  The HTTP kinds' probabilities must add up to at most 1, and so must
the run kinds'.  ``none`` or ``off`` = no faults.

Run kinds: ``failed`` (``last_error`` server_error), ``expired`` and ``incomplete`` end the run at
created+latency.  ``requires_action`` goes queued -> in_progress -> ``requires_action`` at
created+latency with ``required_action`` asking for one ``submit_tool_outputs`` function call
(the first function tool of the run's ``tools``, else ``lookup``), ``usage`` null and no assistant
message; it is not terminal (polls get ``openai-poll-after-ms``) and stays so until its tool
outputs are submitted (the run goes on, see ``rounds``), it is cancelled (-> cancelling/cancelled)
or ``expires_at`` passes (-> ``expired``).  A streamed one ends with its tool_calls step (in
progress), a step delta per call, ``thread.run.requires_action`` and ``done``.

Scripts: each request matching the route takes the next item; a run kind at the head of the
script is only taken by a ``POST /threads/runs`` request and applies to the run it creates
(use ``route="create"`` when scripting run outcomes, so polls do not take the ``ok`` items).
"""
from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Iterable

HTTP_KINDS = ("429", "500", "502", "503", "drop", "drop-after", "drop-mid", "slow", "500-after",
              "echo-key")
RUN_KINDS = ("failed", "expired", "incomplete", "requires_action")
REASONS = ("max_completion_tokens", "max_prompt_tokens")
CREATE = "POST /threads/runs"
ROUTE_ALIASES = {
    "create": CREATE,
    "poll": "GET /threads/{thread_id}/runs/{run_id}",
    "cancel": "POST /threads/{thread_id}/runs/{run_id}/cancel",
    "messages": "GET /threads/{thread_id}/messages",
    "thread": "GET /threads/{thread_id}",
    "assistants": "POST /assistants",
    "assistant": "GET /assistants/{assistant_id}",
}


@dataclass(frozen=True)
class RunFault:
    """A forced run ending: ``kind`` in RUN_KINDS, ``reason`` for ``incomplete``."""

    kind: str
    reason: str | None = None


@dataclass
class Decision:
    """What a request gets: an HTTP fault kind (or None) and a run fault for the run it creates."""

    http: str | None = None
    run: RunFault | None = None
    scripted: bool = False


@dataclass
class FaultConfig:
    """Parsed spec: probabilities, parameters and an optional script."""

    probs: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    slow_s: float = 2.0
    retry_after: float = 1.0
    route: str | None = None
    incomplete_reason: str = "max_completion_tokens"
    script: list[str] | None = None


def normalize_route(route: str | None) -> str | None:
    """Map an alias such as ``create`` to its route template; keep templates as given."""
    if route is None:
        return None
    route = " ".join(route.split())
    return ROUTE_ALIASES.get(route, route)


def check_script_item(item: str) -> str:
    """Validate one script item (``ok``, an HTTP kind, a run kind or ``incomplete:REASON``)."""
    kind, _, reason = item.strip().partition(":")
    if kind == "ok" or kind in HTTP_KINDS or kind in RUN_KINDS:
        if reason and (kind != "incomplete" or reason not in REASONS):
            raise ValueError(f"bad fault script item {item!r}: unexpected ':{reason}'")
        return item.strip()
    raise ValueError(f"bad fault script item {item!r}: unknown kind {kind!r}")


def _number(item: str, value: str, low: float, high: float | None) -> float:
    """Parse a float within bounds or raise ValueError naming the item."""
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"bad fault item {item!r}: {value!r} is not a number") from None
    if number != number or number < low or (high is not None and number > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"bad fault item {item!r}: value must be {bound}")
    return number


def _apply_item(config: FaultConfig, item: str) -> None:
    """Fold one ``KEY=VALUE`` item into ``config``."""
    key, sep, value = (part.strip() for part in item.partition("="))
    if not sep:
        raise ValueError(f"bad fault item {item!r}: expected KEY=VALUE")
    if key in HTTP_KINDS or key in RUN_KINDS:
        config.probs[key] = _number(item, value, 0.0, 1.0)
    elif key == "seed":
        try:
            config.seed = int(value)
        except ValueError:
            raise ValueError(f"bad fault item {item!r}: seed must be an integer") from None
    elif key in ("slow_s", "retry_after"):
        setattr(config, key, _number(item, value, 0.0, None))
    elif key == "route":
        config.route = normalize_route(value)
    elif key == "incomplete_reason":
        if value not in REASONS:
            raise ValueError(f"bad fault item {item!r}: reason must be one of {', '.join(REASONS)}")
        config.incomplete_reason = value
    elif key == "script":
        config.script = [check_script_item(i) for i in value.split("|") if i.strip()]
    else:
        raise ValueError(f"bad fault item {item!r}: unknown key {key!r}")


def parse_spec(spec: str | None) -> FaultConfig:
    """Parse a fault spec string (see the module docstring); raise ValueError on a bad item."""
    config = FaultConfig()
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return config
    for item in spec.split(","):
        if item.strip():
            _apply_item(config, item.strip())
    for group, kinds in (("HTTP", HTTP_KINDS), ("run", RUN_KINDS)):
        total = sum(config.probs.get(k, 0.0) for k in kinds)
        if total > 1.0 + 1e-9:
            raise ValueError(f"bad fault spec {spec!r}: {group} kind probabilities add up to {total:g} > 1")
    return config


def _draw(rng: random.Random, probs: dict[str, float], kinds: Iterable[str]) -> str | None:
    """One draw: a kind with its probability, or None."""
    roll, acc = rng.random(), 0.0
    for kind in kinds:
        acc += probs.get(kind, 0.0)
        if roll < acc:
            return kind
    return None


class Faults:
    """Thread-safe fault state of one server: a probability config and a script queue."""

    def __init__(self, spec: str | None = None) -> None:
        """Start with the faults of ``spec`` (None = no faults)."""
        self._lock = threading.Lock()
        self.configure(spec)

    def configure(self, spec: str | None) -> None:
        """Replace every fault setting (probabilities, parameters and script) by ``spec``."""
        config = parse_spec(spec)
        with self._lock:
            self.config = config
            self._http_rng = random.Random(f"{config.seed}:http")
            self._run_rng = random.Random(f"{config.seed}:run")
            self._script: deque[str] = deque(config.script or [])
            self._script_route = config.route if config.script else None

    def script(self, items: Iterable[str], route: str | None = None) -> None:
        """Script the next outcomes for requests matching ``route`` (None = any route)."""
        checked = [check_script_item(str(i)) for i in items]
        with self._lock:
            self._script = deque(checked)
            self._script_route = normalize_route(route)

    def clear(self) -> None:
        """Remove every fault (probabilities and script)."""
        self.configure(None)

    @property
    def slow_s(self) -> float:
        """Delay of the ``slow`` kind in seconds."""
        return self.config.slow_s

    @property
    def retry_after(self) -> float:
        """``retry-after`` seconds sent with 429 and 503."""
        return self.config.retry_after

    def on_request(self, route: str) -> Decision:
        """Decide the fault of one request on ``route`` (consumes script items / random draws)."""
        with self._lock:
            scripted = self._take_scripted(route)
            if scripted is not None:
                return scripted
            config = self.config
            if config.route is not None and config.route != route:
                return Decision()
            return Decision(http=_draw(self._http_rng, config.probs, HTTP_KINDS))

    def _take_scripted(self, route: str) -> Decision | None:
        """Pop the script head if it applies to ``route``; None when the script does not apply."""
        if not self._script or (self._script_route is not None and self._script_route != route):
            return None
        kind, _, reason = self._script[0].partition(":")
        if kind in RUN_KINDS:
            if route != CREATE:
                return None
            self._script.popleft()
            return Decision(run=self._run_fault(kind, reason or None), scripted=True)
        self._script.popleft()
        return Decision(http=None if kind == "ok" else kind, scripted=True)

    def run_fault(self, decision: Decision) -> RunFault | None:
        """The forced ending of a run created by a request with ``decision``."""
        if decision.scripted:
            return decision.run
        with self._lock:
            kind = _draw(self._run_rng, self.config.probs, RUN_KINDS)
            return self._run_fault(kind, None) if kind else None

    def _run_fault(self, kind: str, reason: str | None) -> RunFault:
        """Build a RunFault, filling the incomplete reason from the config."""
        if kind == "incomplete":
            return RunFault(kind, reason or self.config.incomplete_reason)
        return RunFault(kind)
