"""A run that asks for tool outputs: threadrun sends none, cancels it and says why in the row."""
from __future__ import annotations

import pytest

import threadrun

CREATE = "POST /threads/runs"
CANCEL = "POST /threads/{thread_id}/runs/{run_id}/cancel"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize("stream", [True, False])
def test_requires_action_run_is_cancelled_and_reported(server, stream):
    server.faults.script(["requires_action"], route="create")
    df = threadrun.run("user: hi", model="gpt-4o", tools=TOOLS, base_url=server.url,
                       stream=stream, log=False, progress=False)
    assert len(df) == 1
    row = df.iloc[0]
    assert row["status"] == "requires_action"
    assert "tool outputs" in row["error"] and "cancel failed" not in row["error"]
    assert server.counts[CREATE] == 1
    assert server.counts[CANCEL] == 1
    (cancel,) = [r for r in server.requests if r.route == CANCEL]
    assert cancel.path.endswith(f"/runs/{row['run_id']}/cancel")
    run = server.app.store.get_run(row["thread_id"], row["run_id"]).to_dict()
    assert run["status"] == "cancelled" and run["required_action"] is None
    assert run["tools"][0]["function"]["name"] == "get_weather"
    assert server.server_errors == []


@pytest.mark.parametrize("stream", [True, False])
def test_the_next_run_after_a_requires_action_one_completes(server, stream):
    server.faults.script(["requires_action", "ok"], route="create")
    df = threadrun.run("user: hi", model="gpt-4o", repeat=2, concurrency=1, base_url=server.url,
                       stream=stream, log=False, progress=False)
    assert sorted(df["status"]) == ["completed", "requires_action"]
    assert server.counts[CANCEL] == 1
