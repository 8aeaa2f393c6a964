"""The local server in its own process, for the benchmarks (``python -m benchmarks.server_proc``).

It prints ``{"url", "pid"}`` on stdout, then answers one JSON line per command read on stdin:
``latency`` (value in seconds), ``reset``, ``stats``, ``quit``. Every request's handling is
timed by wrapping ``RuntimeASGI.dispatch`` (from the parsed request head to the last byte
written, SSE streams included), so the benchmark can subtract server time from client time.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time

from threadrun.server import local_server
from threadrun.server.app import match_route
from threadrun.server.asgi import Exchange, RuntimeASGI

_spans: list[tuple[float, float, str]] = []
_lock = threading.Lock()
_original = RuntimeASGI.dispatch


async def _timed_dispatch(self: RuntimeASGI, ex: Exchange) -> None:
    start = time.monotonic()
    try:
        await _original(self, ex)
    finally:
        end = time.monotonic()
        route = match_route(ex.method, ex.path).route
        with _lock:
            _spans.append((start, end, route))


RuntimeASGI.dispatch = _timed_dispatch  # type: ignore[method-assign]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    out = sys.stdout
    with local_server(latency=args.latency) as srv:
        out.write(json.dumps({"url": srv.url, "pid": os.getpid()}) + "\n")
        out.flush()
        cpu0, wall0 = _cpu(), time.monotonic()
        for line in sys.stdin:
            cmd = json.loads(line)
            op = cmd["op"]
            if op == "latency":
                srv.latency = float(cmd["value"])
                answer: dict = {"ok": True}
            elif op == "reset":
                with _lock:
                    _spans.clear()
                srv.reset_counts()
                cpu0, wall0 = _cpu(), time.monotonic()
                answer = {"ok": True}
            elif op == "stats":
                with _lock:
                    spans = list(_spans)
                answer = {"requests": spans, "cpu_s": _cpu() - cpu0,
                          "wall_s": time.monotonic() - wall0, "counts": srv.counts,
                          "errors": len(srv.server_errors),
                          "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
            elif op == "quit":
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                break
            else:
                answer = {"error": f"unknown op {op!r}"}
            out.write(json.dumps(answer) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
