"""The ``threadrun`` command: ``threadrun serve`` (the Assistants runtime), ``threadrun providers``
and ``threadrun demo``."""
from __future__ import annotations

import argparse

#: Always on the offline echo provider, whatever keys are set: the demo never leaves the machine.
DEMO_MODELS = "echo:gpt-5.4-mini,echo:gpt-5.4-nano,echo:gpt-5.4"
DEMO_TEMPERATURES = "0,0.5,1,1.5"
DEMO_THREAD = """\
system: Answer in one short sentence.
user: What is the capital of France?
assistant: Paris.
user: And of Spain?
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    from .. import __version__
    parser = argparse.ArgumentParser(
        prog="threadrun", description="Compare models from the command line's side of threadrun: "
        "run the Assistants runtime, list providers, or run the offline demo.")
    parser.add_argument("--version", action="version", version=f"threadrun {__version__}")
    sub = parser.add_subparsers(dest="command")
    from ..server.cli import add_serve_arguments
    add_serve_arguments(sub.add_parser("serve", help="run the local Assistants-compatible server"))
    listing = sub.add_parser("providers", help="list the providers a model can run on")
    listing.add_argument("--check", action="store_true", help="ask each provider for its models")
    demo = sub.add_parser("demo", help="a model × temperature sweep against the embedded server")
    demo.add_argument("--latency", type=float, default=0.4, help="server seconds per run (default 0.4)")
    demo.add_argument("--repeat", type=int, default=3, help="runs per grid cell (default 3)")
    demo.add_argument("--out", default="threadrun-demo.png",
                      help="where to save the plot (default threadrun-demo.png)")
    args = parser.parse_args(argv)
    if args.command is None:  # bare `threadrun`: say what it does
        parser.print_help()
        return 0
    if args.command == "serve":
        from ..server.cli import serve_from_args
        return serve_from_args(args)
    if args.command == "providers":
        return providers_main(args)
    return demo_main(args)


def providers_main(args: argparse.Namespace) -> int:
    """Print the providers table; 2 with a one-line error when providers.toml is bad."""
    import sys

    from ..errors import ValidationError
    from .provider_list import text
    try:
        print(text(check=args.check))
    except ValidationError as exc:
        print(f"threadrun providers: {exc}", file=sys.stderr)
        return 2
    return 0


def demo_main(args: argparse.Namespace) -> int:
    """Start the embedded server, sweep 3 models × 4 temperatures × repeats, compare, plot."""
    import pandas as pd

    from ..api import run
    from ..rows.comparison import compare, plot
    from ..server import local_server

    with local_server(latency=args.latency) as server:
        print(f"threadrun demo: local server at {server.url} (its echo engine is a stand-in, "
              "not a model)", flush=True)
        # its own assistant on this throwaway server: nothing is written to assistants.json
        from ..client import Client
        client = Client(server.url, "")
        try:
            demo_assistant = client.create_assistant("echo:gpt-5.4-mini", name="threadrun demo")["id"]
        finally:
            client.close()
        df: pd.DataFrame = run(DEMO_THREAD, model=DEMO_MODELS, temperature=DEMO_TEMPERATURES,
                 assistant=demo_assistant,
                 repeat=args.repeat, label="demo", base_url=server.url, api_key="", log=False)
    table = compare(df, values=("total_tokens", "latency_s", "cost_usd"),
                    stats=("count", "mean", "p95"))
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.float_format", "{:.6g}".format):
        print(table.to_string())
    figure = plot(df, x="temperature", y="total_tokens", by="model")
    figure.axes[0].set_title("threadrun demo on echo, a stand-in (not a model)")
    figure.savefig(args.out, dpi=100)
    done = int((df["status"] == "completed").sum())
    print(f"{done} of {len(df)} runs completed in one sweep; plot saved to {args.out}")
    return 0 if done == len(df) else 1


if __name__ == "__main__":
    raise SystemExit(main())
