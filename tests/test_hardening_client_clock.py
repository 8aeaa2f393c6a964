"""Issue 21, the two properties the suite missed (planted bugs it did not catch): ``ttft_s`` is
timed at the first *text* event, and the deadline ends polling even when the server asks for
polls 20 s apart. Both against the local server; bounds checked on both sides, wide margins."""
from __future__ import annotations

import time

import threadrun
from standin_upstream import StandIn
from threadrun.server import local_server

LATE_S = 1.5  # the stand-in's wait before its first text (mode "late")


def test_ttft_is_timed_at_the_first_text_event_not_the_first_event(isolated, monkeypatch):
    """Catches: ``ttft_s`` taken at the first stream event of any kind (``thread.run.created``
    comes at once; the first text delta only when the upstream sends text, 1.5 s later)."""
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    with StandIn("late") as standin, local_server() as srv:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.late]\nbase_url = "{standin.url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n'
            'check_models = false\n')
        row = threadrun.run("user: hello there", model="late:m", base_url=srv.url, stream=True,
                            log=False, progress=False).iloc[0]
    assert row["status"] == "completed"
    assert LATE_S * 0.8 <= row["ttft_s"] <= row["latency_s"] < LATE_S + 20


def test_the_deadline_ends_polling_when_the_server_asks_for_polls_20_s_apart():
    """Catches: the wait between polls slept in full (a 20 s ``openai-poll-after-ms``) instead of
    ending at the run's deadline."""
    with local_server(latency=60.0, poll_after_ms=20_000) as srv:
        started = time.monotonic()
        row = threadrun.run("user: hi", base_url=srv.url, stream=False, log=False, progress=False,
                            deadline=2).iloc[0]
        took = time.monotonic() - started
    assert row["status"] == "cancelled"
    assert 1.5 <= took < 12  # a poll 20 s later would be past this
