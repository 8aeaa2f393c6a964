"""compare()'s intervals and paired differences, checked against scipy.stats and statsmodels
(issue 23 point 3), not against our own formulas."""
from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as scipy_stats  # noqa: E402
from statsmodels.stats.proportion import proportion_confint  # noqa: E402

import threadrun  # noqa: E402
from threadrun.errors import ValidationError  # noqa: E402
from threadrun.rows import stats  # noqa: E402
from threadrun.rows.row import frame  # noqa: E402


def _rows(seed: int = 7):
    """Two models × 10 inputs × 3 repeats: latency numbers, a 0/1 score, some failures."""
    rng = random.Random(seed)
    rows = []
    for model, shift in (("base", 0.0), ("other", 0.3)):
        for i in range(10):
            for rep in range(3):
                failed = model == "other" and i == 0 and rep == 0
                rows.append({"model": model, "provider": "echo", "input": i, "repeat": rep,
                             "status": "failed" if failed else "completed",
                             "latency_s": rng.gauss(1.0 + shift + 0.1 * i, 0.2),
                             "score": float(rng.random() < (0.5 if model == "base" else 0.8)),
                             "reply": f"r{i % (3 if model == 'base' else 5)}"})
    return frame(rows)


@pytest.mark.parametrize("df", [1, 2, 3, 4, 7, 29, 100, 1000])
def test_the_t_quantile_is_scipys(df):
    assert stats.t_ppf(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-10)
    assert stats.t_ppf(0.05, df) == pytest.approx(scipy_stats.t.ppf(0.05, df), rel=1e-10)


def test_a_means_interval_is_scipys_t_interval():
    df = _rows()
    out = threadrun.compare(df, by="model", values="latency_s", stats="ci")
    for model in ("base", "other"):
        xs = df[(df["model"] == model) & (df["status"] == "completed")]["latency_s"].to_numpy()
        low, high = scipy_stats.t.interval(0.95, len(xs) - 1, loc=xs.mean(), scale=scipy_stats.sem(xs))
        row = out.loc[model]
        assert row[("latency_s", "n")] == len(xs)
        assert row[("latency_s", "mean")] == pytest.approx(xs.mean())
        assert (row[("latency_s", "ci_low")], row[("latency_s", "ci_high")]) == pytest.approx((low, high), rel=1e-9)
        assert row[("latency_s", "p50")] == pytest.approx(np.percentile(xs, 50))
        assert row[("latency_s", "p95")] == pytest.approx(np.percentile(xs, 95))


def test_a_rates_interval_is_statsmodels_wilson_and_completion_has_one_too():
    df = _rows()
    out = threadrun.compare(df, by="model", values="score", stats="ci")
    for model in ("base", "other"):
        mine = df[df["model"] == model]
        done = mine[mine["status"] == "completed"]
        k, n = int(done["score"].sum()), len(done)
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        row = out.loc[model]
        assert (row[("score", "ci_low")], row[("score", "ci_high")]) == pytest.approx((low, high), rel=1e-9)
        c_low, c_high = proportion_confint(n, len(mine), alpha=0.05, method="wilson")
        assert row[("runs", "n")] == len(mine) == 30
        assert row[("runs", "completion_rate")] == pytest.approx(n / 30)
        assert (row[("runs", "completion_low")], row[("runs", "completion_high")]) == \
            pytest.approx((c_low, c_high), rel=1e-9)
    assert out.loc["base", ("reply", "distinct")] == 3 and out.loc["other", ("reply", "distinct")] == 5
    assert out.loc["other", ("reply", "n")] == 29


def test_wilson_at_zero_and_all_stays_within_zero_and_one():
    for k, n in ((0, 5), (5, 5), (1, 1)):
        assert stats.wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"))


