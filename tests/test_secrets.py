"""The API key never shows: not in rows, output, logs, reprs, errors or files."""
from __future__ import annotations

import logging

import threadrun
from threadrun.client import Client
from threadrun.errors import APIError, ValidationError

FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # the same as conftest's keyed_server


def _files_text(root) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_key_appears_nowhere_across_success_failure_retry_and_dry_run(
        ip, keyed_server, monkeypatch, capsys, caplog, isolated):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY)
    monkeypatch.setenv("THREADRUN_BASE_URL", keyed_server.url)
    seen: list[str] = []

    ok = ip.run_cell_magic("threadrun", "-m gpt-4o-mini,gpt-4o --label s", "user: hi")
    assert (ok["status"] == "completed").all()
    seen += [ok.to_string(), ok.to_json(date_format="iso"), repr(ok.to_dict())]

    keyed_server.set_fault("retry_after=0.01")
    keyed_server.faults.script(["429", "500", "ok"], route="create")
    # --fresh: the same request as above would come from the run log (issue 23 point 4)
    retried = ip.run_cell_magic("threadrun", "-m gpt-4o --max-retries 2 --fresh", "user: hi")
    assert retried.loc[0, "status"] == "completed"
    seen.append(retried.to_string())

    keyed_server.faults.script(["failed"], route="create")
    failed = ip.run_cell_magic("threadrun", "-m gpt-4o --fresh", "user: hi")
    assert failed.loc[0, "status"] == "failed"
    seen.append(failed.to_string())

    dry = ip.run_cell_magic("threadrun", "--dry-run -m gpt-4o", "user: hi")
    seen.append(repr(dry))

    ip.run_cell("%%threadrun --temperature 9\nuser: hi")  # a usage error

    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY + "-wrong")
    denied = ip.run_cell_magic("threadrun", "--assistant asst_x", "user: hi")
    assert denied.loc[0, "status"] == "error" and "401" in denied.loc[0, "error"]
    seen.append(denied.to_string())

    client = Client(keyed_server.url, FAKE_KEY)
    seen.append(repr(client))
    try:
        client.get_assistant("asst_missing")
    except APIError as exc:
        seen += [str(exc), repr(exc)]
    try:
        Client(keyed_server.url, FAKE_KEY + "x").get_assistant("asst_missing")
    except APIError as exc:
        assert exc.status == 401
        seen += [str(exc), repr(exc)]

    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY)
    form = threadrun.form(base_url=keyed_server.url, models=["gpt-4o"],
                          messages=[{"role": "user", "content": "hi"}])
    form_rows = form.run(wait=True)
    assert (form_rows["status"] == "completed").all()
    seen += [repr(form), form.results.to_string(), form.cell_text()]
    try:
        form.value = {"temperature": "7"}
    except ValidationError as exc:
        seen.append(str(exc))
    fig = threadrun.plot(ok, x="temperature", y="total_tokens", by="model")
    seen.append(str(fig.axes[0].get_legend_handles_labels()))

    logged = threadrun.log()
    assert len(logged) >= 5
    seen += [logged.to_string(), threadrun.compare(logged, completed_only=False).to_string(),
             ip.run_line_magic("threadrun", "log").to_string()]
    out = capsys.readouterr()
    seen += [out.out, out.err, caplog.text, _files_text(isolated)]
    blob = "\n".join(seen)
    assert "asst_" in blob  # we did look at real output
    assert FAKE_KEY not in blob
    assert FAKE_KEY[-12:] not in blob


def test_key_is_sent_as_a_bearer_token(keyed_server, monkeypatch):
    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY)
    df = threadrun.run("user: hi", base_url=keyed_server.url, progress=False)
    assert df.loc[0, "status"] == "completed"
    headers = [r.headers for r in keyed_server.requests]
    assert all(h.get("authorization") == f"Bearer {FAKE_KEY}" for h in headers)
    assert all(h.get("openai-beta") == "assistants=v2" for h in headers)
    assert all(h.get("user-agent", "").startswith("threadrun/") for h in headers)


def test_api_key_env_names_the_variable_holding_the_key(ip, keyed_server, monkeypatch):
    monkeypatch.setenv("MY_TEAM_KEY", FAKE_KEY)
    df = ip.run_cell_magic("threadrun", f"--base-url {keyed_server.url} --api-key-env MY_TEAM_KEY",
                           "user: hi")
    assert df.loc[0, "status"] == "completed"


def test_api_key_env_naming_an_unset_variable_is_a_usage_error_before_any_request(ip, keyed_server, capsys):
    keyed_server.reset_counts()
    result = ip.run_cell(f"%%threadrun --base-url {keyed_server.url} --api-key-env NOT_SET_ANYWHERE\nuser: hi")
    err = capsys.readouterr().err.strip()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert err == "UsageError: --api-key-env names $NOT_SET_ANYWHERE, which is not set"
    assert sum(keyed_server.counts.values()) == 0


def test_a_key_written_in_code_warns_in_one_line_without_showing_it(keyed_server, capsys, recwarn):
    df = threadrun.run("user: hi", base_url=keyed_server.url, api_key=FAKE_KEY, progress=False,
                       log=False)
    assert df.loc[0, "status"] == "completed"
    err = capsys.readouterr().err
    assert "threadrun: api_key= puts the key in your code" in err and FAKE_KEY not in err
    assert not recwarn.list  # the notice channel, not a Python warning with a file path


def test_key_over_plain_http_to_another_host_warns_once(capsys, recwarn):
    from threadrun.client import endpoints as client_module
    client_module._warned_hosts.clear()
    Client("http://models.example.internal/v1", FAKE_KEY)
    Client("http://models.example.internal/v1", FAKE_KEY)
    Client("https://api.example.com/v1", FAKE_KEY)
    Client("http://127.0.0.1:9/v1", FAKE_KEY)
    Client("http://other.example.internal/v1", "")  # no key, nothing to leak
    messages = [line for line in capsys.readouterr().err.splitlines() if "plain http" in line]
    assert messages == ["threadrun: the API key goes over plain http to models.example.internal; "
                        "use https for anything but this machine"]
    assert not recwarn.list


def test_a_key_with_a_stray_newline_is_stripped_and_works(keyed_server, monkeypatch):
    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY + "\n")
    df = threadrun.run("user: hi", base_url=keyed_server.url, progress=False, log=False)
    assert df.loc[0, "status"] == "completed"


def test_a_key_that_cannot_be_a_header_is_refused_in_one_line_without_showing_it(ip, keyed_server,
                                                                               monkeypatch, capsys):
    monkeypatch.setenv("THREADRUN_API_KEY", FAKE_KEY[:10] + " " + FAKE_KEY[10:])
    keyed_server.reset_counts()
    result = ip.run_cell(f"%%threadrun --base-url {keyed_server.url}\nuser: hi")
    err = capsys.readouterr().err.strip()
    assert type(result.error_in_exec).__name__ == "UsageError" and "\n" not in err
    assert "API key contains spaces" in err
    assert FAKE_KEY[:10] not in err and FAKE_KEY[10:] not in err
    assert sum(keyed_server.counts.values()) == 0
