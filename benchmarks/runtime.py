"""7. Runtime overhead over a direct upstream call.

The same chat-completions upstream (a stdlib stand-in in its own process, 0 ms latency, a
streamed answer of a few chunks plus a usage chunk) is called, interleaved round by round:

- **direct**: the openai SDK's ``chat.completions.create(..., stream=True,
  stream_options={"include_usage": True})`` consumed to the end;
- **threadrun**: ``Client(url, token).run(body, stream=True)`` against the embedded runtime
  (``threadrun.server.embedded.embedded()``), whose ``bench`` provider (``$THREADRUN_HOME/providers.toml``)
  points at the same upstream: the run's engine streams the same request to it;
- ``threadrun.run(..., log=False, progress=False)`` on the same runtime (reported only).

Added cost per run = median(threadrun) − median(direct); time to first token: the direct
stream's first content chunk as the SDK yields it (timed from just before ``create``) vs
``RunResult.ttft_s`` (from just before the POST to the first ``thread.message.delta``).

``python -m benchmarks.runtime --upstream [--latency S]`` is the stand-in upstream: it prints
``{"url", "pid"}`` and serves until its stdin closes.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

from .common import MESSAGES, ROOT, THREAD, Result, child_env, median

ADDED_TARGET_MS = 2.0
TTFT_TARGET_MS = 5.0
MODEL = "m"                 # the name the upstream knows
SPEC = f"bench:{MODEL}"     # the model as threadrun runs it
REPLY = "The capital of France is Paris."
USAGE = {"prompt_tokens": 14, "completion_tokens": 7, "total_tokens": 21,
         "prompt_tokens_details": {"cached_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 0}}
WARMUP = 5
DIRECT = "direct: openai SDK chat.completions.create(stream=True) to the upstream"
CLIENT = "threadrun Client.run(stream=True) on the embedded runtime"
API = "threadrun.run() stream, log=False, on the embedded runtime"


# -- the stand-in upstream (runs in its own process) ----------------------------------------------

def _pieces(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


class _Upstream(BaseHTTPRequestHandler):
    """``POST /v1/chat/completions``: a streamed answer (role, words, finish, usage, [DONE]) or JSON."""

    protocol_version = "HTTP/1.1"
    latency = 0.0
    #: per client (User-Agent's first word): [requests, new connections]
    counts: dict[str, list[int]] = {}
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.served = 0

    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionError:  # a client closed its connection with unread bytes: not our concern
            pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
        who = (self.headers.get("user-agent") or "?").split("/")[0]
        with self.lock:
            count = self.counts.setdefault(who, [0, 0])
            count[0] += 1
            count[1] += self.served == 0
        self.served += 1
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        if self.latency:
            time.sleep(self.latency)
        head = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                "model": body.get("model"), "system_fingerprint": None}
        if not body.get("stream"):
            self._json(200, {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1,
                             "model": body.get("model"),
                             "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY},
                                          "logprobs": None, "finish_reason": "stop"}], "usage": USAGE})
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

        def choice(delta: dict, finish: str | None = None) -> dict:
            return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                         "finish_reason": finish}]}
        self._event(choice({"role": "assistant", "content": ""}))
        for piece in _pieces(REPLY):
            self._event(choice({"content": piece}))
        self._event(choice({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({**head, "choices": [], "usage": USAGE})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _event(self, payload: dict) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(latency: float) -> None:
    """Serve the stand-in on a free loopback port until stdin closes."""
    _Upstream.latency = latency
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    print(json.dumps({"url": f"http://127.0.0.1:{httpd.server_address[1]}/v1", "pid": os.getpid()}),
          flush=True)
    for line in sys.stdin:  # until the benchmark closes our stdin (or exits)
        if line.strip() == "stats":
            with _Upstream.lock:
                print(json.dumps(_Upstream.counts), flush=True)
    httpd.shutdown()


class UpstreamProcess:
    """The stand-in upstream in its own process (so it shares no GIL with what is measured)."""

    def __init__(self, latency: float = 0.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.runtime", "--upstream",
                                      "--latency", repr(latency)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT, env=child_env())
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the upstream stand-in exited ({self.proc.poll()})")
        hello = json.loads(line)
        self.url, self.pid = hello["url"], hello["pid"]

    def stats(self) -> dict[str, list[int]]:
        """Per client (User-Agent's first word): [requests, new connections] so far."""
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "UpstreamProcess":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


# -- the measurement -----------------------------------------------------------------------------

def write_providers(home: str, upstream_url: str) -> Path:
    """``$THREADRUN_HOME/providers.toml`` with the ``bench`` provider (kept tables are preserved)."""
    path = Path(home) / "providers.toml"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    path.write_text(old + f'\n[providers.bench]\nbase_url = "{upstream_url}"\napi = "chat"\n'
                          'key_required = false\n', encoding="utf-8")
    return path


class Variants:
    """The three ways of doing one streamed run; each returns (wall s, ttft s)."""

    def __init__(self, upstream_url: str) -> None:
        import openai
        from threadrun.client import Client
        from threadrun.server.embedded import embedded
        self.sdk = openai.OpenAI(base_url=upstream_url, api_key="sk-benchmark-not-a-key")
        url, token = embedded()
        self.client = Client(url, token)
        self.body = {"assistant_id": self.client.create_assistant(SPEC)["id"], "model": SPEC,
                     "thread": {"messages": MESSAGES}}

    def close(self) -> None:
        self.client.close()
        self.sdk.close()

    def direct(self) -> tuple[float, float]:
        text, usage, ttft = [], None, float("nan")
        t0 = time.perf_counter()
        stream = self.sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                  stream_options={"include_usage": True})
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                if not text:
                    ttft = time.perf_counter() - t0
                text.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        wall = time.perf_counter() - t0
        if "".join(text) != REPLY or usage is None:
            raise RuntimeError(f"direct stream: unexpected answer {''.join(text)!r} (usage {usage})")
        return wall, ttft

    def client_run(self) -> tuple[float, float]:
        t0 = time.perf_counter()
        result = self.client.run(self.body, stream=True)
        wall = time.perf_counter() - t0
        usage = (result.run or {}).get("usage") or {}
        if result.status != "completed" or result.reply != REPLY or usage.get("total_tokens") != 21:
            raise RuntimeError(f"Client.run: {result.status} {result.error} {result.reply!r} {usage}")
        return wall, result.ttft_s

    def api_run(self) -> tuple[float, float]:
        import threadrun
        t0 = time.perf_counter()
        df = threadrun.run(THREAD, model=SPEC, log=False, progress=False)
        wall = time.perf_counter() - t0
        row = df.iloc[0]
        if row["status"] != "completed" or row["reply"] != REPLY:
            raise RuntimeError(f"threadrun.run(): {row['status']} {row['error']} {row['reply']!r}")
        return wall, float(row["ttft_s"])

    def all(self) -> dict[str, Callable[[], tuple[float, float]]]:
        return {DIRECT: self.direct, CLIENT: self.client_run, API: self.api_run}


