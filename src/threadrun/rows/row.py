"""One finished run → one flat row; the column schema and dtypes of every threadrun DataFrame."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Iterable

import pandas as pd

from .. import scrub
from ..providers import split_spec
from ..providers.catalog import cost_usd
from .arrays import MAX_S, MIN_S, STR, UTC, convert, from_columns, typed
from .result import RunResult

#: The columns, in order, with their dtypes: what people compare first (model, provider, the
#: settings, status, total tokens, cost, times, the reply), then the token details,
#: bookkeeping, ids and timestamps; then the columns added later, in blocks (inputs and scores).
COLUMNS: dict[str, str] = {
    "model": STR, "provider": STR, "temperature": "float64", "top_p": "float64",
    "reasoning_effort": STR, "status": STR, "total_tokens": "Int64",
    "cost_usd": "float64", "latency_s": "float64", "ttft_s": "float64", "queue_s": "float64",
    "reply": STR, "error": "object", "tool_calls": STR, "sent": STR, "label": STR,
    "prompt_tokens": "Int64", "completion_tokens": "Int64",
    "reasoning_tokens": "Int64", "cached_tokens": "Int64",
    "repeat": "Int64", "retries": "Int64",
    "run_id": STR, "thread_id": STR, "assistant_id": STR, "request_id": STR,
    "created_at": UTC, "completed_at": UTC,
    # inputs and scores (issue 23): the input's index label, the score, the scorer's error
    "input": "object", "score": "float64", "score_error": STR,
    # tools answered here and continued threads (--tools, --continue)
    "steps": "Int64", "parent_run_id": STR,
    # issue #23 (free re-runs, service tiers): a row replayed from the run log, not re-run; the
    # service tier the provider reports it ran on (None: it said nothing).
    "cached": "bool", "service_tier": STR,
}

_ENDED_AT = ("completed_at", "failed_at", "cancelled_at", "incomplete_at", "expired_at")


def to_row(result: RunResult, *, label: str | None = None, repeat: int | None = None,
           reasoning_effort: str | None = None,
           secrets: dict[str, str] | None = None, input: Any = None) -> dict[str, Any]:
    """Flatten a RunResult into a dict with exactly the keys of COLUMNS; never raises.

    ``model`` is split into the name the provider knows and ``provider`` (None when the server
    did not say: another Assistants server echoes plain model names). A row is built from
    whatever came back: a field of the run object that cannot be read (a string ``usage``, a
    fractional token count, a temperature that is not a number, a ``created_at`` that is not a
    time) is left empty and named in the row's ``error``; every value has its column's type.
    Known keys (``scrub``; ``secrets`` when the caller looked them up already) are masked.
    ``input`` is the input's index label (``--over``); ``score`` is filled in by the sweep.
    """
    problems: list[str] = []
    try:
        row = _row(result, problems, label, repeat, reasoning_effort)
    except Exception as exc:  # noqa: BLE001 - a row, whatever the run object holds
        problems.append(f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
        row = dict.fromkeys(COLUMNS)
        row.update(status=_text(getattr(result, "status", None), "status", problems) or "unknown",
                   label=label if isinstance(label, str) else None, repeat=_int_or_none(repeat),
                   reasoning_effort=reasoning_effort if isinstance(reasoning_effort, str) else None,
                   cost_usd=math.nan, latency_s=math.nan, ttft_s=math.nan, queue_s=math.nan,
                   temperature=None, cached=False,
                   error=_text(getattr(result, "error", None), "error", []))
    row["input"] = input
    if problems:
        note = "run object unreadable: " + "; ".join(problems)
        row["error"] = f"{row['error']}; {note}" if row["error"] else note
    secrets = scrub.known() if secrets is None else secrets  # an echoed key never reaches a frame
    for name, value in row.items():
        if isinstance(value, str):
            row[name] = scrub.scrub(value, secrets)
    return row


def _row(result: RunResult, problems: list[str], label: str | None, repeat: int | None,
         reasoning_effort: str | None) -> dict[str, Any]:
    run = result.run
    if run is None:
        run = {}
    elif not isinstance(run, dict):
        problems.append(f"the run is {_shown(run)}, not an object")
        run = {}
    body = result.body if isinstance(result.body, dict) else {}
    usage = run.get("usage")
    if usage is None:
        usage = {}
    elif not isinstance(usage, dict):
        problems.append(f"usage is {_shown(usage)}, not an object")
        usage = {}
    spec = run.get("model")
    spec = _text(spec if spec is not None else body.get("model"), "model", problems)
    provider, model = split_spec(spec) if spec else (None, spec)
    prompt = _count(usage.get("prompt_tokens"), "prompt_tokens", problems)
    completion = _count(usage.get("completion_tokens"), "completion_tokens", problems)
    cached = _count(_detail(usage, "prompt_tokens_details", "cached_tokens", problems),
                    "cached_tokens", problems)
    ended = next((run[k] for k in _ENDED_AT if run.get(k)), None)
    found = run.get("x_threadrun")
    extension: dict = found if isinstance(found, dict) else {}
    sent, notice = extension.get("sent"), extension.get("notice")
    tier = _text(extension.get("service_tier"), "x_threadrun.service_tier", problems)
    try:
        cost = (cost_usd(model, prompt, completion, provider=provider, cached=cached, tier=tier)
                if isinstance(model, str) else math.nan)
    except Exception:  # noqa: BLE001 - an unknown price is NaN, as for an unknown model
        cost = math.nan
    return {
        "run_id": _text(run.get("id"), "id", problems),
        "thread_id": _text(run.get("thread_id"), "thread_id", problems),
        "assistant_id": _text(run.get("assistant_id") or body.get("assistant_id"), "assistant_id", problems),
        "model": model,
        "provider": provider,
        "temperature": _setting(run, body, "temperature", problems),
        "top_p": _setting(run, body, "top_p", problems),
        "reasoning_effort": reasoning_effort if isinstance(reasoning_effort, str) else None,
        "status": _text(result.status, "status", problems),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(usage.get("total_tokens"), "total_tokens", problems),
        "reasoning_tokens": _count(_detail(usage, "completion_tokens_details", "reasoning_tokens", problems),
                                   "reasoning_tokens", problems),
        "cached_tokens": cached,
        "cost_usd": cost,
        "latency_s": _float(result.latency_s),
        "ttft_s": _float(result.ttft_s),
        "queue_s": _float(getattr(result, "queue_s", math.nan)),
        "created_at": _time(run.get("created_at"), "created_at", problems),
        "completed_at": _time(ended, "completed_at", problems),
        "reply": _text(result.reply, "reply", problems),
        "tool_calls": json.dumps(result.tool_calls, default=str) if result.tool_calls else None,
        "sent": json.dumps(sent, default=str) if isinstance(sent, dict) else None,
        "error": "; ".join(filter(None, [_text(result.error, "error", problems),
                                         _text(notice, "x_threadrun.notice", problems),
                                         _tools_raised(result.tool_calls)])) or None,
        "label": label,
        "repeat": _int_or_none(repeat),
        "retries": _int_or_none(result.retries),
        "request_id": _text(result.request_id, "request_id", problems),
        "score": None,
        "score_error": None,
        "steps": _int_or_none(result.extra.get("steps")),
        "parent_run_id": _text(result.extra.get("parent_run_id"), "parent_run_id", problems),
        "cached": False,
        "service_tier": tier,
    }


def _tools_raised(calls: list[dict]) -> str | None:
    """One line naming the tool calls that raised (their error text went to the model)."""
    raised = [f"{c.get('name')}: {c['error']}" for c in calls if isinstance(c, dict) and c.get("error")]
    if not raised:
        return None
    return f"{len(raised)} tool call(s) raised, the model was given the error: {'; '.join(raised)}"[:500]


def frame(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with the columns of COLUMNS (in order, with their dtypes) first, then extras.

    ``rows`` is a list of row dicts (built column by column, typed once) or a DataFrame whose
    columns are converted (the run log's raw records).
    """
    if isinstance(rows, pd.DataFrame):
        columns = {name: convert(rows[name] if name in rows else pd.Series([None] * len(rows), dtype=object),
                                 dtype) for name, dtype in COLUMNS.items()}
        columns.update({c: rows[c] for c in rows.columns if c not in COLUMNS})
        return _mark(pd.DataFrame(columns, index=rows.index))
    rows = list(rows)
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in COLUMNS]
    columns = {name: _column([r.get(name) for r in rows], dtype) for name, dtype in COLUMNS.items()}
    columns.update({name: _column([r.get(name) for r in rows], "object") for name in extra})
    return _mark(from_columns(columns, len(rows)))


