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
from traitlets.config import Configurable

from ..errors import ThreadrunError, ValidationError
from ..grid import options
from ..grid.options import Option

if TYPE_CHECKING:  # the rest of threadrun (pandas, requests) loads on first use, not at %load_ext
    from ..api import Command


def _words(line: str) -> list[str]:
    """The option line's words (POSIX quoting), without a trailing ``# comment``.

    A ``#`` starts a comment only at the start of a word and outside quotes, so ``--label a#b``
    and ``--label '#tag'`` keep theirs. Unbalanced quotes are a UsageError.
    """
    quote, escaped = "", False
    for i, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            line = line[:i]
            break
    try:  # POSIX quoting, so --instructions "Be brief." arrives without its quotes
        return shlex.split(line)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"cannot read the options: {exc}") from None


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


def _trait(option: Option) -> Any:
    """The ``%config`` trait of a ``trait=True`` option, checked when it is set."""
    kinds = {float: Float, int: Integer, bool: Bool}
    if option.kind in kinds:
        return kinds[option.kind](option.default, help=option.help).tag(config=True)
    return Unicode(option.default, allow_none=True, help=option.help).tag(config=True)


def _validator(option: Option) -> Any:
    """A bad ``%config`` value fails when it is set, not at the next cell."""
    def check(self: Any, proposal: Any) -> Any:
        try:
            return option.check(proposal["value"], who=f"ThreadrunMagics.{option.name}")
        except ValidationError as exc:
            raise TraitError(str(exc)) from None
    return validate(option.name)(check)


def _settings(table: tuple[Option, ...]) -> type[Configurable]:
    """A Configurable whose traits are the table's ``trait=True`` options (with their checks)."""
    members: dict[str, Any] = {"__doc__": "threadrun's %config settings (see threadrun.grid.options)."}
    for option in table:
        if option.trait:
            members[option.name] = _trait(option)
            if option.minimum is not None or option.parse is not None:
                members[f"_check_{option.name}"] = _validator(option)
    return type("ThreadrunSettings", (Configurable,), members)


def _declare(func: Any) -> Any:
    """``func`` with a ``magic_arguments`` parser made from ``options.OPTIONS``, in its order."""
    for option in reversed(options.OPTIONS):
        for flags, kwargs in reversed(options.argparse_spec(option)):
            func = argument(*flags, **kwargs)(func)
    return magic_arguments()(func)


@magics_class
class ThreadrunMagics(Magics, _settings(options.OPTIONS)):  # type: ignore[misc]
    """The ``%%threadrun`` cell magic; its settings are the table's traits (``%config``)."""

    @line_cell_magic
    @_declare
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
        from ..api import bodies, execute
        cmd, args = self._command(line, cell)
        try:
            result = bodies(cmd) if cmd.dry_run else execute(cmd)
        except ThreadrunError as exc:
            raise UsageError(str(exc)) from None
        if args.out:
            assert self.shell is not None  # a registered magic always has its shell
            self.shell.user_ns[args.out] = result
        if args.compare and not cmd.dry_run:
            from IPython.display import display

            from ..rows.comparison import compare
            display(result, compare(result))  # means with intervals, completion (the default)
            return None
        return result

    def _line(self, line: str) -> Any:
        """``%threadrun log [...]`` and ``%threadrun form``."""
        words = _words(line)
        if words[:1] == ["log"]:
            from ..rows import runlog
            args = _parse(self._log_options, words[1:])
            try:
                return runlog.log(label=args.label, model=args.model, since=args.since, path=args.path)
            except ThreadrunError as exc:
                raise UsageError(str(exc)) from None
        if words[:1] == ["form"]:
            from .form import show_form
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
        args = _parse(self.threadrun, _words(line))
        from ..api import command
        if args.out is not None and not args.out.isidentifier():
            raise UsageError(f"--out expects a variable name, got {args.out!r}")
        given = {o.name: getattr(args, o.name) for o in options.OPTIONS
                 if o.role != "cell" and (o.flag or o.off) and getattr(args, o.name) is not None}
        for option in options.OPTIONS:  # what the cell does not say, %config says
            if option.trait:
                given.setdefault(option.name, getattr(self, option.name))
        try:
            assert self.shell is not None
            cmd = command(cell, namespace=self.shell.user_ns, **given)
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
