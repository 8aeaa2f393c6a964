"""2. Client overhead per run with a 0 ms server: wall per run minus the server's own time.

The ≤ 5 ms target applies to threadrun's HTTP client (``Client.run``: create, follow, read the
reply), the same work as the SDK's ``create_and_run_poll`` + ``messages.list``. ``threadrun.run()``
rows are one whole call per run — parsing, planning, the scratch assistant (checked once per
client), handing the run to the shared workers and the DataFrame — a per-cell cost; both the
streamed and the polled (``stream=False``) call have a target too (issue #23 point 7): no more
than the SDK's pair of calls for the same run (``≤ 1× SDK``).
"""
from __future__ import annotations

import time

from .common import Result, ServerProcess, median, server_time_per_run
from .runners import Runners

TARGET_MS = 5.0
SDK = "openai SDK create_and_run_poll + messages.list"


def measure(server: ServerProcess, runners: Runners, runs: int) -> list[Result]:
    server.set_latency(0.0)
    variants = runners.variants()
    for fn in variants.values():  # warm up
        fn()
    overheads: dict[str, list[float]] = {}
    cpu_per_request: list[float] = []
    for name, fn in variants.items():
        server.reset()
        windows = []
        for _ in range(runs):
            t0 = time.monotonic()
            fn()
            windows.append((t0, time.monotonic()))
        stats = server.stats()
        server_s = server_time_per_run(windows, stats["requests"])
        overheads[name] = [(t1 - t0) - s for (t0, t1), s in zip(windows, server_s)]
        cpu_per_request.append(stats["cpu_s"] / max(1, len(stats["requests"])))
    sdk = median(overheads[SDK])
    out = []
    for name, values in overheads.items():
        m = median(values)
        enforced = "Client.run" in name
        whole_call = name.startswith("threadrun.run()")  # streamed and polled
        target = (f"≤ {TARGET_MS:g} ms" if enforced else "≤ 1× SDK" if whole_call else "reported")
        ok = m * 1000 <= TARGET_MS if enforced else m <= sdk if whole_call else None
        out.append(Result("2", f"client overhead per run, 0 ms server: {name}", m * 1000, "ms", len(values),
                          "" if name == SDK else f"{m / sdk:.2f}× SDK", target, ok))
    out.append(Result("2", "server: CPU per request (server process)", median(cpu_per_request) * 1000, "ms",
                      len(cpu_per_request), "", "reported", None))
    return out
