"""--score / score=: a number per completed run, in the row and the run log (issue 23 point 2)."""
from __future__ import annotations

import pandas as pd
import pytest

import threadrun
from threadrun import api
from threadrun.errors import ValidationError
from threadrun.rows.scores import make

TICKETS = pd.DataFrame({"text": ["I want a refund", "Where is my parcel?"],
                        "answer": ["refund", "shipping"]})


def score(spec, reply, expect=None, namespace=None, values=None, status="completed"):
    row = {"status": status, "reply": reply}
    make(spec, expect, namespace).apply(row, values)
    return row["score"], row["score_error"]


@pytest.mark.parametrize("spec, reply, expected", [
    ("contains:refund", "a refund, please", 1.0), ("contains:refund", "a Refund", 0.0),
    ("icontains:refund", "a Refund", 1.0), ("regex:^\\d+$", "42", 1.0), ("regex:^\\d+$", "42 apples", 0.0),
    ("json", '{"a": 1}', 1.0), ("json", "```json\n{\"a\": 1}\n```", 1.0), ("json", "{a: 1}", 0.0),
    ("length", "héllo", 5.0),
])
def test_the_built_in_scorers(spec, reply, expected):
    assert score(spec, reply) == (expected, None)


def test_equals_compares_the_trimmed_reply_with_the_input_column():
    assert score("equals", " refund\n", expect="answer", values={"answer": "refund "}) == (1.0, None)
    assert score("equals", "refunds", expect="answer", values={"answer": "refund"}) == (0.0, None)
    assert score("equals", "3", expect="n", values={"n": 3}) == (1.0, None)


def test_json_with_a_schema_from_the_namespace():
    schema = {"type": "object", "required": ["label"], "properties": {"label": {"enum": ["a", "b"]}}}
    assert score("json:schema", '{"label": "a"}', namespace={"schema": schema}) == (1.0, None)
    assert score("json:schema", '{"label": "c"}', namespace={"schema": schema}) == (0.0, None)
    with pytest.raises(ValidationError, match="no variable 'nope'"):
        make("json:nope", namespace={})
    with pytest.raises(ValidationError, match="not a JSON schema"):
        make("json:bad", namespace={"bad": {"type": 12}})


def test_a_callable_of_the_reply_or_of_the_row_told_apart_by_its_parameter_name():
    assert score(lambda reply: len(reply) > 3, "long reply") == (1.0, None)
    assert score(lambda text: 0.25, "x") == (0.25, None)
    assert score(lambda row: row["answer"] == "refund" and 2.0, "x", values={"answer": "refund"}) == (2.0, None)


def test_a_scorer_that_raises_leaves_the_row_with_a_one_line_score_error():
    def broken(reply):
        raise ValueError("bad\nthing")
    assert score(broken, "x") == (None, "ValueError: bad thing")
    value, error = score(lambda reply: "high", "x")
    assert value is None and error == "TypeError: the scorer returned a str, not a number or a bool"


def test_only_completed_runs_are_scored():
    assert score("length", "partial", status="incomplete") == (None, None)


@pytest.mark.parametrize("spec, expect, message", [
    ("contain:x", None, "unknown scorer 'contain' (did you mean 'contains'?)"),
    ("equals", None, "add --expect COLUMN"), ("length", "answer", "--expect goes with --score equals"),
    ("regex:(", None, "not a regular expression"), ("contains", None, "needs its text"),
    ("length:3", None, "takes no argument"),
])
def test_bad_scorers_are_one_line_errors(spec, expect, message):
    with pytest.raises(ValidationError) as caught:
        make(spec, expect)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_scores_are_in_the_rows_and_in_the_run_log_before_anything_else_sees_them(tmp_path):
    path = str(tmp_path / "log.sqlite")
    seen = []
    df = api.execute(api.command(
        "user: {text}", model="echo:a", over=TICKETS, score="contains:refund", log=path,
        label="s", progress=False), on_row=lambda row: seen.append(threadrun.log(path=path)))
    assert list(df["score"]) == [1.0, 0.0] and df["score"].dtype == "float64"
    assert all(len(logged) and logged["score"].notna().all() for logged in seen)
    assert sorted(threadrun.log(label="s", path=path)["score"]) == [0.0, 1.0]


def test_equals_needs_inputs_and_an_existing_column_before_anything_is_sent():
    with pytest.raises(ValidationError, match="give the inputs with --over"):
        threadrun.dry_run("user: hi", model="echo:a", score="equals", expect="answer")
    with pytest.raises(ValidationError, match="no column 'answr' \\(did you mean 'answer'\\?\\)"):
        threadrun.dry_run("user: {text}", model="echo:a", over=TICKETS, score="equals", expect="answr")


def test_the_magic_scores_with_a_built_in_and_with_expect(ip):
    ip.user_ns["tickets"] = pd.DataFrame({"text": ["x", "y"], "answer": ["x", "y"]})
    df = ip.run_cell_magic("threadrun", "--over tickets -m echo:a --score regex:^echo:.x", "user: {text}")
    assert list(df["score"]) == [1.0, 0.0]
    df = ip.run_cell_magic("threadrun", "--over tickets -m echo:a --score equals --expect answer",
                           "user: {text}")
    assert list(df["score"]) == [0.0, 0.0] and df["score_error"].isna().all()


def test_rescore_recomputes_scores_on_logged_rows_without_running_a_model(tmp_path, server, monkeypatch):
    path = str(tmp_path / "log.sqlite")
    threadrun.run("user: {text}", model="echo:a", over=TICKETS, log=path, label="r", progress=False)
    monkeypatch.setenv("THREADRUN_BASE_URL", server.url)  # any run now would show up here
    logged = threadrun.log(label="r", path=path)
    assert logged["score"].isna().all()
    again = threadrun.rescore(logged, score="icontains:REFUND")
    assert sorted(again["score"]) == [0.0, 1.0]
    by_input = threadrun.rescore(logged, score="equals", expect="answer", over=TICKETS)
    assert list(by_input["score"]) == [0.0, 0.0]  # echo replies are not the answers
    joined = threadrun.rescore(threadrun.join(logged, TICKETS), score=lambda row: len(row["answer"]))
    assert sorted(joined["score"]) == [6.0, 8.0]
    assert server.requests == [] and logged["score"].isna().all()  # no run, the input unchanged
    with pytest.raises(ValidationError, match="pass over="):
        threadrun.rescore(logged, score="equals", expect="answer")


def test_copy_as_cell_writes_a_built_in_scorer_and_refuses_a_function():
    from threadrun.faces.cell_text import cell_text
    assert "--score contains:refund" in cell_text(api.command("user: hi", score="contains:refund"))
    with pytest.raises(ValidationError, match="--score is a Python function"):
        cell_text(api.command("user: hi", score=len))