def interleave(variants: dict[str, Callable[[], tuple[float, float]]],
               rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """Every variant once per round, the order rotated each round; (walls, ttfts) per variant."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            wall, ttft = variants[name]()
            out[name][0].append(wall)
            out[name][1].append(ttft)
    return out


def measure(home: str, rounds: int) -> list[Result]:
    os.environ["THREADRUN_HOME"] = home  # providers are read per run, from here
    with UpstreamProcess() as upstream:
        write_providers(home, upstream.url)
        variants = Variants(upstream.url)
        try:
            interleave(variants.all(), WARMUP)  # connections, scratch assistants, imports
            times = interleave(variants.all(), rounds)
        finally:
            variants.close()
    return results(times)


def results(times: dict[str, tuple[list[float], list[float]]]) -> list[Result]:
    d_wall, d_ttft = times[DIRECT]
    md, md_ttft = median(d_wall), median(d_ttft)
    out = [Result("7", f"runtime: {DIRECT} (reference)", md * 1000, "ms", len(d_wall), "",
                  "reported", None)]
    for name, enforced in ((CLIENT, True), (API, False)):
        walls, ttfts = times[name]
        m = median(walls)
        added = (m - md) * 1000
        paired = median(w - d for w, d in zip(walls, d_wall)) * 1000
        out.append(Result("7", f"runtime: {name}", m * 1000, "ms", len(walls), f"{m / md:.2f}× direct",
                          "reported", None))
        label = "Client.run" if enforced else "threadrun.run()"
        out.append(Result("7", f"runtime: added per run, {label} − direct (difference of medians)",
                          added, "ms", len(walls), f"{m / md:.2f}× · paired median {paired:+.2f} ms",
                          f"≤ {ADDED_TARGET_MS:g} ms" if enforced else "reported",
                          added <= ADDED_TARGET_MS if enforced else None))
    out.append(Result("7", "runtime: TTFT direct (first content chunk the SDK yields)", md_ttft * 1000, "ms",
                      len(d_ttft), "", "reported", None))
    for name, enforced in ((CLIENT, True), (API, False)):
        ttfts = times[name][1]
        m = median(ttfts)
        label = "Client.run" if enforced else "threadrun.run()"
        added = (m - md_ttft) * 1000
        paired = median(t - d for t, d in zip(ttfts, d_ttft)) * 1000
        out.append(Result("7", f"runtime: TTFT {label} (`ttft_s`)", m * 1000, "ms", len(ttfts),
                          f"{added:+.2f} ms over direct · paired median {paired:+.2f} ms",
                          f"≤ direct + {TTFT_TARGET_MS:g} ms" if enforced else "reported",
                          added <= TTFT_TARGET_MS if enforced else None))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.runtime")
    parser.add_argument("--upstream", action="store_true", help="serve the stand-in upstream")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before the first chunk")
    args = parser.parse_args()
    if not args.upstream:
        parser.error("run the benchmark with `python -m benchmarks --only 7`")
    serve(args.latency)


if __name__ == "__main__":
    main()
