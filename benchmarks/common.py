"""Shared helpers: the machine, result rows, the markdown table, the server subprocess."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

ROOT = Path(__file__).resolve().parent.parent
MODELS4 = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini"]
MODELS5 = MODELS4 + ["gpt-4.1-nano"]
TEMPERATURES5 = [0.0, 0.5, 1.0, 1.5, 2.0]
THREAD = "user: What is the capital of France?"
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@dataclass
class Result:
    """One line of the table."""

    section: str
    name: str
    value: float            # the median, in `unit`
    unit: str
    n: int
    ratio: str = ""         # text, e.g. "1.03× server · 0.52× SDK"
    target: str = ""        # text, e.g. "≤ 1.1× server"
    ok: bool | None = None  # None: no target (reported only)


#: Lines printed under the table (references that are no target, e.g. a sequential SDK loop).
FOOTNOTES: list[str] = []


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def child_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: this repo importable, no OpenAI settings leaking in."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("THREADRUN_BASE_URL", "THREADRUN_API_KEY", "THREADRUN_ASSISTANT_ID", "THREADRUN_LOG")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def machine() -> list[str]:
    """CPU model, cores, Python, OS and the versions that matter."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for name in ("threadrun", "pandas", "requests", "openai"):
        try:
            from importlib.metadata import version
            versions.append(f"{name} {version(name)}")
        except Exception:  # noqa: BLE001 - a missing package is just not listed
            pass
    return [f"- CPU: {cpu} ({os.cpu_count()} cores, {usable} usable)",
            f"- Python: {platform.python_implementation()} {platform.python_version()}",
            f"- OS: {platform.platform()}",
            f"- Packages: {', '.join(versions)}",
            f"- Load average at start: {load_average()}"]


def load_average() -> str:
    """The 1/5/15-minute load averages (other processes on the machine skew timings)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def fmt_value(value: float, unit: str) -> str:
    if unit in ("ms", "MB", "MiB"):
        return f"{value:,.1f} {unit}" if value < 100 else f"{value:,.0f} {unit}"
    if unit == "s":
        return f"{value:,.2f} s"
    if unit == "µs":
        return f"{value:,.0f} µs"
    return f"{value:,.3g} {unit}".strip()


def table(results: list[Result]) -> str:
    lines = ["| # | measurement | median | n | ratio | target | result |",
             "|---|---|---:|---:|---|---|---|"]
    for r in results:
        verdict = "—" if r.ok is None else ("pass" if r.ok else "**FAIL**")
        lines.append(f"| {r.section} | {r.name} | {fmt_value(r.value, r.unit)} | {r.n} | "
                     f"{r.ratio} | {r.target} | {verdict} |")
    return "\n".join(lines)


class ServerProcess:
    """The local server in its own process (``benchmarks.server_proc``), driven over stdin/stdout.

    ``stats()`` returns what the server itself measured since the last ``reset()``: every
    request's [start, end] on the shared CLOCK_MONOTONIC, and the server process's CPU seconds.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server_proc", "--latency", repr(latency)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=child_env())
        hello = self._read()
        self.url, self.pid = hello["url"], hello["pid"]

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark server exited ({self.proc.poll()})")
        return json.loads(line)

    def call(self, op: str, **args: Any) -> dict:
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def set_latency(self, seconds: float) -> None:
        self.call("latency", value=seconds)

    def reset(self) -> None:
        self.call("reset")

    def stats(self) -> dict:
        return self.call("stats")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except (OSError, RuntimeError, ValueError):
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def server_time_per_run(windows: list[tuple[float, float]], requests: list[list]) -> list[float]:
    """Seconds the server spent handling the requests inside each client window [t0, t1]."""
    spans = sorted((r[0], r[1]) for r in requests)
    out, j = [], 0
    for t0, t1 in windows:
        total = 0.0
        while j < len(spans) and spans[j][0] < t0:
            j += 1
        k = j
        while k < len(spans) and spans[k][0] <= t1:
            total += min(spans[k][1], t1) - spans[k][0]
            k += 1
        out.append(total)
    return out


def interleave(variants: dict[str, Callable[[], Any]], rounds: int) -> dict[str, list[float]]:
    """Call every variant once per round, in turn (so drift hits them alike); seconds each."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times
