"""Issue 25 point 5: a burst of changes to a streamed run (an engine's pieces arriving together)
wakes the event loop once, not once per piece: each wake writes to the loop's self-pipe, a
syscall that hands the GIL to another thread of the kernel's process.
"""
from __future__ import annotations

import asyncio
import threading
import time

import requests

from threadrun.server import LocalServer

BURST = 100


def test_a_burst_of_run_changes_wakes_the_streams_loop_once_and_the_stream_still_ends(monkeypatch):
    """Catches: one call_soon_threadsafe per change (100 here), or a wake lost to the coalescing."""
    calls: list[str] = []
    original = asyncio.BaseEventLoop.call_soon_threadsafe

    def counted(self, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(getattr(callback, "__name__", ""))
        return original(self, callback, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_soon_threadsafe", counted)
    with LocalServer(latency=1.0) as srv:
        assistant = requests.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10).json()
        answer: dict = {}

        def stream() -> None:
            body = {"assistant_id": assistant["id"], "stream": True,
                    "thread": {"messages": [{"role": "user", "content": "hi"}]}}
            answer["text"] = requests.post(srv.url + "/threads/runs", json=body, timeout=10).text

        reader = threading.Thread(target=stream)
        reader.start()
        store = srv.app.store
        deadline = time.monotonic() + 5
        while not any(run.wakers for run in list(store.runs.values())):
            assert time.monotonic() < deadline, "the stream never listened"
            time.sleep(0.01)
        run = next(run for run in list(store.runs.values()) if run.wakers)
        calls.clear()
        with store.lock:  # as an engine's thread adds pieces: under the lock, one after another
            for _ in range(BURST):
                store.wake(run)
        woken = [name for name in calls if name != "set_result"]
        assert 1 <= len(woken) <= 3, woken  # one per burst (another if the loop ran in between)
        reader.join(10)
        assert "event: thread.run.completed" in answer["text"] and answer["text"].rstrip().endswith("[DONE]")
