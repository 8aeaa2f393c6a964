"""Fault injection (scripted and seeded-probability), request counts and the request log."""
from __future__ import annotations

import time

import pytest
import requests

from threadrun.server import local_server
from threadrun.server.faults import Faults, parse_spec

CREATE = "POST /threads/runs"
BROKEN = (requests.ConnectionError, requests.exceptions.ChunkedEncodingError)


def test_spec_string_is_parsed():
    config = parse_spec("429=0.05, 500=0.05,503=0.02,drop=0.02,drop-after=0.02,slow=0.02,failed=0.05,"
                        "expired=0.02,seed=7,slow_s=0.5,retry_after=0.1,route=create")
    assert config.probs["429"] == 0.05 and config.probs["failed"] == 0.05
    assert (config.seed, config.slow_s, config.retry_after, config.route) == (7, 0.5, 0.1, CREATE)
    assert parse_spec("script=429|500|ok").script == ["429", "500", "ok"]
    assert parse_spec(None).probs == {} and parse_spec("none").script is None


@pytest.mark.parametrize("spec,bad", [("430=0.1", "430=0.1"), ("429=2", "429=2"), ("429", "429"),
                                      ("seed=x", "seed=x"), ("script=429|boom", "boom"),
                                      ("slow_s=-1", "slow_s=-1"), ("color=red", "color=red"),
                                      ("incomplete_reason=tired", "incomplete_reason=tired")])
def test_bad_spec_raises_one_line_value_error_naming_the_item(spec, bad):
    with pytest.raises(ValueError) as info:
        parse_spec(spec)
    assert bad in str(info.value) and "\n" not in str(info.value)


def test_probabilities_over_one_are_refused():
    with pytest.raises(ValueError, match="add up"):
        parse_spec("429=0.6,500=0.6")
    with pytest.raises(ValueError, match="bad fault"):
        local_server(fault="nope=1")


def test_scripted_429_has_retry_headers_then_requests_succeed(make_api):
    with local_server(fault="retry_after=0.25") as server:
        api = make_api(server)
        assistant = api.assistant()
        server.faults.script(["429", "ok", "429"], route=CREATE)
        body = api.run_body(assistant["id"])
        codes, limited = [], None
        for _ in range(4):
            response = api.post("/threads/runs", body)
            codes.append(response.status_code)
            if response.status_code == 429 and limited is None:
                limited = response
        assert codes == [429, 200, 429, 200]
        assert limited.headers["retry-after"] == "1" and limited.headers["retry-after-ms"] == "250"
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert server.runs_created == 2 and server.counts[CREATE] == 4


@pytest.mark.parametrize("kind", ["500", "502", "503"])
def test_scripted_server_errors_answer_their_status(api, srv, kind):
    srv.faults.script([kind])
    response = api.get("/assistants/asst_x")
    assert response.status_code == int(kind)
    assert response.json()["error"]["type"] == "server_error"
    assert ("retry-after" in response.headers) == (kind == "503")
    assert api.get("/assistants/asst_x").status_code == 404


def test_drop_closes_without_answer_and_creates_nothing(api, srv):
    assistant = api.assistant()
    srv.faults.script(["drop"], route="create")
    with pytest.raises(requests.ConnectionError):
        api.post("/threads/runs", api.run_body(assistant["id"]))
    assert srv.runs_created == 0 and srv.counts[CREATE] == 1
    assert api.post("/threads/runs", api.run_body(assistant["id"])).status_code == 200


def test_drop_after_creates_the_run_but_closes_without_answer(api, srv):
    assistant = api.assistant()
    srv.faults.script(["drop-after"], route="create")
    with pytest.raises(requests.ConnectionError):
        api.post("/threads/runs", api.run_body(assistant["id"]))
    assert srv.runs_created == 1 and len(srv.app.store.runs) == 1


def test_drop_mid_sends_a_truncated_json_answer(api, srv):
    assistant = api.assistant()
    srv.faults.script(["drop-mid"], route="create")
    with pytest.raises(BROKEN):
        api.post("/threads/runs", api.run_body(assistant["id"])).json()
    assert srv.runs_created == 1


def test_drop_mid_cuts_a_stream_after_a_few_events(api, srv):
    assistant = api.assistant()
    srv.faults.script(["drop-mid"], route="create")
    lines = []
    with api.session.post(srv.url + "/threads/runs", stream=True,
                          json={**api.run_body(assistant["id"]), "stream": True}) as response:
        with pytest.raises(BROKEN):
            for line in response.iter_lines(decode_unicode=True):
                lines += [line] if line.startswith("event:") else []
    assert lines == ["event: thread.created", "event: thread.run.created", "event: thread.run.queued"]


def test_slow_delays_the_answer_by_slow_s(make_api):
    # a long slow_s keeps the slowed and the normal request far apart even on a loaded machine
    with local_server(fault="slow_s=2") as server:
        api = make_api(server)
        server.faults.script(["slow"])
        start = time.monotonic()
        assert api.get("/assistants/asst_x").status_code == 404
        assert time.monotonic() - start >= 2.0
        start = time.monotonic()
        assert api.get("/assistants/asst_x").status_code == 404
        assert time.monotonic() - start < 1.0  # the script is used up: no delay this time


