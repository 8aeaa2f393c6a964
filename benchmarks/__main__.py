"""``python -m benchmarks [--quick] [--only 1,3]``: run the benchmarks, print a markdown table.

Both modes exit 1 when a target is missed (``--quick``, which CI runs, uses fewer runs and
smaller sizes, and says that the machine's load may explain a miss). Any crash exits 2.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

from . import cache, memory, overhead, peers, runlog, runtime, scale, startup, sweep, ttr
from .common import FOOTNOTES, Result, ServerProcess, load_average, machine, table
from .runners import Runners


@dataclass(frozen=True)
class Sizes:
    ttr_rounds: int
    overhead_runs: int
    sweep_repeat: int
    sweep_rounds: int
    startup_rounds: int
    memory_runs: int
    log_rows: int
    log_loads: int
    log_appends: int
    runtime_rounds: int
    peer_runs: tuple[int, ...]
    peer_concurrency: tuple[int, ...]
    saturation_runs: int
    saturation_concurrency: tuple[int, ...]
    scale_runs: tuple[int, ...]
    cache_rounds: int


FULL = Sizes(ttr_rounds=20, overhead_runs=200, sweep_repeat=10, sweep_rounds=3, startup_rounds=7,
             memory_runs=10_000, log_rows=100_000, log_loads=5, log_appends=300, runtime_rounds=300,
             peer_runs=(200, 1_000), peer_concurrency=(8, 16, 32, 64), saturation_runs=1_000,
             saturation_concurrency=(16, 64), scale_runs=(100, 1_000, 10_000, 100_000),
             cache_rounds=5)
QUICK = Sizes(ttr_rounds=5, overhead_runs=30, sweep_repeat=1, sweep_rounds=1, startup_rounds=3,
              memory_runs=1_000, log_rows=5_000, log_loads=3, log_appends=100, runtime_rounds=30,
              peer_runs=(40,), peer_concurrency=(8, 32), saturation_runs=100,
              saturation_concurrency=(16,), scale_runs=(100, 1_000), cache_rounds=1)

SECTIONS = {
    "1": "time-to-row (200 ms run)",
    "2": "client overhead per run (0 ms server)",
    "3": "sweep at concurrency 16",
    "4": "%load_ext threadrun start-up",
    "5": "memory of a large sweep",
    "6": "run log load and append",
    "7": "runtime overhead over a direct upstream call",
    "8": "sweeps beside AsyncOpenAI + gather and the SDK in a thread pool",
    "9": "client CPU per run against sweep size",
    "10": "free re-runs and the dry-run forecast",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer runs and smaller sizes (< 60 s); exits 1 when a target is missed")
    parser.add_argument("--only", default=",".join(SECTIONS), metavar="1,2,...",
                        help="run only these sections (default: all)")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"

    for name in ("THREADRUN_BASE_URL", "THREADRUN_API_KEY", "THREADRUN_ASSISTANT_ID", "THREADRUN_LOG"):
        os.environ.pop(name, None)
    home = tempfile.TemporaryDirectory(prefix="threadrun-bench-")
    os.environ["THREADRUN_HOME"] = home.name  # scratch assistant cache and run logs go here

    print(f"## threadrun benchmarks ({mode} mode)\n")
    print("\n".join(machine()))
    print("- Server: threadrun's local server in a separate process, echo engine", flush=True)
    if "7" in only:
        print("- Upstream (section 7): a stdlib chat-completions stand-in in a separate process, 0 ms; "
              "threadrun's embedded runtime in this process", flush=True)
    print(flush=True)

    started = time.perf_counter()
    results: list[Result] = []
    crashed: list[str] = []
    server = ServerProcess()
    runners = Runners(server.url)
    try:
        for section in only:
            t0 = time.perf_counter()
            print(f"running {section}. {SECTIONS[section]} ...", file=sys.stderr, flush=True)
            try:
                results += _section(section, sizes, server, runners, home.name)
            except Exception:  # noqa: BLE001 - report, keep going, exit 2 at the end
                crashed.append(section)
                print(f"section {section} crashed:\n{traceback.format_exc()}", file=sys.stderr)
            print(f"  ... {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    finally:
        runners.close()
        server.close()
        home.cleanup()

    print(table(results))
    print()
    for note in FOOTNOTES:
        print(note)
    failed = [r for r in results if r.ok is False]
    elapsed = time.perf_counter() - started
    print(f"Medians over n; ratios are of medians. Took {elapsed:.0f} s; "
          f"load average at the end: {load_average()}.")
    if crashed:
        print(f"CRASHED: section(s) {', '.join(crashed)} (see stderr).")
    if failed:
        print(f"FAILED: {len(failed)} target(s) missed: " + "; ".join(r.name for r in failed))
        print(f"The machine's load (load average {load_average()}) may explain a miss"
              + (": quick mode measures few runs; rerun `python -m benchmarks` (full mode) on a "
                 "quiet machine before trusting it." if args.quick else "."))
    else:
        print("All targets met.")
    if crashed:
        return 2
    return 1 if failed else 0


def _section(section: str, sizes: Sizes, server: ServerProcess, runners: Runners, home: str) -> list[Result]:
    if section == "1":
        return ttr.measure(server, runners, sizes.ttr_rounds)
    if section == "2":
        return overhead.measure(server, runners, sizes.overhead_runs)
    if section == "3":
        return sweep.measure(server, runners, sizes.sweep_repeat, sizes.sweep_rounds,
                             os.path.join(home, "sweep-runs.sqlite"))
    if section == "4":
        return startup.measure(sizes.startup_rounds)
    if section == "5":
        return memory.measure(server, sizes.memory_runs)
    if section == "6":
        return runlog.measure(server, runners, sizes.log_rows, sizes.log_loads, sizes.log_appends)
    if section == "9":
        return scale.measure(server, sizes.scale_runs)
    if section == "10":
        return cache.measure(sizes.cache_rounds)
    if section == "8":
        return peers.measure(server, runners, sizes.peer_runs, sizes.peer_concurrency,
                             sizes.saturation_runs, sizes.saturation_concurrency)
    return runtime.measure(home, sizes.runtime_rounds)


if __name__ == "__main__":
    sys.exit(main())
