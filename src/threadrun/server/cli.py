"""``threadrun serve``: run the local Assistants-compatible server in the foreground."""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from ..config import server_api_key
from . import LocalServer


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (non-loopback needs --api-key)")
    parser.add_argument("--port", type=int, default=8808, help="port (0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="seconds from run creation to its end")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="require 'Authorization: Bearer KEY' (or set $THREADRUN_SERVER_API_KEY, "
                             "which keeps the key out of ps and shell history)")
    parser.add_argument("--default-provider", default=None, metavar="NAME",
                        help="provider of models given without a prefix (default: openai when "
                             "$OPENAI_API_KEY is set, else echo)")
    parser.add_argument("--fault", default=None, metavar="SPEC",
                        help="fault spec, e.g. '429=0.05,drop=0.02,seed=7' or 'script=429|ok'")


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: stop like Ctrl-C."""
    raise KeyboardInterrupt


def serve_from_args(args: argparse.Namespace) -> int:
    """Start the server, print its base URL on one line, serve until interrupted; return 0."""
    try:
        key = server_api_key(args.api_key)
        server = LocalServer(host=args.host, port=args.port, latency=args.latency, api_key=key,
                             fault=args.fault, default_provider=args.default_provider)
        server.start()
    except (ValueError, OSError) as error:
        print(f"threadrun serve: {error}", file=sys.stderr, flush=True)
        return 2
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
