"""``%%threadrun``: options and a thread in a cell → a DataFrame with one row per run.

Options are declared with IPython's ``magic_arguments``; the cell is parsed once into a
``Command``; every user mistake surfaces as a one-line ``UsageError`` before any request.
Settings are traitlets, so ``%config ThreadrunMagics.timeout = 30`` works.
"""
from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from traitlets import Bool, Float, Integer, TraitError, Unicode, validate

from . import config

from .errors import ThreadrunError, ValidationError

if TYPE_CHECKING:  # the rest of threadrun (pandas, requests) loads on first use, not at %load_ext
    from .api import Command


def _parse(magic: Any, words: list[str]) -> Any:
    """Parse words with a magic_arguments-declared function's parser (errors: UsageError).

    argparse's "unrecognized arguments" becomes a hint: the closest option for a misspelt one,
    or, for a stray word after ``a,`` (``-m gpt-4o, gpt-4o-mini``), that the space split the list.
    """
    try:
        return magic.parser.parse_args(words)
    except UsageError as exc:
        raise UsageError(_explain(magic.parser, words, str(exc))) from None


def _explain(parser: Any, words: list[str], message: str) -> str:
    """A one-line, actionable version of an argparse error."""
    import difflib
    marker = "unrecognized arguments:"
    if marker not in message:
        return " ".join(message.split())
    options = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    stray = message.split(marker, 1)[1].split()
    for word in stray:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=")[0], options, n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else "; see %threadrun? for the options"
            return f"unknown option {word}{hint}"
    if not stray:  # a quoted blank ('' or ' ') that argparse could not place
        return "unexpected blank argument (a quoted space or empty string); remove it"
    for before, word in zip(words, words[1:]):
        if word == stray[0] and before.endswith(","):
            return (f"unexpected {word!r}: the space after {before!r} split the list; write "
                    f"{before}{word} without spaces, or quote the whole list")
    return f"unexpected {' '.join(stray)!r}; quote values that contain spaces"


