"""One finished run → one flat row; the column schema and dtypes of every threadrun DataFrame."""
from __future__ import annotations

import json
import math
from typing import Any, Iterable

import numpy as np
import pandas as pd

from .catalog import cost_usd
from .providers import split_spec
from .result import RunResult

# pandas 3 has a real string dtype; on pandas 2 "str" would turn None into the text "None".
STR = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"
UTC = "datetime64[ns, UTC]"

#: The columns, in order, with their dtypes: what people compare first (model, provider, the
#: settings, status, total tokens, cost, times, the reply), then the token details,
#: bookkeeping, ids and timestamps last.
COLUMNS: dict[str, str] = {
    "model": STR, "provider": STR, "temperature": "float64", "top_p": "float64",
    "reasoning_effort": STR, "status": STR, "total_tokens": "Int64",
    "cost_usd": "float64", "latency_s": "float64", "ttft_s": "float64",
    "reply": STR, "error": "object", "tool_calls": STR, "label": STR,
    "prompt_tokens": "Int64", "completion_tokens": "Int64",
    "reasoning_tokens": "Int64", "cached_tokens": "Int64",
    "repeat": "Int64", "retries": "Int64",
    "run_id": STR, "thread_id": STR, "assistant_id": STR, "request_id": STR,
    "created_at": UTC, "completed_at": UTC,
}

_ENDED_AT = ("completed_at", "failed_at", "cancelled_at", "incomplete_at", "expired_at")


def to_row(result: RunResult, *, label: str | None = None, repeat: int | None = None,
           reasoning_effort: str | None = None) -> dict[str, Any]:
    """Flatten a RunResult into a dict with exactly the keys of COLUMNS.

    ``model`` is split into the name the provider knows and ``provider`` (None when the server
    did not say: another Assistants server echoes plain model names).
    """
    run = result.run or {}
    body = result.body
    usage = run.get("usage") if isinstance(run.get("usage"), dict) else {}
    spec = run.get("model") or body.get("model")
    provider, model = split_spec(spec) if isinstance(spec, str) else (None, spec)
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    cached = _count(_detail(usage, "prompt_tokens_details", "cached_tokens"))
    return {
        "run_id": run.get("id"),
        "thread_id": run.get("thread_id"),
        "assistant_id": run.get("assistant_id") or body.get("assistant_id"),
        "model": model,
        "provider": provider,
        "temperature": _first(run.get("temperature"), body.get("temperature")),
        "top_p": _first(run.get("top_p"), body.get("top_p")),
        "reasoning_effort": reasoning_effort,
        "status": result.status,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(usage.get("total_tokens")),
        "reasoning_tokens": _count(_detail(usage, "completion_tokens_details", "reasoning_tokens")),
        "cached_tokens": cached,
        "cost_usd": (cost_usd(model, prompt, completion, provider=provider, cached=cached)
                     if isinstance(model, str) else math.nan),
        "latency_s": result.latency_s,
        "ttft_s": result.ttft_s,
        "created_at": run.get("created_at"),
        "completed_at": next((run[k] for k in _ENDED_AT if run.get(k)), None),
        "reply": result.reply,
        "tool_calls": json.dumps(result.tool_calls) if result.tool_calls else None,
        "error": result.error,
        "label": label,
        "repeat": repeat,
        "retries": result.retries,
        "request_id": result.request_id,
    }


def frame(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    """A DataFrame with the columns of COLUMNS (in order, with their dtypes) first, then extras.

    ``rows`` is a list of row dicts (built column by column, typed once) or a DataFrame whose
    columns are converted (the run log's raw records).
    """
    if isinstance(rows, pd.DataFrame):
        typed = {name: _as(rows[name] if name in rows else pd.Series([None] * len(rows), dtype=object),
                           dtype) for name, dtype in COLUMNS.items()}
        typed.update({c: rows[c] for c in rows.columns if c not in COLUMNS})
        return _mark(pd.DataFrame(typed, index=rows.index))
    rows = list(rows)
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in COLUMNS]
    typed = {name: _column([r.get(name) for r in rows], dtype) for name, dtype in COLUMNS.items()}
    typed.update({name: _column([r.get(name) for r in rows], "object") for name in extra})
    return _mark(pd.DataFrame(typed, copy=False))


def _mark(df: pd.DataFrame) -> pd.DataFrame:
    """Tag a frame of rows, so the notebook shows it readably (see ``threadrun.display``)."""
    df.attrs["threadrun"] = "rows"
    return df


def _column(values: list[Any], dtype: str) -> Any:
    """One column from Python values, typed in one step (the fast path for fresh rows)."""
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "Int64":
        return pd.array(values, dtype="Int64")
    if dtype == "object":
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return pd.Series(column, dtype=object, copy=False)  # pandas 3 would infer str from an array
    if dtype == STR and all(v is None or isinstance(v, str) for v in values):
        return pd.array(values, dtype=STR)
    if dtype == UTC and all(v is None or isinstance(v, (int, float)) for v in values):
        seconds = np.array([np.nan if v is None else v for v in values], dtype="float64")
        return pd.to_datetime(seconds, unit="s", utc=True).astype(UTC)
    return _as(pd.Series(values, dtype=object), dtype).array


def _as(series: pd.Series, dtype: str) -> pd.Series:
    """Convert one column; Unix seconds become UTC datetimes, None stays missing."""
    if dtype == UTC:
        if pd.api.types.is_datetime64_any_dtype(series):
            return series.dt.tz_localize("UTC") if series.dt.tz is None else series.astype(UTC)
        return pd.to_datetime(pd.to_numeric(series, errors="coerce"), unit="s", utc=True).astype(UTC)
    if dtype == "object":
        return series.astype(object).where(series.notna(), None)
    if dtype in ("float64", "Int64"):
        return pd.to_numeric(series, errors="coerce").astype(dtype)
    return series.astype(dtype)


def _count(value: Any) -> int | None:
    """A token count as reported, or None (absent, or not a whole number)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _detail(usage: dict, group: str, name: str) -> Any:
    """``usage[group][name]`` when both are there."""
    details = usage.get(group)
    return details.get(name) if isinstance(details, dict) else None


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
