"""Scores: a number per completed run, from its reply (``--score``, ``score=``), kept in the row.

A scorer is a Python callable or a built-in by name:

- a callable whose first parameter is named ``row`` gets the row (a dict of its columns, with the
  input's columns beside them) and returns a number; any other callable gets the reply (a str)
  and returns a number or a bool (True = 1.0);
- ``contains:TEXT`` / ``icontains:TEXT``: 1 when the reply contains TEXT (case-insensitively);
- ``regex:PATTERN``: 1 when ``re.search`` finds PATTERN in the reply;
- ``equals`` with ``expect=COLUMN``: 1 when the reply, trimmed, is the input's COLUMN, trimmed;
- ``json``: 1 when the reply is valid JSON (inside one ```` ``` ```` fence, if it has one);
  ``json:NAME``: and it matches the JSON schema in the notebook variable NAME (``jsonschema``);
- ``length``: the reply's length in characters.

Only completed runs are scored; a scorer that raises (or returns something that is not a number)
leaves ``score`` missing and says why in one line in ``score_error``: the row stays.
"""
from __future__ import annotations

import difflib
import inspect
import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import pandas as pd

from .. import scrub
from ..errors import ValidationError

BUILT_IN = ("contains", "icontains", "regex", "equals", "json", "length")
_FENCE = re.compile(r"^```[\w-]*\s*\n(.*)\n\s*```$", re.DOTALL)


@dataclass(frozen=True)
class Scorer:
    """A scorer: ``spec`` is how the magic spells it (None for a Python callable)."""

    spec: str | None
    func: Callable[[str, Mapping[str, Any]], Any]  #: (reply, row with the input's columns)
    expect: str | None = None  #: the input column ``equals`` compares with

    def __str__(self) -> str:
        if self.spec is None:
            raise ValidationError("cannot copy as a cell: --score is a Python function", param="score")
        return self.spec

    def apply(self, row: dict, values: Mapping[str, Any] | None = None) -> None:
        """Set ``row["score"]`` and ``row["score_error"]`` (completed runs only); never raises."""
        row["score"], row["score_error"] = None, None
        if row.get("status") != "completed":
            return
        seen = {**(values or {}), **row}
        try:
            row["score"] = _number(self.func(row.get("reply") or "", seen))
        except Exception as exc:  # noqa: BLE001 - the scorer's failure is the row's score_error
            text = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            row["score_error"] = scrub.scrub(text)


