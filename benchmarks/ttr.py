"""1. Time-to-row of one run whose server time is 200 ms."""
from __future__ import annotations

from .common import Result, ServerProcess, interleave, median
from .runners import Runners

SERVER_S = 0.2
TARGET = 1.1
SDK = "openai SDK create_and_run_poll + messages.list"


def measure(server: ServerProcess, runners: Runners, rounds: int) -> list[Result]:
    server.set_latency(SERVER_S)
    variants = runners.variants()
    interleave(variants, 1)  # warm up: connections, scratch assistant, imports
    server.reset()
    times = interleave(variants, rounds)
    stats = server.stats()
    sdk = median(times[SDK])
    out = []
    for name, values in times.items():
        m = median(values)
        is_sdk = name == SDK
        ratio = f"{m / SERVER_S:.2f}× server" + ("" if is_sdk else f" · {m / sdk:.2f}× SDK")
        out.append(Result("1", f"time-to-row, 200 ms run: {name}", m * 1000, "ms", len(values),
                          ratio, "reported" if is_sdk else f"≤ {TARGET}× server",
                          None if is_sdk else m <= TARGET * SERVER_S))
    out.append(_server_check(stats))
    return out


def _server_check(stats: dict) -> Result:
    """The server's own time per non-streaming request (the create of a streamed run lasts the run)."""
    quick = [r[1] - r[0] for r in stats["requests"] if r[2] != "POST /threads/runs"]
    m = median(quick) if quick else float("nan")
    return Result("1", "server: own time per GET request (runs, messages, assistants)", m * 1000, "ms",
                  len(quick), f"{m / SERVER_S:.3f}× the run's 200 ms", "reported", None)
