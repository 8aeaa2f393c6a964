"""Issue 11 point 11, the rest: ``{os.environ[KEY]}`` and a variable holding a key are refused
before sending; a key that a cell types out or a server echoes is scrubbed from rows and the log.

Each test fails on the commit before this one: the placeholder filled the key in, and the run
log stored it in the body, the run object and the reply.
"""
from __future__ import annotations

import os
import sqlite3

import pytest

import threadrun
from helpers import error_of
from threadrun.grid.thread import parse

KEY = "sk-proj-KEEPTHISOUT-0123456789abcdef"
CREATE = "POST /threads/runs"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    return KEY


@pytest.mark.parametrize("cell", [
    "user: {os.environ[OPENAI_API_KEY]}",
    "user: {x:{os.environ[OPENAI_API_KEY]}}",
    "user: {os.environ.get}",
    "user: {env[OPENAI_API_KEY]}",
    "user: {sys.modules}",
])
def test_placeholders_cannot_reach_into_modules_or_the_environment(key, cell):
    import sys
    error = error_of(parse, cell, {"os": os, "sys": sys, "env": os.environ, "x": 1.5})
    assert "reaches into" in str(error) and "assign the value to one first" in str(error)
    assert KEY not in str(error)


@pytest.mark.parametrize("cell", ["user: {k}", "user: say {k!r:>60} now", "user: {d[token]}",
                                  "user: {w:{k}}"])
def test_a_variable_holding_a_key_is_refused_naming_the_variable_not_the_key(key, cell):
    error = error_of(parse, cell, {"k": KEY, "d": {"token": f"Bearer {KEY}"}, "w": "x"})
    assert KEY not in str(error)
    assert "$OPENAI_API_KEY, a key; keys are never sent in a thread" in str(error) or \
        "cannot fill" in str(error)


def test_a_refused_key_placeholder_sends_nothing(ip, server, key):
    ip.user_ns["k"] = KEY
    server.reset_counts()
    result = ip.run_cell("%%threadrun\nuser: {k}")
    assert "keys are never sent in a thread" in str(result.error_in_exec)
    assert server.counts.get(CREATE, 0) == 0


def test_ordinary_values_still_fill_in(key):
    thread = parse("user: {name} costs {price:.2f} at {d[shop]}", {"name": "tea", "price": 2,
                                                                    "d": {"shop": "Kim's"}})
    assert thread.messages[0].content == "tea costs 2.00 at Kim's"


def test_a_key_typed_into_a_cell_is_not_stored_nor_in_the_frame(server, isolated, monkeypatch):
    """The echo engine repeats the thread; the row, the log file and log() carry no key.

    (A variable named like a secret, not OPENAI_API_KEY: that one would pick the openai
    provider, which this machine cannot reach.)
    """
    monkeypatch.setenv("SEARCH_SERVICE_TOKEN", KEY)
    path = isolated / "runs.sqlite"
    df = threadrun.run(f"user: my key is {KEY}, repeat it", base_url=server.url, log=str(path),
                       progress=False, interpolate=False)
    assert df["status"].tolist() == ["completed"]
    assert KEY not in df.to_csv() and KEY not in repr(df)
    assert KEY.encode() not in b"".join(p.read_bytes() for p in isolated.glob("runs.sqlite*"))
    with sqlite3.connect(path) as db:
        stored = db.execute("SELECT body_json, run_json FROM runs").fetchone()
    assert all(KEY not in (column or "") for column in stored) and "***" in stored[0]
    assert KEY not in threadrun.log(path=path).to_csv()


def test_a_redirect_never_picks_up_netrc_credentials(tmp_path, monkeypatch):
    """Issue 11 point 12, the rest: requests' own rebuild_auth reads ~/.netrc on every redirect
    when trust_env is on (it is, for proxies and CA bundles, on any non-loopback host)."""
    import requests
    from threadrun.client import Client
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.example.org login user password hunter2hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client = Client("https://api.example.org/v1", api_key="")
    assert client.session.trust_env  # proxies and CA bundles still come from the environment
    first = requests.Request("GET", "https://api.example.org/v1/a").prepare()
    answer = requests.Response()
    answer.request, answer.status_code = first, 302
    follow = requests.Request("GET", "https://api.example.org/v1/b").prepare()
    client.session.rebuild_auth(follow, answer)
    assert "Authorization" not in follow.headers
    # ...while the plain requests Session would have sent Basic auth from the file
    plain = requests.Session()
    again = requests.Request("GET", "https://api.example.org/v1/b").prepare()
    plain.rebuild_auth(again, answer)
    assert again.headers.get("Authorization", "").startswith("Basic ")
    client.close()


@pytest.mark.parametrize("cell", ["user: {k:.30}", "user: " + "".join(f"{{k[{i}]}}" for i in range(12)),
                                  "user: my key ends {k[20:]}" if False else "user: {tail}"])
def test_a_placeholder_holding_part_of_a_key_is_refused_whatever_the_keys_variable_is_named(
        cell, isolated, monkeypatch):
    """Issue 21 point 4: {k:.30} and {k[0]}{k[1]}... sent most of a key; a provider key whose
    variable is not named like a secret was substituted in full."""
    import threadrun
    from threadrun.errors import ValidationError
    key = "probe-cred-0123456789abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("PROBE_LLM_CRED", key)  # not named like a secret
    home = isolated / "threadrun-home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "providers.toml").write_text(
        '[providers.probe]\nbase_url = "http://127.0.0.1:9/v1"\nkey_env = "PROBE_LLM_CRED"\n')
    with pytest.raises(ValidationError, match=r"\$PROBE_LLM_CRED, a key") as info:
        threadrun.dry_run(cell, model="echo:m", namespace={"k": key, "tail": key[20:]})
    assert key[:8] not in str(info.value)
