"""compare() and plot(): group stats and a temperature plot of a threadrun DataFrame."""
from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from threadrun.rows.comparison import compare, plot  # noqa: E402
from threadrun.errors import ValidationError  # noqa: E402
from threadrun.rows.row import frame  # noqa: E402

#: The plain pivot compare() showed by default before issue 23 made the intervals the default.
PIVOT = ("count", "mean", "median", "p95")
CI = ("n", "mean", "ci_low", "ci_high", "p50", "p95")


def _row(model, temperature, tokens, latency, cost, status="completed", repeat=0):
    return {"model": model, "temperature": temperature, "status": status, "total_tokens": tokens,
            "latency_s": latency, "cost_usd": cost, "repeat": repeat, "label": "t"}


@pytest.fixture
def runs() -> pd.DataFrame:
    """b first, so sorting is visible; a failed and a cancelled run; one missing token count."""
    return frame([
        _row("b", 0.5, 100, 0.5, 0.01, repeat=0),
        _row("a", 0.0, 10, 1.0, 0.001, repeat=0),
        _row("a", 0.0, 20, 2.0, 0.002, repeat=1),
        _row("b", 0.5, 200, 1.5, 0.03, repeat=1),
        _row("a", 1.0, 5, 0.25, 0.0005),
        _row("a", 0.0, 30, 3.0, 0.003, repeat=2),
        _row("a", 0.0, 1000, 9.0, None, status="failed", repeat=4),
        _row("a", 0.0, 40, 4.0, 0.004, repeat=3),
        _row("b", 0.5, None, 2.5, None, repeat=2),
        _row("b", 0.5, 7, 0.1, 0.0, status="cancelled", repeat=3),
    ])


@pytest.fixture
def figures():
    """Close every figure a test made."""
    yield
    plt.close("all")


def test_runs_fixture_has_the_real_dtypes(runs):
    assert str(runs["total_tokens"].dtype) == "Int64"
    assert str(runs["temperature"].dtype) == "float64"


def test_compare_is_sorted_by_model_then_temperature(runs):
    out = compare(runs)
    assert out.index.names == ["model", "temperature"]
    assert list(out.index) == [("a", 0.0), ("a", 1.0), ("b", 0.5)]


def test_compare_columns_are_value_stat_pairs_in_the_given_order(runs):
    out = compare(runs, values=["latency_s", "total_tokens"], stats=["p95", "count"])
    assert list(out.columns) == [("latency_s", "p95"), ("latency_s", "count"),
                                 ("total_tokens", "p95"), ("total_tokens", "count")]
    assert out.columns.names == ["value", "stat"]


def test_compare_default_columns_are_the_intervals_table(runs):
    out = compare(runs)
    assert list(out.columns) == [(v, s) for v in ("total_tokens", "latency_s", "cost_usd") for s in CI] + [
        ("runs", "n"), ("runs", "completion_rate"), ("runs", "completion_low"), ("runs", "completion_high"),
        ("reply", "distinct"), ("reply", "n")]


def test_compare_default_shows_n_mean_interval_percentiles_and_completion_per_group(runs):
    row = compare(runs).loc[("a", 0.0)]
    xs = [10, 20, 30, 40]
    assert row[("total_tokens", "n")] == 4 and row[("total_tokens", "mean")] == pytest.approx(25.0)
    assert row[("total_tokens", "ci_low")] < 25.0 < row[("total_tokens", "ci_high")]
    assert row[("total_tokens", "p50")] == pytest.approx(np.percentile(xs, 50))
    assert row[("total_tokens", "p95")] == pytest.approx(np.percentile(xs, 95))
    assert row[("runs", "n")] == 5 and row[("runs", "completion_rate")] == pytest.approx(0.8)


def test_compare_default_counts_distinct_replies_of_n(runs):
    runs = runs.assign(reply=["x", "y", "y", "x", "z", "w", None, "y", "x", "q"])
    out = compare(runs)
    assert out.loc[("a", 0.0), ("reply", "distinct")] == 2  # y, w, y, y on 4 completed runs
    assert out.loc[("a", 0.0), ("reply", "n")] == 4
    assert out.loc[("b", 0.5), ("reply", "distinct")] == 1 and out.loc[("b", 0.5), ("reply", "n")] == 3


