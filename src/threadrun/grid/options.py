"""Every option of ``%%threadrun``, ``threadrun.run()`` and the form, declared once.

``OPTIONS`` is the one table. From it come the magic's arguments (``add_arguments``), the
settings a ``Command`` carries and their checks (``take``, ``check``), the ``%config
ThreadrunMagics`` traits (``traits``), Copy-as-cell (``cell_text``) and the form's simple
fields (``form_app``). A new option is one ``Option(...)`` line here, plus the code that uses it.

An option's *role* says where its value goes:

- ``grid``: a dimension of the grid (models × efforts × temperatures × repeats; ``--over``'s
  inputs, role ``input``, come first);
- ``field``: a field of every request body (``instructions``, ``top_p``...);
- ``send``: how the runs are sent (timeouts, concurrency, label, log...): ``Command.settings``;
- ``input``: how the cell is read (``interpolate``, ``over``);
- ``cell``: the magic's own (``--out``, ``--compare``): never reaches a Command.

Stdlib and ``plan`` only: the magic reads this table at ``%load_ext``.
"""
from __future__ import annotations

import difflib
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Literal, Mapping

from .. import config
from ..errors import ValidationError
from .plan import (
    parse_efforts,
    parse_metadata,
    parse_models,
    parse_repeat,
    parse_temperatures,
    parse_tiers,
    parse_top_p,
    split_list,
)
from .tools import Toolbox, toolbox

Role = Literal["grid", "field", "send", "input", "cell"]
Widget = Literal["text", "number", "count", "int", "area"]


@dataclass(frozen=True)
class Option:
    """One option: its name everywhere, its type, default, bounds and help."""

    name: str  #: Python name: ``run(name=...)``, ``Command.name``, the trait; ``--name-with-dashes``
    role: Role
    help: str
    kind: type = str  #: the magic's argument type (str is read as text, then parsed)
    default: Any = None
    short: str | None = None  #: e.g. ``-m``
    flag: bool = True  #: the magic has ``--name`` (False: Python/config only, or only ``off``)
    off: str | None = None  #: a magic flag that sets the value to False (``--poll``, ``--no-log``)
    off_help: str = ""  #: that flag's help
    action: str | None = None  #: argparse action: ``store_true`` or ``append``
    metavar: str | None = None
    minimum: float | None = None  #: the least value allowed (with ``above``: more than it)
    above: bool = False
    unit: str = ""  #: said in the bound's error: "more than 0 seconds"
    parse: Callable[[Any], Any] | None = None  #: turns a raw value into the checked one
    trait: bool = False  #: also a ``%config ThreadrunMagics.<name>`` setting
    copy: bool = True  #: Copy-as-cell writes it when it differs from the default
    widget: Widget | None = None  #: the form shows it as this simple field
    placeholder: str = ""  #: the form field's hint
    spelled: str | None = None  #: the magic's flag when it is not the name (``--continue``)

    @property
    def dashed(self) -> str:
        """``--max-retries``: how the magic and the errors spell it."""
        return self.spelled or "--" + self.name.replace("_", "-")

    def check(self, value: Any, who: str | None = None) -> Any:
        """``value`` parsed (or of the option's ``kind``) and within bounds, else a one-line
        ValidationError."""
        if self.parse is not None:
            value = self.parse(value)
        elif value is not None and self.kind in _KINDS:
            value = _KINDS[self.kind](value, who or (self.dashed if self.flag else self.name), self.name)
        if value is None or self.minimum is None:
            return value
        low = self.minimum
        ok = value > low if self.above else value >= low
        if not ok:
            bound = f"more than {low:g}" if self.above else f"{low:g} or more"
            unit = f" {self.unit}" if self.unit else ""
            got = f"{value:g}" if isinstance(value, float) else value
            raise ValidationError(f"{who or self.dashed} must be {bound}{unit}, got {got}",
                                  param=self.name)
        return value


def _as_int(value: Any, who: str, param: str) -> int:
    """A whole number: an int (numpy's too) or text ``int()`` reads, as the magic's parser does."""
    if isinstance(value, numbers.Integral) and not _is_bool(value):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{who} expects a whole number, got {_shown(value)}", param=param)


def _as_float(value: Any, who: str, param: str) -> float:
    """A number: an int or float (numpy's too) or text ``float()`` reads, as the magic's parser
    (and ``--temperature``) does."""
    if isinstance(value, numbers.Real) and not _is_bool(value):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ValidationError(f"{who} expects a number, got {_shown(value)}", param=param)


def _as_bool(value: Any, who: str, param: str) -> bool:
    """True or False (numpy's too); text such as ``"yes"`` is refused, not read as true."""
    if _is_bool(value):
        return bool(value)
    raise ValidationError(f"{who} expects True or False, got {_shown(value)}", param=param)


