"""One engine call's clock: stoppable by a cancel, its budget or interpreter exit, and its retries.

An engine call runs on a worker thread under a ``watch.Watch`` of its own (the client's deadline
machinery: every retry wait ends at a stop or the deadline, and the socket being read is shut
down, not closed, so a blocked read returns at once). ``engine_call`` registers the call's abort
with the run *before* anything is sent; a cancel, the call's budget (connect, retries and read
together, within the client's deadline when it gave one) and interpreter exit all end it.
"""
from __future__ import annotations

import concurrent.futures.thread  # noqa: F401 - its exit hook first, so ours runs before it
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ...http import watch
from ...http.watch import Watch

#: The longest one engine call may take (connect + retries + read) when the client gave no deadline.
CALL_BUDGET_S = 900.0
#: A client's deadline plus this: its cancel normally comes first, the budget ends the call anyway.
DEADLINE_GRACE_S = 2.0
#: Retries of an engine call when the client did not say how many it wants.
DEFAULT_RETRIES = 2

_local = threading.local()
_live: set[Callable[[], None]] = set()
_lock = threading.Lock()


def budget_s(client_deadline_s: float | None) -> float:
    """Seconds one engine call may take: within the client's deadline (plus grace), else the cap."""
    if client_deadline_s is None:
        return CALL_BUDGET_S
    return min(CALL_BUDGET_S, max(0.0, client_deadline_s) + DEADLINE_GRACE_S)


def retries() -> int:
    """How many times this thread's engine call may be retried (the client's own count)."""
    return getattr(_local, "retries", DEFAULT_RETRIES)


def live() -> int:
    """How many engine calls are running now."""
    with _lock:
        return len(_live)


@contextmanager
def engine_call(seconds: float, max_retries: int | None,
                register: Callable[[Callable[[], None]], None]) -> Iterator[Watch]:
    """Run an engine call on this thread under its own clock; ``register(abort)`` comes first."""
    stop = threading.Event()
    clock = Watch(stop, seconds)

    def abort() -> None:
        stop.set()
        clock.trip("stop")  # shuts the socket down (never a blocking close)

    register(abort)
    before = getattr(_local, "retries", None)
    _local.retries = DEFAULT_RETRIES if max_retries is None else max(0, int(max_retries))
    with _lock:
        _live.add(abort)
    try:
        with watch.running(clock):
            yield clock
    finally:
        with _lock:
            _live.discard(abort)
        if before is None:
            del _local.retries
        else:
            _local.retries = before


def abort_all() -> None:
    """Stop every engine call now (interpreter exit: worker threads are joined after this)."""
    with _lock:
        aborts = list(_live)
    for abort in aborts:
        abort()


def abort_soon(aborts: list[Callable[[], None]]) -> None:
    """Run a cancelled run's aborts in a thread of their own (the cancel answers at once)."""
    if aborts:
        threading.Thread(target=_run_all, args=(aborts,), name="threadrun-abort", daemon=True).start()


def _run_all(aborts: list[Callable[[], None]]) -> None:
    for abort in aborts:
        try:
            abort()
        except Exception:  # noqa: BLE001 - already ended: nothing to abort
            pass


# Run before concurrent.futures joins its workers at exit (threading's exit hooks run newest first).
threading._register_atexit(abort_all)  # type: ignore[attr-defined]
