"""Issue 11 point 7: an oddly typed run object never drops its row nor makes the call raise.

A row is built from whatever came back; what cannot be read becomes that row's error. Checked
against our local server with its run objects altered (stream and poll), and with direct
``to_row`` / ``frame`` calls.
"""
from __future__ import annotations

import math

import pandas as pd
import pytest

import threadrun
from threadrun.rows.result import RunResult, run_error
from threadrun.rows.row import COLUMNS, frame, to_row

#: requested temperature → how the server's run object is altered (one oddity per run).
ODD = {
    0.1: lambda run: run.update(usage="12 tokens"),
    0.2: lambda run: run["usage"] and run["usage"].update(total_tokens=12.5, prompt_tokens=7.0),
    0.3: lambda run: run.update(temperature="hot"),
    0.4: lambda run: run.update(created_at="yesterday"),
    0.5: lambda run: run.update(temperature="0.5", created_at="2026-01-02T03:04:05Z"),
    0.6: lambda run: None,
    0.7: lambda run: run.update(model=7, top_p={"p": 1}, completed_at=[1]),
}


@pytest.fixture
def odd_server(server, monkeypatch):
    """The local server, its run objects altered by the run's requested temperature."""
    from threadrun.server import objects
    original = objects.Run.to_dict

    def altered(self, *args, **kwargs):
        run = original(self, *args, **kwargs)
        change = ODD.get(self.params.temperature)
        if change is not None:
            change(run)
        return run

    monkeypatch.setattr(objects.Run, "to_dict", altered)
    return server


def _check_dtypes(df: pd.DataFrame) -> None:
    for name, dtype in COLUMNS.items():
        assert str(df[name].dtype) == str(pd.Series([], dtype=dtype).dtype), name


@pytest.mark.parametrize("stream", [True, False])
def test_odd_run_objects_keep_every_row(odd_server, stream, capsys):
    df = threadrun.run("Say hi", model="gpt-4o-mini", temperature=list(ODD), base_url=odd_server.url,
                       stream=stream, log=False, progress=False)
    assert len(df) == len(ODD)
    _check_dtypes(df)
    assert list(df["status"]) == ["completed"] * len(ODD)
    assert (df["reply"].str.len() > 0).all()
    rows = {t: df.iloc[i] for i, t in enumerate(ODD)}
    assert "usage" in rows[0.1]["error"]
    assert pd.isna(rows[0.1]["total_tokens"])
    assert "total_tokens" in rows[0.2]["error"] and pd.isna(rows[0.2]["total_tokens"])
    assert rows[0.2]["prompt_tokens"] == 7  # a whole float is read as the count
    assert "temperature" in rows[0.3]["error"]
    assert rows[0.3]["temperature"] == 0.3  # the requested value stands in
    assert "created_at" in rows[0.4]["error"] and pd.isna(rows[0.4]["created_at"])
    assert rows[0.5]["temperature"] == 0.5 and rows[0.5]["error"] is None
    assert rows[0.5]["created_at"] == pd.Timestamp("2026-01-02T03:04:05Z")
    assert rows[0.6]["error"] is None
    assert "top_p" in rows[0.7]["error"] and "completed_at" in rows[0.7]["error"]
    assert rows[0.7]["model"] == "7"
    assert rows[0.6]["total_tokens"] > 0 and isinstance(rows[0.6]["run_id"], str)


ODD_RUNS = [
    {"usage": "12 tokens"},
    {"usage": {"prompt_tokens": 3.5, "completion_tokens": "2", "total_tokens": True}},
    {"usage": {"prompt_tokens_details": "x", "completion_tokens_details": {"reasoning_tokens": "y"}}},
    {"temperature": "warm", "top_p": [0.5]},
    {"temperature": float("inf"), "top_p": "0.5.1"},
    {"created_at": "soon", "completed_at": {"t": 1}},
    {"created_at": 1e30},
    {"model": {"name": "x"}, "id": 5, "thread_id": ["t"], "assistant_id": 1.5},
    {"last_error": "boom", "status": "failed"},
    {"incomplete_details": "cut", "status": "incomplete"},
]