def test_paired_differences_against_the_baseline_are_scipys_paired_t_interval():
    df = _rows()
    out = threadrun.compare(df, by=("provider", "model"), values="latency_s", baseline="echo:base")
    done = df[df["status"] == "completed"]
    a = done[done["model"] == "other"].set_index(["input", "repeat"])["latency_s"]
    b = done[done["model"] == "base"].set_index(["input", "repeat"])["latency_s"]
    both = a.index.intersection(b.index)
    result = scipy_stats.ttest_rel(a[both].to_numpy(), b[both].to_numpy())
    interval = result.confidence_interval(0.95)
    assert out.index.names == ["provider", "model"]
    row = out.loc[("echo", "other")]
    assert row[("latency_s", "pairs")] == len(both) == 29  # the failed run has no pair
    assert row[("latency_s", "diff")] == pytest.approx((a[both] - b[both]).mean())
    assert (row[("latency_s", "diff_low")], row[("latency_s", "diff_high")]) == \
        pytest.approx((interval.low, interval.high), rel=1e-9)
    assert row[("latency_s", "diff")] > 0  # other is slower by construction
    assert out.loc[("echo", "base"), ("latency_s", "diff")] == 0.0
    assert list(out.columns[:6]) == [("latency_s", s) for s in ("n", "mean", "ci_low", "ci_high", "p50", "p95")]
    assert list(out.columns[6:10]) == [("latency_s", s) for s in ("diff", "diff_low", "diff_high", "pairs")]


def _swept(seed: int = 11):
    """Two models × 5 inputs × temperatures 0, 0.7, 1.4 × 2 repeats; a missing reasoning effort."""
    rng = random.Random(seed)
    return frame([{"model": model, "provider": "echo", "input": i, "repeat": rep,
                   "temperature": temp, "status": "completed",
                   "service_tier": "default" if model == "base" else None,  # said by one provider only
                   "latency_s": rng.gauss(1.0 + shift + 0.5 * i + 2 * temp, 0.3)}
                  for model, shift in (("base", 0.0), ("other", 0.3))
                  for i in range(5) for temp in (0.0, 0.7, 1.4) for rep in range(2)])


def test_a_baseline_pairs_on_the_grid_settings_not_in_by():
    df = _swept()
    out = threadrun.compare(df, by="model", values="latency_s", baseline="echo:base")
    keys = ["input", "temperature", "repeat"]
    a = df[df["model"] == "other"].set_index(keys)["latency_s"]
    b = df[df["model"] == "base"].set_index(keys)["latency_s"]
    interval = scipy_stats.ttest_rel(a.to_numpy(), b[a.index].to_numpy()).confidence_interval(0.95)
    row = out.loc["other"]
    assert row[("latency_s", "pairs")] == row[("latency_s", "n")] == 30  # not 10 averaged pairs
    assert row[("latency_s", "diff")] == pytest.approx((a - b[a.index]).mean())
    assert (row[("latency_s", "diff_low")], row[("latency_s", "diff_high")]) == \
        pytest.approx((interval.low, interval.high), rel=1e-9)


def test_a_missing_grid_setting_pairs_with_a_missing_one():
    df = _swept().assign(reasoning_effort=None, top_p=np.nan)
    df.loc[df["temperature"] == 1.4, "temperature"] = np.nan  # a run that reported none
    out = threadrun.compare(df, by="model", values="latency_s", baseline="echo:base")
    assert out.loc["other", ("latency_s", "pairs")] == 30


def test_the_interval_note_says_repeats_of_one_input_are_not_independent_and_numbers_stay():
    df = _rows()
    out = threadrun.compare(df, by="model")
    assert out.attrs["intervals"].endswith(
        ". n counts runs, and the runs of one input are not independent draws, so these intervals "
        "are likely too narrow; compare per-input means, e.g. df.groupby(['model', 'input'])['score'].mean()")
    assert out.loc["base", ("score", "n")] == 30  # the default numbers are the runs' as before
    once = threadrun.compare(df[df["repeat"] == 0], by="model").attrs["intervals"]
    assert once == "95% intervals: Wilson score for score, completion_rate; Student's t for total_tokens, " \
                   "latency_s, cost_usd"  # one run per input: each is a draw
    one_input = threadrun.compare(df[df["input"] == 1], by="model").attrs["intervals"]
    assert "independent" not in one_input  # repeats of one prompt: the runs are the population


