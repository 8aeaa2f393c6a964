"""The runtime's state on disk (``threadrun serve --db PATH``, ``local_server(db=...)``).

One SQLite file (WAL, NORMAL sync, a busy timeout, numbered ``MIGRATIONS`` with ``PRAGMA
user_version`` as the run log has): assistants, threads (with their messages) and runs, each
a JSON document written when it changes (``Store.saved``) and deleted with it; and the
idempotency keys (``save_key``), so a create retried across a restart gets the same run. At start the
store is loaded back; runs that had not ended when the server stopped end then (see ``saved``).
Without a database the server keeps everything in memory, as before.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from .objects import Run, Thread
from .saved import load_run, load_thread, run_state, thread_state
from .validate import ErrorAnswer

BUSY_TIMEOUT_MS = 30_000
MIGRATIONS: list[str] = [
    # 1: assistants, threads (messages inside) and runs as JSON documents; when the server stopped.
    """
    CREATE TABLE assistants (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL);
    CREATE TABLE threads (id TEXT PRIMARY KEY, body TEXT NOT NULL);
    CREATE TABLE runs (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, seq INTEGER NOT NULL,
                       body TEXT NOT NULL);
    CREATE INDEX runs_thread ON runs (thread_id);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)
    """,
    # 2: idempotency keys (their 16-byte hash, never the key), the body digest and the run made,
    # newest last; kept to the server's bound, as in memory (see ``keys``).
    """
    CREATE TABLE idempotency_keys (seq INTEGER PRIMARY KEY, key_hash BLOB NOT NULL UNIQUE,
                                   digest TEXT NOT NULL, run_id TEXT NOT NULL)
    """,
]
VERSION = len(MIGRATIONS)


class DatabaseError(ValueError):
    """The database cannot be opened or used (one line naming the file and why)."""


class Database:
    """One server's SQLite file; thread-safe (one connection behind a lock)."""

    def __init__(self, path: str | os.PathLike) -> None:
        """Open (creating and migrating) the file; DatabaseError when it cannot be."""
        self.path = Path(path).expanduser()
        self.lock = threading.Lock()
        self.seq = 0
        self.closed = False  # an engine call ending after the stop writes nothing
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                        check_same_thread=False)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseError(f"the database {self.path} cannot use WAL mode (journal mode {mode})")
            self.conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot open the database {self.path}: {exc}") from None

    def _migrate(self) -> None:
        """Bring the file up to VERSION in one transaction; refuse one from a newer threadrun."""
        found = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if found > VERSION:
            raise DatabaseError(f"the database {self.path} has schema version {found}, newer than "
                                f"version {VERSION} that this threadrun knows; upgrade threadrun")
        if found == VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for script in MIGRATIONS[found:]:
                for statement in (s.strip() for s in script.split(";")):
                    if statement:
                        self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def load(self, store: Any) -> int:
        """Fill an empty store from the file; end the runs that had not ended (saved again);
        return how many were ended so."""
        with self.lock:
            stopped = self.conn.execute("SELECT value FROM meta WHERE key = 'stopped_at'").fetchone()
            cutoff = float(stopped[0]) if stopped else time.time()
            assistants = self.conn.execute("SELECT body FROM assistants ORDER BY seq").fetchall()
            threads = self.conn.execute("SELECT body FROM threads").fetchall()
            runs = self.conn.execute("SELECT body FROM runs ORDER BY seq").fetchall()
            keys = self.conn.execute("SELECT key_hash, digest, run_id FROM idempotency_keys "
                                     "ORDER BY seq").fetchall()
            self.seq = int(self.conn.execute("SELECT max(seq) FROM (SELECT seq FROM runs UNION ALL "
                                             "SELECT seq FROM assistants)").fetchone()[0] or 0)
            self.conn.execute("DELETE FROM meta WHERE key = 'stopped_at'")  # running again
        ended = []
        with store.lock:
            for (body,) in assistants:
                assistant = json.loads(body)
                store.assistants[assistant["id"]] = assistant
            for (body,) in threads:
                thread = load_thread(json.loads(body))
                store.threads[thread.id] = thread
                store.message_bytes += thread.size
            for (body,) in runs:
                run, was_ended = load_run(json.loads(body), cutoff)
                store.runs[run.id] = run
                store.bytes_kept += run.size
                if was_ended:
                    ended.append(run)
        store.idempotency.restore([(bytes(h), d, r) for h, d, r in keys])
        if ended:
            self.save(store, ended)
        return len(ended)

    def save_key(self, key_hash: bytes, digest: str, run_id: str, bound: int) -> None:
        """Remember which run an idempotency key made; keep only the newest ``bound`` keys."""
        with self.lock:
            if self.closed:
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                seq = self.conn.execute("INSERT OR REPLACE INTO idempotency_keys (key_hash, digest, run_id) "
                                        "VALUES (?, ?, ?)", (key_hash, digest, run_id)).lastrowid or 0
                self.conn.execute("DELETE FROM idempotency_keys WHERE seq <= ?", (seq - bound,))
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc)

    def save(self, store: Any, objects: Any) -> None:
        """Write assistants (dicts), threads and runs as they are now, in one transaction."""
        rows: list[tuple[str, str, str | None, str]] = []
        with store.lock:  # a consistent picture of each object
            for obj in objects:
                if isinstance(obj, Run):
                    rows.append(("runs", obj.id, obj.thread_id, json.dumps(run_state(obj))))
                elif isinstance(obj, Thread):
                    rows.append(("threads", obj.id, None, json.dumps(thread_state(obj))))
                elif isinstance(obj, dict):
                    rows.append(("assistants", obj["id"], None, json.dumps(obj)))
        self._write(rows)

    def _write(self, rows: list[tuple[str, str, str | None, str]]) -> None:
        """Upsert rows (a run or assistant keeps its first ``seq``: the load order)."""
        with self.lock:
            if self.closed:
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                for table, object_id, thread_id, body in rows:
                    self.seq += 1
                    if table == "runs":
                        self.conn.execute("INSERT INTO runs (id, thread_id, seq, body) VALUES (?, ?, ?, ?) "
                                          "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                                          (object_id, thread_id, self.seq, body))
                    elif table == "assistants":
                        self.conn.execute("INSERT INTO assistants (id, seq, body) VALUES (?, ?, ?) "
                                          "ON CONFLICT (id) DO UPDATE SET body = excluded.body",
                                          (object_id, self.seq, body))
                    else:
                        self.conn.execute("INSERT OR REPLACE INTO threads (id, body) VALUES (?, ?)",
                                          (object_id, body))
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc)

    def delete(self, object_id: str) -> None:
        """Delete an assistant, a run, or a thread with its runs."""
        with self.lock:
            if self.closed:
                return
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                self.conn.execute("DELETE FROM assistants WHERE id = ?", (object_id,))
                self.conn.execute("DELETE FROM threads WHERE id = ?", (object_id,))
                self.conn.execute("DELETE FROM runs WHERE id = ? OR thread_id = ?", (object_id, object_id))
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._failed(exc)

    def _failed(self, exc: sqlite3.Error) -> None:
        """Roll back and answer a 500 naming the file and SQLite's reason."""
        if self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        raise ErrorAnswer(500, f"This server could not write its database {self.path}: "
                               f"{' '.join(str(exc).split())}", None, "server_error", "server_error")

    def close(self) -> None:
        """Remember when the server stopped (runs not ended by then end at it), then close."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
            try:
                self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('stopped_at', ?)",
                                  (repr(time.time()),))
            except sqlite3.Error:
                pass
            self.conn.close()
