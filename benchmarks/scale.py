"""9. Client CPU per run against sweep size: flat from 100 to 100,000 runs (issue: ±10%).

Each size is one ``threadrun.run()`` sweep (stream, ``log=False``, concurrency 16) against the
local server in its own process at 0 ms; the client's CPU is this process's user + system time
(``getrusage``) over the sweep, divided by the runs. Completion tracking used to wait on every
future every 100 ms (O(N) per wake-up); it is O(1) per finished run now.
"""
from __future__ import annotations

import resource
import time

from .common import THREAD, Result, ServerProcess, median

CONCURRENCY = 16
SPREAD = 0.10  # every size within ±10% of the median CPU per run


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(server: ServerProcess, sizes: tuple[int, ...]) -> list[Result]:
    """One Result per sweep size, each with its share of the median."""
    import threadrun

    threadrun.run(THREAD, model="gpt-4o", base_url=server.url, log=False, progress=False, api_key="")
    cpu_ms: dict[int, float] = {}
    rate: dict[int, float] = {}
    for runs in sizes:
        server.reset()
        c0, t0 = _cpu(), time.perf_counter()
        df = threadrun.run(THREAD, model="gpt-4o", repeat=runs, base_url=server.url, log=False,
                           progress=False, concurrency=CONCURRENCY, api_key="")
        c1, t1 = _cpu(), time.perf_counter()
        if int((df["status"] == "completed").sum()) != runs:
            raise RuntimeError(f"scale: {runs}-run sweep did not complete every run")
        cpu_ms[runs], rate[runs] = 1000 * (c1 - c0) / runs, runs / (t1 - t0)
    mid = median(cpu_ms.values())
    return [Result("9", f"client CPU per run, {runs:,}-run sweep (0 ms server, concurrency "
                        f"{CONCURRENCY})", ms, "ms", 1, f"{ms / mid:.2f}× the median · {rate[runs]:.0f} runs/s",
                   f"within ±{SPREAD:.0%} of the median", abs(ms / mid - 1) <= SPREAD)
            for runs, ms in cpu_ms.items()]
