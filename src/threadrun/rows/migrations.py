"""The run log's schema: numbered migrations, applied in order, one transaction per file opened.

``PRAGMA user_version`` = how many are applied; a new column is a new script at the end (never an
edit of an old one), plus its place in ``row.COLUMNS``.
"""
from __future__ import annotations

#: Numbered schema migrations; ``PRAGMA user_version`` = how many are applied.
MIGRATIONS: list[str] = [
    # 1: the 17 contract columns, the raw run and request body, and when the row was logged.
    """
    CREATE TABLE runs (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id TEXT, thread_id TEXT, assistant_id TEXT, model TEXT,
        temperature REAL, top_p REAL, status TEXT,
        prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
        cost_usd REAL, latency_s REAL,
        created_at REAL, completed_at REAL,
        reply TEXT, error TEXT, label TEXT,
        run_json TEXT, body_json TEXT,
        logged_at REAL NOT NULL
    );
    CREATE INDEX runs_run_id ON runs (run_id);
    """,
    # 2: the extra columns after the contract, and an index for label/model filters.
    """
    ALTER TABLE runs ADD COLUMN "repeat" INTEGER;
    ALTER TABLE runs ADD COLUMN retries INTEGER;
    ALTER TABLE runs ADD COLUMN request_id TEXT;
    CREATE INDEX runs_label_model ON runs (label, model);
    """,
    # 3: real models: the provider, reasoning effort and its tokens, cached tokens, time to
    # first token, and the tool calls a model asked for.
    """
    ALTER TABLE runs ADD COLUMN provider TEXT;
    ALTER TABLE runs ADD COLUMN reasoning_effort TEXT;
    ALTER TABLE runs ADD COLUMN reasoning_tokens INTEGER;
    ALTER TABLE runs ADD COLUMN cached_tokens INTEGER;
    ALTER TABLE runs ADD COLUMN ttft_s REAL;
    ALTER TABLE runs ADD COLUMN tool_calls TEXT;
    """,
    # 4: the settings the runtime's engine sent upstream (JSON), to check what differed.
    """
    ALTER TABLE runs ADD COLUMN sent TEXT;
    """,
    # 5: how long a run waited, queued, for a slot of its provider (not in latency_s or ttft_s).
    """
    ALTER TABLE runs ADD COLUMN queue_s REAL;
    """,
    # 6: inputs and scores (--over, --score): the input's index label (no type: an int label
    # stays an int), the score and the scorer's one-line error.
    """
    ALTER TABLE runs ADD COLUMN input;
    ALTER TABLE runs ADD COLUMN score REAL;
    ALTER TABLE runs ADD COLUMN score_error TEXT;
    """,
    # 7: tool calls answered by the client (model steps) and continued threads (the parent run).
    """
    ALTER TABLE runs ADD COLUMN steps INTEGER;
    ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
    """,
    # 8: free re-runs and service tiers (issue 23): the service tier the provider reported;
    # whether a row was replayed from the log (never stored as 1: a replay is not appended
    # again, so sums of the log count each run once); the request's identity (``grid.cache``) and its thread's (same thread, same
    # model: the forecast's prompt tokens), indexed so a replay or a forecast is one lookup.
    """
    ALTER TABLE runs ADD COLUMN service_tier TEXT;
    ALTER TABLE runs ADD COLUMN cached INTEGER;
    ALTER TABLE runs ADD COLUMN request_hash TEXT;
    ALTER TABLE runs ADD COLUMN thread_hash TEXT;
    CREATE INDEX runs_request_hash ON runs (request_hash, status);
    CREATE INDEX runs_thread_hash ON runs (thread_hash);
    """,
]
VERSION = len(MIGRATIONS)
