"""The ``threadrun`` command: ``threadrun serve`` (the local server) and ``threadrun demo``."""
from __future__ import annotations

import argparse
import sys

DEMO_THREAD = """\
system: Answer in one short sentence.
user: What is the capital of France?
assistant: Paris.
user: And of Spain?
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="threadrun", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    from .server.cli import add_serve_arguments
    add_serve_arguments(sub.add_parser("serve", help="run the local Assistants-compatible server"))
    demo = sub.add_parser("demo", help="run a small grid against the embedded local server")
    demo.add_argument("--latency", type=float, default=0.3, help="server seconds per run")
    args = parser.parse_args(argv)
    if args.command == "serve":
        from .server.cli import serve_from_args
        return serve_from_args(args)
    return demo_main(args)


def demo_main(args: argparse.Namespace) -> int:
    """Start the embedded server, run 2 models × 3 temperatures, print the rows."""
    import pandas as pd

    from .api import run
    from .server import local_server

    with local_server(latency=args.latency) as server:
        print(f"threadrun demo: local server at {server.url} (echo engine: a stand-in, not a model)")
        df = run(DEMO_THREAD, model="gpt-4o-mini,gpt-4.1-nano", temperature="0,0.7,1.4",
                 base_url=server.url, api_key="", progress=sys.stderr.isatty())
    columns = ["model", "temperature", "status", "prompt_tokens", "completion_tokens",
               "cost_usd", "latency_s", "reply"]
    with pd.option_context("display.width", 160, "display.max_colwidth", 48):
        print(df[columns].to_string(index=False))
    return 0 if (df["status"] == "completed").all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
