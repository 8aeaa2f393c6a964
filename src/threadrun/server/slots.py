"""Provider slots: how many runs a provider serves at once, and the read bound of each call.

A provider table's ``concurrency`` (``providers.toml``) says how many runs it serves at once; a
run past that waits here, ``queued``, and its upstream request (and its timing) starts only when
it holds a slot. The client's read timeout arrives as the ``X-Threadrun-Timeout`` header (a
number of seconds, never anything secret), bounded here; the tighter of it and the provider's
own ``timeout`` bounds every upstream read of the run.
"""
from __future__ import annotations

import math
import threading
from typing import Callable

from ..config import TIMEOUT_HEADER
from ..providers import BOUNDS, Provider
from .validate import ErrorAnswer

LOW, HIGH = BOUNDS["timeout"]


class Slots:
    """One semaphore per provider that declares a ``concurrency``; others are unlimited."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}

    def _semaphore(self, provider: Provider) -> threading.BoundedSemaphore | None:
        if not provider.concurrency:
            return None
        key = (provider.name, int(provider.concurrency))
        with self._lock:
            if key not in self._semaphores:
                self._semaphores[key] = threading.BoundedSemaphore(key[1])
            return self._semaphores[key]

    def acquire(self, provider: Provider, given_up: Callable[[], bool], poll: float = 0.2) -> bool:
        """Wait for a slot of the provider; False (no slot held) once ``given_up()`` is true."""
        semaphore = self._semaphore(provider)
        if semaphore is None:
            return not given_up()
        while not given_up():
            if semaphore.acquire(timeout=poll):
                if given_up():
                    semaphore.release()
                    return False
                return True
        return False

    def release(self, provider: Provider) -> None:
        """Give back the slot ``acquire`` returned True for."""
        semaphore = self._semaphore(provider)
        if semaphore is not None:
            semaphore.release()


def client_timeout(headers: dict[str, str]) -> float | None:
    """The client's read bound from ``X-Threadrun-Timeout`` (None: absent), clamped to
    [LOW, HIGH] seconds; a value that is not a positive number is a 400."""
    value = headers.get(TIMEOUT_HEADER.lower())
    if value is None:
        return None
    try:
        seconds = float(value.strip()[:32])
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ErrorAnswer(400, f"Invalid '{TIMEOUT_HEADER}' header: expected a number of seconds "
                               "more than 0.", None, "invalid_timeout")
    return min(HIGH, max(LOW, seconds))


def read_timeout(provider: Provider, client: float | None) -> float | None:
    """The bound of each upstream read: the tighter of the provider's and the client's (None: neither)."""
    bounds = [b for b in (provider.timeout, client) if b]
    return float(min(bounds)) if bounds else None
