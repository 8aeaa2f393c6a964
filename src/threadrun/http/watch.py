"""One run's clock: its deadline and its sweep's stop flag, honoured by every wait and socket read.

``Client.run`` puts a ``Watch`` on its thread. Every sleep on that thread (the rate gate, the
retry policy's waits, polling) goes through ``sleep`` and ends early when the deadline passes or
the sweep is stopped, raising ``Stopped``. A socket read cannot be woken that way, so the watch
knows the connection its run is using (``attach``, called by the client's connection class) and
a watchdog thread shuts that socket down when the deadline passes: a stream of ``: ping``
comments, a silent server or headers trickling in a byte a second then end at once.
When a sweep stops, ``stop_runs`` does the same to the runs whose ids are known (they are
cancelled next), and gives a run still being created ``STOP_GRACE_S`` to learn its id first.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

#: How long a create in flight may still take after a stop, so that its run can be cancelled.
STOP_GRACE_S = 5.0
#: Guards which watch owns a connection: a cut and a hand-over never interleave.
_owners = threading.Lock()


class Stopped(Exception):
    """A run's wait ended early: ``why`` is ``"deadline"`` or ``"stop"``."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class Watch:
    """The deadline and stop flag of one run, and the connection it is reading from."""

    def __init__(self, stop: threading.Event | None = None, deadline_s: float | None = None):
        self.stop = stop
        self.deadline_s = deadline_s
        self.ends_at: float | None = None
        self.run_known = False  # the run's ids are known: a stop may cut its connection at once
        self.sent = False  # a request of this run has gone out on a connection
        self.tripped: str | None = None
        self._conn: Any = None
        self._sock: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start the deadline's clock (the wait for a rate slot before it does not count)."""
        _watchdog.track(self)
        if self.deadline_s is not None:
            self.ends_at = time.monotonic() + self.deadline_s
            _watchdog.arm(self, self.ends_at)

    def why(self) -> str | None:
        """``"stop"``, ``"deadline"``, or None while the run may go on."""
        if self.stop is not None and self.stop.is_set():
            return "stop"
        if self.tripped is not None:
            return self.tripped
        if self.ends_at is not None and time.monotonic() >= self.ends_at:
            return "deadline"
        return None

    def check(self) -> None:
        """Raise ``Stopped`` if the run must not go on."""
        why = self.why()
        if why is not None:
            raise Stopped(why)

    def sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``; raise ``Stopped`` as soon as the deadline or a stop comes."""
        self.check()
        until = time.monotonic() + max(seconds, 0.0)
        if self.ends_at is not None:
            until = min(until, self.ends_at)
        left = until - time.monotonic()
        if left > 0:
            if self.stop is not None:
                self.stop.wait(left)
            else:
                time.sleep(left)
        self.check()

    def attach(self, conn: Any) -> None:
        """A request of this run goes out on ``conn`` (connected: its create may arrive)."""
        with _owners:
            self._conn, self._sock = conn, None
            self.sent = True
            conn.watched_by = self

    def attach_socket(self, conn: Any) -> None:
        """The request went out on ``conn``'s socket: the one to cut from now on.

        Kept here because http.client drops ``conn.sock`` for a stream that ends at close.
        """
        with _owners:
            if self._conn is conn:
                self._sock = getattr(conn, "sock", None)
        if self.tripped is not None:
            self._cut()

    def trip(self, why: str) -> None:
        """End the run's wait now: shut its connection down, so a blocked read returns."""
        with self._lock:
            if self.tripped is None:
                self.tripped = why
        self._cut()

    def _cut(self) -> None:
        """Shut this run's socket down, if the connection is still this run's.

        The raw socket's ``shutdown``: an SSLSocket's own would drop its SSL object under a
        reader in another thread, and a TLS-in-TLS transport has none.
        """
        with _owners:
            conn, sock = self._conn, self._sock
            if sock is None or getattr(conn, "watched_by", None) is not self:
                return
            raw = getattr(sock, "socket", sock)  # urllib3's SSLTransport wraps the socket
            try:
                socket.socket.shutdown(raw, socket.SHUT_RDWR)
            except Exception:  # noqa: BLE001 - closed already, or not a socket: nothing to cut
                pass

    def close(self) -> None:
        """The run is over: nothing of it may be tripped any more."""
        with _owners:
            if self._conn is not None and getattr(self._conn, "watched_by", None) is self:
                self._conn.watched_by = None
            self._conn = self._sock = None
        _watchdog.forget(self)


_local = threading.local()


def release(conn: Any) -> None:
    """A connection went back to its pool: it belongs to no run until the next request."""
    with _owners:
        conn.watched_by = None


def current() -> Watch | None:
    """The watch of the run this thread is working on, if any."""
    return getattr(_local, "watch", None)


def use(watch: Watch | None) -> Watch | None:
    """Make ``watch`` this thread's; returns the one it replaces."""
    before = current()
    _local.watch = watch
    return before


@contextmanager
def running(watch: Watch) -> Iterator[Watch]:
    """This thread works for ``watch``'s run (its clock started) until the block ends."""
    before = use(watch)
    watch.start()
    try:
        yield watch
    finally:
        watch.close()
        use(before)


def sleep(seconds: float) -> None:
    """Sleep, honouring this thread's watch (the deadline and stop flag) if it has one."""
    watch = current()
    if watch is not None:
        watch.sleep(seconds)
    elif seconds > 0:
        time.sleep(seconds)


def check() -> None:
    """Raise ``Stopped`` if this thread's run must not go on."""
    watch = current()
    if watch is not None:
        watch.check()


def stop_runs(stop: threading.Event) -> None:
    """A sweep was stopped: cut the reads of its runs with known ids; give creates a grace."""
    _watchdog.stop(stop)


class _Watchdog:
    """One daemon thread tripping watches whose time is up."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Watch, str]] = []
        self._live: set[Watch] = set()
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def track(self, watch: Watch) -> None:
        with self._cond:
            self._live.add(watch)

    def arm(self, watch: Watch, at: float, why: str = "deadline") -> None:
        with self._cond:
            if watch not in self._live:
                return
            entry = (at, next(self._ids), watch, why)
            heapq.heappush(self._heap, entry)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="threadrun-watchdog",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0] is entry:  # only an earlier first deadline needs the thread awake
                self._cond.notify()

    def forget(self, watch: Watch) -> None:
        with self._cond:
            self._live.discard(watch)
            if len(self._heap) > 2 * len(self._live) + 64:  # drop ended runs' entries
                self._heap = [entry for entry in self._heap if entry[2] in self._live]
                heapq.heapify(self._heap)

    def stop(self, stop: threading.Event) -> None:
        with self._cond:
            watches = [w for w in self._live if w.stop is stop]
        later = time.monotonic() + STOP_GRACE_S
        for watch in watches:
            if watch.run_known:
                watch.trip("stop")
            else:
                self.arm(watch, later, "stop")

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    if self._heap:
                        self._cond.wait(self._heap[0][0] - time.monotonic())
                    else:
                        self._cond.wait()
                _, _, watch, why = heapq.heappop(self._heap)
                live = watch in self._live
            if live:
                try:
                    watch.trip(why)
                except Exception:  # noqa: BLE001 - the watchdog must outlive any one run
                    pass


_watchdog = _Watchdog()
