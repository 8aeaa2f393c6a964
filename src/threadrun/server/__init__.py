"""A local Assistants-v2-compatible server for tests, demos and offline sweeps (Starlette on Uvicorn).

``local_server(...)`` runs it in a background thread as a context manager; ``LocalServer`` is the
object behind it.  Each run's model names its provider (``openai:gpt-5-mini``, ``echo:gpt-4o``;
without a prefix, ``default_provider``): ``echo`` runs complete by the clock (``latency`` seconds
after creation) with the deterministic stand-in; real providers run through their engine
(``chat``, ``responses`` or one registered, see ``engines``).  Faults can be injected (``threadrun.server.faults``).
At most ``max_runs`` runs (with their threads and messages) and about ``max_bytes`` of them are
kept: the oldest finished ones are evicted.  Connections are capped and timed out (``limits``,
``protocol``).  Uvicorn and Starlette are imported when a server starts, not before.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Any

from ..config import is_loopback
from .app import App
from .engines.echo import echo_reply
from .faults import Faults
from .limits import Limits, RequestRecord
from .rounds import MAX_ROUNDS
from .tokens import count_tokens

__all__ = ["LocalServer", "local_server", "echo_reply", "count_tokens", "Limits", "RequestRecord"]


class LocalServer:
    """The local Assistants-compatible server; ``start()`` serves from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 api_key: str | None = None, fault: str | None = None,
                 poll_after_ms: int | None = None, max_runs: int = 10_000,
                 default_provider: str | None = None, *, max_bytes: int = 512 << 20,
                 max_connections: int = 256, idle_timeout: float = 30.0, read_timeout: float = 10.0,
                 request_timeout: float = 60.0, db: str | os.PathLike | None = None,
                 max_steps: int = MAX_ROUNDS) -> None:
        """Check the settings (ValueError when unsafe or inconsistent); nothing is bound yet.

        ``default_provider`` runs models written without a ``provider:`` prefix (default: openai
        when ``$OPENAI_API_KEY`` is set, else echo, decided per run).  ``max_bytes`` bounds the
        runs kept (see ``store``); the connection bounds are ``limits.Limits`` (``srv.limits``).
        ``db``: an SQLite file keeping assistants, threads, messages and runs across restarts
        (``persist``; None: memory only). ``max_steps``: tool rounds one run may take (``rounds``).
        """
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        if not is_loopback(host) and not api_key:
            raise ValueError(f"refusing to listen on non-loopback host {host!r} without an api_key")
        if latency < 0:
            raise ValueError("latency must be >= 0 seconds")
        if default_provider is not None:
            from ..errors import ValidationError
            from ..providers import get
            try:
                get(default_provider)
            except ValidationError as exc:
                raise ValueError(str(exc)) from None
        limits = Limits(max_connections, idle_timeout, read_timeout, request_timeout)
        limits.check()
        self.host, self.port = host, port
        self.app = App(latency, api_key, fault, poll_after_ms, max_runs, default_provider,
                       loopback_only=is_loopback(host), max_bytes=max_bytes, limits=limits, db=db,
                       max_steps=max_steps)
        self._server: Any = None  # uvicorn.Server while serving
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LocalServer":
        """Bind, then serve with Uvicorn from a daemon thread (its own event loop, no signal
        handlers); return self once it accepts connections."""
        if self._server is not None:
            return self
        from .serving import bind, make_server, serve_in_thread
        self._socket = bind(self.host, self.port)
        self.port = self._socket.getsockname()[1]
        self._server = make_server(self.app)
        self._thread = serve_in_thread(self._server, self._socket)
        return self

    def stop(self) -> None:
        """Stop serving: close the listening socket and idle connections, let answers being
        written finish for up to a second, then close the rest (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        server.config.app.close()
        self.app.close()

    @property
    def sockname(self) -> Any:
        """The address the server is bound to (None when stopped)."""
        return self._socket.getsockname() if self._server is not None and self._socket else None

    def __enter__(self) -> "LocalServer":
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        """Stop on leaving a ``with`` block."""
        self.stop()

    @property
    def url(self) -> str:
        """Base URL such as ``http://127.0.0.1:PORT/v1``."""
        host = f"[{self.host.strip('[]')}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    @property
    def latency(self) -> float:
        """Seconds from creation to the end of new runs (settable at run time)."""
        return self.app.latency

    @latency.setter
    def latency(self, value: float) -> None:
        """Change the latency of runs created from now on."""
        if value < 0:
            raise ValueError("latency must be >= 0 seconds")
        self.app.latency = float(value)

    @property
    def limits(self) -> Limits:
        """The connection bounds (settable attributes: ``max_connections``, ``idle_s``, ...)."""
        return self.app.limits

    @property
    def open_connections(self) -> int:
        """Connections open now (those waiting past the cap for a request with the token included)."""
        server = self._server
        return 0 if server is None else len(server.server_state.connections)

    @property
    def faults(self) -> Faults:
        """The fault state (``.script(items, route=None)``, ``.configure(spec)``, ``.clear()``)."""
        return self.app.faults

    def set_fault(self, spec: str | None) -> None:
        """Replace every fault setting by ``spec`` (None = no faults); ValueError on a bad spec."""
        self.app.faults.configure(spec)

    @property
    def counts(self) -> dict[str, int]:
        """Snapshot of requests received per route template (``"unknown"`` for others)."""
        return self.app.counts

    @property
    def runs_created(self) -> int:
        """Number of runs created since start (or the last ``reset_counts``)."""
        return self.app.runs_created

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the last request records, oldest first (bounded: see ``limits``)."""
        return self.app.requests

    @property
    def server_errors(self) -> list[str]:
        """Tracebacks of unexpected errors turned into 500 answers (should stay empty)."""
        return list(self.app.server_errors)

    def reset_counts(self) -> None:
        """Clear counts, request records and ``runs_created``."""
        self.app.reset_counts()


def local_server(host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 api_key: str | None = None, fault: str | None = None,
                 poll_after_ms: int | None = None, max_runs: int = 10_000,
                 default_provider: str | None = None, **bounds: Any) -> LocalServer:
    """A LocalServer to use as ``with local_server(...) as srv:`` (or ``local_server(...).start()``);
    ``bounds``: LocalServer's keyword-only ``max_bytes``, ``max_connections``, timeouts, ``db``
    (an SQLite file that keeps the state across restarts) and ``max_steps``."""
    return LocalServer(host, port, latency, api_key, fault, poll_after_ms, max_runs,
                       default_provider, **bounds)