def _count_columns(out: pd.DataFrame) -> list:
    return [c for c in out.columns if c[1] in ("count", "n", "distinct", "pairs")]


def test_compare_counts_are_integers_and_zero_for_a_group_with_no_completed_run(runs):
    runs = pd.concat([runs, frame([_row("c", 0.0, 3, 0.1, 0.0, status="failed")])], ignore_index=True)
    runs = runs.assign(reply="r", input=0)
    tables = {"ci": compare(runs), "pivot": compare(runs, stats="pivot"),
              "baseline": compare(runs, baseline="a"), "no rows": compare(runs.iloc[:0]),
              "no rows, pivot": compare(runs.iloc[:0], stats="pivot")}
    for name, out in tables.items():
        counts = _count_columns(out)
        assert len(counts) == {"ci": 6, "pivot": 3, "baseline": 9, "no rows": 6, "no rows, pivot": 3}[name]
        assert {str(out[c].dtype) for c in counts} == {"int64"}, name
    ci, pivot = tables["ci"], tables["pivot"]
    assert ci.loc[("c", 0.0), ("total_tokens", "n")] == 0 and ci.loc[("c", 0.0), ("runs", "n")] == 1
    assert ci.loc[("c", 0.0), ("reply", "n")] == 0 and ci.loc[("a", 0.0), ("reply", "n")] == 4
    assert list(pivot[("total_tokens", "count")]) == [4, 1, 2]  # c has no completed run: no row
    assert tables["baseline"].loc[("c", 0.0), ("latency_s", "pairs")] == 0
    assert tables["baseline"].loc[("a", 0.0), ("latency_s", "pairs")] == 4  # itself: repeats 0-3 of input 0
    assert {str(t) for t in tables["no rows"].dtypes} == {"int64", "float64"}


def test_compare_says_which_interval_each_value_got(runs):
    note = compare(runs.assign(score=[1.0, 0, 1, 1, 0, 1, 0, 1, 1, 0])).attrs["intervals"]
    assert note == ("95% intervals: Wilson score for score, completion_rate; "
                    "Student's t for total_tokens, latency_s, cost_usd")
    assert "intervals" not in compare(runs, stats=PIVOT).attrs


def test_compare_old_pivot_is_still_reachable_by_name_and_by_its_stats(runs):
    by_name = compare(runs, stats="pivot")
    assert list(by_name.columns) == [(v, s) for v in ("total_tokens", "latency_s", "cost_usd") for s in PIVOT]
    pd.testing.assert_frame_equal(by_name, compare(runs, stats=PIVOT))


def test_compare_exact_token_stats_per_group(runs):
    tokens = compare(runs, stats=PIVOT)["total_tokens"]
    assert tokens.loc[("a", 0.0)].tolist() == pytest.approx([4, 25.0, 25.0, 38.5])
    assert tokens.loc[("a", 1.0)].tolist() == pytest.approx([1, 5.0, 5.0, 5.0])
    assert tokens.loc[("b", 0.5)].tolist() == pytest.approx([2, 150.0, 150.0, 195.0])


def test_compare_p95_is_numpy_linear_percentile(runs):
    out = compare(runs)
    assert out.loc[("a", 0.0), ("total_tokens", "p95")] == pytest.approx(np.percentile([10, 20, 30, 40], 95))
    assert out.loc[("b", 0.5), ("latency_s", "p95")] == pytest.approx(np.percentile([0.5, 1.5, 2.5], 95))


def test_compare_count_is_non_missing_values_of_each_column(runs):
    out = compare(runs, stats=PIVOT)
    row = out.loc[("b", 0.5)]
    assert row[("total_tokens", "count")] == 2  # one completed run has no token count
    assert row[("latency_s", "count")] == 3
    assert row[("cost_usd", "count")] == 2
    assert row[("latency_s", "mean")] == pytest.approx(1.5)
    assert row[("latency_s", "p95")] == pytest.approx(2.4)