@magics_class
class ThreadrunMagics(Magics):
    """The ``%%threadrun`` cell magic."""

    base_url = Unicode(None, allow_none=True,
                       help="Assistants server base URL; default $THREADRUN_BASE_URL, else the "
                            "embedded runtime.").tag(config=True)
    timeout = Float(config.TIMEOUT_S, help="Seconds to wait for each answer (read timeout).").tag(config=True)
    deadline = Float(config.DEADLINE_S, help="Seconds one run may take before it is cancelled "
                     "and recorded.").tag(config=True)
    max_retries = Integer(config.MAX_RETRIES, help="Retries on 429, 5xx and connection failures.").tag(config=True)
    concurrency = Integer(config.CONCURRENCY, help="Runs in flight at once in a grid.").tag(config=True)

    @validate("timeout")
    def _check_timeout(self, proposal: Any) -> float:
        """A bad ``%config`` value fails when it is set, not at the next cell."""
        if not proposal["value"] > 0:
            raise TraitError(f"ThreadrunMagics.timeout must be more than 0 seconds, got {proposal['value']}")
        return proposal["value"]

    @validate("deadline")
    def _check_deadline(self, proposal: Any) -> float:
        if not proposal["value"] > 0:
            raise TraitError(f"ThreadrunMagics.deadline must be more than 0 seconds, got {proposal['value']}")
        return proposal["value"]

    @validate("max_retries")
    def _check_max_retries(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"ThreadrunMagics.max_retries must be 0 or more, got {proposal['value']}")
        return proposal["value"]

    @validate("concurrency")
    def _check_concurrency(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"ThreadrunMagics.concurrency must be 1 or more, got {proposal['value']}")
        return proposal["value"]
    stream = Bool(True, help="Follow runs by SSE streaming (False: poll).").tag(config=True)
    progress = Bool(True, help="Show a progress bar for grids.").tag(config=True)

    @magic_arguments()
    @argument("--model", "-m", help="Model(s) as provider:name, comma-separated: openai:gpt-5-mini,ollama:llama3.2.")
    @argument("--temperature", "-t", help="Temperature(s) 0–2, comma-separated: 0,0.5,1.")
    @argument("--top-p", help="top_p, 0–1.")
    @argument("--reasoning-effort", help="Reasoning effort(s), comma-separated: minimal,low,medium,high.")
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
    @argument("--no-interpolate", action="store_true",
              help="Send the cell as typed: no {name} substitution (braces stay braces).")
    @argument("--poll", action="store_true", help="Poll the run instead of streaming it.")
    @argument("--base-url", help="Assistants server base URL for this cell (default: the embedded runtime).")
    @argument("--timeout", type=float, help="Read timeout in seconds.")
    @argument("--deadline", type=float, metavar="SECONDS",
              help=f"Longest a run may take; then it is cancelled and recorded (default {config.DEADLINE_S:g}).")
    @argument("--max-retries", type=int, help="Retries on 429/5xx/connection failures.")
    @argument("--concurrency", "-j", type=int, help="Runs in flight at once.")
    @argument("--api-key-env", metavar="NAME", help="Read the Assistants server's key from $NAME (default $THREADRUN_API_KEY).")
    @argument("--rate", type=float, metavar="RPM", help="Cap on requests per minute.")
    @argument("--log", metavar="PATH", help="Run log file (default $THREADRUN_LOG or ~/.threadrun/runs.sqlite).")
    @argument("--no-log", action="store_true", help="Do not write the run log.")
    @argument("--resume", metavar="LABEL", help="Run only the grid cells of LABEL not completed in the log.")
    @argument("--compare", action="store_true", help="Also show the comparison table under the rows.")
    @line_cell_magic
    def threadrun(self, line: str, cell: str | None = None) -> Any:
        """Run the cell's thread on an Assistants server; one DataFrame row per run.

        The cell holds the thread: ``user: ...`` / ``assistant: ...`` lines start messages,
        ``system: ...`` sets the instructions, other lines continue the message; text with no
        role prefix is one user message; a cell starting with ``{`` is a JSON request body.
        ``{name}`` is replaced from the notebook namespace (``{{`` and ``}}`` for braces).
        Every run is appended to the run log. As a line magic: ``%threadrun log [--label L]
        [--model M] [--since ISO]`` returns the logged runs; ``%threadrun form`` shows the form;
        ``%threadrun providers [--check]`` lists where models can run.
        """
        if cell is None:
            return self._line(line)
        from .api import execute
        cmd, args = self._command(line, cell)
        try:
            result = execute(cmd)
        except ThreadrunError as exc:
            raise UsageError(str(exc)) from None
        if args.out:
            self.shell.user_ns[args.out] = result
        if args.compare and not cmd.dry_run:
            from IPython.display import display

            from .comparison import compare
            display(result, compare(result, completed_only=False))
            return None
        return result

    def _line(self, line: str) -> Any:
        """``%threadrun log [...]`` and ``%threadrun form``."""
        try:
            words = shlex.split(line)
        except ValueError as exc:  # unbalanced quotes
            raise UsageError(f"cannot read the options: {exc}") from None
        if words[:1] == ["log"]:
            from . import runlog
            args = _parse(self._log_options, words[1:])
            try:
                return runlog.log(label=args.label, model=args.model, since=args.since, path=args.path)
            except ThreadrunError as exc:
                raise UsageError(str(exc)) from None
        if words[:1] == ["form"]:
            from .form_app import show_form
            return show_form()
        if words[:1] == ["providers"]:
            return self._providers(words[1:])
        raise UsageError("%threadrun takes 'log', 'form' or 'providers'; use %%threadrun as a cell magic to run "
                         "a thread (see %threadrun? for the options)")

    def _providers(self, words: list[str]) -> Any:
        """``%threadrun providers [--check]``: the providers as a DataFrame (never a key)."""
        import pandas as pd

        from .provider_list import rows
        if words not in ([], ["--check"]):
            raise UsageError("%threadrun providers takes only --check")
        try:
            return pd.DataFrame(rows(check=words == ["--check"]))
        except ValidationError as exc:
            raise UsageError(str(exc)) from None

    @magic_arguments()
    @argument("--label", help="Only rows with this label.")
    @argument("--model", help="Only rows of this model.")
    @argument("--since", help="Only runs created since this date/time (ISO).")
    @argument("--path", help="The run log file (default: the usual one).")
    def _log_options(self, line: str) -> None:
        """%threadrun log [--label L] [--model M] [--since ISO] [--path FILE]: the logged runs."""

    def _command(self, line: str, cell: str) -> tuple[Command, Any]:
        """Parse the option line and the cell once into a Command, or raise a UsageError."""
        try:  # POSIX quoting, so --instructions "Be brief." arrives without its quotes
            words = shlex.split(line)
        except ValueError as exc:  # unbalanced quotes
            raise UsageError(f"cannot read the options: {exc}") from None
        args = _parse(self.threadrun, words)
        from .api import command
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out expects a variable name, got {args.out!r}")
        pick = lambda value, default: default if value is None else value  # noqa: E731
        try:
            cmd = command(
                cell, namespace=self.shell.user_ns, interpolate=not args.no_interpolate,
                model=args.model, temperature=args.temperature,
                top_p=args.top_p, reasoning_effort=args.reasoning_effort, tools=args.tools, metadata=args.metadata, repeat=args.repeat,
                instructions=args.instructions, max_prompt_tokens=args.max_prompt_tokens,
                max_completion_tokens=args.max_completion_tokens, assistant=args.assistant,
                label=args.label, base_url=pick(args.base_url, self.base_url),
                stream=self.stream and not args.poll, timeout=pick(args.timeout, self.timeout),
                deadline=pick(args.deadline, self.deadline),
                max_retries=pick(args.max_retries, self.max_retries),
                concurrency=pick(args.concurrency, self.concurrency), dry_run=args.dry_run,
                progress=self.progress, rate=args.rate, resume=args.resume, api_key_env=args.api_key_env,
                log=False if args.no_log else args.log)
        except ValidationError as exc:
            raise UsageError(str(exc)) from None
        return cmd, args


def _plain_help(func: Any) -> None:
    """``%threadrun?`` as plain text: no reST ``::`` marker or double backticks from magic_arguments."""
    doc = func.__doc__ or ""
    if doc.startswith("::"):
        doc = doc[2:].lstrip()
    func.__doc__ = doc.replace("``", "")


_plain_help(ThreadrunMagics.threadrun)
