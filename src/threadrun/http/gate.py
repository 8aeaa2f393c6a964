"""Shared pacing of a client's requests: a requests-per-minute cap, and the pause a 429 imposes.

One ``Gate`` is shared by every worker of a sweep, so a rate limit slows the whole sweep down
instead of each worker hammering the server on its own schedule.
"""
from __future__ import annotations

import threading
import time

from . import watch


class Gate:
    """Every request passes ``acquire()``; a 429 calls ``pause()`` for everyone."""

    def __init__(self, rpm: float | None = None):
        self.interval = 60.0 / rpm if rpm else 0.0
        self._lock = threading.Lock()
        self._next_slot = 0.0
        self._resume_at = 0.0
        self.pauses = 0

    def acquire(self) -> float:
        """Wait for this request's turn (ended early by the run's deadline or a stop: ``watch``)."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._resume_at, self._next_slot)
            if self.interval:
                self._next_slot = start + self.interval
        wait = start - now
        if wait > 0:
            watch.sleep(wait)
        return max(wait, 0.0)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` from now (the longest pause wins)."""
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + max(seconds, 0.0))
            self.pauses += 1