def test_compare_int64_tokens_become_float_stats(runs):
    out = compare(runs, stats=PIVOT)
    assert out[("total_tokens", "mean")].dtype == "float64"
    assert out[("total_tokens", "median")].dtype == "float64"


def test_compare_completed_only_drops_failed_and_cancelled_runs(runs):
    out = compare(runs, stats=PIVOT)
    assert out.loc[("a", 0.0), ("total_tokens", "count")] == 4
    assert out.loc[("a", 0.0), ("latency_s", "mean")] == pytest.approx(2.5)
    assert out.loc[("b", 0.5), ("total_tokens", "count")] == 2


def test_compare_completed_only_false_keeps_every_row(runs):
    out = compare(runs, stats=PIVOT, completed_only=False)
    assert out.loc[("a", 0.0), ("total_tokens", "count")] == 5
    assert out.loc[("a", 0.0), ("total_tokens", "mean")] == pytest.approx(220.0)
    assert out.loc[("b", 0.5), ("total_tokens", "count")] == 3
    assert out.loc[("b", 0.5), ("total_tokens", "median")] == pytest.approx(100.0)


def test_compare_single_string_by_and_values(runs):
    out = compare(runs, by="model", values="total_tokens", stats=PIVOT)
    assert out.index.name == "model"
    assert list(out.index) == ["a", "b"]
    assert list(out.columns) == [("total_tokens", s) for s in ("count", "mean", "median", "p95")]
    assert out.loc["a"].tolist() == pytest.approx([5, 21.0, 20.0, 38.0])
    assert out.loc["b"].tolist() == pytest.approx([2, 150.0, 150.0, 195.0])


def test_compare_missing_by_column_names_it_and_lists_available(runs):
    with pytest.raises(ValidationError) as err:
        compare(runs, by=["model", "temp"])
    message = str(err.value)
    assert "'temp'" in message and "available:" in message
    assert "temperature" in message and "total_tokens" in message
    assert "\n" not in message


def test_compare_missing_values_column_names_it(runs):
    with pytest.raises(ValidationError, match=r"no column 'tokens' in the DataFrame \(did you mean "
                                              r"'.*tokens'\?\); available: model, provider, "):
        compare(runs, values="tokens")


def test_compare_missing_status_column_only_matters_when_filtering(runs):
    slim = runs[["model", "temperature", "total_tokens"]]
    with pytest.raises(ValidationError, match="'status'"):
        compare(slim, values="total_tokens")
    out = compare(slim, values="total_tokens", stats=PIVOT, completed_only=False)
    assert out.loc[("a", 0.0), ("total_tokens", "count")] == 5
    ci = compare(slim, values="total_tokens", completed_only=False)  # no status, no runs columns
    assert list(ci.columns) == [("total_tokens", s) for s in CI] and ci.loc[("a", 0.0), ("total_tokens", "n")] == 5


def test_compare_unknown_stat_is_a_validation_error(runs):
    with pytest.raises(ValidationError, match="unknown stat 'average'"):
        compare(runs, stats=["average"])


def test_compare_other_stats_and_percentiles(runs):
    out = compare(runs, by="model", values="total_tokens", stats=["min", "max", "p50", "std"])
    assert out.loc["a"].tolist() == pytest.approx([5.0, 40.0, 20.0, np.std([10, 20, 30, 40, 5], ddof=1)])


def test_compare_empty_frame_has_the_right_columns_and_index_names():
    out = compare(frame([]))
    assert out.empty
    assert list(out.columns) == [(v, s) for v in ("total_tokens", "latency_s", "cost_usd") for s in CI] + [
        ("runs", "n"), ("runs", "completion_rate"), ("runs", "completion_low"), ("runs", "completion_high"),
        ("reply", "distinct"), ("reply", "n")]
    assert list(out.index.names) == ["model", "temperature"]
    pivot = compare(frame([]), stats=PIVOT)
    assert pivot.empty
    assert list(pivot.columns) == [(v, s) for v in ("total_tokens", "latency_s", "cost_usd") for s in PIVOT]


