"""The typed arrays of a frame of rows, built in one step, and the frame made from them.

A one-row frame is built on every ``threadrun.run`` call, so the arrays are made directly
(pandas' ``_simple_new`` constructors, which skip the checks of values already checked here)
and the frame by pandas' constructor from arrays; each fast path falls back to the public one
when a pandas lacks it. ``row.frame`` uses these; ``row`` keeps the schema (``COLUMNS``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd

# pandas 3 has a real string dtype; on pandas 2 "str" would turn None into the text "None".
STR = "str" if int(pd.__version__.split(".")[0]) >= 3 else "object"
UTC = "datetime64[ns, UTC]"

#: Unix seconds pandas can hold as datetime64[ns] (years 1678 to 2261).
MIN_S, MAX_S = -9.2e9, 9.2e9
_NAT = np.iinfo(np.int64).min
_UTC_DTYPE = pd.DatetimeTZDtype("ns", "UTC")
_STR_DTYPE = pd.array([], dtype=STR).dtype if STR == "str" else None


def _fast(make: Any, check: Any) -> Any:
    """``make`` when this pandas has it and it builds what ``check`` expects, else None."""
    try:
        return make if check(make) else None
    except Exception:  # noqa: BLE001 - no such constructor here, or another meaning: public path
        return None


def _simple_strings() -> Any:
    if _STR_DTYPE is None or type(pd.array(["a"], dtype=STR)) is not pd.arrays.StringArray:
        return None  # another string storage (pyarrow): the public path
    make = pd.arrays.StringArray._simple_new
    return _fast(make, lambda f: f(np.array(["a", _STR_DTYPE.na_value], dtype=object), _STR_DTYPE)
                 .equals(pd.array(["a", None], dtype=STR)))


_new_strings = _simple_strings()
_new_ints = _fast(pd.arrays.IntegerArray._simple_new,
                  lambda f: f(np.array([7, 0], dtype=np.int64), np.array([False, True]))
                  .equals(pd.array([7, None], dtype="Int64")))
_new_times = _fast(pd.arrays.DatetimeArray._simple_new,
                   lambda f: f(np.array([0], dtype=np.int64).view("M8[ns]"), dtype=_UTC_DTYPE)
                   .equals(pd.array([pd.Timestamp(0, tz="UTC")], dtype=UTC)))


def nanos(seconds: Any) -> int:
    """Unix seconds (int or float) as nanoseconds; anything else raises TypeError."""
    if type(seconds) is int or (type(seconds) is float and MIN_S < seconds < MAX_S):
        if type(seconds) is int:
            return seconds * 1_000_000_000
        whole = int(seconds)  # as pandas.to_datetime(unit="s") does: whole seconds, then the rest
        return whole * 1_000_000_000 + round((seconds - whole) * 1e9)
    raise TypeError("not Unix seconds")


def typed(values: list[Any], dtype: str) -> Any:
    """One column's array from Python values; a value of another type raises (TypeError,
    ValueError, OverflowError, OutOfBoundsDatetime) and the caller reads it again."""
    if dtype == "bool":
        return np.array([bool(v) if v is not None and v is not pd.NA else False for v in values],
                        dtype=bool)
    if dtype == "float64":
        return np.array([np.nan if v is None else v for v in values], dtype="float64")
    if dtype == "Int64":
        if all(v is None or type(v) is int for v in values):
            data = np.array([0 if v is None else v for v in values], dtype=np.int64)
            mask = np.array([v is None for v in values], dtype=bool)
            return _new_ints(data, mask) if _new_ints else pd.arrays.IntegerArray(data, mask)
        return pd.array(values, dtype="Int64")
    if dtype == "object":
        column = np.empty(len(values), dtype=object)
        column[:] = values
        return column  # kept object by from_columns (pandas 3's constructor would infer str)
    if dtype == STR:
        if _STR_DTYPE is not None and all(v is None or type(v) is str for v in values):
            column = np.empty(len(values), dtype=object)
            column[:] = [_STR_DTYPE.na_value if v is None else v for v in values]
            return (_new_strings(column, _STR_DTYPE) if _new_strings
                    else pd.arrays.StringArray(column, dtype=_STR_DTYPE))
        if all(v is None or isinstance(v, str) for v in values):
            return pd.array(values, dtype=STR)
        return convert(pd.Series(values, dtype=object), dtype).array
    if dtype == UTC:  # Unix seconds → nanoseconds; out of range raises OverflowError
        moments = np.array([_NAT if v is None else nanos(v) for v in values], dtype=np.int64).view("M8[ns]")
        return (_new_times(moments, dtype=_UTC_DTYPE) if _new_times
                else pd.arrays.DatetimeArray._from_sequence(moments, dtype=_UTC_DTYPE))
    return convert(pd.Series(values, dtype=object), dtype).array


def convert(series: pd.Series, dtype: str) -> pd.Series:
    """Convert one column; Unix seconds become UTC datetimes, None stays missing."""
    if dtype == UTC:
        if pd.api.types.is_datetime64_any_dtype(series):
            return series.dt.tz_localize("UTC") if series.dt.tz is None else series.astype(UTC)
        return pd.to_datetime(pd.to_numeric(series, errors="coerce"), unit="s", utc=True).astype(UTC)
    if dtype == "object":
        return series.astype(object).where(series.notna(), None)
    if dtype == "bool":  # the log's 0/1/NULL: a row logged before the column existed ran fresh
        return series.astype(object).where(series.notna(), False).astype(bool)
    if dtype in ("float64", "Int64"):
        return pd.to_numeric(series, errors="coerce").astype(dtype)
    return series.astype(dtype)


_labels: dict[tuple[str, ...], pd.Index] = {}


def _columns_index(names: Sequence[str]) -> pd.Index:
    """The column labels as an Index, made once per set of names; each frame gets its own
    view (its own ``name``: renaming one frame's columns never renames another's)."""
    key = tuple(names)
    index = _labels.get(key)
    if index is None:
        if len(_labels) > 64:  # a few sets in a session (COLUMNS, and COLUMNS + extras)
            _labels.clear()
        index = _labels[key] = pd.Index(list(key))
    return index.copy() if not hasattr(index, "_view") else index._view()


def from_columns(columns: dict[str, Any], n: int) -> pd.DataFrame:
    """A frame of columns already typed: pandas' own constructor from arrays, which does not
    sanitise them again (half the time of a one-row frame, built on every ``threadrun.run``);
    ``pd.DataFrame`` when lengths differ or a pandas lacks it."""
    arrays = [c.array if isinstance(c, pd.Series) else c for c in columns.values()]
    if all(len(a) == n for a in arrays):
        try:
            return pd.DataFrame._from_arrays(arrays, columns=_columns_index(list(columns)),
                                             index=pd.RangeIndex(n), verify_integrity=False)
        except (AttributeError, TypeError):
            pass
    return pd.DataFrame({name: pd.Series(c, dtype=object, copy=False)
                         if isinstance(c, np.ndarray) and c.dtype == object else c
                         for name, c in columns.items()}, copy=False)
