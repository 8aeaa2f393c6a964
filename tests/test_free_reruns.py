"""Free re-runs (issue #23 point 4): a request already completed in the run log is replayed from
it, marked ``cached``, with its original numbers; ``fresh=True`` runs it again."""
from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import threadrun
from threadrun.client import assistant
from threadrun.grid import cache
from threadrun.grid.plan import PENDING_ASSISTANT, Job
from threadrun.rows.runlog import RunLog, default_path

THREAD = "user: Say hello."
SAME = ["run_id", "total_tokens", "cost_usd", "latency_s", "ttft_s", "reply", "created_at",
        "completed_at", "prompt_tokens", "completion_tokens"]


def run(**options) -> pd.DataFrame:
    return threadrun.run(THREAD, model="echo:gpt-4o", progress=False, **options)


def test_a_rerun_comes_from_the_log_with_its_original_numbers_and_costs_nothing(capsys):
    first = run(temperature="0,1", repeat=2, label="a")
    capsys.readouterr()
    again = run(temperature="0,1", repeat=2, label="a")
    line = capsys.readouterr().out
    assert list(first["cached"]) == [False] * 4 and list(again["cached"]) == [True] * 4
    pd.testing.assert_frame_equal(first[SAME], again[SAME])  # the same numbers, row for row
    assert line.count("\n") == 1 and line.startswith("threadrun: 4 of 4 rows came from the run log")
    assert "--fresh" in line
    logged = threadrun.log()
    assert len(logged) == 4  # a replay is not logged again: the log's cost sum counts each run once
    assert logged["cost_usd"].sum() == pytest.approx(first["cost_usd"].sum())
    spent = again.loc[~again["cached"], "cost_usd"].sum()  # what this call spent (README)
    assert spent == 0


def test_fresh_runs_again_and_more_repeats_run_only_the_missing_ones(capsys):
    first = run(repeat=2)
    more = run(repeat=5)
    assert list(more["cached"]) == [True, True, False, False, False]
    assert list(more["run_id"][:2]) == list(first["run_id"])
    assert len(threadrun.log()) == 5
    fresh = run(repeat=2, fresh=True)
    assert not fresh["cached"].any() and set(fresh["run_id"]).isdisjoint(first["run_id"])
    assert len(threadrun.log()) == 7
    latest = run(repeat=2)  # the latest completed run of each request is the one replayed
    assert list(latest["run_id"]) == list(fresh["run_id"])


def test_a_change_of_body_model_or_effort_is_another_request():
    run(temperature=0)
    assert not run(temperature=0.5)["cached"].any()
    assert not threadrun.run(THREAD, model="echo:gpt-4o-mini", temperature=0, progress=False)["cached"].any()
    assert not run(temperature=0, instructions="Be brief.")["cached"].any()
    assert not run(temperature=0, reasoning_effort="low")["cached"].any()
    assert run(temperature=0)["cached"].all()


def test_a_new_scratch_assistant_still_replays_the_same_request():
    """The scratch assistant's id differs per process (here: forgotten, so a new one is made);
    it is not part of the identity."""
    first = run()
    url = threadrun.server.embedded.embedded()[0]
    assistant.forget(url, first["assistant_id"][0])
    more = run(repeat=2)
    assert list(more["cached"]) == [True, False] and more["run_id"][0] == first["run_id"][0]
    assert more["assistant_id"][1] != first["assistant_id"][0]  # a new scratch assistant ran it
    assert run(repeat=2)["cached"].all()


def test_the_identity_leaves_out_only_what_differs_per_run():
    body = {"assistant_id": PENDING_ASSISTANT, "model": "echo:gpt-4o", "thread": {"messages": []}}
    job = Job(0, "echo:gpt-4o", None, 0, body)
    same = cache.request_hash(job)
    # a scratch assistant's placeholder is left out; stream is part of the body sent...
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, {**body, "stream": True})) == same
    assert cache.request_hash(job, stream=False) != same
    # ...an assistant the user named, the repeat, the effort, the server and the body are not
    named = {**body, "assistant_id": "asst_mine"}
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, named)) != same
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 1, body)) != same
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, body, "low")) != same
    assert cache.request_hash(job, "http://other:8000/v1") != same
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, {**body, "metadata": {"k": "v"}})) != same
    # the grid index is not identity (the same request at another place of a grid)...
    assert cache.request_hash(Job(7, "echo:gpt-4o", None, 0, body)) == same
    # ...but an input's label is: two inputs with the same text each replay their own run
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, body, None, 3)) != same
    assert cache.request_hash(Job(0, "echo:gpt-4o", None, 0, body, None, 3)) != \
        cache.request_hash(Job(0, "echo:gpt-4o", None, 0, body, None, "3"))


