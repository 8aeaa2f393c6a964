"""``POST /v1/threads/runs/input_tokens``: how many input tokens a createThreadAndRun body's
prompt is, counted by the model's provider before anything runs (threadrun's own endpoint, in
the shape of OpenAI's ``POST /responses/input_tokens``).

The body is a CreateThreadAndRunRequest; ``assistant_id`` may be left out when ``model`` is
given (a forecast needs no assistant). The runtime builds the request a run would send (the
thread after its truncation strategy, the instructions, the tools) and asks the provider's count
endpoint (``engines.counts``); echo's prompt is counted by the runtime's tokenizer, as its runs
are. The answer: ``{"object": "thread.run.input_tokens", "input_tokens": N, "model": spec,
"counted_by": "..."}``; a provider without a count endpoint is a 400 ``token_count_unsupported``,
a failed count a 424 with the provider's own message (its key masked).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import ValidationError
from .engines import Request, UpstreamError
from .engines.calls import engine_call, run_aborts
from .engines.counts import READ_TIMEOUT_S, NotCountable, count_input_tokens
from .masking import mask, secrets
from .objects import RunParams
from .params import engine_messages, resolve_params
from .resources import new_thread
from .runs import check_tools_runnable
from .tokens import count_tokens
from .validate import RUN_FIELDS, ErrorAnswer, validate_fields

#: One count's budget: connect, retries and the reads of its (at most two) calls.
COUNT_BUDGET_S = 2 * READ_TIMEOUT_S + 10.0
#: The status of a count the provider failed (424 Failed Dependency): final, after the
#: runtime's own retries of the provider, so no client retries it (as it would a 502).
FAILED_COUNT = 424


def count_request(body: Any, get_assistant: Callable[[str], dict],
                  default_provider: str | None) -> tuple[RunParams, Request]:
    """The run settings and the engine request a createThreadAndRun body would make (400s as
    the create would answer them)."""
    validate_fields(body, RUN_FIELDS, ())
    if body.get("assistant_id"):
        assistant = get_assistant(body["assistant_id"])
    elif body.get("model"):
        assistant = {"model": body["model"]}
    else:
        raise ErrorAnswer(400, "Give 'model' or 'assistant_id': the count needs the model the run "
                               "would use.", "model", "missing_required_parameter")
    params = resolve_params(body, assistant, default_provider)
    check_tools_runnable(params)
    thread = new_thread(body.get("thread") or {})
    messages = engine_messages(thread.messages, params.truncation_strategy)
    return params, params.request(messages)


class LiveCounts:
    """The count calls in progress on one server, so that its stop stops them."""

    def __init__(self) -> None:
        self._aborts: set[Callable[[], None]] = set()
        self._lock = threading.Lock()

    @contextmanager
    def running(self) -> Iterator[Callable[[Callable[[], None]], None]]:
        """``register(abort)`` for one call; the abort is forgotten when the call ends."""
        mine: list[Callable[[], None]] = []

        def register(abort: Callable[[], None]) -> None:
            mine.append(abort)
            with self._lock:
                self._aborts.add(abort)
        try:
            yield register
        finally:
            with self._lock:
                self._aborts.difference_update(mine)

    def abort_all(self) -> None:
        """Stop every count call now (the server is stopping)."""
        with self._lock:
            aborts = list(self._aborts)
        run_aborts(aborts)


def count(params: RunParams, request: Request, live: LiveCounts) -> dict:
    """The InputTokens answer of one prompt (its provider call stoppable through ``live``)."""
    provider = params.provider
    if provider.offline:
        tokens = count_tokens(request.instructions) + sum(
            count_tokens(m.get("content") or "") for m in request.messages)
        return answer(tokens, params.spec, f"{provider.name}: the runtime's tokenizer, as its runs count")
    known = secrets()
    try:
        with live.running() as register, engine_call(COUNT_BUDGET_S, None, register):
            tokens, how = count_input_tokens(provider, request)
    except NotCountable as why:
        raise ErrorAnswer(400, str(why), "model", "token_count_unsupported") from None
    except (UpstreamError, ValidationError) as error:
        raise ErrorAnswer(FAILED_COUNT, mask(str(error), known) or "", "model", "upstream_error",
                          "server_error") from None
    return answer(tokens, params.spec, how)


def answer(tokens: int, spec: str, how: str) -> dict:
    """The ``thread.run.input_tokens`` object."""
    return {"object": "thread.run.input_tokens", "input_tokens": tokens, "model": spec,
            "counted_by": how}