def _is_bool(value: Any) -> bool:
    """A Python or numpy boolean (numpy's ``bool_`` is no ``bool``)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy"
                                       and type(value).__name__ in ("bool", "bool_"))


def _shown(value: Any) -> str:
    """A bad value as the error shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: How a value given from Python is read for an option of each ``kind`` without a ``parse``.
_KINDS: dict[type, Callable[[Any, str, str], Any]] = {int: _as_int, float: _as_float, bool: _as_bool}


def _tools(value: Any) -> Any:
    """Built-in tool names or tool dicts (a list); Python functions (one, a list, a dict) →
    a ``Toolbox`` whose definitions go in the body and whose functions answer the calls."""
    if isinstance(value, Toolbox) or callable(value) or isinstance(value, Mapping):
        return value if isinstance(value, Toolbox) else toolbox(value)
    items = split_list(value)
    if items and any(callable(v) for v in items):
        return toolbox(items)
    return items or None


def _continue_from(value: Any) -> Any:
    """The rows whose threads continue: a DataFrame (or a list of row dicts) with thread ids."""
    rows = value.to_dict("records") if hasattr(value, "to_dict") else value
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ValidationError("--continue takes the DataFrame of an earlier run (its rows' "
                              f"threads continue), not {type(value).__name__}", param="continue_from")
    if rows and "thread_id" not in rows[0]:
        raise ValidationError("--continue: these rows have no thread_id column; give the DataFrame "
                              "threadrun returned", param="continue_from")
    return rows


OPTIONS: tuple[Option, ...] = (
    Option("model", "grid", "Model(s) as provider:name, comma-separated: "
           "openai:gpt-5-mini,ollama:llama3.2.", short="-m", parse=parse_models),
    Option("temperature", "grid", "Temperature(s) 0–2, comma-separated: 0,0.5,1.", short="-t",
           parse=parse_temperatures),
    Option("top_p", "field", "top_p, 0–1.", parse=parse_top_p, widget="number",
           placeholder="0–1 (blank: default)"),
    Option("reasoning_effort", "grid", "Reasoning effort(s), comma-separated: "
           "minimal,low,medium,high.", parse=parse_efforts),
    Option("assistant", "send", "Assistant id (default $THREADRUN_ASSISTANT_ID, else a scratch "
           "one).", short="-a", widget="text",
           placeholder="asst_... (blank: $THREADRUN_ASSISTANT_ID or a scratch one)"),
    Option("instructions", "field", "Instructions (system message) for the run.", short="-i",
           widget="area", placeholder="instructions for the run (optional)"),
    Option("max_prompt_tokens", "field", "Cap on prompt tokens (≥ 256).", kind=int),
    Option("max_completion_tokens", "field", "Cap on completion tokens (≥ 256).", kind=int,
           widget="count", placeholder="≥ 256 (blank: no cap)"),
    Option("tools", "field", "Tools, comma-separated: Python functions (a function, list or dict of "
           "them, by variable name), whose calls run here, or code_interpreter,file_search.",
           parse=_tools, copy=False),
    Option("max_steps", "send", "Model steps a run may take answering tool calls (1 + the tool "
           "rounds).", kind=int, default=8, minimum=1),
    Option("continue_from", "send", "Continue each row's thread of this DataFrame (a variable): "
           "the cell's messages are added and the thread runs again on its own model and settings.",
           spelled="--continue", metavar="VAR", parse=_continue_from, copy=False),
    Option("metadata", "field", "Metadata pair (repeatable).", action="append",
           metavar="KEY=VALUE", parse=parse_metadata),
    Option("truncation_strategy", "field", "The request's truncation_strategy.", flag=False),
    Option("response_format", "field", "The request's response_format.", flag=False),
    Option("tool_choice", "field", "The request's tool_choice.", flag=False),
    Option("parallel_tool_calls", "field", "The request's parallel_tool_calls.", flag=False),
    Option("allow_ignored", "send", "Also send the grid cells whose setting the provider caps or "
           "ignores (their rows say so); by default they are not sent.", kind=bool, default=False,
           action="store_true"),
    Option("repeat", "grid", "Runs per grid cell.", short="-n", default=1, parse=parse_repeat,
           widget="int"),
    Option("label", "send", "A label stored with every row.", widget="text",
           placeholder="stored in every row"),
    Option("out", "cell", "Also store the result in this variable.", short="-o", metavar="VAR"),
    Option("dry_run", "send", "Show the request bodies and a cost forecast; send no run.", kind=bool, default=False,
           action="store_true", copy=False),
    Option("interpolate", "input", "Fill {name} placeholders from the notebook.", kind=bool,
           default=True, flag=False, off="--no-interpolate", copy=False,
           off_help="Send the cell as typed: no {name} substitution (braces stay braces)."),
    Option("stream", "send", "Follow runs by SSE streaming (False: poll).", kind=bool,
           default=True, flag=False, off="--poll", trait=True,
           off_help="Poll the run instead of streaming it."),
    Option("base_url", "send", "Assistants server base URL; default $THREADRUN_BASE_URL, else the "
           "embedded runtime.", trait=True),
    Option("timeout", "send", "Seconds to wait for each answer (read timeout).", kind=float,
           default=config.TIMEOUT_S, minimum=0, above=True, unit="seconds", trait=True),
    Option("deadline", "send", "Seconds one run may take before it is cancelled and recorded "
           f"(default {config.DEADLINE_S:g}).", kind=float, default=config.DEADLINE_S,
           metavar="SECONDS", minimum=0, above=True, unit="seconds", trait=True),
    Option("max_retries", "send", "Retries on 429, 5xx and connection failures.", kind=int,
           default=config.MAX_RETRIES, minimum=0, trait=True),
    Option("concurrency", "send", "Runs in flight at once in a grid.", short="-j", kind=int,
           default=config.CONCURRENCY, minimum=1, trait=True, widget="int"),
    Option("api_key_env", "send", "Read the Assistants server's key from $NAME (default "
           "$THREADRUN_API_KEY).", metavar="NAME"),
    Option("rate", "send", "Cap on requests per minute.", kind=float, metavar="RPM", minimum=0,
           above=True, unit="requests per minute"),
    Option("log", "send", "Run log file (default $THREADRUN_LOG or ~/.threadrun/runs.sqlite); "
           "--no-log: do not write it.", metavar="PATH", off="--no-log",
           off_help="Do not write the run log."),
    Option("resume", "send", "Run only the grid cells of LABEL not completed in the log.",
           metavar="LABEL"),
    Option("progress", "send", "Show a progress bar for grids.", kind=bool, default=True,
           flag=False, trait=True, copy=False),
    Option("compare", "cell", "Also show the comparison table under the rows (compare's "
           "default: means with their intervals, p50/p95, completion, distinct replies).", kind=bool,
           action="store_true"),
    # issue 23: inputs from a DataFrame and scores
    Option("over", "input", "Run the thread once per row of this DataFrame (or list of dicts), "
           "each row filling the {column} placeholders.", metavar="VAR"),
    Option("score", "send", "Score each completed reply: contains:TEXT, icontains:TEXT, "
           "regex:PATTERN, equals (with --expect), json, json:SCHEMA_VAR, length.",
           metavar="SCORER"),
    Option("expect", "send", "The input column --score equals compares the reply with.",
           metavar="COLUMN"),
    # issue #23: free re-runs, a budget, service tiers.
    Option("fresh", "send", "Run again the grid cells whose request already completed in the run "
           "log (by default their rows come from the log, cached, at no cost).", kind=bool,
           default=False, action="store_true"),
    Option("budget", "send", "Send no run whose worst-case cost (caps × prices) could take the "
           "sweep's spend past USD; the rest are not sent (--resume LABEL runs them).",
           kind=float, metavar="USD", minimum=0, above=True, unit="USD"),
    Option("service_tier", "grid", "Service tier(s), comma-separated: flex,default (OpenAI: "
           "auto, default, flex, priority; Gemini: flex, priority; priced per tier); the row's "
           "service_tier is the one the provider reports.",
           parse=parse_tiers),
)


