"""What the notebook shows of a result: readable rows, while the value stays the whole DataFrame."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from threadrun.faces.display import SHOWN_CHARS, cut, dollars, shown


@pytest.mark.parametrize("value, text", [
    (0.000145, "$0.000145"), (6.7e-06, "$0.0000067"), (1.5, "$1.50"), (0, "$0.00"),
    (12.3456, "$12.35"), (math.nan, ""), (None, ""),
])
def test_costs_read_as_dollars_never_in_e_notation(value, text):
    assert dollars(value) == text


def test_long_texts_are_cut_to_about_two_lines_on_one_line():
    text = "word " * 100 + "\nnext line"
    assert len(cut(text)) == SHOWN_CHARS and cut(text).endswith("…") and "\n" not in cut(text)
    assert cut("short") == "short" and cut(None) is None


def test_a_result_leads_with_what_people_compare_and_is_shown_readably(ip):
    df = ip.run_cell_magic("threadrun", "-m gpt-4o-mini,gpt-4o -t 0,1", "user: " + "long question " * 20)
    assert list(df.columns[:12]) == ["model", "provider", "temperature", "top_p", "reasoning_effort",
                                     "status", "total_tokens", "cost_usd", "latency_s", "ttft_s",
                                     "queue_s", "reply"]  # queue_s: issue 19 point 4
    # later issues add their columns in blocks after the ids and timestamps: issue 23 (input,
    # score, score_error), issue 24 (steps, parent_run_id), issue 23 again (cached, service_tier)
    assert list(df.columns[-9:]) == ["created_at", "completed_at", "input", "score", "score_error",
                                     "steps", "parent_run_id", "cached", "service_tier"]
    assert df["cost_usd"].dtype == "float64" and len(df["reply"][0]) > SHOWN_CHARS  # the value is whole
    html = ip.display_formatter.format(df)[0]["text/html"]
    assert "$0.0" in html and "e-0" not in html
    assert df["reply"][0][:40] in html and df["reply"][0] not in html  # cut for the eye only
    assert "reasoning_effort" not in html and "tool_calls" not in html  # empty in every row
    text = ip.display_formatter.format(df[["model", "cost_usd"]])[0]["text/plain"]
    assert "$0.0" in text


def test_other_dataframes_are_shown_as_pandas_shows_them(ip):
    other = pd.DataFrame({"cost_usd": [6.7e-06], "reply": ["x" * 300]})
    assert ip.display_formatter.format(other)[0]["text/html"] == other._repr_html_()


def test_shown_leaves_out_columns_empty_in_every_row_only():
    df = pd.DataFrame({"model": ["a", "b"], "error": [None, "boom"], "label": [None, None]})
    df.attrs["threadrun"] = "rows"
    assert list(shown(df).columns) == ["model", "error"]


def test_headers_carry_no_invisible_characters_and_replies_are_not_typeset_as_math():
    from threadrun.faces.display import rows_html
    from threadrun.rows.row import frame
    df = frame([{"model": "m", "status": "completed", "total_tokens": 3,
                 "reply": "Is it $5 or $10 a month?"}])
    page = rows_html(df)
    assert "\u200b" not in page
    assert "<th>total_tokens</th>" in page
    assert 'class="tex2jax_ignore mathjax_ignore"' in page


def test_compare_shows_costs_to_three_significant_digits_not_six_decimals():
    from threadrun.rows.comparison import compare
    from threadrun.faces.display import html
    from threadrun.rows.row import frame
    df = frame([{"model": "a", "status": "completed", "cost_usd": 0.00000945, "total_tokens": 5},
                {"model": "b", "status": "completed", "cost_usd": 0.00000885, "total_tokens": 5}])
    table = compare(df)
    page = html(table)
    assert "$0.00000945" in page and "$0.00000885" in page and "0.000009<" not in page
    assert table[("cost_usd", "mean")].tolist() == [0.00000945, 0.00000885]  # the values stay numbers
    assert "$1.00" not in page and "$0.00000945" in page  # (cost_usd, n) is a count of runs, not dollars


def test_a_compare_table_says_under_it_which_interval_each_value_got():
    from threadrun.faces.display import html, text
    from threadrun.rows.comparison import compare
    from threadrun.rows.row import frame
    df = frame([{"model": "a", "status": "completed", "total_tokens": t, "score": s, "reply": "r"}
                for t, s in ((5, 1.0), (7, 0.0), (9, 1.0))])
    table = compare(df, values=("score", "total_tokens"))
    note = "95% intervals: Wilson score for score, completion_rate; Student&#x27;s t for total_tokens"
    assert note in html(table)

    class Printer:
        said = ""

        def text(self, part):
            self.said += part
    printer = Printer()
    text(table, printer, False)
    assert printer.said.endswith("\n95% intervals: Wilson score for score, completion_rate; "
                                 "Student's t for total_tokens")


def test_a_scored_frame_shows_its_input_and_score_beside_the_status():
    """A browser check found the score past the ids, off the right edge of the notebook."""
    df = pd.DataFrame({"model": ["a"], "status": ["completed"], "reply": ["hi"],
                       "run_id": ["run_1"], "input": [0], "score": [1.0]})
    assert list(shown(df).columns) == ["model", "status", "input", "score", "reply", "run_id"]
    assert list(df.columns) == ["model", "status", "reply", "run_id", "input", "score"]  # unchanged
    unscored = df.assign(score=None)
    assert list(shown(unscored).columns) == ["model", "status", "reply", "run_id", "input"]
