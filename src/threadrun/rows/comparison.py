"""Summarise and plot a threadrun DataFrame: one row (or one line) per model/temperature group.

matplotlib is imported lazily inside :func:`plot`, so importing this module stays cheap
and never selects a backend.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd

from ..errors import ValidationError
from . import stats as _intervals

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.figure

#: Named statistics; "pNN" (e.g. "p95", "p99.9") is the NN-th percentile, linear interpolation.
_STATS: dict[str, Callable[[Any], Any]] = {
    "count": lambda g: g.count(),
    "mean": lambda g: g.mean(),
    "median": lambda g: g.median(),
    "std": lambda g: g.std(),
    "min": lambda g: g.min(),
    "max": lambda g: g.max(),
    "n": lambda g: g.count(),
    "ci_low": lambda g: g.agg(lambda v: _intervals.interval(v.tolist())[0]),
    "ci_high": lambda g: g.agg(lambda v: _intervals.interval(v.tolist())[1]),
}
#: ``stats="ci"`` (the default): per value n, mean and its 95% interval, p50, p95; then per group
#: the runs, the completion rate (Wilson interval) and the distinct replies of n.
CI_STATS = ("n", "mean", "ci_low", "ci_high", "p50", "p95")
#: ``stats="pivot"``: the plain pivot ``compare`` showed by default before the intervals.
PIVOT_STATS = ("count", "mean", "median", "p95")
DEFAULT_VALUES = ("total_tokens", "latency_s", "cost_usd")
_DIFFS = ("diff", "diff_low", "diff_high", "pairs")
#: Stats that count rows: integers, 0 for a group with none (e.g. no completed run), never NaN.
COUNT_STATS = ("count", "n", "distinct", "pairs")
#: The grid's dimensions besides models and inputs: ``baseline=`` pairs rows on each not in ``by``.
GRID_DIMENSIONS = ("temperature", "top_p", "reasoning_effort", "service_tier")


def compare(df: pd.DataFrame, by: str | Sequence[str] | None = None,
            values: str | Sequence[str] | None = None,
            stats: str | Sequence[str] = "ci",
            completed_only: bool = True, *, baseline: str | None = None) -> pd.DataFrame:
    """One row per group of ``by`` (sorted), columns ``(value, stat)`` in the order given.

    ``values`` defaults to ``total_tokens``, ``latency_s``, ``cost_usd``, after ``score`` when
    some row has one. By default (``stats="ci"``) it shows per value ``n``, ``mean``,
    ``ci_low``/``ci_high`` (its 95% interval: Student's t, or Wilson when every value is 0 or 1,
    a rate; see ``threadrun.rows.stats``), ``p50``, ``p95``; then per group ``(runs, n)`` (every
    row, whatever its status), ``(runs, completion_rate)`` with its Wilson interval
    ``completion_low``/``completion_high``, and ``(reply, distinct)`` of ``(reply, n)``: how
    many different replies the completed runs gave. ``attrs["intervals"]`` says which interval
    each value got (the notebook shows it under the table). ``stats="pivot"`` (or
    ``("count", "mean", "median", "p95")``) is the plain pivot; any list of stat names picks
    its own columns (``ci_low`` and ``ci_high`` also work alone).

    ``baseline`` (``"openai:gpt-5-mini"``, or a model name) adds per value ``diff``, the mean of
    the paired differences group − baseline, its 95% t interval ``diff_low``/``diff_high`` and
    ``pairs``: rows pair when they have the same ``input``, ``repeat``, other ``by`` columns and
    grid settings not in ``by`` (``temperature``, ``top_p``, ``reasoning_effort``,
    ``service_tier``; a missing value pairs with a missing one). A setting the group and the
    baseline share no value of (one provider reports a tier, the other none) is not paired on;
    several rows of one pair are averaged first.

    ``count`` is the number of non-missing values of that column in the group; ``pNN`` is the
    NN-th percentile with linear interpolation (numpy's default), e.g. ``p95``. Other stats:
    ``mean``, ``median``, ``std``, ``min``, ``max``. Values are converted to float first, so
    nullable ``Int64`` token columns work. Rows whose ``by`` value is missing form their own group.
    ``by`` defaults to ``("provider", "model", "temperature")``, without ``provider`` when no row
    has one (rows from another Assistants server), so two providers' same-named models stay apart.

    With ``completed_only`` (the default) only rows with ``status == "completed"`` are
    summarised, so failed or cancelled runs do not skew tokens and latency; pass ``False``
    to summarise every row. Raises :class:`~threadrun.errors.ValidationError` for a missing
    column or an unknown stat.
    """
    if by is None:
        has_provider = "provider" in df.columns and df["provider"].notna().any()
        by = ("provider", "model", "temperature") if has_provider else ("model", "temperature")
    if values is None:
        scored = "score" in df.columns and df["score"].notna().any()
        values = (("score",) if scored else ()) + DEFAULT_VALUES
    preset = isinstance(stats, str) and stats == "ci"
    if isinstance(stats, str) and stats == "pivot":
        stats = PIVOT_STATS
    stats = list(CI_STATS) if preset else _names(stats)
    keys, cols = _names(by), _names(values)
    funcs = [_stat(name) for name in stats]
    _require(df, keys + cols + (["status"] if completed_only else []) + (["model"] if baseline else []))
    data = _completed(df, completed_only)
    columns = pd.MultiIndex.from_product([cols, list(stats)], names=["value", "stat"])
    if data.empty and not preset:
        return _integer_counts(pd.DataFrame(index=_empty_index(data, keys), columns=columns,
                                            dtype="float64"))
    numeric = data[keys].copy()
    for col in cols:
        numeric[col] = _floats(data[col])
    grouped = numeric.groupby(keys if len(keys) > 1 else keys[0], sort=True, dropna=False)
    parts = [func(grouped[col]).rename((col, name))
             for col in cols for name, func in zip(stats, funcs)]
    if preset and "status" in df.columns:  # a frame of rows has both; another, what it has
        parts += _run_columns(df, keys)
    if baseline is not None:
        parts += _paired(data, keys, cols, baseline)
    out = pd.concat(parts, axis=1)
    if preset or baseline is not None:
        order = [(c, st) for c in cols for st in [*stats, *_DIFFS] if (c, st) in out.columns]
        out = out[order + [c for c in out.columns if c[0] not in cols]].sort_index()
        out.index.names = keys
        out.columns = pd.MultiIndex.from_tuples(list(out.columns), names=["value", "stat"])
    else:
        out.columns = columns
    out = _integer_counts(out)
    out.attrs["threadrun"] = "compare"  # shown with costs as dollars (display.compare_view)
    if preset or "ci_low" in stats or "ci_high" in stats:
        out.attrs["intervals"] = _interval_note(numeric, keys, cols, preset and "status" in df.columns) \
            + _repeats_note(data, keys, cols)
    return out


def _interval_note(numeric: pd.DataFrame, keys: list[str], cols: list[str], runs: bool) -> str:
    """One line saying which 95% interval each value got: t for means, Wilson for 0/1 rates."""
    grouped = numeric.groupby(keys if len(keys) > 1 else keys[0], sort=True, dropna=False)
    kinds: dict[str, list[str]] = {}
    for col in cols:
        rates = [_intervals.is_rate(xs) for _, g in grouped[col] if (xs := g.dropna().tolist())]
        kind = "Wilson" if rates and all(rates) else "t or Wilson" if any(rates) else "t"
        kinds.setdefault(kind, []).append(col)
    if runs:
        kinds.setdefault("Wilson", []).append("completion_rate")
    said = {"t": "Student's t", "Wilson": "Wilson score",
            "t or Wilson": "t, or Wilson in groups of 0/1 values"}
    return "95% intervals: " + "; ".join(f"{said[k]} for {', '.join(v)}" for k, v in kinds.items())


def _repeats_note(data: pd.DataFrame, keys: list[str], cols: list[str]) -> str:
    """A second sentence when a group ran some input more than once over several inputs.

    Each run counts as one draw; the runs of one input are not independent (at temperature 0
    nearly identical), so the intervals are likely too narrow: per-input means are the honest sample.
    """
    if "input" not in data.columns or data["input"].dropna().nunique() < 2:
        return ""
    labelled = data[data["input"].notna()]
    if not labelled.groupby([*keys, "input"], dropna=False).size().gt(1).any():
        return ""
    value = cols[0] if cols else "score"
    return (f". n counts runs, and the runs of one input are not independent draws, so these "
            f"intervals are likely too narrow; compare per-input means, e.g. "
            f"df.groupby({[*keys, 'input']!r})[{value!r}].mean()")


def _run_columns(df: pd.DataFrame, keys: list[str]) -> list[pd.Series]:
    """Per group of every row: runs, completion rate and its Wilson interval, distinct replies."""
    done = (df["status"] == "completed").fillna(False).astype(bool)
    frame = df[keys].copy()
    frame["_done"] = done.astype(float)
    frame["_reply"] = df["reply"].where(done) if "reply" in df.columns else None
    grouped = frame.groupby(keys if len(keys) > 1 else keys[0], sort=True, dropna=False)
    runs = grouped["_done"].size()
    done_n = grouped["_done"].sum()
    wilson = [_intervals.wilson_interval(k, int(n)) for k, n in zip(done_n, runs)]
    return [runs.rename(("runs", "n")),
            (done_n / runs).rename(("runs", "completion_rate")),
            pd.Series([w[0] for w in wilson], index=runs.index, name=("runs", "completion_low"),
                      dtype="float64"),
            pd.Series([w[1] for w in wilson], index=runs.index, name=("runs", "completion_high"),
                      dtype="float64")] + \
        ([grouped["_reply"].nunique().rename(("reply", "distinct")),
          grouped["_reply"].count().rename(("reply", "n"))]
         if "reply" in df.columns else [])


def _integer_counts(out: pd.DataFrame) -> pd.DataFrame:
    """The count columns as int64: a group missing from one part (no completed run) counts 0."""
    for column in out.columns:
        if column[1] in COUNT_STATS:
            out[column] = out[column].fillna(0).astype("int64")
    return out


def _paired(data: pd.DataFrame, keys: list[str], cols: list[str], baseline: str) -> list[pd.Series]:
    """Per group and value: the mean paired difference against the baseline, its t interval, pairs."""
    is_base = _baseline_rows(data, baseline)
    pair = [k for k in ("input", "repeat") if k in data.columns]
    pair += [k for k in keys if k not in ("provider", "model") and k not in pair]
    dims = [k for k in GRID_DIMENSIONS if k in data.columns and k not in pair]
    if not pair:
        raise ValidationError("compare(baseline=...) pairs rows by input and repeat; the rows "
                              "have neither column", param="baseline")
    frame = data[keys].copy()
    for k in pair + dims:  # copies: a key (temperature) keeps its NaN group
        column = data[k].astype(object)
        frame[f"_pair_{k}"] = column.where(column.notna(), "∅")  # a missing value pairs with missing
    for col in cols:
        frame[col] = _floats(data[col])
    base = frame[is_base]
    out: dict[tuple[str, str], list[float]] = {}
    groups = frame.groupby(keys if len(keys) > 1 else keys[0], sort=True, dropna=False)
    for _, group in groups:
        matched = [f"_pair_{k}" for k in pair + _shared(group, base, dims)]
        mine = group.groupby(matched, dropna=False)[cols].mean()
        theirs = base.groupby(matched, dropna=False)[cols].mean()
        joined = mine.merge(theirs, left_index=True, right_index=True, suffixes=("", "_base"))
        for col in cols:
            diffs = (joined[col] - joined[f"{col}_base"]).dropna().tolist()
            low, high = _intervals.mean_interval(diffs)
            mean = sum(diffs) / len(diffs) if diffs else float("nan")
            for stat, value in zip(_DIFFS, (mean, low, high, float(len(diffs)))):
                out.setdefault((col, stat), []).append(value)
    index = groups.size().index  # the groups' own index: a missing key (NaN) still aligns
    return [pd.Series(values, index=index, name=name, dtype="float64") for name, values in out.items()]


def _shared(group: pd.DataFrame, base: pd.DataFrame, dims: list[str]) -> list[str]:
    """The grid dimensions (not in ``by``) a group pairs on: those it shares a value of with the baseline.

    A temperature swept for both pairs 0 with 0 and 1.4 with 1.4. A column with no value in
    common (one provider reports its tier as "default", another reports none) is not a
    dimension the two were run over, so it does not keep them from pairing.
    """
    return [k for k in dims
            if set(group[f"_pair_{k}"]).intersection(base[f"_pair_{k}"])]


def _baseline_rows(data: pd.DataFrame, baseline: str) -> pd.Series:
    """Which rows are the baseline's: ``provider:model`` or a model name; else a one-line error."""
    from ..providers import split_spec
    provider, model = split_spec(baseline) if ":" in baseline else (None, baseline)
    rows = data["model"] == model
    if provider is not None and "provider" in data.columns:
        rows &= data["provider"] == provider
    rows = rows.fillna(False).astype(bool)
    if not rows.any():
        import difflib
        specs = sorted({f"{p}:{m}" if isinstance(p, str) else str(m) for p, m in
                        zip(data.get("provider", pd.Series([None] * len(data), index=data.index)),
                            data["model"])})
        close = difflib.get_close_matches(baseline, specs, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(f"compare: no completed rows of the baseline {baseline!r}{hint}; "
                              f"the models: {', '.join(specs) or 'none'}", param="baseline")
    return rows


def plot(df: pd.DataFrame, x: str = "temperature", y: str = "total_tokens", by: str | None = "model",
         *, ax: Any = None, completed_only: bool = True, error: str = "std") -> "matplotlib.figure.Figure":
    """Mean of ``y`` at each ``x``, one line with markers per ``by`` group, on ``ax`` or a new figure.

    A numeric ``x`` (the temperature) joins the points of a group with a line; a categorical
    one (``x="model"``) draws points with error bars only: no order between models to draw.

    Error bars are, with ``error="std"``, the sample standard deviation of ``y`` over the rows
    (repeats) at that point, 0 when there is a single value; with ``error="ci"``, the mean's 95%
    interval as ``compare`` shows it by default (t, or Wilson for a 0/1 column; none for a single
    value). Error bars have no caps, so ``ax.lines`` holds exactly one
    line per group. ``completed_only`` filters as in :func:`compare`. Returns the Figure (that of
    ``ax`` when given); never calls ``plt.show()`` and closes nothing.
    """
    if error not in ("std", "ci"):
        raise ValidationError(f"error= is 'std' or 'ci', got {error!r}", param="error")
    _require(df, [x, y] + ([by] if by else []) + (["status"] if completed_only else []))
    if ax is None:
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(layout="constrained")
        plt.close(fig)  # shown once, as the returned value, not again by the inline backend
    data = _completed(df, completed_only)
    line = "-" if x in data.columns and pd.api.types.is_numeric_dtype(data[x]) else "none"
    for label, group in _groups(data, by):
        points = _points(group, x, y)
        yerr = points["std"].to_numpy() if error == "std" else \
            [(points["mean"] - points["low"]).fillna(0).clip(lower=0).to_numpy(),  # rounding at 0/n
             (points["high"] - points["mean"]).fillna(0).clip(lower=0).to_numpy()]
        ax.errorbar(points.index.to_numpy(), points["mean"].to_numpy(),
                    yerr=yerr, marker="o", linestyle=line, capsize=0, label=label)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} by {x} and {by}" if by else f"{y} by {x}")
    if by and ax.lines:
        ax.legend(title=by)
    return ax.figure


def _groups(data: pd.DataFrame, by: str | None) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per group of ``by`` in sorted order; one unlabelled group when ``by`` is None."""
    if by is None:
        return [("", data)] if not data.empty else []
    return [(str(key), rows) for key, rows in data.groupby(by, sort=True, dropna=False)]


def _points(group: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Per distinct ``x`` (sorted, missing dropped): mean and std of ``y``, std 0 for one value.

    A numeric ``x`` is used as float; any other ``x`` (e.g. labels) is plotted as categories.
    """
    xs = _floats(group[x]) if pd.api.types.is_numeric_dtype(group[x]) else group[x].astype(object)
    values = pd.DataFrame({x: xs, y: _floats(group[y])}).dropna()
    grouped = values.groupby(x, sort=True)[y]
    points = grouped.agg(["mean", "std"])
    points["std"] = points["std"].fillna(0.0)
    intervals = grouped.agg(lambda v: _intervals.interval(v.tolist()))
    points["low"] = [i[0] for i in intervals]
    points["high"] = [i[1] for i in intervals]
    return points


def _names(names: str | Sequence[str]) -> list[str]:
    """A single column name or a sequence of them, as a list."""
    return [names] if isinstance(names, str) else list(names)


def _require(df: pd.DataFrame, names: list[str]) -> None:
    """Raise ValidationError naming the first missing column and listing the available ones."""
    for name in names:
        if name not in df.columns:
            import difflib
            columns = [str(c) for c in df.columns]
            close = difflib.get_close_matches(name, columns, n=1, cutoff=0.5)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"no column {name!r} in the DataFrame{hint}; available: "
                                  f"{', '.join(columns) or 'none'}", param=name)