def test_the_documented_per_input_comparison_is_scipys_over_the_inputs():
    df = _rows()
    per_input = df[df.status == "completed"].groupby(["model", "input"], as_index=False).score.mean()
    out = threadrun.compare(per_input, by="model", values="score", completed_only=False, baseline="base")
    means = per_input.pivot(index="input", columns="model", values="score")
    xs = means["other"].to_numpy()
    low, high = scipy_stats.t.interval(0.95, len(xs) - 1, loc=xs.mean(), scale=scipy_stats.sem(xs))
    paired = scipy_stats.ttest_rel(means["other"], means["base"]).confidence_interval(0.95)
    row = out.loc["other"]
    assert row[("score", "n")] == row[("score", "pairs")] == 10  # the inputs, not the 29 runs
    assert (row[("score", "ci_low")], row[("score", "ci_high")]) == pytest.approx((low, high), rel=1e-9)
    assert (row[("score", "diff_low")], row[("score", "diff_high")]) == \
        pytest.approx((paired.low, paired.high), rel=1e-9)


def test_an_unknown_baseline_is_one_line_with_the_models():
    with pytest.raises(ValidationError, match=r"no completed rows of the baseline 'echo:bse' "
                                              r"\(did you mean 'echo:base'\?\); the models: echo:base, echo:other"):
        threadrun.compare(_rows(), by="model", values="latency_s", baseline="echo:bse")


def test_a_scored_frame_compares_its_score_first_by_default():
    out = threadrun.compare(_rows(), by="model")
    assert out.columns[0] == ("score", "n")
    unscored = _rows().assign(score=np.nan)
    assert threadrun.compare(unscored, by="model").columns[0] == ("total_tokens", "n")


def test_plot_draws_the_95_percent_intervals_as_error_bars():
    df = _rows()
    fig = threadrun.plot(df, x="model", y="latency_s", by=None, error="ci")
    ax = fig.axes[0]
    segments = ax.containers[0].lines[2][0].get_segments()
    for segment, model in zip(segments, ("base", "other")):
        xs = df[(df["model"] == model) & (df["status"] == "completed")]["latency_s"].to_numpy()
        low, high = scipy_stats.t.interval(0.95, len(xs) - 1, loc=xs.mean(), scale=scipy_stats.sem(xs))
        assert (segment[0][1], segment[1][1]) == pytest.approx((low, high), rel=1e-9)
    plt.close("all")
    with pytest.raises(ValidationError, match="error= is 'std' or 'ci'"):
        threadrun.plot(df, error="sd")


def test_plot_of_a_categorical_x_draws_points_without_a_connecting_line():
    df = _rows()
    by_model = threadrun.plot(df, x="model", y="latency_s", by=None, error="ci").axes[0]
    assert [(ln.get_linestyle(), ln.get_marker()) for ln in by_model.lines] == [("None", "o")]
    assert len(by_model.containers[0].lines[2][0].get_segments()) == 2  # the error bars stay
    by_repeat = threadrun.plot(df, x="repeat", y="latency_s", by="model", error="ci").axes[0]
    assert [ln.get_linestyle() for ln in by_repeat.lines] == ["-", "-"]  # a numeric x keeps its line
    plt.close("all")


def test_plot_draws_a_rate_of_all_ones_or_all_zeros_without_a_negative_bar():
    rows = frame([{"model": m, "status": "completed", "score": float(m == "a"), "input": i, "repeat": 0}
                  for m in ("a", "b") for i in range(60)])  # 60: Wilson rounds past 0 and 1
    ax = threadrun.plot(rows, x="model", y="score", by=None, error="ci").axes[0]
    segments = ax.containers[0].lines[2][0].get_segments()
    drawn = [y for s in segments for y in (s[0][1], s[1][1])]
    assert drawn == pytest.approx([*proportion_confint(60, 60, method="wilson"),
                                   *proportion_confint(0, 60, method="wilson")], abs=1e-12)
    plt.close("all")


def test_the_magics_compare_flag_shows_the_intervals(ip):
    from IPython.utils.capture import capture_output
    ip.user_ns["rows"] = [{"q": "a"}, {"q": "b"}]
    with capture_output() as shown:
        ip.run_cell_magic("threadrun", "--over rows -m echo:a,echo:b -n 2 --compare", "user: {q}")
    text = "\n".join(o.data.get("text/html", "") for o in shown.outputs)
    assert "ci_low" in text and "completion_rate" in text and "distinct" in text