@pytest.mark.parametrize("odd", ODD_RUNS, ids=[",".join(r) for r in ODD_RUNS])
def test_to_row_never_raises_and_frame_keeps_dtypes(odd):
    run = {"id": "run_1", "thread_id": "thread_1", "status": "completed", "created_at": 1700000000,
           "completed_at": 1700000001, "model": "gpt-4o-mini", "temperature": 0.2,
           "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, **odd}
    result = RunResult(body={"model": "gpt-4o-mini", "temperature": 0.2}, run=run,
                       status=run["status"], error=run_error(run), reply="hi")  # as Client.run does
    row = to_row(result, label="odd", repeat=1)
    assert set(row) == set(COLUMNS)
    assert isinstance(row["error"], str) and row["error"]
    df = frame([row, to_row(RunResult(body={}, status="error", error="x"))])
    assert len(df) == 2
    _check_dtypes(df)
    assert df["label"].iloc[0] == "odd" and df["reply"].iloc[0] == "hi"


@pytest.mark.parametrize("run", [["not", "a", "dict"], "run", 5])
def test_to_row_with_a_run_that_is_not_an_object(run):
    row = to_row(RunResult(body={"model": "m"}, run=run, status="unknown"))
    assert set(row) == set(COLUMNS)
    assert "run object" in row["error"]
    _check_dtypes(frame([row]))


def test_run_error_reads_odd_errors():
    assert run_error({"status": "failed", "last_error": "boom"}) == "run failed: boom"
    assert run_error({"status": "incomplete", "incomplete_details": "cut"}) == "run incomplete: cut"
    assert run_error({"status": "failed", "last_error": {"code": None, "message": "m"}}) == "run failed: None: m"


def test_a_row_with_no_oddities_has_no_error():
    run = {"id": "run_1", "thread_id": "t", "status": "completed", "created_at": 1700000000,
           "completed_at": 1700000001, "model": "openai:gpt-4o-mini", "temperature": 0.2,
           "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    row = to_row(RunResult(body={}, run=run, status="completed", reply="hi"))
    assert row["error"] is None and row["total_tokens"] == 5 and row["temperature"] == 0.2
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini"
    assert not math.isnan(row["cost_usd"])


HUGE = {0.1: 2**62, 0.2: 10**30, 0.3: -5, 0.4: True}


@pytest.mark.parametrize("stream", [True, False])
def test_absurd_token_counts_leave_the_tokens_empty_with_a_note_and_lose_no_row(server, monkeypatch,
                                                                              stream, tmp_path):
    """Issue 21 point 5: one run reporting 2**62 tokens cost the whole DataFrame and its log row."""
    from threadrun.server import objects
    original = objects.Run.to_dict

    def altered(self, *args, **kwargs):
        run = original(self, *args, **kwargs)
        bad = HUGE.get(self.params.temperature)
        if bad is not None and run.get("usage"):
            run["usage"]["completion_tokens"] = bad
        return run

    monkeypatch.setattr(objects.Run, "to_dict", altered)
    log = tmp_path / "runs.sqlite"
    df = threadrun.run("Say hi", model="gpt-4o-mini", temperature=[*HUGE, 0.5, 0.6],
                       base_url=server.url, stream=stream, log=str(log), progress=False)
    assert len(df) == 6 and list(df["status"]) == ["completed"] * 6
    odd = df.iloc[:4]
    assert odd["completion_tokens"].isna().all() and odd["cost_usd"].isna().all()
    assert all("completion_tokens is" in e for e in odd["error"])
    assert "outside 0 to 1,000,000,000,000" in odd["error"].iloc[0]
    assert df.iloc[4:]["completion_tokens"].notna().all()
    assert len(threadrun.log(path=str(log))) == 6
