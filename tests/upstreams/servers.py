"""Start OpenAI-compatible servers that nobody in this project wrote, for the engine tests.

Each context manager starts one server as a subprocess of ``sys.executable`` on a free
127.0.0.1 port, waits (bounded) until ``GET {base}/models`` answers 200, yields
``(base_url, api_key)`` with ``base_url`` ending in ``/v1``, then terminates the process
(kill after a grace period).  The server's output goes to a log file in ``tmp_dir``; its tail
is in the error raised when the server does not come up.

* :func:`mock_server` - ``llmock`` (PyPI, MIT): a fast mock.  Chat completions (stream and
  not, ``include_usage``), Responses API (stream and not), fault injection.
* :func:`xllamacpp_server` - llama.cpp's own C++ server from the prebuilt ``xllamacpp`` wheel
  (PyPI, MIT), serving the tiny random model of :mod:`tiny_gguf`.  Chat completions and
  Responses API, real tokenizer and usage; installs in seconds, starts in < 1 s.
* :func:`llamacpp_server` - ``llama-cpp-python[server]`` (PyPI, MIT, built from source, about
  6-12 minutes) serving the same tiny model.  Chat completions only.

A missing package raises :class:`UpstreamUnavailable` (a ``RuntimeError``), so tests can turn
it into a skip.  Only the standard library is used here (plus ``gguf`` and numpy, through
:mod:`tiny_gguf`, for the two llama.cpp servers).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

Upstream = tuple[str, "str | None"]
"""``(base_url ending in /v1, api_key or None)``."""

DEFAULT_KEY = "sk-upstream-test"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

# Runs llama.cpp's native HTTP server in-process through xllamacpp until SIGTERM.
_XLLAMACPP_MAIN = """
import signal, sys, threading
import xllamacpp as xlc
model, port, key, alias, n_ctx, threads = sys.argv[1:7]
p = xlc.CommonParams()
p.model.path = model
p.hostnames = ["127.0.0.1"]
p.port = int(port)
p.model_alias = {alias}  # a set of names
p.n_ctx = int(n_ctx)
p.n_parallel = 1
p.cpuparams.n_threads = int(threads)
p.cpuparams_batch.n_threads = int(threads)
if key:
    p.api_keys = [key]
server = xlc.Server(p)
print("listening on", server.listening_address, flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
del server
"""


class UpstreamUnavailable(RuntimeError):
    """The package that provides an upstream server is not installed."""


def _require(module: str, install: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise UpstreamUnavailable(
            f"{module!r} is not importable in {sys.executable}; install it with: "
            f"{sys.executable} -m pip install {install}"
        )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str, api_key: str | None) -> bool:
    req = urllib.request.Request(url)
    if api_key:
        req.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def serve(
    cmd: Sequence[str],
    port: int,
    api_key: str | None,
    log_path: Path,
    *,
    timeout: float = START_TIMEOUT,
    env: dict[str, str] | None = None,
) -> Iterator[Upstream]:
    """Run ``cmd`` (a server listening on 127.0.0.1:``port``) and yield ``(base, api_key)``."""
    base = f"http://127.0.0.1:{port}/v1"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            list(cmd), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        try:
            deadline = time.monotonic() + timeout
            while not _ready(base + "/models", api_key):
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{cmd[0]} exited with {proc.returncode} before it was ready; "
                        f"log {log_path}:\n{_tail(log_path)}"
                    )
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"server not ready on {base} after {timeout:.0f}s; "
                        f"log {log_path}:\n{_tail(log_path)}"
                    )
                time.sleep(0.1)
            yield base, api_key
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _tmp(tmp_dir: str | os.PathLike[str] | None) -> Path:
    path = Path(tmp_dir) if tmp_dir is not None else Path(tempfile.mkdtemp(prefix="upstream-"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tiny_model(tmp: Path, model: str | os.PathLike[str] | None) -> str:
    if model is not None:
        return os.fspath(model)
    _require("gguf", "gguf numpy")
    from .tiny_gguf import write_tiny_model

    path = tmp / "tiny.gguf"
    return path.as_posix() if path.exists() else write_tiny_model(path)


@contextlib.contextmanager
def mock_server(
    tmp_dir: str | os.PathLike[str] | None = None, *extra_args: str
) -> Iterator[Upstream]:
    """Start ``llmock serve``; yields ``(base, None)`` (it checks no key; any key is accepted).

    ``extra_args`` go to ``llmock serve``, e.g. ``"--response-style", "echo"`` (replies
    ``Hello! You said: <prompt>``) or ``"--error-rate", "429=0.5"``.
    """
    _require("llmock", "llmock")
    tmp, port = _tmp(tmp_dir), free_port()
    cmd = [sys.executable, "-c", "from llmock.cli import app; app()", "serve",
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *extra_args]
    with serve(cmd, port, None, tmp / f"llmock-{port}.log") as upstream:
        yield upstream


@contextlib.contextmanager
def xllamacpp_server(
    tmp_dir: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    api_key: str | None = DEFAULT_KEY,
    alias: str = "tiny",
    n_ctx: int = 1024,
    threads: int = 1,
) -> Iterator[Upstream]:
    """Start llama.cpp's native server (``xllamacpp`` wheel) on ``model`` (default: tiny).

    One thread by default: llama.cpp's threads wait for each other at every token, so on a
    2-core machine with other busy processes two threads ran 256 tokens 10x slower than one
    (1.0 s against 0.1 s beside two CPU burners), and a notebook cell hit its 180 s timeout.
    """
    _require("xllamacpp", "xllamacpp")
    tmp, port = _tmp(tmp_dir), free_port()
    model_path = _tiny_model(tmp, model)
    cmd = [sys.executable, "-c", _XLLAMACPP_MAIN, model_path, str(port), api_key or "", alias,
           str(n_ctx), str(threads)]
    with serve(cmd, port, api_key, tmp / f"xllamacpp-{port}.log") as upstream:
        yield upstream


@contextlib.contextmanager
def llamacpp_server(
    tmp_dir: str | os.PathLike[str] | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    api_key: str | None = DEFAULT_KEY,
    alias: str = "tiny",
    n_ctx: int = 1024,
    interrupt_requests: bool = False,
) -> Iterator[Upstream]:
    """Start ``python -m llama_cpp.server`` (llama-cpp-python) on ``model`` (default: tiny).

    ``interrupt_requests`` defaults to False here: the server's own default (True) cuts off a
    running stream, without ``[DONE]``, whenever another request arrives.  This server sends
    no usage in streams (``stream_options`` is ignored), ignores ``max_completion_tokens``
    (only ``max_tokens`` caps the reply) and has no ``/v1/responses``.
    """
    _require("llama_cpp", '"llama-cpp-python[server]"')
    for mod in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        _require(mod, '"llama-cpp-python[server]"')
    tmp, port = _tmp(tmp_dir), free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", _tiny_model(tmp, model),
           "--host", "127.0.0.1", "--port", str(port), "--model_alias", alias,
           "--n_ctx", str(n_ctx), "--interrupt_requests", str(interrupt_requests)]
    if api_key:
        cmd += ["--api_key", api_key]
    with serve(cmd, port, api_key, tmp / f"llamacpp-{port}.log") as upstream:
        yield upstream
