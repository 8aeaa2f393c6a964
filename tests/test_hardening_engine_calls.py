"""Issue 21 points 1 and 2: every engine call is stoppable and bounded, and its retries never
outlive the run.

The runtime under test is a local server whose engines call a hostile stand-in upstream on
127.0.0.1: a 429 with ``retry-after: 3600``, a silent upstream, a stream that stalls after its
headers. Time bounds are checked on both sides with wide margins (2 shared cores).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import threadrun
from standin_upstream import StandIn
from threadrun.server.engines import calls

KEY = "sk-standin-SECRET-0123456789"
#: A hang is forever (the engines' read timeout is 300 s); anything under this did not hang.
HANG_S = 30.0


@pytest.fixture
def upstream(isolated, monkeypatch):
    """``start(**kw)`` → a stand-in named by providers ``slow`` (chat), ``slow-r`` (responses)
    and ``fast`` (a second, well-behaved stand-in)."""
    monkeypatch.setenv("STANDIN_KEY", KEY)
    started: list[StandIn] = []

    def start(**kwargs):
        slow, fast = StandIn(**kwargs), StandIn()
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        table = 'api = "{api}"\nkey_env = "STANDIN_KEY"\ncheck_models = false\n'
        (home / "providers.toml").write_text(
            f'[providers.slow]\nbase_url = "{slow.url}"\n' + table.format(api="chat")
            + f'\n[providers.slow-r]\nbase_url = "{slow.url}"\n' + table.format(api="responses")
            + f'\n[providers.fast]\nbase_url = "{fast.url}"\n' + table.format(api="chat"))
        started.extend([slow, fast])
        return slow

    yield start
    for standin in started:
        standin.close()


def run(server, model: str, **options):
    return threadrun.run("user: Say hello.", model=model, base_url=server.url, log=False,
                         progress=False, **options).iloc[0]


def one_worker(server) -> None:
    """The runtime gets one engine worker: a call that outlives its run blocks the next run."""
    server.app.pool = ThreadPoolExecutor(1, "threadrun-engine-test")


def wait_until(predicate, seconds: float) -> float:
    """Seconds until ``predicate()`` held (``seconds`` is the bound; inf if it never did)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.05)
    return float("inf")


@pytest.mark.parametrize("stream", [True, False])
def test_a_429_asking_an_hour_is_not_resent_after_the_deadline_and_frees_the_worker(
        server, upstream, stream):
    """Catches: the engine sleeping out retry-after (capped at 60 s) on its worker and sending
    the POST again at 60 s and 120 s, after the run was cancelled at its deadline."""
    slow = upstream(fail_first=100, retry_after="3600")
    one_worker(server)
    started = time.monotonic()
    row = run(server, "slow:m", stream=stream, deadline=2)
    assert row["status"] == "cancelled" and 1.5 <= time.monotonic() - started < HANG_S
    assert wait_until(lambda: calls.live() == 0, 5.0) < 5.0  # the engine call ended
    fast = run(server, "fast:m", stream=stream, deadline=10)
    assert fast["status"] == "completed"  # the one worker was free
    time.sleep(1.0)
    assert len(slow.requests) == 1  # never sent again


def test_the_clients_retry_count_is_the_engines(server, upstream):
    """Catches: the engine retrying twice whatever the client's ``max_retries`` (0 here)."""
    slow = upstream(fail_first=100, retry_after="0")
    row = run(server, "slow:m", stream=False, max_retries=0, deadline=20)
    assert row["status"] == "failed" and "429" in row["error"]
    assert len(slow.requests) == 1
    slow.requests.clear()
    row = run(server, "slow:m", stream=False, max_retries=1, deadline=20)
    assert row["status"] == "failed" and len(slow.requests) == 2