def test_inputs_with_the_same_text_replay_their_own_runs():
    tickets = pd.DataFrame({"text": ["Refund me", "Refund me", "Where is it?"]})
    first = threadrun.run("user: {text}", model="echo:gpt-4o", over=tickets, progress=False)
    again = threadrun.run("user: {text}", model="echo:gpt-4o", over=tickets, progress=False)
    assert again["cached"].all() and list(again["run_id"]) == list(first["run_id"])
    assert list(again["input"]) == [0, 1, 2]


def test_a_replay_is_scored_by_the_call_not_by_the_one_that_logged_it():
    tickets = pd.DataFrame({"text": ["I want a refund", "Where is my parcel?"]})

    def ask(**score):
        return threadrun.run("user: {text}", model="echo:gpt-4o", over=tickets, progress=False, **score)

    assert list(ask(score=lambda reply: 1 / 0)["score_error"]) == ["ZeroDivisionError: division by zero"] * 2
    assert list(ask(score="contains:refund")["score"]) == [1.0, 0.0]
    unscored = ask()
    assert unscored["cached"].all()
    assert unscored["score"].isna().all() and unscored["score_error"].isna().all()
    rescored = ask(score="length")
    assert rescored["cached"].all() and rescored["score_error"].isna().all()
    assert list(rescored["score"]) == [float(len(r)) for r in rescored["reply"]]
    assert threadrun.log()["score_error"].notna().sum() == 2  # the log keeps what it logged


def test_only_completed_runs_are_replayed():
    first = run(max_completion_tokens=256)
    with sqlite3.connect(default_path()) as conn:
        conn.execute("UPDATE runs SET status = 'failed'")
    again = run(max_completion_tokens=256)
    assert not again["cached"].any() and again["run_id"][0] != first["run_id"][0]


def test_no_log_means_no_replay_and_fresh_with_no_log_is_refused():
    run(log=False)
    assert not run(log=False)["cached"].any()
    with pytest.raises(threadrun.ValidationError, match="--fresh"):
        run(log=False, fresh=True)


def test_the_lookup_uses_the_request_hash_index(tmp_path):
    with RunLog(tmp_path / "runs.sqlite") as log:
        plan = log._conn.execute("EXPLAIN QUERY PLAN SELECT seq FROM runs WHERE status = 'completed' "
                                 "AND request_hash IN ('a', 'b')").fetchall()
    assert any("runs_request_hash" in str(step) for step in plan)


def test_the_replay_line_says_cost_unknown_not_zero_for_an_unpriced_model(capsys):
    """echo:no-such-model has no price (its cost_usd is NaN): the line said '$0 not spent again'."""
    threadrun.run(THREAD, model="echo:no-such-model", progress=False)
    capsys.readouterr()
    again = threadrun.run(THREAD, model="echo:no-such-model", progress=False)
    line = capsys.readouterr().out
    assert list(again["cached"]) == [True] and again["cost_usd"].isna().all()
    assert "rows came from the run log" in line and "cost unknown" in line and "$" not in line


def test_the_replay_line_sums_the_known_costs_and_counts_the_unknown_ones():
    rows = {0: {"cost_usd": 0.25}, 1: {"cost_usd": float("nan")}, 2: {"cost_usd": 0.5}}
    assert "; $0.75 not spent again, and 1 of unknown cost)" in cache.replayed_line(rows, 4)
    assert "; $0.75 not spent again)" in cache.replayed_line({0: rows[0], 2: rows[2]}, 2)
    assert "; cost unknown)" in cache.replayed_line({1: rows[1]}, 1)
