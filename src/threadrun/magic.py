"""``%%threadrun``: options and a thread in a cell → a DataFrame with one row per run.

Options are declared with IPython's ``magic_arguments``; the cell is parsed once into a
``Command``; every user mistake surfaces as a one-line ``UsageError`` before any request.
Settings are traitlets, so ``%config ThreadrunMagics.timeout = 30`` works.
"""
from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Float, Integer, Unicode

from .api import Command, command, execute
from .errors import ValidationError


@magics_class
class ThreadrunMagics(Magics):
    """The ``%%threadrun`` cell magic."""

    base_url = Unicode(None, allow_none=True,
                       help="API base URL; default $OPENAI_BASE_URL, else OpenAI's.").tag(config=True)
    timeout = Float(120.0, help="Seconds to wait for each answer (read timeout).").tag(config=True)
    max_retries = Integer(2, help="Retries on 429, 5xx and connection failures.").tag(config=True)
    concurrency = Integer(8, help="Runs in flight at once in a grid.").tag(config=True)
    stream = Bool(True, help="Follow runs by SSE streaming (False: poll).").tag(config=True)
    progress = Bool(True, help="Show a progress bar for grids.").tag(config=True)

    @magic_arguments()
    @argument("--model", "-m", help="Model(s), comma-separated: a,b runs each.")
    @argument("--temperature", "-t", help="Temperature(s) 0–2, comma-separated: 0,0.5,1.")
    @argument("--top-p", help="top_p, 0–1.")
    @argument("--assistant", "-a", help="Assistant id (default $THREADRUN_ASSISTANT_ID, else a scratch one).")
    @argument("--instructions", "-i", help="Instructions (system message) for the run.")
    @argument("--max-prompt-tokens", type=int, help="Cap on prompt tokens (≥ 256).")
    @argument("--max-completion-tokens", type=int, help="Cap on completion tokens (≥ 256).")
    @argument("--tools", help="Tools, comma-separated: code_interpreter,file_search.")
    @argument("--metadata", action="append", metavar="KEY=VALUE", help="Metadata pair (repeatable).")
    @argument("--repeat", "-n", default="1", help="Runs per grid cell.")
    @argument("--label", help="A label stored with every row.")
    @argument("--out", "-o", metavar="VAR", help="Also store the result in this variable.")
    @argument("--dry-run", action="store_true", help="Show the request bodies; send nothing.")
    @argument("--poll", action="store_true", help="Poll the run instead of streaming it.")
    @argument("--base-url", help="API base URL for this cell.")
    @argument("--timeout", type=float, help="Read timeout in seconds.")
    @argument("--max-retries", type=int, help="Retries on 429/5xx/connection failures.")
    @argument("--concurrency", "-j", type=int, help="Runs in flight at once.")
    @line_cell_magic
    def threadrun(self, line: str, cell: str | None = None) -> Any:
        """Run the cell's thread on an Assistants server; one DataFrame row per run.

        The cell holds the thread: ``user: ...`` / ``assistant: ...`` lines start messages,
        ``system: ...`` sets the instructions, other lines continue the message; text with no
        role prefix is one user message; a cell starting with ``{`` is a JSON request body.
        ``{name}`` is replaced from the notebook namespace (``{{`` and ``}}`` for braces).
        """
        if cell is None:
            raise UsageError("%threadrun needs a thread: use %%threadrun as a cell magic "
                             "(see %threadrun? for the options)")
        cmd, out = self._command(line, cell)
        try:
            result = execute(cmd)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        if out:
            self.shell.user_ns[out] = result
        return result

    def _command(self, line: str, cell: str) -> tuple[Command, str | None]:
        """Parse the option line and the cell once into a Command, or raise a UsageError."""
        try:  # POSIX quoting, so --instructions "Be brief." arrives without its quotes
            args = self.threadrun.parser.parse_args(shlex.split(line))
        except ValueError as exc:  # shlex: unbalanced quotes
            raise UsageError(f"cannot read the options: {exc}") from None
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out expects a variable name, got {args.out!r}")
        pick = lambda value, default: default if value is None else value  # noqa: E731
        try:
            cmd = command(
                cell, namespace=self.shell.user_ns, model=args.model, temperature=args.temperature,
                top_p=args.top_p, tools=args.tools, metadata=args.metadata, repeat=args.repeat,
                instructions=args.instructions, max_prompt_tokens=args.max_prompt_tokens,
                max_completion_tokens=args.max_completion_tokens, assistant=args.assistant,
                label=args.label, base_url=pick(args.base_url, self.base_url),
                stream=self.stream and not args.poll, timeout=pick(args.timeout, self.timeout),
                max_retries=pick(args.max_retries, self.max_retries),
                concurrency=pick(args.concurrency, self.concurrency), dry_run=args.dry_run,
                progress=self.progress)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        return cmd, args.out
