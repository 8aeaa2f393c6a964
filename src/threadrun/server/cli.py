"""``threadrun serve``: run the local Assistants-compatible server in the foreground."""
from __future__ import annotations

import argparse
import errno
import signal
import sys
import threading
from typing import Any

from ..config import server_api_key
from . import LocalServer
from .rounds import MAX_ROUNDS


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve`` options to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to bind (non-loopback needs --api-key)")
    parser.add_argument("--port", type=int, default=8808, help="port (default 8808; 0 = any free port)")
    parser.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                        help="seconds from run creation to its end, for echo runs (default 0)")
    parser.add_argument("--api-key", default=None, metavar="KEY",
                        help="require 'Authorization: Bearer KEY' (or set $THREADRUN_SERVER_API_KEY, "
                             "which keeps the key out of ps and shell history)")
    parser.add_argument("--default-provider", default=None, metavar="NAME",
                        help="provider of models given without a prefix (default: openai when "
                             "$OPENAI_API_KEY is set, else echo)")
    parser.add_argument("--max-connections", type=int, default=256, metavar="N",
                        help="connections served at once; past it, new ones are served only with the "
                             "server's key, else get a 503 (default 256)")
    parser.add_argument("--db", default=None, metavar="PATH",
                        help="keep assistants, threads, messages and runs in this SQLite file across "
                             "restarts (default: in memory only)")
    parser.add_argument("--max-steps", type=int, default=MAX_ROUNDS, metavar="N",
                        help=f"tool rounds one run may take before it ends incomplete (default {MAX_ROUNDS})")
    parser.add_argument("--verbose", action="store_true", help="print one line per request")
    parser.add_argument("--fault", default=None, metavar="SPEC",
                        help="fault spec, e.g. '429=0.05,drop=0.02,seed=7' or 'script=429|ok'")


def _raise_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler: stop like Ctrl-C."""
    raise KeyboardInterrupt


def _in_flags(error: BaseException, args: argparse.Namespace) -> str:
    """A start-up error in the words of the command line (flags, not Python parameters)."""
    if isinstance(error, OSError) and error.errno in (errno.EADDRINUSE, errno.EACCES):
        return (f"port {args.port} on {args.host} is busy or not allowed; choose another with "
                f"--port, or --port 0 for any free port")
    text = " ".join(str(error).split())
    if "without an api_key" in text:
        return (f"refusing to listen on {args.host} (not this machine only) without a key: add "
                f"--api-key KEY or set $THREADRUN_SERVER_API_KEY")
    return (text.replace("latency must be", "--latency must be")
            .replace("max_connections must be", "--max-connections must be")
            .replace("max_steps must be", "--max-steps must be"))


def _banner(server: LocalServer, args: argparse.Namespace) -> str:
    """What the server serves, on stderr: providers, the default one, auth, how to stop."""
    from ..providers import default_provider, providers
    names = ", ".join(providers())
    default = args.default_provider or f"{default_provider()} (openai when $OPENAI_API_KEY is set)"
    guard = "requires its API key" if server.app.api_key else "no key required (this machine only)"
    state = f"state kept in {args.db}" if getattr(args, "db", None) else "state in memory (--db PATH keeps it)"
    return (f"threadrun serve: Assistants v2 at {server.url} ({guard}); models run on their "
            f"provider ({names}); unprefixed models on {default}; {state}; point kernels at it with "
            f"THREADRUN_BASE_URL={server.url}. Ctrl+C to stop.")


def serve_from_args(args: argparse.Namespace) -> int:
    """Start the server, print its base URL on one line, serve until interrupted; return 0."""
    try:
        key = server_api_key(args.api_key)
        server = LocalServer(host=args.host, port=args.port, latency=args.latency, api_key=key,
                             fault=args.fault, default_provider=args.default_provider,
                             max_connections=args.max_connections, db=args.db,
                             max_steps=args.max_steps)
        server.app.verbose = args.verbose
        server.start()
    except (ValueError, OSError) as error:  # DatabaseError is a ValueError
        print(f"threadrun serve: {_in_flags(error, args)}", file=sys.stderr, flush=True)
        return 2
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_interrupt)
    try:  # a SIGTERM from here on stops the server cleanly, even one sent as the URL is read
        print(_banner(server, args), file=sys.stderr, flush=True)  # before the URL: a script
        print(server.url, flush=True)  # that waits for the URL (stdout, alone) has both
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
