"""The local server under load: 50 concurrent clients x 20 runs, every request answered, memory flat."""
from __future__ import annotations

import gc
import os
import threading
import time
import tracemalloc
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests

from threadrun.server import local_server

CLIENTS, RUNS_EACH = 50, 20
MAX_RUNS = 200
from helpers import TERMINAL
FAULTS = "429=0.02,500=0.02,503=0.02,failed=0.05,seed=5,retry_after=0.01"


def _rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Tally:
    """What the clients saw, shared by all of them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.problems: list[str] = []
        self.finished = Counter()

    def saw(self, what: str, response: requests.Response) -> None:
        code = response.status_code
        with self.lock:
            self.statuses[f"{what} {code}"] += 1
            if code >= 500 and "(injected fault)" not in response.text:
                self.problems.append(f"{what}: {code} not injected: {response.text[:200]}")
            elif code >= 400 and code not in (429, 500, 503) and not (code == 404 and what == "messages"):
                self.problems.append(f"{what}: unexpected {code}: {response.text[:200]}")

    def problem(self, text: str) -> None:
        with self.lock:
            self.problems.append(text)


def _client(srv, asst: str, index: int, tally: Tally) -> None:
    """One client: RUNS_EACH runs, alternately streamed and polled, each read to its end."""
    with requests.Session() as session:
        for n in range(RUNS_EACH):
            body = {"assistant_id": asst, "model": "gpt-4o-mini", "temperature": 0.5,
                    "thread": {"messages": [{"role": "user", "content": f"client {index} run {n}"}]},
                    "stream": (index + n) % 2 == 0}
            try:
                _one_run(srv, session, body, tally)
            except requests.RequestException as exc:  # no answer at all: the thing we test for
                tally.problem(f"client {index} run {n}: no answer: {exc}")


def _one_run(srv, session: requests.Session, body: dict, tally: Tally) -> None:
    for _ in range(20):  # an injected 429/5xx on create is answered; ask again
        with session.post(srv.url + "/threads/runs", json=body, timeout=30,
                          stream=body["stream"]) as created:
            tally.saw("create", created)
            if created.status_code != 200:
                continue
            if body["stream"]:
                events = [line for line in created.iter_lines(decode_unicode=True)
                          if line.startswith("event:")]
                if events[-1:] != ["event: done"] or not any(
                        e[len("event: thread.run."):] in TERMINAL for e in events):
                    tally.problem(f"stream ended without a terminal event: {events[-3:]}")
                tally.finished["stream"] += 1
                return
            run = created.json()
        break
    else:
        tally.problem("create: 20 fault answers in a row")
        return
    path = f"{srv.url}/threads/{run['thread_id']}/runs/{run['id']}"
    while run["status"] not in TERMINAL:
        polled = session.get(path, timeout=30)
        tally.saw("poll", polled)
        if polled.status_code == 200:
            run = polled.json()
            time.sleep(int(polled.headers.get("openai-poll-after-ms", "10")) / 1000)
    messages = session.get(f"{srv.url}/threads/{run['thread_id']}/messages", timeout=30)
    tally.saw("messages", messages)
    tally.finished["poll"] += 1


def _wave(srv, asst: str) -> Tally:
    tally = Tally()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(_client, srv, asst, i, tally) for i in range(CLIENTS)]:
            future.result()
    return tally


def _connections_closed(srv, timeout: float = 10.0) -> None:
    """Wait until the server has closed every connection (each closes when its handler thread
    ends); a fixed sleep raced the handler threads on a loaded machine. Left open after
    ``timeout``, the measures that follow still say what was kept."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not srv.open_connections:
            return
        time.sleep(0.01)


def _store_sizes(srv) -> dict[str, int]:
    store = srv.app.store
    with store.lock:
        return {"runs": len(store.runs), "threads": len(store.threads),
                "assistants": len(store.assistants)}


def test_fifty_clients_get_every_answer_and_the_server_stays_bounded():
    started = time.monotonic()
    with local_server(latency=0.02, max_runs=MAX_RUNS, fault=FAULTS) as srv:
        srv.faults.script(["ok"], route="assistants")
        asst = requests.post(srv.url + "/assistants", json={"model": "gpt-4o"}, timeout=10).json()["id"]
        tracemalloc.start()
        try:
            memory, rss, sizes, tallies, created, logged = [], [], [], [], 0, []
            for _ in range(2):
                tallies.append(_wave(srv, asst))
                _connections_closed(srv)  # the last streams' handler threads have finished
                sizes.append(_store_sizes(srv))
                created += srv.runs_created
                logged.append(len(srv.requests))
                # the request log is a deque of at most 10,000 records by design; empty it so the
                # measure is of everything else (wave 2 repeats wave 1: it should add ~nothing)
                srv.reset_counts()
                gc.collect()
                memory.append(tracemalloc.get_traced_memory()[0])
                rss.append(_rss_bytes())
        finally:
            tracemalloc.stop()
        errors = srv.server_errors
    summary = (f"{time.monotonic() - started:.1f} s; traced {[m >> 10 for m in memory]} KiB; "
               f"rss {[r >> 20 for r in rss]} MiB; store {sizes}; "
               f"request log {logged}; answers {[dict(t.statuses) for t in tallies]}")
    for tally in tallies:
        assert tally.problems == [], (tally.problems[:5], summary)
        assert sum(tally.finished.values()) == CLIENTS * RUNS_EACH, summary
        assert tally.statuses["create 200"] == CLIENTS * RUNS_EACH, summary
    assert errors == [], errors[-1]
    assert created == 2 * CLIENTS * RUNS_EACH, summary
    for size in sizes:
        assert size["runs"] <= MAX_RUNS and size["threads"] <= MAX_RUNS, summary
    assert all(n <= 10_000 for n in logged), summary
    # flat: the second wave (the same work again) leaves next to nothing more behind
    assert memory[1] - memory[0] < max(1 << 20, memory[0] // 10), summary
    assert rss[1] - rss[0] < 32 << 20, summary
    print(summary)
