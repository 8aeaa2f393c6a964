"""5. Peak RSS of a large 0 ms sweep (in a child process; the server runs in another one), and
linear growth of the result frame (``df.memory_usage(deep=True).sum()``, N vs N/4 runs).

The child is ``python -m benchmarks.memory RUNS URL``; the parent reads the child's
``ru_maxrss`` with ``os.wait4`` (so only that child is counted), and the child reports its own
baseline after imports and the frame's size.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from .common import MODELS5, ROOT, TEMPERATURES5, THREAD, Result, ServerProcess, child_env

TARGET_MB = 300.0
CONCURRENCY = 16
GRID = len(MODELS5) * len(TEMPERATURES5)  # 25 runs per repeat


def child(runs: int, url: str) -> None:
    import resource

    import threadrun.api  # noqa: F401 - the imports, so the baseline includes pandas & co.
    import threadrun
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    df = threadrun.run(THREAD, model=MODELS5, temperature=TEMPERATURES5, repeat=runs // GRID,
                       concurrency=CONCURRENCY, base_url=url, progress=False)
    wall = time.perf_counter() - t0
    print(json.dumps({"rows": len(df), "completed": int((df["status"] == "completed").sum()),
                      "frame_bytes": int(df.memory_usage(deep=True).sum()), "wall_s": wall,
                      "baseline_kb": baseline,
                      "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def _run_child(runs: int, url: str) -> dict:
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.memory", str(runs), url],
                                stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT,
                                env=child_env(THREADRUN_HOME=home))
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"memory child ({runs} runs) failed: {err.read()[-2000:]}")
    report = json.loads(out.strip().splitlines()[-1])
    report["wait4_maxrss_kb"] = usage.ru_maxrss
    if report["completed"] != runs:
        raise RuntimeError(f"memory child: {runs - report['completed']} of {runs} runs did not complete")
    return report


def measure(server: ServerProcess, runs: int) -> list[Result]:
    server.set_latency(0.0)
    small = _run_child(runs // 4, server.url)
    server.reset()
    large = _run_child(runs, server.url)
    stats = server.stats()
    peak = large["wait4_maxrss_kb"] / 1024
    base = large["baseline_kb"] / 1024
    growth = large["frame_bytes"] / small["frame_bytes"]
    return [
        Result("5", f"peak RSS, {runs:,}-run sweep (0 ms server, run log on, child process)", peak, "MB", 1,
               f"{base:.0f} MB after imports · {(peak - base) * 1024 / runs:.1f} KB/run · "
               f"{runs / large['wall_s']:.0f} runs/s",
               f"< {TARGET_MB:.0f} MB", peak < TARGET_MB),
        Result("5", f"result frame size, {runs:,} vs {runs // 4:,} runs", large["frame_bytes"] / 2**20, "MB", 1,
               f"{growth:.2f}× (linear = 4) · {large['frame_bytes'] / runs:.0f} B/row",
               "≈ 4× (3.6–4.4)", 3.6 <= growth <= 4.4),
        Result("5", f"server: CPU per request during the {runs:,}-run sweep", stats["cpu_s"] / max(1, len(stats["requests"])) * 1000,
               "ms", len(stats["requests"]), f"server busy {stats['cpu_s'] / large['wall_s'] * 100:.0f}% of one core during the sweep",
               "reported", None),
    ]


if __name__ == "__main__":
    child(int(sys.argv[1]), sys.argv[2])