def make(score: Any, expect: str | None = None,
         namespace: Mapping[str, Any] | None = None) -> Scorer | None:
    """The scorer for ``score`` (None: no scoring), or a one-line ValidationError."""
    if score is None:
        if expect is not None:
            raise ValidationError("--expect goes with --score equals", param="expect")
        return None
    if isinstance(score, Scorer):
        return score
    if callable(score):
        if expect is not None:
            raise ValidationError("--expect goes with --score equals, not a Python scorer", param="expect")
        return Scorer(None, _callable(score))
    if not isinstance(score, str):
        raise ValidationError(f"--score expects a scorer name or a function, got "
                              f"{type(score).__name__}", param="score")
    name, sep, arg = score.strip().partition(":")
    if name not in BUILT_IN:
        close = difflib.get_close_matches(name, BUILT_IN, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(f"unknown scorer {name!r}{hint}; known: {', '.join(BUILT_IN)}", param="score")
    if (name == "equals") != (expect is not None):
        raise ValidationError("--score equals compares with an input column: add --expect COLUMN"
                              if name == "equals" else "--expect goes with --score equals", param="expect")
    if name in ("contains", "icontains", "regex") and not arg:
        raise ValidationError(f"--score {name} needs its text: {name}:TEXT", param="score")
    if name in ("equals", "length") and sep:
        raise ValidationError(f"--score {name} takes no argument, got {score!r}", param="score")
    return Scorer(score.strip(), _built_in(name, arg, expect, namespace), expect)


def _callable(func: Callable) -> Callable[[str, Mapping[str, Any]], Any]:
    """A Python scorer: by its first parameter's name, of the row (``row``) or of the reply."""
    try:
        params = list(inspect.signature(func).parameters)
    except (TypeError, ValueError):
        params = []
    if params[:1] == ["row"]:
        return lambda reply, row: func(dict(row))
    return lambda reply, row: func(reply)


def _built_in(name: str, arg: str, expect: str | None,
              namespace: Mapping[str, Any] | None) -> Callable[[str, Mapping[str, Any]], Any]:
    if name == "contains":
        return lambda reply, row: arg in reply
    if name == "icontains":
        return lambda reply, row: arg.casefold() in reply.casefold()
    if name == "regex":
        try:
            pattern = re.compile(arg)
        except re.error as exc:
            raise ValidationError(f"--score regex:{arg}: not a regular expression ({exc})",
                                  param="score") from None
        return lambda reply, row: pattern.search(reply) is not None
    if name == "equals":
        return lambda reply, row: reply.strip() == _expected(row, expect)
    if name == "length":
        return lambda reply, row: len(reply)
    return _json(arg, namespace)


def _expected(row: Mapping[str, Any], column: str | None) -> str:
    if column is None or column not in row:
        raise KeyError(f"no column {column!r} to compare with (join the inputs first)")
    return str(row[column]).strip()


def _json(name: str, namespace: Mapping[str, Any] | None) -> Callable[[str, Mapping[str, Any]], Any]:
    """Valid JSON; with a schema's variable name, valid for that JSON schema too."""
    if not name:
        return lambda reply, row: _parsed(reply) is not _INVALID
    if namespace is None or name not in namespace:
        raise ValidationError(f"--score json:{name}: no variable {name!r} in the notebook holds a "
                              "JSON schema", param="score")
    try:
        import jsonschema
    except ImportError:
        raise ValidationError("--score json:SCHEMA needs the jsonschema package (pip install "
                              "jsonschema); --score json checks only that replies are JSON",
                              param="score") from None
    schema = namespace[name]
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValidationError(f"--score json:{name}: not a JSON schema ({' '.join(exc.message.split())})",
                              param="score") from None

    def valid(reply: str, row: Mapping[str, Any]) -> bool:
        data = _parsed(reply)
        return data is not _INVALID and validator.is_valid(data)
    return valid


_INVALID = object()


def _parsed(reply: str) -> Any:
    """The reply's JSON (inside one ``` fence when the whole reply is one), else _INVALID."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    try:
        return json.loads(fenced.group(1) if fenced else text)
    except ValueError:
        return _INVALID


def _number(value: Any) -> float:
    """A scorer's answer as a float: a bool is 1 or 0, None is missing; anything else raises."""
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) or hasattr(value, "__float__") and not isinstance(value, str):
        return float(value)
    raise TypeError(f"the scorer returned a {type(value).__name__}, not a number or a bool")


def rescore(df: pd.DataFrame, score: Any, *, expect: str | None = None, over: Any = None,
            namespace: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """A copy of ``df`` (rows, e.g. ``threadrun.log(label=...)``) with ``score`` and
    ``score_error`` computed again by ``score``; no model is run again.

    ``over``: the inputs the rows ran over, for ``equals`` (else ``expect`` must be a column of
    ``df``, as after ``threadrun.join``).
    """
    scorer = make(score, expect, namespace)
    if scorer is None:
        raise ValidationError("rescore needs a scorer: score=...", param="score")
    for column in ("status", "reply"):
        if column not in df.columns:
            raise ValidationError(f"rescore: the rows have no {column!r} column", param=column)
    by_label: dict[Any, Mapping[str, Any]] = {}
    if over is not None:
        from .inputs import table
        found = table(over, who="rescore")
        by_label = dict(zip(found.labels, found.records))
    elif expect is not None and expect not in df.columns:
        raise ValidationError(f"rescore: no column {expect!r} to compare with; pass over=<the "
                              "inputs> or join them first (threadrun.join)", param="expect")
    out = df.copy()
    scores, errors = [], []
    for record in df.to_dict("records"):
        row = {k: (None if _missing(v) else v) for k, v in record.items()}
        scorer.apply(row, by_label.get(row.get("input")) if by_label else None)
        scores.append(row["score"])
        errors.append(row["score_error"])
    out["score"] = pd.array([math.nan if s is None else s for s in scores], dtype="float64")
    out["score_error"] = pd.Series(errors, index=df.index, dtype=df["score_error"].dtype
                                   if "score_error" in df.columns else object)
    out.attrs.update(df.attrs)
    return out


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
