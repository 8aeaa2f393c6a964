"""How a notebook shows threadrun's rows: readable, while the value stays a plain DataFrame.

``%load_ext threadrun`` registers these formatters for DataFrames (lazily, by name, so loading
the extension does not import pandas). A frame of rows (``df.attrs["threadrun"] == "rows"``, set
by ``row.frame`` and kept by pandas through selections) is shown with long texts cut to about
two lines and costs in dollars (``$0.000145``); any other DataFrame is shown as pandas shows it.
"""
from __future__ import annotations

import itertools
import math
from typing import Any

#: Characters of a reply (or error, or tool calls) shown in a table cell: about two lines.
SHOWN_CHARS = 100
LONG_TEXT = ("reply", "error", "tool_calls", "sent")
_tables = itertools.count(1)


def dollars(value: Any) -> str:
    """Three significant digits, never in e-notation: ``$0.000145``, ``$0.0000067``, ``$1.50``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    value = float(value)
    decimals = 2 if value == 0 or value >= 0.1 else 2 - math.floor(math.log10(value))
    whole, _, fraction = f"{value:.{decimals}f}".partition(".")
    return f"${whole}.{(fraction.rstrip('0') or '0').ljust(2, '0')}"


def cut(value: Any, limit: int = SHOWN_CHARS) -> Any:
    """A long text cut to ``limit`` characters with an ellipsis, on one line; other values as they are."""
    if not isinstance(value, str):
        return value
    text = " ".join(value.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def seconds(value: Any) -> Any:
    """A duration to the millisecond (``0.014``), blank when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{float(value):.3f}"


def shown(df: Any, wrap_headers: bool = False) -> Any:
    """The frame as the notebook shows it (a copy; ``df`` is unchanged).

    Long texts are cut, costs are dollars, times are milliseconds, and columns that are empty in
    every row (no reasoning effort asked, no tool calls, no error...) are left out of the table.
    """
    empty = [c for c in df.columns if df[c].isna().all()] if len(df) else []
    out = df.drop(columns=empty)
    out.attrs = {}
    for name, show in (("latency_s", seconds), ("ttft_s", seconds), ("cost_usd", dollars)):
        if name in out.columns:
            out[name] = out[name].map(show).astype(object)
    for name in LONG_TEXT:
        if name in out.columns:
            out[name] = out[name].map(cut, na_action="ignore")
    if wrap_headers:  # a zero-width space after each "_" lets a long header wrap in HTML
        out.columns = [_wrappable(str(c)) for c in out.columns]
    return out


def _wrappable(name: str) -> str:
    return name.replace("_", "_\u200b")


def html(df: Any) -> str | None:
    """The HTML of a DataFrame: rows readably, any other frame as pandas renders it."""
    if getattr(df, "attrs", {}).get("threadrun") == "rows":
        try:
            return rows_html(df)
        except Exception:  # never let a display nicety hide the data: show it as pandas does
            pass
    return df._repr_html_()


def rows_html(df: Any) -> str:
    """Every column (ids last), cells on one line except long texts, which wrap in a wide cell."""
    import pandas as pd

    out = shown(df, wrap_headers=True)
    table = f"threadrun-rows-{next(_tables)}"
    long_text = {_wrappable(n) for n in LONG_TEXT}
    wide = [i + 2 for i, name in enumerate(out.columns) if name in long_text]  # +1 index, 1-based
    css = [f".{table} td {{ white-space: nowrap; }}"]
    css += [f".{table} td:nth-child({n}) {{ white-space: normal; min-width: 34em; "
            f"max-width: 40em; text-align: left; }}" for n in wide]
    # their headers too: a right-aligned header over a 34em left-aligned column sits at the far
    # right, where it reads as the next column's (JupyterLab right-aligns th)
    css += [f".{table} thead th:nth-child({n}) {{ text-align: left; }}" for n in wide]
    body = out.to_html(classes=table, max_rows=pd.get_option("display.max_rows"), max_cols=None,
                       show_dimensions=len(out) > pd.get_option("display.max_rows"))
    return f"<div><style scoped>{' '.join(css)}</style>{body}</div>"


def text(df: Any, printer: Any, cycle: bool) -> None:
    """The plain-text form (terminal IPython), same rules."""
    try:
        readable = getattr(df, "attrs", {}).get("threadrun") == "rows"
        printer.text(repr(shown(df) if readable else df))
    except Exception:
        printer.text(repr(df))


def register(shell: Any) -> None:
    """Install the formatters in an IPython shell (by type name: pandas is not imported here)."""
    formatters = shell.display_formatter.formatters
    for module in ("pandas", "pandas.core.frame"):  # pandas 3 says "pandas", pandas 2 the latter
        formatters["text/html"].for_type_by_name(module, "DataFrame", html)
        formatters["text/plain"].for_type_by_name(module, "DataFrame", text)
