"""Idempotency keys of the local server: which run each key created, in bounded memory.

The newest ``max_runs`` keys are kept as given (``recent``); older ones move to ``older`` as a
16-byte hash with the body digest and run id (about 250 bytes each), up to ``max_keys`` of them.
So a key repeated after its run was evicted is recognised (the store answers 409, not a second
run) for the newest ``max_recent + max_keys`` keys; a key older than that is new again. With a
database (``persist``) each key is also written there as its hash, and a restarted server
restores them (as hashes: ``restore``), so a retry after a restart gets the same run.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
from collections import OrderedDict
from typing import Any, ContextManager

from .validate import ErrorAnswer

KEY_LOCKS = 64  # creates with different idempotency keys rarely wait for each other


def short(key: str) -> bytes:
    """The 16-byte hash an older key is remembered by."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()[:16]


class KeyMap:
    """Idempotency key -> (request body digest, run id), bounded (see the module docstring)."""

    def __init__(self, max_recent: int, max_keys: int = 100_000) -> None:
        """Empty; ``max_recent`` keys kept whole, ``max_keys`` more as hashes."""
        self.max_recent, self.max_keys = max_recent, max_keys
        self.lock = threading.Lock()
        self.recent: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self.older: OrderedDict[bytes, bytes] = OrderedDict()  # hash -> digest[:16] + run id
        self.locks = [threading.Lock() for _ in range(KEY_LOCKS)]

    def key_lock(self, key: str | None) -> ContextManager[Any]:
        """Held while a keyed create looks its key up and creates: one run per key, even at once."""
        return self.locks[hash(key) % KEY_LOCKS] if key else contextlib.nullcontext()

    def lookup(self, key: str, digest: str) -> str | None:
        """The run id this key created (None: a new key); a 400 when it came with another body."""
        with self.lock:
            seen = self.recent.get(key)
            if seen is None:
                packed = self.older.get(short(key))
                seen = None if packed is None else (packed[:16].hex(), packed[16:].decode())
        if seen is None:
            return None
        if seen[0] != digest[:len(seen[0])]:
            raise ErrorAnswer(400, "This Idempotency-Key was already used with a different request "
                                   "body; use a new key for a new request.", None,
                              "idempotency_key_reused")
        return seen[1]

    def remember(self, key: str, digest: str, run_id: str) -> None:
        """Remember the run a key created; the oldest whole keys become hashes, the oldest hashes go."""
        with self.lock:
            self.recent[key] = (digest, run_id)
            self.recent.move_to_end(key)
            while len(self.recent) > self.max_recent:
                old, (old_digest, old_run) = self.recent.popitem(last=False)
                self.older[short(old)] = bytes.fromhex(old_digest[:32]) + old_run.encode()
            while len(self.older) > self.max_keys + self.max_recent - len(self.recent):
                self.older.popitem(last=False)

    @property
    def bound(self) -> int:
        """How many keys are recognised at most (whole and hashed)."""
        return self.max_recent + self.max_keys

    def restore(self, rows: list[tuple[bytes, str, str]]) -> None:
        """Keys saved by an earlier start, oldest first, as (hash, body digest, run id)."""
        with self.lock:
            for hashed, digest, run_id in rows[-self.bound:]:
                self.older[hashed] = bytes.fromhex(digest[:32]) + run_id.encode()
                self.older.move_to_end(hashed)
