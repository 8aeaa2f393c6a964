"""The persistent run log: every run's row appended to a SQLite file before it is displayed.

One table, ``runs``, one row per run, in insertion order. The schema is versioned with
``PRAGMA user_version``: version N means the first N scripts of ``MIGRATIONS`` were applied.
Opening an older file upgrades it in place (one transaction); a newer file is refused.
Datetimes are stored as Unix seconds (REAL), missing values as NULL; ``read()`` gives back
exactly ``row.frame()`` of the rows that were appended. The full run JSON and request body
are kept too (they hold no API key: the key only ever travels in HTTP headers).
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import math
import os
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .. import config, scrub
from ..errors import RunLogError, ValidationError, one_line
from . import row
from .migrations import MIGRATIONS, VERSION

TABLE = "runs"
BUSY_TIMEOUT_MS = 30000


_SQL_TYPE = {row.UTC: "REAL", "float64": "REAL", "Int64": "INTEGER", "bool": "INTEGER"}  # else TEXT
_SELECT = ", ".join(f'"{name}"' for name in row.COLUMNS)
_INSERT = (f'INSERT INTO {TABLE} ({_SELECT}, run_json, body_json, logged_at, request_hash, '
           f'thread_hash) VALUES ({", ".join("?" * (len(row.COLUMNS) + 5))})')
#: SQLite's default cap on a statement's parameters is 999 (older builds): lookups go in chunks.
_CHUNK = 900


def default_path() -> Path:
    """The log file: ``$THREADRUN_LOG``, else ``config.home() / "runs.sqlite"``."""
    return config.log_path()


class RunLog:
    """One SQLite run log; safe to share between threads, and between processes via SQLite locks."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._holders = 0  # sweep workers still running: close() waits for them (``hold``)
        self._closing = False
        if self.path.is_dir():
            raise RunLogError(f"cannot open the run log {self.path}: it is a folder, not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            reason = "a file has that name" if isinstance(exc, FileExistsError) else one_line(exc)
            raise RunLogError(f"cannot open the run log {self.path}: cannot create the folder "
                                 f"{exc.filename or self.path.parent}: {reason}") from None
        self._conn = _connect(self.path)
        with _closed_on_error(self._conn, self.path):
            _migrate(self._conn, self.path)

    def __repr__(self) -> str:
        return f"RunLog({str(self.path)!r})"

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (once the last holder released it); later calls raise."""
        with self._lock:
            self._closing = True
            if self._holders == 0 and self._conn is not None:
                self._conn.close()
                self._conn = None

    def hold(self, holders: int = 1) -> None:
        """Keep the log open for ``holders`` more users (sweep workers) until each ``release``s."""
        with self._lock:
            self._holders += holders

    def release(self) -> None:
        """One holder is done; the last one closes the log if ``close()`` was called meanwhile."""
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and self._closing and self._conn is not None:
                self._conn.close()
                self._conn = None

    def append(self, row_: dict, *, run: dict | None = None, body: dict | None = None,
               secrets: dict[str, str] | None = None,
               keys: tuple[str | None, str | None] = (None, None)) -> None:
        """Insert one row (and its run JSON and body) in its own committed transaction.

        Known keys (``scrub``; ``secrets`` when the caller looked them up already) are masked.
        ``keys``: the request's and its thread's identities (``grid.cache``), for replays and
        forecasts.
        """
        secrets = scrub.known() if secrets is None else secrets  # an echoed key is never stored
        values = [_to_sql(row_.get(name), dtype) for name, dtype in row.COLUMNS.items()]
        values = [scrub.scrub(v, secrets) if isinstance(v, str) else v for v in values]
        values += [scrub.scrub(_dumps(run), secrets), scrub.scrub(_dumps(body), secrets), time.time(),
                   *keys]
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute(_INSERT, values)
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.Error as exc:
                raise self._error("could not append a row to", exc) from None

    def read(self, *, label: str | None = None, model: str | None = None,
             since: Any = None) -> pd.DataFrame:
        """The logged rows (optionally one label / model / created at or after ``since``) as row.frame()."""
        where, params = _filters(label, model, since)
        sql = f"SELECT {_SELECT} FROM {TABLE}{where} ORDER BY seq"
        with self._lock:
            records = self._query(sql, params, "could not read")
        return _frame(records)

    def completed_cells(self, label: str, with_input: bool = False) -> set[tuple]:
        """The (provider, model, temperature, reasoning_effort, repeat) of each completed row of a
        label; ``with_input``: and its input label last (``--over``: the input is part of a cell)."""
        extra = ", input" if with_input else ""
        sql = (f'SELECT provider, model, temperature, reasoning_effort, "repeat"{extra} FROM {TABLE} '
               f'WHERE label = ? AND status = ?')
        with self._lock:
            return set(self._query(sql, (label, "completed"), "could not read"))

    def replays(self, hashes: list[str]) -> dict[str, dict[str, Any]]:
        """The latest completed row of each request identity found, as a row dict (by hash)."""
        found: dict[str, tuple] = {}
        for start in range(0, len(hashes), _CHUNK):
            part = hashes[start:start + _CHUNK]
            sql = (f'SELECT request_hash, {_SELECT} FROM {TABLE} WHERE status = ? AND request_hash '
                   f'IN ({", ".join("?" * len(part))}) ORDER BY seq')
            with self._lock:
                for record in self._query(sql, ("completed", *part), "could not read"):
                    found[record[0]] = record[1:]  # ordered by seq: the latest wins
        return _row_dicts(found)

    def completed(self, hashes: list[str]) -> set[str]:
        """The request identities among ``hashes`` that have a completed run logged."""
        found: set[str] = set()
        for start in range(0, len(hashes), _CHUNK):
            part = hashes[start:start + _CHUNK]
            sql = (f'SELECT DISTINCT request_hash FROM {TABLE} WHERE status = ? AND request_hash '
                   f'IN ({", ".join("?" * len(part))})')
            with self._lock:
                found.update(h for (h,) in self._query(sql, ("completed", *part), "could not read"))
        return found

    def history(self, thread_hashes: list[str]) -> tuple[dict[str, float], dict[tuple, tuple]]:
        """What the log knows for a forecast: the mean prompt tokens of each thread identity
        found, and per (provider, model): completed runs, mean and max completion tokens, mean
        latency."""
        prompts: dict[str, float] = {}
        for start in range(0, len(thread_hashes), _CHUNK):
            part = thread_hashes[start:start + _CHUNK]
            sql = (f'SELECT thread_hash, AVG(prompt_tokens) FROM {TABLE} WHERE prompt_tokens IS NOT '
                   f'NULL AND thread_hash IN ({", ".join("?" * len(part))}) GROUP BY thread_hash')
            with self._lock:
                prompts.update(self._query(sql, part, "could not read"))
        sql = (f'SELECT provider, model, COUNT(*), AVG(completion_tokens), MAX(completion_tokens), '
               f'AVG(latency_s) FROM {TABLE} WHERE status = ? AND completion_tokens IS NOT NULL '
               f'GROUP BY provider, model')
        with self._lock:
            models = {(p, m): tuple(rest) for p, m, *rest in self._query(sql, ("completed",), "could not read")}
        return prompts, models

    def run_json(self, run_id: str) -> dict | None:
        """The run object logged with this run id (the latest if several), else None."""
        return self._json("run_json", run_id)

    def body_json(self, run_id: str) -> dict | None:
        """The request body logged with this run id (the latest if several), else None."""
        return self._json("body_json", run_id)

    def _json(self, column: str, run_id: str) -> dict | None:
        """One JSON column of the latest row with this run id."""
        sql = f"SELECT {column} FROM {TABLE} WHERE run_id = ? ORDER BY seq DESC LIMIT 1"
        with self._lock:
            found = next(iter(self._query(sql, (run_id,), "could not read")), None)
        return json.loads(found[0]) if found and found[0] is not None else None

    def _connection(self) -> sqlite3.Connection:
        """The open connection (call with the lock held)."""
        if self._conn is None:
            raise RunLogError(f"the run log {self.path} is closed")
        return self._conn

    def _query(self, sql: str, params: Any, doing: str) -> list[tuple]:
        """All rows of one SELECT (call with the lock held); a SQLite failure is one line."""
        conn = self._connection()
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise self._error(doing, exc) from None

    def _error(self, doing: str, exc: BaseException) -> RunLogError:
        """The one-line error for a SQLite failure on this log ("database is locked", disk full)."""
        return RunLogError(f"{doing} the run log {self.path}: {one_line(exc)}")


def log(label: str | None = None, model: str | None = None, since: Any = None,
        path: Any = None) -> pd.DataFrame:
    """Every logged run (optionally filtered) as a DataFrame with the columns of every result."""
    target = Path(path) if path is not None else default_path()
    if not target.exists():
        return row.frame([])
    with RunLog(target) as runlog:
        return runlog.read(label=label, model=model, since=since)


# -- helpers -------------------------------------------------------------------------------------

def _connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (explicit transactions), WAL, NORMAL sync, busy timeout."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:  # a folder, a read-only or missing location, no permission
        raise RunLogError(f"cannot open the run log {path}: {one_line(exc)}") from None
    with _closed_on_error(conn, path):
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = _wal(conn)
        if str(mode).lower() != "wal":
            raise RunLogError(f"the run log {path} cannot use WAL mode (journal mode {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _wal(conn: sqlite3.Connection, tries: int = 200) -> str:
    """Switch to WAL; SQLite answers "database is locked" at once, without its busy handler,
    while another process is creating or converting the same file, so wait and try again."""
    for attempt in range(tries):
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            time.sleep(0.02 + 0.03 * random.random())
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _closed_on_error(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """Close ``conn`` if the block fails; an SQLite error becomes a one-line RunLogError."""
    try:
        yield
    except sqlite3.Error as exc:
        conn.close()
        raise RunLogError(f"cannot open the run log {path}: {one_line(exc)}") from None
    except BaseException:
        conn.close()
        raise


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the file up to VERSION in one transaction; refuse a file from a newer threadrun."""
    if _user_version(conn) == VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")  # re-read under the write lock: another process may migrate
    try:
        found = _user_version(conn)
        if found > VERSION:
            raise RunLogError(f"the run log {path} has schema version {found}, newer than "
                                 f"version {VERSION} that this threadrun knows; upgrade threadrun")
        for script in MIGRATIONS[found:]:
            for statement in _statements(script):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already (it does on disk full, I/O errors);
    a failing rollback must not hide the error that caused it."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


def _user_version(conn: sqlite3.Connection) -> int:
    """The file's schema version."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _statements(script: str) -> list[str]:
    """The statements of a migration script (no semicolons inside literals, by convention)."""
    return [s.strip() for s in script.split(";") if s.strip()]


def _to_sql(value: Any, dtype: str) -> Any:
    """One row value as SQLite stores it: NULL for missing, seconds for datetimes."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if dtype == row.UTC and isinstance(value, (_dt.datetime, pd.Timestamp)):
        return _seconds(value)
    if dtype == "object" and isinstance(value, int) and not isinstance(value, bool):
        return int(value)  # an input's int label stays an int (its column has no type)
    kind = _SQL_TYPE.get(dtype, "TEXT")
    if kind == "INTEGER":
        return int(value)
    if kind == "REAL":
        number = float(value)
        return None if math.isnan(number) else number
    return str(value)


def _seconds(value: Any) -> float:
    """Unix seconds of a datetime, Timestamp or ISO string; naive times are taken as UTC."""
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.timestamp()


def _dumps(obj: dict | None) -> str | None:
    """The JSON text stored for a run or a body."""
    return None if obj is None else json.dumps(obj, ensure_ascii=False)


def _filters(label: str | None, model: str | None, since: Any) -> tuple[str, list[Any]]:
    """The WHERE clause and its parameters for read()."""
    clauses: list[str] = []
    params: list[Any] = []
    if label is not None:
        clauses.append("label = ?")
        params.append(label)
    if model is not None:
        from ..providers import split_spec
        provider, name = split_spec(model)
        clauses.append("model = ?")
        params.append(name)
        if provider is not None:  # "openai:gpt-5-mini" = that provider's model only
            clauses.append("provider = ?")
            params.append(provider)
    if since is not None:
        try:
            params.append(_seconds(since))
        except (ValueError, TypeError):
            raise ValidationError(f"since expects a date or time such as 2026-11-25 or "
                                  f"2026-11-25T14:00, got {since!r}", param="since") from None
        clauses.append("created_at >= ?")
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _row_dicts(records: dict[str, tuple]) -> dict[str, dict[str, Any]]:
    """Logged records (by key) as row dicts with their columns' Python values (times in seconds)."""
    names = list(row.COLUMNS)
    out = {}
    for key, record in records.items():
        values = dict(zip(names, record))
        values["cached"] = bool(values["cached"])
        out[key] = values
    return out


def _frame(records: list[tuple]) -> pd.DataFrame:
    """row.frame() of the selected records, built column-wise."""
    if not records:
        return row.frame([])
    table = pd.DataFrame.from_records(records, columns=list(row.COLUMNS), coerce_float=False)
    for name in _UNTYPED:  # pandas reads ints beside NULLs as floats: 0 would show as 0.0
        at = _AT[name]
        table[name] = pd.Series([record[at] for record in records], dtype=object)
    return row.frame(table)


#: The columns whose values keep their own type, as in a run's rows: an input's label, an int or a str.
_UNTYPED = ("input",)
_AT = {name: list(row.COLUMNS).index(name) for name in _UNTYPED}


__all__ = ["MIGRATIONS", "VERSION", "RunLog", "default_path", "log"]