def _stat(name: str) -> Callable[[Any], Any]:
    """The aggregation for a stat name: a named one or "pNN" (percentile NN)."""
    if name in _STATS:
        return _STATS[name]
    if name.startswith("p"):
        try:
            q = float(name[1:]) / 100
        except ValueError:
            q = -1.0
        if 0 <= q <= 1:
            return lambda g: g.quantile(q, interpolation="linear")
    known = ", ".join([*_STATS, "pNN (e.g. p95)"])
    raise ValidationError(f"unknown stat {name!r}; known: {known}", param="stats")


def _completed(df: pd.DataFrame, completed_only: bool) -> pd.DataFrame:
    """Only rows with status "completed" when asked, else all rows."""
    return df[(df["status"] == "completed").fillna(False).astype(bool)] if completed_only else df


def _floats(series: pd.Series) -> pd.Series:
    """A column as float64; nullable missing values (pd.NA) become NaN."""
    return pd.to_numeric(series, errors="coerce").astype("float64")


def _empty_index(data: pd.DataFrame, keys: list[str]) -> pd.Index:
    """An empty index named after ``keys`` (a MultiIndex for several keys)."""
    if len(keys) == 1:
        return pd.Index([], name=keys[0], dtype=data[keys[0]].dtype)
    return pd.MultiIndex.from_arrays([data[k].iloc[:0] for k in keys], names=keys)