def test_compare_no_completed_runs_gives_an_empty_frame(runs):
    out = compare(runs[runs["status"] != "completed"], by="model", values="latency_s", stats=["mean"])
    assert out.empty
    assert list(out.columns) == [("latency_s", "mean")]
    assert out.index.name == "model"


def test_compare_does_not_change_the_input(runs):
    before = runs.copy()
    compare(runs)
    pd.testing.assert_frame_equal(runs, before)


def _errors(ax, i):
    """Half the length of each error bar of the i-th errorbar container."""
    segments = ax.containers[i].lines[2][0].get_segments()
    return [(seg[1][1] - seg[0][1]) / 2 for seg in segments]


def test_plot_one_line_per_model_with_mean_at_each_temperature(runs, figures):
    fig = plot(runs)
    ax = fig.axes[0]
    assert len(ax.lines) == 2
    xa, ya = ax.lines[0].get_data()
    assert list(xa) == [0.0, 1.0] and list(ya) == pytest.approx([25.0, 5.0])
    xb, yb = ax.lines[1].get_data()
    assert list(xb) == [0.5] and list(yb) == pytest.approx([150.0])


def test_plot_error_bars_are_std_over_repeats_and_zero_for_one_value(runs, figures):
    ax = plot(runs).axes[0]
    assert _errors(ax, 0) == pytest.approx([np.std([10, 20, 30, 40], ddof=1), 0.0])
    assert _errors(ax, 1) == pytest.approx([np.std([100, 200], ddof=1)])


def test_plot_has_markers_legend_labels_and_title(runs, figures):
    ax = plot(runs).axes[0]
    assert all(line.get_marker() not in (None, "", "None") for line in ax.lines)
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "model"
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b"]
    assert ax.get_xlabel() == "temperature" and ax.get_ylabel() == "total_tokens"
    assert ax.get_title() == "total_tokens by temperature and model"


def test_plot_on_a_given_ax_returns_its_figure_and_closes_nothing(runs, figures):
    fig, ax = plt.subplots()
    assert plot(runs, y="latency_s", ax=ax) is fig
    assert plt.fignum_exists(fig.number)
    assert len(ax.lines) == 2
    assert list(ax.lines[0].get_data()[1]) == pytest.approx([2.5, 0.25])
    assert ax.get_ylabel() == "latency_s"


def test_plot_completed_only_false_includes_failed_runs(runs, figures):
    ax = plot(runs, completed_only=False).axes[0]
    assert list(ax.lines[0].get_data()[1]) == pytest.approx([220.0, 5.0])
    assert list(ax.lines[1].get_data()[1]) == pytest.approx([(100 + 200 + 7) / 3])


def test_plot_without_by_draws_one_line(runs, figures):
    ax = plot(runs, by=None).axes[0]
    assert len(ax.lines) == 1
    x, y = ax.lines[0].get_data()
    assert list(x) == [0.0, 0.5, 1.0] and list(y) == pytest.approx([25.0, 150.0, 5.0])
    assert ax.get_title() == "total_tokens by temperature"
    assert ax.get_legend() is None


def test_plot_does_not_call_show(runs, figures, monkeypatch):
    monkeypatch.setattr(plt, "show", lambda *a, **k: pytest.fail("plot called plt.show()"))
    plot(runs)


def test_plot_missing_column_is_a_validation_error(runs, figures):
    with pytest.raises(ValidationError, match="no column 'temp'.*available: "):
        plot(runs, x="temp")


def test_importing_compare_does_not_import_matplotlib():
    code = "import sys, threadrun.rows.comparison; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_compare_with_a_baseline_keeps_one_row_per_group_when_the_temperature_is_unset():
    rows = [_row(m, None, t, lat, 0.0, repeat=r) for m, t, lat in (("a", 10, 1.0), ("b", 30, 1.5))
            for r in range(3)]
    out = compare(frame(rows).assign(input=0), baseline="a")
    assert list(out.index.get_level_values("model")) == ["a", "b"]  # not a, a, b, b (NaN vs a marker)
    assert list(out[("latency_s", "pairs")]) == [3, 3]
    assert list(out[("total_tokens", "diff")]) == [0.0, 20.0]
    assert out[("total_tokens", "n")].tolist() == [3, 3]
