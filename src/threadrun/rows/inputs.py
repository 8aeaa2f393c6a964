"""Inputs as a table (``--over``): a DataFrame or a list of dicts read once, and ``join``, which
puts the inputs' columns beside the result rows that ran them (matched by the ``input`` column).

An input's *label* is its index label in the DataFrame (its position in a list of dicts): an
int or a str as it was, numpy scalars as Python values, anything else (a date, a tuple) as its
text. Labels must be unique: the label is how a row, the run log and ``--resume`` name an input.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import pandas as pd

from ..errors import ValidationError


@dataclass(frozen=True)
class Table:
    """The inputs: one label and one record (column → value) per input, and the columns."""

    labels: tuple[Any, ...]
    records: tuple[Mapping[str, Any], ...]
    columns: tuple[str, ...]
    name: str | None = None  #: the notebook variable they came from (Copy as cell writes it)


def label(value: Any) -> Any:
    """An index label as a row stores it: int and str kept, numpy scalars unwrapped, else text."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return str(value)
    return value


def table(value: Any, name: str | None = None, who: str = "--over") -> Table:
    """The inputs in ``value`` (a DataFrame or a list of dicts), or a one-line ValidationError."""
    if isinstance(value, pd.DataFrame):
        frame = value
    elif isinstance(value, (list, tuple)) and all(isinstance(v, Mapping) for v in value):
        frame = pd.DataFrame([dict(v) for v in value])
    else:
        raise ValidationError(f"{who} expects a DataFrame or a list of dicts, got "
                              f"{type(value).__name__}", param="over")
    if len(frame) == 0:
        raise ValidationError(f"{who}: the inputs have no rows", param="over")
    labels = tuple(label(v) for v in frame.index)
    if len(set(labels)) != len(labels):
        twice = next(v for v in labels if labels.count(v) > 1)
        raise ValidationError(f"{who}: the inputs' index has label {twice!r} more than once; give "
                              "each input its own label (df.reset_index(drop=True))", param="over")
    columns = tuple(str(c) for c in frame.columns)
    records = tuple(dict(zip(columns, row)) for row in frame.itertuples(index=False, name=None))
    return Table(labels, records, columns, name)


def join(results: pd.DataFrame, inputs: Any, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``results`` with the inputs' columns beside them, matched by the rows' ``input`` label.

    ``inputs`` is the DataFrame (or list of dicts) the runs went over; ``columns`` picks some of
    its columns (default: all). A column the results already have is added as ``input_<name>``.
    Rows without an input, or whose label the inputs do not have, get missing values; when no
    row's label is in the inputs' index (another frame, or one re-indexed since), a one-line
    ValidationError.
    """
    if "input" not in results.columns:
        raise ValidationError("join: the results have no 'input' column (run with --over / over=)",
                              param="input")
    found = table(inputs, who="join")
    picked = list(found.columns) if columns is None else [str(c) for c in columns]
    for column in picked:
        if column not in found.columns:
            raise ValidationError(missing_column(column, found.columns, "join"), param=column)
    by_label = dict(zip(found.labels, found.records))
    _check_some_match(results["input"], found.labels)
    out = results.copy()
    for column in picked:
        target = column if column not in out.columns else f"input_{column}"
        out[target] = [by_label.get(key, {}).get(column) if _is_label(key) else None
                       for key in results["input"]]
    out.attrs.update(results.attrs)
    return out


def _check_some_match(keys: pd.Series, labels: Sequence[Any]) -> None:
    """A one-line ValidationError when rows have input labels and none is among ``labels``."""
    mine = list(dict.fromkeys(k for k in keys if _is_label(k)))
    if len(keys) == 0 or set(mine) & set(labels):
        return
    if not mine:
        raise ValidationError("join: no row has an input label (run with --over / over=)",
                              param="input")
    raise ValidationError(f"join: none of the rows' input labels ({_some(mine)}) is in the "
                          f"inputs' index ({_some(labels)}); join the frame the run went over",
                          param="inputs")


def _some(values: Sequence[Any], shown: int = 3) -> str:
    """The first few values, then "…" when there are more."""
    text = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in list(values)[:shown])
    return text + (", …" if len(values) > shown else "")


def _is_label(key: Any) -> bool:
    """Whether a row's input value can be a label (missing ones are None or NaN)."""
    return key is not None and not (isinstance(key, float) and key != key)


def missing_column(name: str, columns: Sequence[str], who: str = "--over") -> str:
    """The one-line error for a column the inputs do not have, with the closest one."""
    import difflib
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{who}: the inputs have no column {name!r}{hint}; their columns: {', '.join(columns)}"
