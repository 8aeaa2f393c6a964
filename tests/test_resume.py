"""Direct tests for two promises the suite only caught in passing (issue 15, point 5).

``--resume LABEL`` re-runs only the grid cells of LABEL without a completed row, and a grid cell
includes its repeat index: repeat 1 of a cell is not done because repeat 0 is. A
createThreadAndRun whose answer breaks off mid-body may have started a run, so it is never sent
again: its row says ``unknown`` (README, Reliability: "Never retried") and the server started
exactly one run.
"""
from __future__ import annotations

import pandas as pd

import threadrun
from threadrun.client import Client

CREATE = "POST /threads/runs"


def _warm_up(server):
    """Create the scratch assistant, then forget every request so counts start at zero."""
    threadrun.run("user: warm up", base_url=server.url, log=False, progress=False)
    server.reset_counts()


def _cells(df, *columns):
    return sorted(zip(*(df[c].tolist() for c in columns)))


# -- --resume and repeat ---------------------------------------------------------------------------

def test_resume_reruns_only_the_repeat_that_did_not_complete(server, isolated, capsys):
    """Planted bug: --resume matching logged rows without their repeat index (a completed repeat 0
    then marks repeats 1 and 2 done too), so the failed repeat is never run again."""
    path = str(isolated / "runs.sqlite")
    args = dict(model="gpt-4o", repeat=3, concurrency=1, base_url=server.url, log=path, progress=False)
    _warm_up(server)
    server.faults.script(["ok", "failed", "ok"], route="create")  # concurrency 1: repeat 1 fails
    first = threadrun.run("user: hi", label="rep", **args)
    assert first["status"].tolist() == ["completed", "failed", "completed"]
    capsys.readouterr()

    server.reset_counts()
    rest = threadrun.run("user: hi", resume="rep", **args)
    assert "1 to run" in capsys.readouterr().err
    assert rest["repeat"].tolist() == [1] and rest["status"].tolist() == ["completed"]
    assert server.counts.get(CREATE, 0) == server.runs_created == 1
    logged = threadrun.log(label="rep", path=path)
    assert _cells(logged[logged["status"] == "completed"], "repeat") == [(0,), (1,), (2,)]


def test_resume_with_a_larger_repeat_runs_only_the_new_repeats(server, isolated):
    """Planted bug: --resume ignoring the repeat index, so repeat=5 after a completed repeat=2 sweep
    looks finished and runs nothing."""
    path = str(isolated / "runs.sqlite")
    args = dict(model="gpt-4o,gpt-4o-mini", base_url=server.url, log=path, progress=False)
    _warm_up(server)
    first = threadrun.run("user: hi", label="grow", repeat=2, **args)
    assert (first["status"] == "completed").all() and len(first) == 4

    server.reset_counts()
    more = threadrun.run("user: hi", resume="grow", repeat=5, **args)
    expected = [(m, r) for m in ("gpt-4o", "gpt-4o-mini") for r in (2, 3, 4)]
    assert _cells(more, "model", "repeat") == expected
    assert (more["status"] == "completed").all()
    assert server.counts.get(CREATE, 0) == 6
    logged = threadrun.log(label="grow", path=path)
    assert _cells(logged, "model", "repeat") == sorted((m, r) for m in ("gpt-4o", "gpt-4o-mini")
                                                       for r in range(5))


def test_resume_from_the_magic_picks_the_missing_repeat_of_the_right_model(ip, server, capsys):
    """Planted bug: --resume ignoring repeat. gpt-4o-mini's repeat 0 fails and its repeat 1
    completes; ignoring the repeat index, the completed repeat 1 hides the failed repeat 0."""
    _warm_up(server)
    server.faults.script(["ok", "ok", "failed", "ok"], route="create")  # concurrency 1: grid order
    cell = "user: hi"
    first = ip.run_cell_magic("threadrun", "-m gpt-4o,gpt-4o-mini --repeat 2 --concurrency 1 --label m", cell)
    assert _cells(first[first["status"] != "completed"], "model", "repeat") == [("gpt-4o-mini", 0)]
    capsys.readouterr()

    server.reset_counts()
    rest = ip.run_cell_magic("threadrun", "-m gpt-4o,gpt-4o-mini --repeat 2 --concurrency 1 --resume m", cell)
    assert "3 of 4 runs already completed, 1 to run" in capsys.readouterr().err
    assert _cells(rest, "model", "repeat", "status") == [("gpt-4o-mini", 0, "completed")]
    assert server.counts.get(CREATE, 0) == 1


# -- a create answer cut off mid-body ---------------------------------------------------------------

def test_a_create_answer_cut_off_mid_body_is_sent_once_and_the_row_is_unknown(server):
    """Planted bug: a POST whose answer body breaks off is sent again like a GET. Our server's
    Idempotency-Key then hands back the same run, so the request count and the row's status show
    it; a server ignoring the key would start the run twice."""
    client = Client(server.url, "", max_retries=5, backoff=0.01)
    try:
        assistant_id = client.create_assistant("gpt-4o")["id"]
        server.reset_counts()
        server.faults.script(["drop-mid"], route="create")
        body = {"assistant_id": assistant_id, "thread": {"messages": [{"role": "user", "content": "hi"}]}}
        result = client.run(body, stream=False)
    finally:
        client.close()
    assert server.counts.get(CREATE, 0) == server.runs_created == 1
    assert result.status == "unknown", (result.status, result.error)
    assert "connection dropped by the server mid-answer" in result.error
    assert result.run is None and result.retries == 0


def test_a_cut_create_in_a_sweep_gives_one_unknown_row_and_no_second_run(server, isolated):
    """Planted bug: a cut-off create answer re-sent. In a three-run sweep the cut run must be one
    logged `unknown` row beside two completed ones, and the server must have seen (and started)
    exactly three runs."""
    path = str(isolated / "runs.sqlite")
    _warm_up(server)
    server.faults.script(["ok", "drop-mid", "ok"], route="create")  # concurrency 1: the 2nd is cut
    df = threadrun.run("user: hi", model="gpt-4o", repeat=3, concurrency=1, stream=False,
                       max_retries=3, base_url=server.url, log=path, label="cut", progress=False)
    assert df["status"].tolist() == ["completed", "unknown", "completed"]
    assert server.counts.get(CREATE, 0) == server.runs_created == 3
    cut = df.iloc[1]
    assert pd.isna(cut["run_id"])  # the client never learnt it
    assert "mid-answer" in cut["error"]
    logged = threadrun.log(label="cut", path=path)
    assert sorted(logged["status"]) == ["completed", "completed", "unknown"]