def _mark(df: pd.DataFrame) -> pd.DataFrame:
    """Tag a frame of rows, so the notebook shows it readably (see ``threadrun.faces.display``)."""
    df.attrs["threadrun"] = "rows"
    return df


def _column(values: list[Any], dtype: str) -> Any:
    """One column from Python values, typed in one step; values of another type are read as
    ``to_row`` reads a run object's fields (unreadable → missing), so this never raises."""
    try:
        return typed(values, dtype)
    except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
        read = _READERS.get(dtype)
        return typed([read(v, "", []) for v in values] if read else values, dtype)


def _shown(value: Any) -> str:
    """A short description of an unreadable value: its type and the start of its repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _text(value: Any, name: str, problems: list[str]) -> str | None:
    """A text field: a string as is, a number as its digits, anything else unreadable."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    problems.append(f"{name} is {_shown(value)}")
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _number(value: Any, name: str, problems: list[str]) -> float | None:
    """A setting such as the temperature: a number, or a string that is one; else unreadable."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if math.isfinite(number):
            return number
    problems.append(f"{name} is {_shown(value)}, not a number")
    return None


def _setting(run: dict, body: dict, name: str, problems: list[str]) -> float | None:
    """The run's echoed setting, else the requested one (when the run's cannot be read too)."""
    echoed = _number(run.get(name), name, problems)
    return echoed if echoed is not None else _number(body.get(name), name, problems)


#: The most tokens a count may say: far above any run (a trillion), far below what an Int64
#: column or a cost can hold. A count outside 0..MAX_TOKENS is left empty and named in the row.
MAX_TOKENS = 10**12


def _count(value: Any, name: str, problems: list[str]) -> int | None:
    """A token count as reported (a whole float or digits read as the number), or None."""
    number: int | None = None
    if value is None:
        return None
    if type(value) is int:
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if number is None:
        problems.append(f"{name} is {_shown(value)}, not a whole number")
        return None
    if not 0 <= number <= MAX_TOKENS:
        problems.append(f"{name} is {_shown(number)}, outside 0 to {MAX_TOKENS:,}")
        return None
    return number




def _time(value: Any, name: str, problems: list[str]) -> float | None:
    """Unix seconds from a number, a numeric string or an ISO 8601 time; else unreadable."""
    if value is None:
        return None
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value)
        except ValueError:
            try:
                when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
                seconds = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
            except ValueError:
                seconds = None
    if seconds is not None and MIN_S < seconds < MAX_S:
        return seconds
    problems.append(f"{name} is {_shown(value)}, not a time")
    return None


def _detail(usage: dict, group: str, name: str, problems: list[str]) -> Any:
    """``usage[group][name]`` when both are there."""
    details = usage.get(group)
    if details is None or isinstance(details, dict):
        return details.get(name) if details else None
    problems.append(f"usage.{group} is {_shown(details)}, not an object")
    return None


_READERS = {"float64": _number, "Int64": _count, STR: _text, UTC: _time}
