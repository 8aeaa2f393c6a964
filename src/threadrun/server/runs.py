"""Runs on an existing thread, their updates, steps and the tool loop's submit (a ``Store`` mixin).

``POST /threads/{id}/runs`` adds its ``additional_messages`` to the thread, then runs it (one
active run per thread, as the API has it). ``submit_tool_outputs`` closes the round that asked
for them (see ``rounds``) and plans the next one: echo's at once, a real model's by a worker.
"""
from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..providers import apis
from .faults import RunFault
from .objects import Run, RunParams, Thread
from .pages import list_page
from .params import not_found, resolve_params
from .rounds import check_outputs, check_waiting, close_round, steps
from .validate import ErrorAnswer

#: Tools a real model here cannot run: the runtime has no sandbox and no vector stores.
HOSTED_TOOLS = ("code_interpreter", "file_search")



def check_tools_runnable(params: RunParams) -> None:
    """A 400 when a real model's run asks for a hosted tool (offline engines, as echo, take them
    as placeholders)."""
    if apis.offline(params.provider.api):
        return
    hosted = [str(t.get("type")) for t in params.tools or [] if t.get("type") in HOSTED_TOOLS]
    if hosted:
        raise ErrorAnswer(400, f"This runtime does not run {' or '.join(sorted(set(hosted)))} tools: "
                               f"{params.spec} takes function tools only (run them in your "
                               "program and submit their outputs).", "tools", "unsupported_tool")


class Runs:
    """The run endpoints' store work beyond createThreadAndRun (mixed into ``store.Store``)."""
    if TYPE_CHECKING:  # what the mixin uses of ``store.Store``
        lock: Any
        runs: Any
        bytes_kept: int

        def get_assistant(self, assistant_id: str) -> dict: ...
        def get_thread(self, thread_id: str) -> Thread: ...
        def get_run(self, thread_id: str, run_id: str) -> Run: ...
        def begin_run(self, thread: Thread, assistant_id: str, params: RunParams, latency: float,
                      forced: RunFault | None) -> Run: ...
        def plan_round(self, run: Run, latency: float) -> None: ...
        def check_idle(self, thread: Thread, doing: str) -> None: ...
        def add_messages(self, thread: Thread, messages: list[dict]) -> list: ...
        def saved(self, *objects: Any) -> None: ...
        def wake(self, run: Run) -> None: ...
        def _evict(self, now: float, keep: Run) -> None: ...

    def create_thread_run(self, thread_id: str, body: dict, latency: float, forced: RunFault | None,
                          default_provider: str | None = None) -> Run:
        """A run on an existing thread (its ``additional_messages`` added first)."""
        assistant = self.get_assistant(body["assistant_id"])
        params = resolve_params(body, assistant, default_provider)
        check_tools_runnable(params)
        if body.get("reasoning_effort") is not None:
            params = replace(params, reasoning_effort=body["reasoning_effort"])
        if body.get("additional_instructions"):
            params = replace(params, instructions="\n\n".join(
                t for t in (params.instructions, body["additional_instructions"]) if t))
        with self.lock:
            thread = self.get_thread(thread_id)
            self.check_idle(thread, "run")
            self.add_messages(thread, body.get("additional_messages") or [])
            run = self.begin_run(thread, assistant["id"], params, latency, forced)
            run.size = len(json.dumps(body)) + len(run.reply or "")
            self.runs[run.id] = run
            self.bytes_kept += run.size
            self._evict(time.monotonic(), keep=run)
        self.saved(thread, run)
        return run

    def update_run(self, thread_id: str, run_id: str, body: dict) -> dict:
        """Apply a ModifyRunRequest (metadata); the RunObject."""
        run = self.get_run(thread_id, run_id)
        with self.lock:
            if "metadata" in body:
                run.params = replace(run.params, metadata=body["metadata"] or {})
        self.saved(run)
        return run.to_dict()

    def list_steps(self, thread_id: str, run_id: str, query: dict[str, str]) -> dict:
        """A ListRunStepsResponse page of the run's steps."""
        run = self.get_run(thread_id, run_id)
        with self.lock:
            items = steps(run, run.status())
        return list_page(items, query, "run step")

    def get_step(self, thread_id: str, run_id: str, step_id: str) -> dict:
        """One RunStepObject, or a 404."""
        run = self.get_run(thread_id, run_id)
        with self.lock:
            for step in steps(run, run.status()):
                if step["id"] == step_id:
                    return step
        raise not_found("run step", step_id)

    def submit_outputs(self, thread_id: str, run_id: str, body: dict, latency: float) -> tuple[Run, dict]:
        """Close the round waiting for these outputs and plan the next; the run and the
        completed tool step (400 when the run does not wait, or an output is missing or unknown)."""
        run = self.get_run(thread_id, run_id)
        with self.lock:
            check_waiting(run, run.status())
            answered = check_outputs(run, body["tool_outputs"])
            step = close_round(run, answered, time.monotonic())
            run.params = replace(run.params, stream=bool(body.get("stream")))
            self.plan_round(run, latency)
            grown = sum(len(a["output"]) for a in answered)
            run.size += grown
            self.bytes_kept += grown
            self.wake(run)
        self.saved(run)
        return run, step
