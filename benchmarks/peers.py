"""8. Sweeps beside what users would pick with the openai SDK, in the same run.

Three ways to make N runs at concurrency C against the same server, each read to its reply:

- ``threadrun.run(...)`` over a grid (stream, ``log=False``),
- ``AsyncOpenAI`` with ``asyncio.gather`` and an ``asyncio.Semaphore(C)``
  (``create_and_run_poll`` + ``messages.list`` per run, one client per sweep),
- the sync SDK in a ``ThreadPoolExecutor(C)`` (the same two calls, one client).

At latency 0.2 s for 200 and 1,000 runs at concurrency 8, 16, 32, 64: wall time as a ratio
of the ideal ``ceil(N / C) × 0.2 s``, and client CPU per run (this process's CPU time over the
sweep / N: every thread, the server is in its own process). At latency 0 (the saturation
table): runs/s and client CPU ms per run, with the server's busy share of one core beside it,
so one can tell whether the client (CPU, GIL) or the server is the limit.
Variants are interleaved per (N, C) cell, in a rotated order.
"""
from __future__ import annotations

import asyncio
import math
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .common import MESSAGES, MODELS4, TEMPERATURES5, THREAD, Result, ServerProcess
from .runners import MODEL, TEMPERATURE, Runners

SERVER_S = 0.2
CONCURRENCY = (8, 16, 32, 64)

THREADRUN = "threadrun.run() stream"
ASYNC = "AsyncOpenAI + gather + Semaphore"
POOL = "openai SDK in ThreadPoolExecutor"


def _threadrun(url: str, runs: int, concurrency: int) -> None:
    import threadrun
    repeat = max(1, runs // (len(MODELS4) * len(TEMPERATURES5)))
    df = threadrun.run(THREAD, model=MODELS4, temperature=TEMPERATURES5, repeat=repeat,
                       concurrency=concurrency, base_url=url, log=False, progress=False)
    bad = int((df["status"] != "completed").sum())
    if bad or len(df) != runs:
        raise RuntimeError(f"threadrun sweep: {bad} of {len(df)} runs did not complete")


def _async(url: str, assistant_id: str, runs: int, concurrency: int) -> None:
    import openai

    async def sweep() -> list[str]:
        client = openai.AsyncOpenAI(base_url=url, api_key="sk-benchmark-not-a-key")
        gate = asyncio.Semaphore(concurrency)

        async def one() -> str:
            async with gate:
                run = await client.beta.threads.create_and_run_poll(
                    assistant_id=assistant_id, model=MODEL, temperature=TEMPERATURE,
                    thread={"messages": MESSAGES})
                if run.status != "completed":
                    raise RuntimeError(f"AsyncOpenAI run ended {run.status}")
                page = await client.beta.threads.messages.list(run.thread_id)
                return "".join(p.text.value for m in page.data if m.role == "assistant"
                               for p in m.content if p.type == "text")
        try:
            return await asyncio.gather(*(one() for _ in range(runs)))
        finally:
            await client.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        replies = asyncio.run(sweep())
    if len(replies) != runs or not all(replies):
        raise RuntimeError("AsyncOpenAI sweep: a reply is missing")


def _pool(runners: Runners, runs: int, concurrency: int) -> None:
    with ThreadPoolExecutor(concurrency) as pool:
        replies = list(pool.map(lambda _: runners.sdk_poll(), range(runs)))
    if len(replies) != runs or not all(replies):
        raise RuntimeError("SDK thread-pool sweep: a reply is missing")


def _variants(server: ServerProcess, runners: Runners) -> dict[str, Callable[[int, int], None]]:
    return {THREADRUN: lambda n, c: _threadrun(server.url, n, c),
            ASYNC: lambda n, c: _async(server.url, runners.assistant_id, n, c),
            POOL: lambda n, c: _pool(runners, n, c)}


def _timed(server: ServerProcess, fn: Callable[[int, int], None], runs: int,
           concurrency: int) -> tuple[float, float, float]:
    """(wall s, client CPU s, server busy share of one core) of one sweep."""
    server.reset()
    w0, c0 = time.perf_counter(), time.process_time()
    fn(runs, concurrency)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    stats = server.stats()
    return wall, cpu, stats["cpu_s"] / max(stats["wall_s"], 1e-9)


def measure(server: ServerProcess, runners: Runners, sizes: tuple[int, ...],
            concurrencies: tuple[int, ...], saturation_runs: int,
            saturation_concurrency: tuple[int, ...]) -> list[Result]:
    variants = _variants(server, runners)
    server.set_latency(0.0)
    for fn in variants.values():  # warm up: imports, connections, the scratch assistant
        fn(20, 8)
    out: list[Result] = []
    server.set_latency(SERVER_S)
    for runs in sizes:
        for concurrency in concurrencies:
            ideal = math.ceil(runs / concurrency) * SERVER_S
            names = list(variants)
            shift = (sizes.index(runs) * len(concurrencies) + concurrencies.index(concurrency)) % len(names)
            measured = {}
            for name in names[shift:] + names[:shift]:
                measured[name] = _timed(server, variants[name], runs, concurrency)
            for name in variants:
                wall, cpu, busy = measured[name]
                out.append(Result("8", f"{runs} runs × 200 ms, concurrency {concurrency}: {name}", wall,
                                  "s", 1, f"{wall / ideal:.2f}× ideal ({ideal:.2f} s) · "
                                  f"{cpu / runs * 1000:.2f} ms CPU/run",
                                  "reported", None))
    server.set_latency(0.0)
    for concurrency in saturation_concurrency:
        measured = {name: _timed(server, fn, saturation_runs, concurrency) for name, fn in variants.items()}
        for name, (wall, cpu, busy) in measured.items():
            out.append(Result("8", f"saturation, 0 ms server, {saturation_runs} runs, concurrency "
                              f"{concurrency}: {name}", saturation_runs / wall, "runs/s", 1,
                              f"{cpu / saturation_runs * 1000:.2f} ms client CPU/run · "
                              f"client {cpu / wall * 100:.0f}% of a core · server {busy * 100:.0f}%",
                              "reported", None))
    return out

