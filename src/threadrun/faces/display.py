"""How a notebook shows threadrun's rows: readable, while the value stays a plain DataFrame.

``%load_ext threadrun`` registers these formatters for DataFrames (lazily, by name, so loading
the extension does not import pandas). A frame of rows (``df.attrs["threadrun"] == "rows"``, set
by ``row.frame`` and kept by pandas through selections) is shown with long texts cut to about
two lines and costs in dollars (``$0.000145``); any other DataFrame is shown as pandas shows it.
"""
from __future__ import annotations

import itertools
import math
from html import escape
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


def shown(df: Any) -> Any:
    """The frame as the notebook shows it (a copy; ``df`` is unchanged).

    Long texts are cut, costs are dollars, times are milliseconds, and columns that are empty in
    every row (no reasoning effort asked, no tool calls, no error...) are left out of the table.
    A scored frame shows ``input`` and ``score`` beside ``status``, where the eye is, not past
    the ids at the right edge (the DataFrame's own column order is unchanged).
    """
    empty = [c for c in df.columns if df[c].isna().all()] if len(df) else []
    out = df.drop(columns=empty)
    if "score" in out.columns and "status" in out.columns:
        ahead = [c for c in ("input", "score") if c in out.columns]
        rest = [c for c in out.columns if c not in ahead]
        at = rest.index("status") + 1
        out = out[rest[:at] + ahead + rest[at:]]
    out.attrs = {}
    for name, show in (("latency_s", seconds), ("ttft_s", seconds), ("queue_s", seconds),
                       ("cost_usd", dollars)):
        if name in out.columns:
            out[name] = out[name].map(show).astype(object)
    for name in LONG_TEXT:
        if name in out.columns:
            out[name] = out[name].map(cut, na_action="ignore")
    return out


def compare_view(df: Any) -> Any:
    """A ``compare`` table as shown: costs in dollars to three significant digits (pandas' six
    decimals read $0.00000945 and $0.00000885 both as 0.000009), times to the millisecond."""
    out = df.copy()
    out.attrs = {}
    for column in out.columns:
        name, stat = column if isinstance(column, tuple) else (column, "")
        if stat in ("count", "n", "pairs"):  # counts of runs, not dollars or seconds
            continue
        if name == "cost_usd":
            out[column] = out[column].map(dollars).astype(object)
        elif name.endswith("_s"):
            out[column] = out[column].map(seconds).astype(object)
    return out


def _kind(df: Any) -> str | None:
    return getattr(df, "attrs", {}).get("threadrun")


def html(df: Any) -> str | None:
    """The HTML of a DataFrame: rows and comparisons readably, any other frame as pandas does."""
    try:
        if _kind(df) == "rows":
            return rows_html(df)
        if _kind(df) == "compare":
            note = df.attrs.get("intervals")
            below = f'<p style="font-size:smaller">{escape(note)}</p>' if note else ""
            return (f'<div class="tex2jax_ignore mathjax_ignore">'
                    f"{compare_view(df)._repr_html_()}{below}</div>")
    except Exception:  # noqa: BLE001 - never let a display nicety hide the data: show it as pandas does
        pass
    return df._repr_html_()


#: Inline styles, not a <style> block: a notebook opened untrusted (GitHub, nbviewer, a fresh
#: JupyterLab) strips <style> elements but keeps these, so the saved table stays readable.
_WIDE = "min-width:34em;max-width:40em;white-space:normal;text-align:left"
_ONE_LINE = "white-space:nowrap"
_FAILED = "color:#b00020;font-style:italic"
_WHY_COLUMN = "reply"


def _cell(value: Any, style: str) -> Any:
    """A cell's HTML: the value escaped, in a span or div that carries its style."""
    if not isinstance(value, str):
        return value
    tag = "div" if style == _WIDE else "span"
    return f'<{tag} style="{style}">{escape(value)}</{tag}>'


def _failure(row: Any) -> str | None:
    """What to show in the reply's place for a run without a reply: its status and why."""
    if row.get("status") == "completed" or not isinstance(row.get("error"), str):
        return None
    reply = row.get(_WHY_COLUMN)
    if isinstance(reply, str) and reply.strip():
        return None
    return cut(f"{row['status']}: {row['error']}")


def rows_html(df: Any) -> str:
    """Every column (ids last), cells on one line except long texts, which wrap in a wide cell;
    a run without a reply shows why in the reply's place (red, italic), where the eye is."""
    import pandas as pd

    out = shown(df)
    failures = [_failure(row) for row in out.to_dict("records")]
    for name in out.columns:
        style = _WIDE if name in LONG_TEXT else _ONE_LINE
        out[name] = out[name].map(lambda v, s=style: _cell(v, s)).astype(object)
    if _WHY_COLUMN not in out.columns and any(failures):
        out.insert(min(len(out.columns), 9), _WHY_COLUMN, None)
    if _WHY_COLUMN in out.columns:
        why = [f'<div style="{_WIDE};{_FAILED}">{escape(text)}</div>' if text else cell
               for text, cell in zip(failures, out[_WHY_COLUMN])]
        out[_WHY_COLUMN] = pd.Series(why, index=out.index, dtype=object)
    out.columns = [f'<div style="text-align:left">{name}</div>' if name in LONG_TEXT else name
                   for name in out.columns]
    table = f"threadrun-rows-{next(_tables)}"
    body = out.to_html(classes=table, escape=False, na_rep="",
                       max_rows=pd.get_option("display.max_rows"), max_cols=None,
                       show_dimensions=len(out) > pd.get_option("display.max_rows"))
    # replies are text, not TeX: "$5 or $10" must not become math (MathJax skips these classes)
    return f'<div class="tex2jax_ignore mathjax_ignore">{body}</div>'


def text(df: Any, printer: Any, cycle: bool) -> None:
    """The plain-text form (terminal IPython), same rules."""
    try:
        kind = _kind(df)
        printer.text(repr(shown(df) if kind == "rows" else compare_view(df) if kind == "compare"
                          else df))
        if kind == "compare" and df.attrs.get("intervals"):
            printer.text("\n" + df.attrs["intervals"])
    except Exception:  # noqa: BLE001 - a display must never raise: pandas shows it
        printer.text(repr(df))


def register(shell: Any) -> None:
    """Install the formatters in an IPython shell (by type name: pandas is not imported here)."""
    formatters = shell.display_formatter.formatters
    for module in ("pandas", "pandas.core.frame"):  # pandas 3 says "pandas", pandas 2 the latter
        formatters["text/html"].for_type_by_name(module, "DataFrame", html)
        formatters["text/plain"].for_type_by_name(module, "DataFrame", text)
