"""Issue 21 point 3: engines read upstream answers with caps.

A hostile stand-in on 127.0.0.1 answers a gzip bomb, a 200 MB JSON reply, endless streamed
deltas and a tool call with endless arguments; each run becomes a clear ``failed`` row naming
the cap, and the runtime's memory grows by far less than the answer.
"""
from __future__ import annotations

import resource
import time

import pytest

import threadrun
from standin_upstream import StandIn
CAP_MB = 32  # reading.MAX_READ_BYTES, in MB (named here so the test runs on older code too)

KEY = "sk-standin-SECRET-0123456789"


@pytest.fixture
def upstream(isolated, monkeypatch):
    monkeypatch.setenv("STANDIN_KEY", KEY)
    started: list[StandIn] = []

    def start(mode: str) -> StandIn:
        standin = StandIn(mode)
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.bad]\nbase_url = "{standin.url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n'
            'check_models = false\n')
        started.append(standin)
        return standin

    yield start
    for standin in started:
        standin.close()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("mode, stream, what", [
    ("gzip-bomb", False, "answer"), ("huge", False, "answer"), ("endless", True, "reply"),
    ("huge-args", True, "tool call arguments"),
])
def test_an_answer_past_the_cap_is_a_failed_row_naming_the_cap(server, upstream, mode, stream, what):
    """Catches: a 200 MB answer (or a gzip bomb inflating to one) read whole into memory and
    kept as the row's reply; endless deltas or tool arguments read until the deadline."""
    upstream(mode)
    before = peak_rss_mb()
    started = time.monotonic()
    row = threadrun.run("user: hi", model="bad:m", base_url=server.url, log=False, progress=False,
                        stream=stream, deadline=60).iloc[0]
    took = time.monotonic() - started
    assert row["status"] == "failed", row["error"]
    assert what in row["error"] and " cap" in row["error"]
    assert ("32 MB" if what == "answer" else "2,000,000 characters") in row["error"]
    assert 0.0 < took < 50
    assert peak_rss_mb() - before < 150 + 2 * CAP_MB  # a 200 MB answer
    assert len(row["reply"] or "") < 1 << 20
