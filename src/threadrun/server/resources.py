"""Assistants, threads and messages beyond what a createThreadAndRun needs: list, update,
delete; threads and messages made on their own (a ``Store`` mixin; every method takes its lock).

Bounds: threads made by ``POST /threads`` (``kept``) are never evicted with their runs; at most
``max_runs`` threads are held and a thread holds at most ``MAX_THREAD_MESSAGES`` messages, and
messages added on their own take at most half of ``max_bytes``: past a bound the request gets a
clear 400 naming it (delete threads, or start the server with larger bounds), nothing is dropped.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from .objects import TERMINAL, Message, Run, Thread, assistant_dict, new_id
from .pages import list_page
from .params import input_content, not_found
from .validate import ErrorAnswer

MAX_THREAD_MESSAGES = 10_000



def new_thread(spec: dict, kept: bool = False) -> Thread:
    """A Thread from a CreateThreadRequest (its messages in order)."""
    now = int(time.time())
    thread = Thread(new_id("thread_"), now, spec.get("metadata"), spec.get("tool_resources"), kept=kept)
    for m in spec.get("messages") or []:
        thread.messages.append(new_message(thread.id, m, now))
    return thread


def new_message(thread_id: str, m: dict, now: int | None = None) -> Message:
    """A Message from a CreateMessageRequest."""
    return Message(new_id("msg_"), thread_id, int(time.time()) if now is None else now, m["role"],
                   input_content(m["content"]), None, None, m.get("attachments") or [],
                   m.get("metadata") or {})


def full(what: str, bound: str) -> ErrorAnswer:
    """The 400 of a bound reached."""
    return ErrorAnswer(400, f"This server is full: it holds at most {bound}; delete {what} you no "
                            "longer need (DELETE), or start it with larger bounds.", None,
                       "server_full")


class Resources:
    """The list, update and delete endpoints' store work (mixed into ``store.Store``)."""
    if TYPE_CHECKING:  # what the mixin uses of ``store.Store``
        lock: Any
        assistants: Any
        threads: dict[str, Thread]
        runs: Any
        max_runs: int
        max_bytes: int
        bytes_kept: int
        message_bytes: int
        db: Any

        def get_assistant(self, assistant_id: str) -> dict: ...
        def get_thread(self, thread_id: str) -> Thread: ...
        def settle(self, run: Run, now: float | None = None) -> str: ...

    def saved(self, *objects: Any) -> None:
        """Write these objects (assistant dicts, threads, runs) to the database, when there is one."""
        if self.db is not None:
            self.db.save(self, objects)

    def forget(self, object_id: str) -> None:
        """Delete an object (and what it holds) from the database, when there is one."""
        if self.db is not None:
            self.db.delete(object_id)

    def list_assistants(self, query: dict[str, str]) -> dict:
        """A ListAssistantsResponse page (oldest first before ``order``)."""
        with self.lock:
            items = list(self.assistants.values())
        return list_page(items, query, "assistant")

    def update_assistant(self, assistant_id: str, body: dict) -> dict:
        """Apply a ModifyAssistantRequest; the AssistantObject."""
        with self.lock:
            old = self.get_assistant(assistant_id)
            merged = {**old, **{k: v for k, v in body.items()}}
            assistant = assistant_dict(old["id"], old["created_at"], merged)
            if body.get("reasoning_effort") is None and "reasoning_effort" in body:
                assistant.pop("reasoning_effort", None)
            self.assistants[assistant_id] = assistant
        self.saved(assistant)
        return assistant

    def delete_assistant(self, assistant_id: str) -> dict:
        """Delete an assistant (its runs keep their settings); DeleteAssistantResponse."""
        with self.lock:
            self.get_assistant(assistant_id)
            self.assistants.pop(assistant_id)
        self.forget(assistant_id)
        return {"id": assistant_id, "object": "assistant.deleted", "deleted": True}

    def create_thread(self, body: dict) -> Thread:
        """A thread of its own (``POST /threads``), with its messages; 400 when full."""
        thread = new_thread(body, kept=True)
        size = len(json.dumps(body))
        with self.lock:
            if len(self.threads) >= self.max_runs:
                raise full("threads", f"{self.max_runs} threads (max_runs)")
            self._take_bytes(thread, size)
            self.threads[thread.id] = thread
        self.saved(thread)
        return thread

    def update_thread(self, thread_id: str, body: dict) -> dict:
        """Apply a ModifyThreadRequest; the ThreadObject."""
        with self.lock:
            thread = self.get_thread(thread_id)
            if "metadata" in body:
                thread.metadata = body["metadata"]
            if "tool_resources" in body:
                thread.tool_resources = body["tool_resources"]
        self.saved(thread)
        return thread.to_dict()

    def delete_thread(self, thread_id: str) -> dict:
        """Delete a thread, its messages and runs (an active run is cancelled first: 400)."""
        with self.lock:
            thread = self.get_thread(thread_id)
            self.check_idle(thread, "delete")
            self.threads.pop(thread_id)
            self._give_bytes(thread)
            for run_id in thread.run_ids:
                gone = self.runs.pop(run_id, None)
                if gone is not None:
                    self.bytes_kept -= gone.size
        self.forget(thread_id)
        return {"id": thread_id, "object": "thread.deleted", "deleted": True}

    def active_run(self, thread: Thread) -> Run | None:
        """The thread's run that is not terminal yet, if any (the caller holds the lock)."""
        for run_id in reversed(thread.run_ids):
            run = self.runs.get(run_id)
            if run is not None and self.settle(run) not in TERMINAL:
                return run
        return None

    def check_idle(self, thread: Thread, doing: str) -> None:
        """A 400 when the thread has an active run (a run or message would race it)."""
        run = self.active_run(thread)
        if run is not None:
            raise ErrorAnswer(400, f"Can't {doing} thread {thread.id} while a run {run.id} is active "
                                   f"(status {run.status()}); wait for it to end or cancel it.",
                              None, None)

    def _take_bytes(self, thread: Thread, size: int) -> None:
        """Count ``size`` bytes of threads and messages made on their own; 400 past the bound."""
        if self.message_bytes + size > self.max_bytes // 2:
            raise full("threads", f"{self.max_bytes // 2} bytes of threads and messages "
                                  "(half of max_bytes)")
        self.message_bytes += size
        thread.size += size

    def _give_bytes(self, thread: Thread, size: int | None = None) -> None:
        """Uncount a thread's bytes (all of them: it is gone), or ``size`` of them."""
        size = thread.size if size is None else min(size, thread.size)
        self.message_bytes -= size
        thread.size -= size

    def add_messages(self, thread: Thread, messages: list[dict]) -> list[Message]:
        """Append CreateMessageRequests to a thread (the caller holds the lock); 400 when full."""
        if len(thread.messages) + len(messages) > MAX_THREAD_MESSAGES:
            raise full("messages", f"{MAX_THREAD_MESSAGES} messages per thread")
        self._take_bytes(thread, len(json.dumps(messages)))
        made = [new_message(thread.id, m) for m in messages]
        thread.messages += made
        return made

    def create_message(self, thread_id: str, body: dict) -> dict:
        """``POST /threads/{id}/messages``: the MessageObject (400 while a run is active)."""
        with self.lock:
            thread = self.get_thread(thread_id)
            self.check_idle(thread, "add messages to")
            (message,) = self.add_messages(thread, [body])
        self.saved(thread)
        return message.to_dict()

    def find_message(self, thread_id: str, message_id: str) -> tuple[Thread, Message]:
        """The thread and its message, or a 404."""
        with self.lock:
            thread = self.get_thread(thread_id)
            self.settle_thread(thread)
            for message in thread.messages:
                if message.id == message_id:
                    return thread, message
        raise not_found("message", message_id)

    def update_message(self, thread_id: str, message_id: str, body: dict) -> dict:
        """Apply a ModifyMessageRequest (metadata); the MessageObject."""
        thread, message = self.find_message(thread_id, message_id)
        with self.lock:
            if "metadata" in body:
                message.metadata = body["metadata"]
        self.saved(thread)
        return message.to_dict()

    def delete_message(self, thread_id: str, message_id: str) -> dict:
        """Delete a message; DeleteMessageResponse."""
        thread, message = self.find_message(thread_id, message_id)
        with self.lock:
            thread.messages.remove(message)
            self._give_bytes(thread, len(json.dumps(message.content)))
        self.saved(thread)
        return {"id": message_id, "object": "thread.message.deleted", "deleted": True}

    def settle_thread(self, thread: Thread) -> None:
        """Add the replies of the thread's ended runs to it."""
        with self.lock:
            for run_id in thread.run_ids:
                if run_id in self.runs:
                    self.settle(self.runs[run_id])

    def list_messages(self, thread_id: str, query: dict[str, str]) -> dict:
        """A ListMessagesResponse page of the thread (query: order, limit, after, before, run_id)."""
        with self.lock:
            thread = self.get_thread(thread_id)
            self.settle_thread(thread)
            items = [m for m in thread.messages if "run_id" not in query or m.run_id == query["run_id"]]
        return list_page(items, query, "message", lambda m: m.to_dict())

    def list_runs(self, thread_id: str, query: dict[str, str]) -> dict:
        """A ListRunsResponse page of the thread's runs."""
        now = time.monotonic()
        with self.lock:
            thread = self.get_thread(thread_id)
            items = [self.runs[r] for r in thread.run_ids if r in self.runs]
            for run in items:
                self.settle(run, now)
        return list_page(items, query, "run", lambda run: run.to_dict(now=now))

    def _drop(self, run: Run, now: float) -> None:
        """Forget an evicted terminal run: with its thread and the thread's runs, unless the thread
        was made by ``POST /threads`` (kept: only the run goes) or has a run still active."""
        thread = self.threads.get(run.thread_id)
        if thread is not None and not thread.kept and all(
                self.runs[r].status(now) in TERMINAL for r in thread.run_ids if r in self.runs):
            self.threads.pop(thread.id)
            self._give_bytes(thread)
            self.forget(thread.id)
        gone_ids = {run.id} if thread is None or thread.id in self.threads else {run.id, *thread.run_ids}
        for other in gone_ids:
            gone = self.runs.pop(other, None)
            self.bytes_kept -= gone.size if gone is not None else 0
            self.forget(other)
