"""Server-sent events of a streamed run, paced by the run's own clock.

The events never block: where a stream waits (the run's clock, the engine's reply, a live run's
next piece) it yields ``(PAUSE, seconds)``, and its reader waits at most that long or until the
run changes (``Store.listen``) before asking for the next event. So a stream is read on the
server's event loop, woken by the engine's thread directly, without a thread of its own.
"""
from __future__ import annotations

import time
from typing import Any, Generator, Iterable, Iterator

from ..spec import TERMINAL
from .objects import Run
from .rounds import delta_events
from .store import Store

Event = tuple[str, Any]
PAUSE = "pause"  # not an event: wait at most ``data`` seconds (or until the run changes)
STEP_STATUS = {"completed": "completed", "incomplete": "completed", "failed": "failed",
               "cancelled": "cancelled", "expired": "expired"}


def split_pieces(text: str, pieces: int = 8) -> list[str]:
    """Split ``text`` into at most ``pieces`` consecutive chunks at spaces; they join back to it."""
    words = text.split(" ")
    if len(words) <= 1 or pieces <= 1:
        return [text]
    size = -(-len(words) // pieces)
    chunks = [" ".join(words[i:i + size]) for i in range(0, len(words), size)]
    return [c if i == 0 else " " + c for i, c in enumerate(chunks)]


def delta_event(run: Run, piece: str) -> Event:
    """One ``thread.message.delta`` event carrying ``piece`` of the reply."""
    delta = {"content": [{"index": 0, "type": "text", "text": {"value": piece, "annotations": []}}]}
    return "thread.message.delta", {"id": run.message_id, "object": "thread.message.delta",
                                    "delta": delta}


def wait(store: Store, run: Run, until: float | None) -> Iterator[Event]:
    """Pause until monotonic ``until`` (None: until the engine replied) or the run is cancelled."""
    while (left := store.wait_left(run, until)) is not None:
        yield PAUSE, left


def wait_start(store: Store, run: Run) -> Iterator[Event]:
    """Pause until the run has started (a live run waits, queued, for a provider slot; its
    ``start_mono`` is read again after each pause) or is cancelled."""
    while (left := store.wait_left(run, run.start_mono)) is not None:
        yield PAUSE, left


def wait_piece(store: Store, run: Run, seen: int) -> Iterator[Event]:
    """Pause until a live run has more than ``seen`` pieces, has ended, or is cancelled."""
    while (left := store.piece_left(run, seen)) is not None:
        yield PAUSE, left


def run_events(store: Store, run: Run, thread: dict | None,
               opening: Iterable[Event] | None = None) -> Iterator[Event]:
    """All events of a run's round from ``thread.created`` (when a thread was made) to ``done``;
    pauses between paced events. ``opening``: the events before the round (default: the run
    created and queued; after tool outputs, their step completed and the run queued again).

    A ``requires_action`` round sends its tool_calls step (in progress), one step delta per
    call (the SDK's ``on_tool_call_created``), then ``thread.run.requires_action`` and ``done``:
    no message events. A real model's run (``live``) sends each piece of text as its engine
    receives it.
    """
    if thread is not None:
        yield "thread.created", thread
    if opening is None:
        yield "thread.run.created", run.to_dict(status="queued")
        yield "thread.run.queued", run.to_dict(status="queued")
    else:
        yield from opening
    yield from wait_start(store, run)
    started, sent = False, None
    if run.cancel_mono is None:
        started = True
        yield "thread.run.in_progress", run.to_dict(status="in_progress")
        if run.live:
            yield from wait_piece(store, run, 0)  # the first text, or the end (a tool call, a failure)
        if run.outcome == "requires_action" and not run.pieces:
            yield "thread.run.step.created", run.step_dict("in_progress", calls_shown=False)
            yield "thread.run.step.in_progress", run.step_dict("in_progress", calls_shown=False)
            yield from wait(store, run, run.end_mono)
            if store.settle(run) == "requires_action":  # the stream stops here, the run waits on
                yield from delta_events(run)
                yield "thread.run.requires_action", run.to_dict(status="requires_action")
                yield "done", "[DONE]"
                return
        else:
            yield "thread.run.step.created", run.step_dict("in_progress")
            yield "thread.run.step.in_progress", run.step_dict("in_progress")
            if run.live:
                sent = yield from live_message_events(store, run)
            else:
                yield from wait(store, run, None)
                sent = yield from message_events(store, run)
            if store.settle(run) == "requires_action":  # text, then a tool call
                yield from text_then_calls(run, sent)
                return
    yield from ending_events(store, run, started, sent)


def text_then_calls(run: Run, sent: str | None) -> Iterator[Event]:
    """The end of a round that wrote text, then asked for tools: its message and step completed
    (see ``rounds.split_text``), the tool_calls step with a delta per call, requires_action."""
    if sent is not None and run.history and run.history[-1]["type"] == "message_creation":
        step = run.history[-1]
        message = run.reply_message("completed", run.reply)
        message.id = step["step_details"]["message_creation"]["message_id"]
        yield "thread.message.completed", message.to_dict()
        yield "thread.run.step.completed", step
    yield "thread.run.step.created", run.step_dict("in_progress", calls_shown=False)
    yield "thread.run.step.in_progress", run.step_dict("in_progress", calls_shown=False)
    yield from delta_events(run)
    yield "thread.run.requires_action", run.to_dict(status="requires_action")
    yield "done", "[DONE]"


def live_message_events(store: Store, run: Run) -> Generator[Event, None, str | None]:
    """Message events of a real model's run: a delta per piece as it arrives; return the text sent."""
    seen, sent, created = 0, "", False
    while run.cancel_mono is None:
        yield from wait_piece(store, run, seen)
        with store.lock:
            new = run.pieces[seen:]
            ended = run.end_mono is not None
        if new and not created:
            created = True
            message = run.reply_message("in_progress").to_dict()
            yield "thread.message.created", message
            yield "thread.message.in_progress", message
        for piece in new:
            sent += piece
            yield delta_event(run, piece)
        seen += len(new)
        if ended and seen >= len(run.pieces):
            break
    return sent if created else None


def message_events(store: Store, run: Run) -> Generator[Event, None, str | None]:
    """Message created/in_progress and the paced deltas; return the text sent (None: no message)."""
    if run.cancel_mono is not None or run.reply is None or run.end_mono is None:
        return None
    created = run.reply_message("in_progress").to_dict()
    yield "thread.message.created", created
    yield "thread.message.in_progress", created
    pieces, sent = split_pieces(run.reply), ""
    begin, end = max(time.monotonic(), run.start_mono), run.end_mono
    for index, piece in enumerate(pieces):
        yield from wait(store, run, begin + (end - begin) * (index + 1) / (len(pieces) + 1))
        if run.cancel_mono is not None:
            break
        sent += piece
        yield delta_event(run, piece)
    return sent


def final_status(store: Store, run: Run) -> Generator[Event, None, str]:
    """Pause until the run is terminal (or cancelled); settle and return its status."""
    status = store.settle(run)
    while status not in TERMINAL:
        yield from wait(store, run, run.end_mono)
        status = store.settle(run)
    return status


def ending_events(store: Store, run: Run, started: bool, sent: str | None) -> Iterator[Event]:
    """Message completion, step completion, the run's terminal event, then ``done``."""
    status = yield from final_status(store, run)
    if sent is not None:
        if status == "completed":
            yield "thread.message.completed", run.reply_message("completed", run.reply).to_dict()
        elif status == "incomplete":
            message = run.reply_message("incomplete", run.reply, run.message_reason)
            yield "thread.message.incomplete", message.to_dict()
        else:
            message = run.reply_message("incomplete", sent, f"run_{status}")
            yield "thread.message.incomplete", message.to_dict()
    if started:
        step_status = STEP_STATUS[status]
        yield f"thread.run.step.{step_status}", run.step_dict(step_status)
    yield f"thread.run.{status}", run.to_dict(status=status)
    yield "done", "[DONE]"
