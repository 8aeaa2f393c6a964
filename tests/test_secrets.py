"""The API key never shows: not in rows, output, logs, reprs, errors or files."""
from __future__ import annotations

import logging

import threadrun
from threadrun.client import Client
from threadrun.errors import APIError

FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # the same as conftest's keyed_server


def _files_text(root) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob("*") if p.is_file())


def test_key_appears_nowhere_across_success_failure_retry_and_dry_run(
        ip, keyed_server, monkeypatch, capsys, caplog, isolated):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", keyed_server.url)
    seen: list[str] = []

    ok = ip.run_cell_magic("threadrun", "-m gpt-4o-mini,gpt-4o --label s", "user: hi")
    assert (ok["status"] == "completed").all()
    seen += [ok.to_string(), ok.to_json(date_format="iso"), repr(ok.to_dict())]

    keyed_server.set_fault("retry_after=0.01")
    keyed_server.faults.script(["429", "500", "ok"], route="create")
    retried = ip.run_cell_magic("threadrun", "-m gpt-4o --max-retries 2", "user: hi")
    assert retried.loc[0, "status"] == "completed"
    seen.append(retried.to_string())

    keyed_server.faults.script(["failed"], route="create")
    failed = ip.run_cell_magic("threadrun", "-m gpt-4o", "user: hi")
    assert failed.loc[0, "status"] == "failed"
    seen.append(failed.to_string())

    dry = ip.run_cell_magic("threadrun", "--dry-run -m gpt-4o", "user: hi")
    seen.append(repr(dry))

    ip.run_cell("%%threadrun --temperature 9\nuser: hi")  # a usage error

    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY + "-wrong")
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

    out = capsys.readouterr()
    seen += [out.out, out.err, caplog.text, _files_text(isolated)]
    blob = "\n".join(seen)
    assert "asst_" in blob  # we did look at real output
    assert FAKE_KEY not in blob
    assert FAKE_KEY[-12:] not in blob


def test_key_is_sent_as_a_bearer_token(keyed_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    df = threadrun.run("user: hi", base_url=keyed_server.url, progress=False)
    assert df.loc[0, "status"] == "completed"
    headers = [r.headers for r in keyed_server.requests]
    assert all(h.get("authorization") == f"Bearer {FAKE_KEY}" for h in headers)
    assert all(h.get("openai-beta") == "assistants=v2" for h in headers)
    assert all(h.get("user-agent", "").startswith("threadrun/") for h in headers)
