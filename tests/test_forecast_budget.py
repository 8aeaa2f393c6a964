"""A cost forecast on --dry-run and a budget that stops a sweep (issue #23 point 5)."""
from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest

import threadrun
from threadrun import api
from threadrun.grid import budget as budgets
from threadrun.grid import forecast
from threadrun.providers.catalog import price

THREAD = "user: Say hello."
MODEL = "echo:gpt-4o"


def lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("threadrun: forecast")]


def no_count_provider(home: Path) -> str:
    """A priced provider without a token-count endpoint (nothing listens at its URL: a dry run
    must not call it)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        '[providers.nocount]\napi = "chat"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'prices = { "m" = [2.5, 10.0] }\n', encoding="utf-8")
    return "nocount:m"


def test_a_dry_run_without_history_or_count_flags_the_input_unknown_and_bounds_the_output_by_the_cap(
        isolated, capsys):
    model = no_count_provider(Path(os.environ["THREADRUN_HOME"]))
    bodies = threadrun.dry_run(THREAD, model=f"{model},echo:gpt-4o-mini", repeat=3,
                               max_completion_tokens=300)
    assert len(bodies) == 6  # the bodies, as before
    out = capsys.readouterr().out
    found = lines(out)
    assert len(found) == 3 and found[2].startswith("threadrun: forecast total: 6 runs")
    first = found[0]
    assert first.startswith(f"threadrun: forecast {model}: 3 runs; input unknown for 3 of 3 runs "
                            "(not in the log, not counted by the provider)")
    assert "output ≤ 900 tokens (the cap; no history)" in first
    high = 3 * 300 * 10.0 / 1e6  # input unknown: the range is the output's
    assert f"cost $0–{forecast.usd(high)} + the unknown input" in first and "ETA unknown" in first
    assert ("input tokens not counted by the provider: nocount:m: provider 'nocount' has no "
            "token-count endpoint") in out


def test_a_dry_run_with_history_uses_the_logs_tokens_and_latency(capsys):
    done = threadrun.run(THREAD, model=MODEL, repeat=2, progress=False)
    capsys.readouterr()
    threadrun.dry_run(THREAD, model=MODEL, repeat=4, concurrency=2, max_completion_tokens=500)
    line = lines(capsys.readouterr().out)[0]
    prompt, completion = int(done["prompt_tokens"][0]), int(done["completion_tokens"][0])
    assert f"input {4 * prompt:,} tokens (log history);" in line
    assert f"output ≈ {4 * completion:,} tokens (log history)" in line
    rate_in, rate_out = (p / 1e6 for p in price("gpt-4o"))
    low = 4 * (prompt * rate_in + completion * rate_out)
    high = 4 * (prompt * rate_in + 500 * rate_out)
    assert f"cost {forecast.usd(low)}–{forecast.usd(high)};" in line
    eta = float(re.search(r"ETA ([\d.,]+) s at concurrency 2", line).group(1))
    latency = done["latency_s"].mean()
    expected = 4 * latency / 2 + 4 * forecast.CLIENT_S_PER_RUN  # plus the client's work per run
    assert eta == pytest.approx(expected, abs=0.051)  # printed to 0.1 s
    assert len(threadrun.log()) == 2  # a dry run sends nothing and logs nothing


def test_a_dry_run_with_no_log_has_no_history_and_creates_no_log(tmp_path, capsys):
    path = tmp_path / "none.sqlite"
    threadrun.dry_run(THREAD, model=no_count_provider(tmp_path / "threadrun-home"), log=str(path))
    assert not path.exists() and "input unknown" in lines(capsys.readouterr().out)[0]


def worst_and_actual() -> tuple[float, float]:
    job = api.command(THREAD, model=MODEL, max_completion_tokens=256).plan()[0]
    worst = budgets.worst_case(job)
    actual = threadrun.run(THREAD, model=MODEL, max_completion_tokens=256, progress=False,
                           log=False)["cost_usd"][0]
    return worst, actual


def test_the_worst_case_is_an_upper_bound_of_what_a_run_costs():
    worst, actual = worst_and_actual()
    assert 0 < actual < worst
    job = api.command(THREAD, model=MODEL, max_completion_tokens=256).plan()[0]
    assert budgets.prompt_bound(job.body) >= len(b"Say hello.") + budgets.PER_MESSAGE


def test_a_budget_stops_the_sweep_before_its_spend_could_pass_it(capsys):
    worst, actual = worst_and_actual()
    budget = worst + 2 * actual + actual / 2  # room for exactly three runs, one at a time
    df = threadrun.run(THREAD, model=MODEL, repeat=6, max_completion_tokens=256, budget=budget,
                       concurrency=1, label="b", progress=False)
    err = capsys.readouterr().err
    assert len(df) == 3 and list(df["repeat"]) == [0, 1, 2]  # rows not sent are not invented
    assert df["cost_usd"].sum() <= budget
    assert len(threadrun.log(label="b")) == 3
    line = [x for x in err.splitlines() if "budget" in x]
    assert len(line) == 1 and "3 of 6 runs were not sent" in line[0]
    assert "`--resume b --budget MORE` runs them" in line[0]
    rest = threadrun.run(THREAD, model=MODEL, repeat=6, max_completion_tokens=256, budget=1.0,
                         resume="b", progress=False)
    assert list(rest["repeat"]) == [3, 4, 5] and len(threadrun.log(label="b")) == 6


def test_a_budget_counts_the_worst_case_of_the_runs_in_flight():
    worst, actual = worst_and_actual()
    budget = 2 * worst + 2 * actual  # two in flight at most, whatever the concurrency
    cmd = api.command(THREAD, model=MODEL, repeat=8, max_completion_tokens=256, budget=budget)
    gate = budgets.budget(cmd, cmd.plan())
    jobs = cmd.plan()
    assert gate.admit(jobs[0]) and gate.admit(jobs[1])
    assert gate.spent + gate.in_flight <= budget
    stop = threading.Event()
    stop.set()  # a third would wait for one of the two to end; a stopped sweep does not wait
    assert not gate.admit(jobs[2], stop) and gate.refused == 1
    gate.exhausted, gate.refused = False, 0
    threading.Timer(0.2, gate.settle, (jobs[0], actual)).start()  # one ends meanwhile:
    assert gate.admit(jobs[2])  # its actual cost replaced its worst case, so the third fits
    assert gate.spent + gate.in_flight <= budget
    gate.settle(jobs[1], actual)
    gate.settle(jobs[2], actual)
    assert gate.admit(jobs[3])
    gate.settle(jobs[3], None)  # a cost that is not known counts as its worst case
    assert gate.spent == pytest.approx(3 * actual + worst)
    assert not gate.admit(jobs[4]) and gate.exhausted and gate.refused == 1
    assert not gate.admit(jobs[5]) and gate.refused == 2  # once stopped, it stays stopped


def test_a_budget_needs_a_cap_and_a_price_before_anything_is_sent():
    with pytest.raises(threadrun.ValidationError, match="--budget needs --max-completion-tokens"):
        threadrun.run(THREAD, model=MODEL, budget=1, progress=False)
    with pytest.raises(threadrun.ValidationError, match="--budget needs a price for every model"):
        threadrun.run(THREAD, model="echo:no-such-model", budget=1, max_completion_tokens=256,
                      progress=False)
    assert threadrun.log().empty
    with pytest.raises(threadrun.ValidationError, match="--budget must be more than 0 USD"):
        threadrun.run(THREAD, model=MODEL, budget=0, progress=False)


def test_a_dry_run_forecasts_only_what_the_log_would_not_replay_for_free(capsys):
    threadrun.run(THREAD, model=MODEL, repeat=3, max_completion_tokens=300, progress=False)
    capsys.readouterr()
    threadrun.dry_run(THREAD, model=MODEL, repeat=3, max_completion_tokens=300)
    assert lines(capsys.readouterr().out) == [
        f"threadrun: forecast {MODEL}: all 3 runs come from the run log (free: $0); nothing to send"]
    threadrun.dry_run(THREAD, model=MODEL, repeat=5, max_completion_tokens=300)
    line = lines(capsys.readouterr().out)[0]
    assert line.startswith(f"threadrun: forecast {MODEL}: 2 runs to send, 3 more from the run log "
                           "(free); input ")
    threadrun.dry_run(THREAD, model=MODEL, repeat=5, max_completion_tokens=300, fresh=True)
    assert lines(capsys.readouterr().out)[0].startswith(f"threadrun: forecast {MODEL}: 5 runs; ")


def test_the_total_says_when_some_models_have_output_history_and_others_only_a_cap(capsys):
    threadrun.run(THREAD, model=MODEL, progress=False)
    capsys.readouterr()
    threadrun.dry_run(THREAD, model=f"{MODEL},echo:gpt-4o-mini", max_completion_tokens=300)
    first, second, total = lines(capsys.readouterr().out)
    assert "(log history)" in first.split("; ")[2] and "(the cap; no history)" in second
    assert "output ≤ 600 tokens (the log's for some models, the cap for the others)" in total


def test_a_dry_run_needs_no_key_and_says_the_count_needs_one(capsys):
    threadrun.dry_run(THREAD, model="openai:gpt-5.4-mini", max_completion_tokens=300)
    out = capsys.readouterr().out
    assert lines(out)[0].startswith("threadrun: forecast openai:gpt-5.4-mini: 1 run; input unknown "
                                    "for 1 of 1 run")
    assert "openai:gpt-5.4-mini: the count failed: provider 'openai' needs a key: set " \
           "$OPENAI_API_KEY" in out
    with pytest.raises(threadrun.errors.ValidationError, match="needs a key"):
        threadrun.run(THREAD, model="openai:gpt-5.4-mini", progress=False)  # a run still does


def test_a_dry_run_with_a_budget_says_how_many_runs_fit_at_their_worst_case(capsys):
    job = api.command(THREAD, model=MODEL, max_completion_tokens=256).plan()[0]
    worst = budgets.worst_case(job)
    threadrun.dry_run(THREAD, model=MODEL, repeat=6, max_completion_tokens=256, budget=2.5 * worst)
    out = capsys.readouterr().out
    assert (f"threadrun: budget ${2.5 * worst:.6g}: at least 2 of 6 runs will be sent (their worst "
            "cases fit)") in out


def test_forecast_dollars_are_never_in_scientific_notation():
    assert [forecast.usd(v) for v in (0.0, 1.8e-06, 0.000132, 0.5, 1234.5)] == [
        "$0", "$0.000001800", "$0.0001320", "$0.5000", "$1,234.50"]


def test_the_eta_of_many_fast_runs_counts_the_clients_work_per_run(capsys):
    threadrun.run(THREAD, model=MODEL, progress=False)
    capsys.readouterr()
    threadrun.dry_run(THREAD, model=MODEL, repeat=2000, concurrency=32, max_completion_tokens=300,
                      fresh=True)
    eta = float(re.search(r"ETA ([\d.,]+) s", lines(capsys.readouterr().out)[0]).group(1))
    assert 2000 * forecast.CLIENT_S_PER_RUN <= eta <= 2000 * forecast.CLIENT_S_PER_RUN + 1.0