@pytest.mark.parametrize("item,status,detail", [
    ("failed", "failed", {"code": "server_error"}),
    ("expired", "expired", None),
    ("incomplete", "incomplete", {"reason": "max_completion_tokens"}),
    ("incomplete:max_prompt_tokens", "incomplete", {"reason": "max_prompt_tokens"}),
])
def test_scripted_run_outcomes(api, srv, item, status, detail):
    assistant = api.assistant()
    srv.faults.script([item, "ok"], route="create")
    run = api.wait(api.create_run(assistant["id"]))
    assert run["status"] == status
    if status == "failed":
        assert run["last_error"]["code"] == "server_error" and run["last_error"]["message"]
        assert run["failed_at"] is not None
    if status == "incomplete":
        assert run["incomplete_details"] == detail
    assert api.wait(api.create_run(assistant["id"]))["status"] == "completed"


def test_script_run_items_wait_for_a_created_run(api, srv):
    assistant = api.assistant()
    srv.faults.script(["failed"])
    assert api.get("/assistants/asst_x").status_code == 404
    assert api.wait(api.create_run(assistant["id"]))["status"] == "failed"


def test_script_from_spec_string_with_route(make_api):
    with local_server(fault="script=429|500|ok,route=create") as server:
        api = make_api(server)
        assistant = api.assistant()
        body = api.run_body(assistant["id"])
        assert [api.post("/threads/runs", body).status_code for _ in range(4)] == [429, 500, 200, 200]


def outcomes(seed: int, n: int = 40) -> list[str]:
    """Status codes / run endings of ``n`` create requests under a seeded fault mix."""
    spec = f"429=0.2,500=0.1,503=0.1,failed=0.2,expired=0.1,seed={seed},route=create,retry_after=0"
    with local_server(fault=spec) as server, requests.Session() as session:
        assistant = session.post(server.url + "/assistants", json={"model": "m"}).json()
        results = []
        for _ in range(n):
            answer = session.post(server.url + "/threads/runs", json={"assistant_id": assistant["id"]})
            if answer.status_code != 200:
                results.append(str(answer.status_code))
                continue
            run = answer.json()
            results.append(session.get(f"{server.url}/threads/{run['thread_id']}/runs/{run['id']}").json()["status"])
        return results


def test_seeded_probability_faults_are_reproducible():
    first, second, other = outcomes(7), outcomes(7), outcomes(8)
    assert first == second and first != other
    assert {"429", "500", "503", "failed", "expired", "completed"} <= set(first + other)


def test_probability_faults_restricted_to_a_route_spare_the_others(make_api):
    with local_server(fault="500=1,route=create") as server:
        api = make_api(server)
        assistant = api.assistant()
        assert api.post("/threads/runs", api.run_body(assistant["id"])).status_code == 500
        assert api.get(f"/assistants/{assistant['id']}").status_code == 200


def test_set_fault_replaces_and_clears_faults(api, srv):
    srv.set_fault("500=1")
    assert api.get("/assistants/asst_x").status_code == 500
    srv.set_fault(None)
    assert api.get("/assistants/asst_x").status_code == 404
    with pytest.raises(ValueError):
        srv.set_fault("500=x")


def test_faults_object_draws_deterministically_per_request_order():
    a, b = Faults("429=0.5,seed=3"), Faults("429=0.5,seed=3")
    draws = [(a.on_request(CREATE).http, b.on_request(CREATE).http) for _ in range(50)]
    assert all(x == y for x, y in draws) and {x for x, _ in draws} == {"429", None}


def test_counts_runs_created_and_request_records(api, srv):
    assistant = api.assistant()
    run = api.create_run(assistant["id"])
    api.get(api.run_path(run))
    api.get(api.run_path(run))
    api.post(api.run_path(run) + "/cancel")
    api.get(f"/threads/{run['thread_id']}/messages?order=asc")
    api.get(f"/threads/{run['thread_id']}")
    api.get(f"/assistants/{assistant['id']}")
    api.get("/unknown")
    assert srv.counts == {"POST /assistants": 1, CREATE: 1, "GET /threads/{thread_id}/runs/{run_id}": 2,
                          "POST /threads/{thread_id}/runs/{run_id}/cancel": 1,
                          "GET /threads/{thread_id}/messages": 1, "GET /threads/{thread_id}": 1,
                          "GET /assistants/{assistant_id}": 1, "unknown": 1}
    assert srv.runs_created == 1
    record = [r for r in srv.requests if r.route == CREATE][0]
    assert record.method == "POST" and record.path == "/v1/threads/runs"
    assert record.body["assistant_id"] == assistant["id"]
    assert record.headers["content-type"] == "application/json"
    times = [r.time for r in srv.requests]
    assert times == sorted(times)
    assert [r for r in srv.requests if r.route.endswith("messages")][0].path.endswith("?order=asc")
    srv.reset_counts()
    assert srv.counts == {} and srv.requests == [] and srv.runs_created == 0


def test_faulted_requests_are_counted_too(api, srv):
    srv.faults.script(["429", "drop"])
    api.get("/assistants/asst_x")
    with pytest.raises(requests.ConnectionError):
        api.get("/assistants/asst_x")
    assert srv.counts["GET /assistants/{assistant_id}"] == 2