def table(role: Role | None = None, options: Iterable[Option] | None = None) -> list[Option]:
    """The options (of one role), in the table's order."""
    return [o for o in (OPTIONS if options is None else options) if role is None or o.role == role]


def find(name: str, options: Iterable[Option] | None = None) -> Option:
    """The option called ``name`` (KeyError if none)."""
    for option in table(None, options):
        if option.name == name:
            return option
    raise KeyError(name)


def unknown(name: str, names: Iterable[str]) -> ValidationError:
    """The one-line error for an option no table has, with the closest name."""
    names = list(names)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValidationError(f"unknown option {name!r}{hint}", param=name)


def argparse_spec(option: Option) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The ``magic_arguments.argument(*flags, **kwargs)`` calls that declare ``option``."""
    calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []
    if option.flag:
        flags = (option.dashed,) + ((option.short,) if option.short else ())
        kwargs: dict[str, Any] = {"dest": option.name, "help": option.help, "default": None}
        if option.action:
            kwargs["action"] = option.action
        elif option.kind in (int, float):
            kwargs["type"] = option.kind
        if option.metavar and option.action != "store_true":
            kwargs["metavar"] = option.metavar
        calls.append((flags, kwargs))
    if option.off:
        calls.append(((option.off,), {"dest": option.name, "action": "store_const", "const": False,
                                      "default": None, "help": option.off_help or option.help}))
    return calls


def defaults(options: Iterable[Option] | None = None) -> dict[str, Any]:
    """The ``send`` options' defaults: a new Command's settings."""
    return {o.name: o.default for o in table("send", options)}
