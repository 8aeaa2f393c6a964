"""Test helper: append rows to a run log, printing each run id once append() has returned.

Usage: python runlog_writer.py LOG PREFIX COUNT [GO_FILE]
Waits for GO_FILE to exist (if given) before opening the log, so several writers start together.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from threadrun.rows.runlog import RunLog


def fake_row(run_id: str, i: int) -> dict:
    """A row with every column of COLUMNS."""
    return {
        "run_id": run_id, "thread_id": f"thread_{run_id}", "assistant_id": "asst_writer",
        "model": "gpt-4o-mini", "temperature": 0.5, "top_p": None, "status": "completed",
        "prompt_tokens": 10 + i, "completion_tokens": 5, "total_tokens": 15 + i,
        "cost_usd": 0.0001 * i, "latency_s": 0.25, "created_at": 1_700_000_000 + i,
        "completed_at": 1_700_000_001 + i, "reply": f"reply {i} " + "x" * 200, "error": None,
        "label": "writer", "repeat": i, "retries": 0, "request_id": f"req_{run_id}",
    }


def main() -> None:
    path, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:
        go = Path(sys.argv[4])
        while not go.exists():
            time.sleep(0.001)
    with RunLog(path) as runlog:
        for i in range(count):
            run_id = f"{prefix}-{i}"
            runlog.append(fake_row(run_id, i), run={"id": run_id, "object": "thread.run"},
                          body={"model": "gpt-4o-mini", "n": i})
            print(run_id, flush=True)


if __name__ == "__main__":
    main()
