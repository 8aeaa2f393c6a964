"""Timings without queues, timeouts that bound, progress that tells (issue 19, points 4, 5, 6).

A provider's ``concurrency`` holds runs past it ``queued`` in the runtime, untimed: ``ttft_s``
and ``latency_s`` start when the upstream request starts and ``queue_s`` is the wait. Our
stand-in upstream answers after a fixed, known delay, so both bounds of every time are known.
``--timeout`` (sent to the runtime as a header) and a provider's ``timeout`` bound each upstream
read: a silent provider fails the run there, in one line naming the bound.
"""
from __future__ import annotations

import time

import pytest

import threadrun
from standin_upstream import StandIn
from threadrun.grid import sweep as sweep_module
from threadrun.grid.plan import Job
from threadrun.rows.result import RunResult

DELAY = 0.6  # the stand-in's service time per request, seconds


@pytest.fixture
def provider(isolated):
    """A stand-in upstream behind a providers.toml table ``slow`` with the given extra fields."""
    started: list[StandIn] = []

    def start(fields: str = "", **kwargs) -> StandIn:
        standin = StandIn(**kwargs)
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.slow]\nbase_url = "{standin.url}"\napi = "chat"\nkey_required = false\n'
            f'token_cap = "max_tokens"\nlocal = true\n{fields}')
        started.append(standin)
        return standin

    yield start
    for standin in started:
        standin.close()


def grid(repeat: int, **options):
    return threadrun.run("user: Say hello.", model="slow:m", repeat=repeat, log=False,
                         progress=False, **options)


@pytest.mark.parametrize("stream", [True, False])
def test_a_one_slot_provider_queues_runs_untimed_and_says_how_long_they_waited(provider, stream):
    standin = provider("concurrency = 1\n", delay=DELAY)
    df = grid(4, concurrency=8, stream=stream)
    assert list(df["status"]) == ["completed"] * 4, df["error"].tolist()
    assert standin.peak == 1  # the provider never had two requests at once
    # each run is timed from its own upstream request: about one service time, not a queue
    assert df["latency_s"].between(DELAY * 0.9, DELAY + 1.5).all(), df["latency_s"].tolist()
    if stream:
        assert df["ttft_s"].between(DELAY * 0.9, DELAY + 1.5).all(), df["ttft_s"].tolist()
    waits = sorted(df["queue_s"])
    assert 0 <= waits[0] < 0.5, waits  # the first run did not wait
    # the k-th run waited for k-1 service times (polling sees the start a poll later)
    for k, wait in enumerate(waits):
        assert DELAY * k * 0.9 - 0.05 <= wait <= DELAY * k + 1.5 + 0.3 * k, waits


def test_runs_of_a_provider_without_concurrency_are_not_queued(provider):
    standin = provider(delay=DELAY)
    df = grid(3, concurrency=3)
    assert list(df["status"]) == ["completed"] * 3
    assert standin.peak == 3
    assert df["queue_s"].between(0, 0.5).all(), df["queue_s"].tolist()
    assert df["ttft_s"].between(DELAY * 0.9, DELAY + 1.5).all()


def test_local_presets_serve_one_run_at_a_time_and_the_fields_are_checked(isolated):
    from threadrun import providers
    known = providers.providers()
    assert {name: known[name].concurrency for name in ("llamacpp", "ollama", "lmstudio")} == {
        "llamacpp": 1, "ollama": 1, "lmstudio": 1}
    assert known["openai"].concurrency is None and known["openai"].timeout is None
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    for bad, words in (("concurrency = 0", "between 1 and 1024"), ("concurrency = true", "expected int"),
                       ("timeout = -1", "between 0.5 and 3600"), ('timeout = "5"', "expected float")):
        (home / "providers.toml").write_text(f'[providers.x]\nbase_url = "http://127.0.0.1:1/v1"\n{bad}\n')
        with pytest.raises(threadrun.ValidationError, match=words):
            providers.providers()


@pytest.mark.parametrize("stream", [True, False])
def test_a_silent_provider_fails_the_run_at_the_timeout_in_one_line(provider, stream):
    provider(mode="silent")
    begun = time.monotonic()
    df = grid(1, timeout=2, stream=stream)
    elapsed = time.monotonic() - begun
    assert 1.9 <= elapsed <= 12, elapsed  # the stand-in stays silent for 30 s
    assert df["status"][0] == "failed"
    error = df["error"][0]
    assert "slow: no answer for 2 s, the read timeout" in error and "\n" not in error


