"""3. A 4 models × 5 temperatures × N repeats sweep of 200 ms runs at concurrency 16."""
from __future__ import annotations

import math
import time

from .common import FOOTNOTES, MODELS4, TEMPERATURES5, THREAD, Result, ServerProcess, median
from .runners import Runners

SERVER_S = 0.2
CONCURRENCY = 16
TARGET = 1.3


def _sweep(url: str, repeat: int, **options) -> float:
    import threadrun
    t0 = time.perf_counter()
    df = threadrun.run(THREAD, model=MODELS4, temperature=TEMPERATURES5, repeat=repeat,
                       concurrency=CONCURRENCY, base_url=url, progress=False, **options)
    wall = time.perf_counter() - t0
    bad = int((df["status"] != "completed").sum())
    if bad or len(df) != len(MODELS4) * len(TEMPERATURES5) * repeat:
        raise RuntimeError(f"sweep: {bad} of {len(df)} runs did not complete")
    return wall


def measure(server: ServerProcess, runners: Runners, repeat: int, rounds: int, log_path: str) -> list[Result]:
    server.set_latency(SERVER_S)
    runs = len(MODELS4) * len(TEMPERATURES5) * repeat
    ideal = math.ceil(runs / CONCURRENCY) * SERVER_S  # whole waves: a run cannot be split across slots
    variants = {
        "threadrun.run() stream, log=False": dict(log=False),
        "threadrun.run() poll, log=False": dict(log=False, stream=False),
        # fresh: each round sends its runs (the log would replay the last round's for free)
        "threadrun.run() stream, run log on": dict(log=log_path, fresh=True),
    }
    _sweep(server.url, 1, log=False)  # warm up
    times: dict[str, list[float]] = {name: [] for name in variants}
    busy: list[float] = []
    for _ in range(rounds):
        for name, options in variants.items():
            server.reset()
            times[name].append(_sweep(server.url, repeat, **options))
            stats = server.stats()
            busy.append(stats["cpu_s"] / stats["wall_s"])
    server.reset()
    t0 = time.perf_counter()
    for _ in range(runs):
        runners.sdk_poll()
    sdk = time.perf_counter() - t0
    out = []
    for name, values in times.items():
        m = median(values)
        out.append(Result("3", f"sweep {runs} runs × 200 ms, concurrency {CONCURRENCY}: {name}", m, "s",
                          len(values), f"{m / ideal:.2f}× ideal ({ideal:.2f} s)",
                          f"≤ {TARGET}× ideal", m <= TARGET * ideal))
    out.append(Result("3", "server: busy during the threadrun sweeps (CPU s / wall s)", median(busy) * 100, "%",
                      len(busy), "of one core", "reported", None))
    FOOTNOTES.append(f"Section 3 reference, not a peer anyone would pick: the same {runs} runs one after "
                     f"another with the sync openai SDK took {sdk:.2f} s ({sdk / ideal:.1f}× ideal); "
                     "section 8 compares with the SDK run concurrently.")
    return out
