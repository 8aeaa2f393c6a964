"""The Assistants endpoints a program uses beyond ``%%threadrun``'s: assistants list, update and
delete; threads and messages; runs on a thread, their list, update, steps and tool outputs
(an ``App`` mixin; the store does the work, see ``resources`` and ``runs``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .bodies import (
    CREATE_RUN_FIELDS,
    METADATA_FIELDS,
    MODIFY_ASSISTANT_FIELDS,
    MODIFY_THREAD_FIELDS,
    SUBMIT_FIELDS,
    validate_body,
    validate_message,
    validate_thread,
)
from .faults import Decision
from .objects import Run
from .pages import check_include
from .routes import Reply, StreamReply
from .slots import client_timeout
from .stream import run_events

if TYPE_CHECKING:
    from .store import Store



class Surface:
    """Endpoints mixed into ``app.App`` (each takes the routed request's keyword arguments)."""
    if TYPE_CHECKING:  # what the mixin uses of ``app.App``
        store: Store
        latency: float
        default_provider: str | None
        faults: Any
        lock: Any
        runs_created: int

        def start_engine(self, run: Run) -> None: ...

    def list_assistants(self, query: dict[str, str], **_: Any) -> Reply:
        """``GET /assistants``."""
        return Reply(200, self.store.list_assistants(query))

    def update_assistant(self, params: dict[str, str], body: Any, **_: Any) -> Reply:
        """``POST /assistants/{assistant_id}``."""
        body = validate_body(body, MODIFY_ASSISTANT_FIELDS)
        return Reply(200, self.store.update_assistant(params["assistant_id"], body))

    def delete_assistant(self, params: dict[str, str], **_: Any) -> Reply:
        """``DELETE /assistants/{assistant_id}``."""
        return Reply(200, self.store.delete_assistant(params["assistant_id"]))

    def create_thread(self, body: Any, **_: Any) -> Reply:
        """``POST /threads``."""
        thread = self.store.create_thread(validate_thread(body))
        return Reply(200, thread.to_dict())

    def update_thread(self, params: dict[str, str], body: Any, **_: Any) -> Reply:
        """``POST /threads/{thread_id}``."""
        body = validate_body(body, MODIFY_THREAD_FIELDS)
        return Reply(200, self.store.update_thread(params["thread_id"], body))

    def delete_thread(self, params: dict[str, str], **_: Any) -> Reply:
        """``DELETE /threads/{thread_id}``."""
        return Reply(200, self.store.delete_thread(params["thread_id"]))

    def create_message(self, params: dict[str, str], body: Any, **_: Any) -> Reply:
        """``POST /threads/{thread_id}/messages``."""
        return Reply(200, self.store.create_message(params["thread_id"], validate_message(body)))

    def get_message(self, params: dict[str, str], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/messages/{message_id}``."""
        message = self.store.find_message(params["thread_id"], params["message_id"])
        return Reply(200, message[1].to_dict())

    def update_message(self, params: dict[str, str], body: Any, **_: Any) -> Reply:
        """``POST /threads/{thread_id}/messages/{message_id}``."""
        body = validate_body(body, METADATA_FIELDS)
        return Reply(200, self.store.update_message(params["thread_id"], params["message_id"], body))

    def delete_message(self, params: dict[str, str], **_: Any) -> Reply:
        """``DELETE /threads/{thread_id}/messages/{message_id}``."""
        return Reply(200, self.store.delete_message(params["thread_id"], params["message_id"]))

    def create_thread_run(self, params: dict[str, str], body: Any, decision: Decision,
                          headers: dict[str, str], query: dict[str, Any], **_: Any) -> Reply | StreamReply:
        """``POST /threads/{thread_id}/runs``: queued RunObject at once, or the SSE stream."""
        check_include(query)
        body = validate_body(body, CREATE_RUN_FIELDS, ("assistant_id",))
        forced = self.faults.run_fault(decision)
        run = self.store.create_thread_run(params["thread_id"], body, self.latency, forced,
                                           self.default_provider)
        run.client_timeout = client_timeout(headers)
        with self.lock:
            self.runs_created += 1
        self.start_engine(run)
        if body.get("stream"):
            return StreamReply(run_events(self.store, run, None), run)
        return Reply(200, run.to_dict(status="queued"))

    def list_runs(self, params: dict[str, str], query: dict[str, str], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/runs``."""
        return Reply(200, self.store.list_runs(params["thread_id"], query))

    def update_run(self, params: dict[str, str], body: Any, **_: Any) -> Reply:
        """``POST /threads/{thread_id}/runs/{run_id}`` (metadata)."""
        body = validate_body(body, METADATA_FIELDS)
        return Reply(200, self.store.update_run(params["thread_id"], params["run_id"], body))

    def submit_tool_outputs(self, params: dict[str, str], body: Any, **_: Any) -> Reply | StreamReply:
        """``POST /threads/{thread_id}/runs/{run_id}/submit_tool_outputs``: the run goes on."""
        body = validate_body(body, SUBMIT_FIELDS, ("tool_outputs",))
        run, step = self.store.submit_outputs(params["thread_id"], params["run_id"], body, self.latency)
        self.start_engine(run)
        if body.get("stream"):
            opening = [("thread.run.step.completed", step),
                       ("thread.run.queued", run.to_dict(status="queued"))]
            return StreamReply(run_events(self.store, run, None, opening), run)
        return Reply(200, run.to_dict(status="queued"))

    def list_steps(self, params: dict[str, str], query: dict[str, Any], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/runs/{run_id}/steps`` (``include[]`` checked, see ``pages``)."""
        check_include(query)
        return Reply(200, self.store.list_steps(params["thread_id"], params["run_id"], query))

    def get_step(self, params: dict[str, str], query: dict[str, Any], **_: Any) -> Reply:
        """``GET /threads/{thread_id}/runs/{run_id}/steps/{step_id}`` (``include[]`` checked)."""
        check_include(query)
        return Reply(200, self.store.get_step(params["thread_id"], params["run_id"], params["step_id"]))