def test_a_providers_timeout_field_bounds_its_reads(provider):
    provider("timeout = 1.5\n", mode="silent")
    begun = time.monotonic()
    df = grid(1)  # the client's own timeout is the default 120 s: the provider's is tighter
    elapsed = time.monotonic() - begun
    assert 1.4 <= elapsed <= 12, elapsed
    assert df["status"][0] == "failed" and "no answer for 1.5 s" in df["error"][0]


def test_the_runtime_bounds_the_timeout_header_and_refuses_a_bad_one():
    from threadrun.server.slots import HIGH, LOW, client_timeout
    from threadrun.server.validate import ErrorAnswer
    assert client_timeout({}) is None
    assert client_timeout({"x-threadrun-timeout": "7.5"}) == 7.5
    assert client_timeout({"x-threadrun-timeout": "1e9"}) == HIGH
    assert client_timeout({"x-threadrun-timeout": "0.001"}) == LOW
    for bad in ("0", "-3", "nan", "inf", "sk-secret"):
        with pytest.raises(ErrorAnswer) as raised:
            client_timeout({"x-threadrun-timeout": bad})
        assert raised.value.status == 400 and "sk-secret" not in str(raised.value.body())


def test_the_timeout_header_carries_only_the_number_of_seconds():
    """What the client tells the runtime: a number, nothing secret (seen by a stand-in server)."""
    from standin_assistants import ASSISTANT_ID, StandIn as StandInAssistants
    from threadrun.client import Client
    with StandInAssistants() as server:
        client = Client(server.url, "sk-client-SECRET-123456", timeout=7)
        result = client.run({"assistant_id": ASSISTANT_ID,
                             "thread": {"messages": [{"role": "user", "content": "hi"}]}},
                            stream=False)
        client.close()
        creates = [seen for seen in server.seen if seen.method == "POST"]
    assert result.status == "completed", result.error
    headers = [{k.lower(): v for k, v in seen.headers.items()} for seen in creates]
    assert creates and all(h["x-threadrun-timeout"] == "7" for h in headers)


class Bar:
    """A progress bar that records what the sweep told it."""

    def __init__(self) -> None:
        self.postfixes: list[dict] = []
        self.refreshes = 0
        self.updates = 0

    def update(self, n: int) -> None:
        self.updates += n

    def set_postfix(self, ordered_dict=None, refresh: bool = True, **kwargs) -> None:
        self.postfixes.append(dict(ordered_dict or {}, **kwargs))

    def refresh(self) -> None:
        self.refreshes += 1

    def close(self) -> None:
        pass


def test_the_progress_bar_counts_completed_incomplete_and_failed_apart():
    jobs = [Job(i, "echo:m", None, 0, {"assistant_id": "asst_1"}) for i in range(5)]
    sweep = sweep_module.Sweep(None, jobs)  # type: ignore[arg-type]  # _record needs no client
    sweep._bar = bar = Bar()
    for job, status in zip(jobs, ("completed", "incomplete", "failed", "cancelled", "completed")):
        sweep._record(job, RunResult(body=job.body, status=status))
    assert bar.updates == 5
    assert bar.postfixes[-1] == {"completed": 2, "incomplete": 1, "failed": 2}
    assert bar.postfixes[1] == {"completed": 1, "incomplete": 1, "failed": 0}


def test_the_progress_bar_keeps_moving_while_runs_wait(provider, monkeypatch):
    provider("concurrency = 1\n", delay=1.0)
    bars: list[Bar] = []
    monkeypatch.setattr(sweep_module, "_progress_bar", lambda total: bars.append(Bar()) or bars[-1])
    monkeypatch.setattr(sweep_module, "REFRESH_S", 0.25)
    begun = time.monotonic()
    df = threadrun.run("user: hi", model="slow:m", repeat=2, log=False, progress=True)
    elapsed = time.monotonic() - begun
    assert list(df["status"]) == ["completed"] * 2
    # redrawn about every 0.25 s while the two 1 s runs waited, not only when a run ended
    assert 4 <= bars[0].refreshes <= elapsed / 0.25 + 1, (bars[0].refreshes, elapsed)
