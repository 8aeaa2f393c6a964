"""A local Assistants-v2-compatible server for tests, demos and offline sweeps (stdlib only).

``local_server(...)`` runs it in a background thread as a context manager; ``LocalServer`` is the
object behind it.  Each run's model names its provider (``openai:gpt-5-mini``, ``echo:gpt-4o``;
without a prefix, ``default_provider``): ``echo`` runs complete by the clock (``latency`` seconds
after creation) with the deterministic stand-in; real providers run through their engine
(``chat`` or ``responses``, see ``engines``).  Faults can be injected (``threadrun.server.faults``).
At most ``max_runs`` runs (with their threads and messages) and about ``max_bytes`` of them are
kept: the oldest finished ones are evicted.  Connections are capped and timed out (``limits``).
"""
from __future__ import annotations

import socket
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from .app import App
from .limits import Limits, Refused, RequestRecord
from .engines.echo import echo_reply
from .faults import Faults
from ..config import is_loopback
from .handler import Handler
from .tokens import count_tokens

__all__ = ["LocalServer", "local_server", "echo_reply", "count_tokens", "Limits", "RequestRecord"]


class _HTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that stays quiet, caps its connections (503 past the cap) and can
    close its open connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, family: int) -> None:
        """Bind ``address`` and remember the App the handlers use."""
        self.address_family = family
        self.app = app
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.refused = Refused()
        super().__init__(address, Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Track the connection and serve it in its own thread; past the cap, answer 503."""
        cap = self.app.limits.max_connections
        with self.sockets_lock:
            full = len(self.open_sockets) >= cap
            if not full:
                self.open_sockets.add(request)
        if full:
            self.refused.refuse(request, cap)
            return
        super().process_request(request, client_address)

    def service_actions(self) -> None:
        """Between accepts: close refused connections once drained or lingered."""
        if self.refused.sockets:
            self.refused.reap()

    def shutdown_request(self, request: Any) -> None:
        """Forget and close a finished connection."""
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open connection (idle keep-alive ones included)."""
        self.refused.reap(close_all=True)
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection-level errors (client gone) are not worth a traceback on stderr."""


class LocalServer:
    """The local Assistants-compatible server; ``start()`` serves from a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0,
                 api_key: str | None = None, fault: str | None = None,
                 poll_after_ms: int | None = None, max_runs: int = 10_000,
                 default_provider: str | None = None, *, max_bytes: int = 512 << 20,
                 max_connections: int = 256, idle_timeout: float = 30.0, read_timeout: float = 10.0,
                 request_timeout: float = 60.0) -> None:
        """Check the settings (ValueError when unsafe or inconsistent); nothing is bound yet.

        ``default_provider`` runs models written without a ``provider:`` prefix (default: openai
        when ``$OPENAI_API_KEY`` is set, else echo, decided per run).  ``max_bytes`` bounds the
        runs kept (see ``store``); the connection bounds are ``limits.Limits`` (``srv.limits``).
        """
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
                       loopback_only=is_loopback(host), max_bytes=max_bytes, limits=limits)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LocalServer":
        """Bind and serve in a background daemon thread; return self."""
        if self._httpd is not None:
            return self
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._httpd = _HTTPServer((self.host.strip("[]"), self.port), self.app, family)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="threadrun-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and open connections (idempotent)."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        self.app.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

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
        """Connections being served now (those refused past the cap not included)."""
        httpd = self._httpd
        if httpd is None:
            return 0
        with httpd.sockets_lock:
            return len(httpd.open_sockets)

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
    ``bounds``: LocalServer's keyword-only ``max_bytes``, ``max_connections`` and timeouts."""
    return LocalServer(host, port, latency, api_key, fault, poll_after_ms, max_runs,
                       default_provider, **bounds)