def test_the_server_side_budget_ends_a_call_the_client_stopped_watching(server, upstream):
    """Catches: no budget per engine call, so a call whose cancel never lands keeps its worker
    through minutes of retries: the budget is the client's deadline plus a grace."""
    slow = upstream(fail_first=100, retry_after="3600")
    one_worker(server)
    server.set_fault("500=1,route=cancel")  # the client's cancel never lands
    started = time.monotonic()
    run(server, "slow:m", stream=False, max_retries=2, deadline=1)
    fast = run(server, "fast:m", stream=False, deadline=15)
    took = time.monotonic() - started
    assert fast["status"] == "completed"  # the worker was freed by the budget alone
    assert 1 + calls.DEADLINE_GRACE_S <= took < HANG_S
    assert len(slow.requests) == 1


@pytest.mark.parametrize("mode, stream", [("silent", False), ("silent", True), ("stall", True)])
def test_a_cancel_shuts_a_silent_upstream_call_down_and_frees_the_worker(server, upstream, mode, stream):
    """Catches: the abort registered only once headers arrived (a silent upstream is never cut)
    and a blocking ``response.close()`` on the cancel's own thread (a stream stalled after its
    headers: the cancel never answered); the worker was held until the 300 s read timeout."""
    slow = upstream(mode=mode)
    one_worker(server)
    started = time.monotonic()
    row = run(server, "slow:m", stream=stream, deadline=2, max_retries=0)
    took = time.monotonic() - started
    assert row["status"] == "cancelled" and 1.5 <= took < 2 + 8  # the cancel answered at once
    assert slow.aborted.wait(5.0)  # the upstream connection was shut down
    assert wait_until(lambda: calls.live() == 0, 5.0) < 5.0
    assert run(server, "fast:m", stream=stream, deadline=10)["status"] == "completed"


EXIT_SCRIPT = """
import threading, time, threadrun
from threadrun.server import local_server
from standin_upstream import StandIn
up = StandIn(mode="silent")
open(HOME + "/providers.toml", "w").write(
    f'[providers.slow]\\nbase_url = "{up.url}"\\napi = "chat"\\nkey_env = "STANDIN_KEY"\\n'
    'check_models = false\\n')
srv = local_server().__enter__()
threading.Thread(target=lambda: threadrun.run("user: hi", model="slow:m", base_url=srv.url,
                 log=False, progress=False, stream=False), daemon=True).start()
while not up.requests:
    time.sleep(0.05)
print("sent", flush=True)
"""


def test_interpreter_exit_does_not_wait_for_a_silent_upstream(isolated, tmp_path):
    """Catches: the engine's worker thread (joined at exit) blocked in a read of a silent
    upstream for the 300 s read timeout: the interpreter did not exit."""
    import os
    import subprocess
    import sys
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "THREADRUN_HOME": str(home), "STANDIN_KEY": KEY,
           "PYTHONPATH": os.pathsep.join([str(__import__("pathlib").Path(__file__).parent),
                                          *sys.path])}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", f"HOME = {str(home)!r}\n" + EXIT_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=HANG_S * 3)
    took = time.monotonic() - started
    assert "sent" in done.stdout, done.stderr[-2000:]
    assert 0.1 < took < HANG_S


def test_stopping_the_server_shuts_its_upstream_calls_down(upstream):
    """Catches: a server stopped while a provider is silent left its engine call running (until
    the 300 s read timeout), holding a socket and a thread after the server was gone."""
    from threadrun.client import Client
    from threadrun.server import local_server
    slow = upstream(mode="silent")
    before = calls.live()
    server = local_server().start()
    client = Client(server.url, "")
    try:
        asst = client.create_assistant("slow:m")["id"]
        client.post_json("/threads/runs", {"assistant_id": asst, "thread": {
            "messages": [{"role": "user", "content": "hi"}]}})
        assert wait_until(lambda: calls.live() == before + 1, 10.0) < 10.0  # the call is under way
        assert wait_until(lambda: len(slow.requests) == 1, 10.0) < 10.0
    finally:
        client.close()
        server.stop()
    took = wait_until(lambda: calls.live() == before, 5.0)
    assert 0.0 <= took < 5.0  # shut down at the stop, not at the read timeout
    assert slow.aborted.wait(5.0)  # the upstream saw its connection shut
