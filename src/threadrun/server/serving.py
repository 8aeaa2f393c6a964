"""Uvicorn serving a LocalServer's App: its config, and a background thread with its own loop.

Imported by ``LocalServer.start()`` only, so ``import threadrun`` (and ``%load_ext threadrun``)
never imports Uvicorn or Starlette.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading
import time

import uvicorn

from .app import App
from .asgi import RuntimeASGI
from .protocol import HEAD_BYTES, RESERVE, Bounds, Guard, GuardedProtocol

SHUTDOWN_GRACE_S = 1.0
START_TIMEOUT_S = 10.0
LOG_LEVEL = logging.CRITICAL + 1  # quiet: bugs go to App.server_errors, bad requests get answers
PARSER_ENV = "THREADRUN_HTTP_PARSER"  # "h11" picks the pure-Python parser even with httptools


def protocol_class() -> type[Bounds]:
    """Uvicorn's protocol with our bounds: on httptools when it is installed (a request's head
    parsed and its answer's written in microseconds), else on h11; ``$THREADRUN_HTTP_PARSER=h11``
    picks h11 (tests run the bounds over both)."""
    if os.environ.get(PARSER_ENV, "").strip().lower() != "h11":
        try:
            from .protocol_httptools import GuardedHttpToolsProtocol
            return GuardedHttpToolsProtocol
        except ImportError:
            pass
    return GuardedProtocol


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port); OSError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def make_server(app: App) -> uvicorn.Server:
    """A Uvicorn server for ``app``: its keep-alive, head-size, concurrency and shutdown bounds
    from ``app.limits``, our protocol subclass for the rest; quiet (no logging config); no
    WebSocket upgrades (the runtime has none to offer)."""
    limits = app.limits
    config = uvicorn.Config(
        RuntimeASGI(app, limits.max_connections + RESERVE),
        http=functools.partial(protocol_class(), guard=Guard(limits)),  # type: ignore[arg-type]  # a protocol class, bound
        loop="asyncio", lifespan="off", ws="none", log_config=None, log_level=LOG_LEVEL, access_log=False,
        timeout_keep_alive=limits.idle_s,  # type: ignore[arg-type]  # seconds: a float works
        h11_max_incomplete_event_size=HEAD_BYTES,
        limit_concurrency=limits.max_connections + RESERVE + 1,
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,  # type: ignore[arg-type]  # a float works
        server_header=False, proxy_headers=False,
        headers=[("server", "threadrun-local/0.1")])
    return uvicorn.Server(config)


def serve_in_thread(server: uvicorn.Server, sock: socket.socket) -> threading.Thread:
    """Run ``server`` on ``sock`` in a daemon thread; return once it accepts connections."""
    thread = threading.Thread(target=asyncio.run, args=(server.serve([sock]),),
                              name="threadrun-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise OSError("the server did not start")
        time.sleep(0.0005)
    return thread
