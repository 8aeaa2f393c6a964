"""Issue 11, secrets and input (points 11, 12, 13, 15, 16): each test fails on the code before.

11: ``{name}`` reaches only names, attributes and keys not starting with ``_``, and its errors
    never quote a value or format spec the placeholder evaluated to.
12: base URLs with userinfo, a query or a fragment are refused up front without echoing them;
    the Client never takes auth from ``~/.netrc``.
13: a lone surrogate anywhere in a body is a one-line error before sending.
15: Copy as cell escapes what IPython would expand in the magic's line.
16: a grid over 100,000 runs is a one-line error before any body is built.
"""
from __future__ import annotations

import http.server
import json
import threading
import warnings
from pathlib import Path

import pytest
from IPython.core.error import UsageError

import threadrun
from threadrun import config
from threadrun.grid import plan
from threadrun.client import Client
from threadrun.errors import ValidationError
from threadrun.grid.plan import make_plan
from threadrun.grid.thread import parse, parse_cell

from helpers import error_of

FAKE_KEY = "sk-threadrun-FAKE-KEY-0123456789abcdef"  # conftest.py's (not importable by name here)

SECRET = "sk-SECRET-should-never-show-0123456789"


# --- 11: {name} substitution ------------------------------------------------------------

class _Obj:
    _private = SECRET
    public = "ok"


def _func():
    return None


@pytest.mark.parametrize("text, namespace", [
    ("user: {f.__globals__[SECRET]}", {"f": _func}),
    ("user: {obj._private}", {"obj": _Obj()}),
    ("user: {d[_key]}", {"d": {"_key": SECRET}}),
    ("user: {_hidden}", {"_hidden": SECRET}),
    ("user: {obj.public.__class__}", {"obj": _Obj()}),
])
def test_placeholders_cannot_reach_underscore_names_attributes_or_keys(text, namespace):
    """Catches ``{f.__globals__[...]}`` walking to any module and ``{obj._private}`` being sent."""
    err = error_of(parse_cell, text, namespace)
    assert "starting with '_'" in str(err) and SECRET not in str(err)


def test_plain_names_attributes_and_indexes_still_fill():
    """Keeps the allowed forms working while the ``_`` ones are refused."""
    ns = {"obj": _Obj(), "d": {"k": "v"}, "xs": [10, 20], "n": 3.14159, "w": 6}
    thread = parse_cell("user: {obj.public} {d[k]} {xs[1]} {n:.2f} {n:{w}.1f}", ns)
    assert thread.messages[0].content == "ok v 20 3.14    3.1"


def test_a_bad_nested_format_spec_never_quotes_what_it_evaluated_to():
    """Catches ``{x:{secret}}`` quoting the resolved spec (the secret) in the error text."""
    err = error_of(parse_cell, "user: {x:{key}}", {"x": 5, "key": SECRET})
    assert SECRET not in str(err)
    # refused before the spec is used: {key} holds the key (issue 21 point 4 refuses even part of one)
    assert str(err).startswith(("line 1: cannot fill {x:{key}}: ValueError",
                                "line 1: {key} holds part of the API key, a key"))


class _Leaky:
    """Whose errors carry its secret value, as custom mappings and objects may."""

    def __getitem__(self, key):
        raise KeyError(f"{key} not in {SECRET}")

    def __getattr__(self, name):
        raise AttributeError(f"{SECRET} has no {name}")

    def __format__(self, spec):
        raise ValueError(f"cannot format {SECRET} with {spec}")


@pytest.mark.parametrize("text, typed", [
    ("user: {v[k]}", "{v[k]}"), ("user: {v.attr}", "{v.attr}"), ("user: {v:>4}", "{v:>4}")])
def test_errors_from_the_value_never_quote_the_value(text, typed):
    """Catches the exception text of a lookup or ``__format__`` (here, the secret) in the error."""
    err = error_of(parse_cell, text, {"v": _Leaky()})
    assert SECRET not in str(err) and f"cannot fill {typed}" in str(err)


# --- 12: base URLs and netrc -------------------------------------------------------------

BAD_URLS = {
    "user:pass@": ("http://alice:" + SECRET + "@127.0.0.1:9/v1", "user name or password"),
    "user@": ("http://" + SECRET + "@127.0.0.1:9/v1", "user name or password"),
    "?query": ("http://127.0.0.1:9/v1?api-key=" + SECRET, "?query"),
    "#fragment": ("http://127.0.0.1:9/v1#" + SECRET, "#fragment"),
}


@pytest.mark.parametrize("name", list(BAD_URLS))
def test_a_base_url_with_userinfo_query_or_fragment_is_refused_without_echoing_it(
        name, monkeypatch):
    """Catches ``user:pass@`` replacing the Bearer key (and being stored), and ?/# failing late."""
    url, words = BAD_URLS[name]
    for call in (lambda: config.base_url(url), lambda: Client(url, api_key=FAKE_KEY),
                 lambda: threadrun.run("hi", base_url=url)):
        err = error_of(call)
        assert words in str(err) and SECRET not in str(err) and err.param == "base_url"
    monkeypatch.setenv("THREADRUN_BASE_URL", url)
    err = error_of(config.base_url)
    assert "THREADRUN_BASE_URL" in str(err) and SECRET not in str(err)


def test_the_magic_refuses_a_base_url_with_a_password(ip, server):
    """Catches the magic sending (and storing) a base URL with a password in it."""
    url = BAD_URLS["user:pass@"][0]
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("threadrun", f"--base-url {url}", "user: hi")
    assert "user name or password" in str(info.value) and SECRET not in str(info.value)
    assert "\n" not in str(info.value) and server.counts == {}


def test_a_plain_base_url_is_kept():
    assert config.base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"
    assert config.base_url("https://api.example.com/openai/v1") == \
        "https://api.example.com/openai/v1"


class _Recorder(http.server.BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):  # noqa: N802
        self.seen.append(self.headers.get("Authorization"))
        data = json.dumps({"id": "asst_1", "object": "assistant"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def test_the_client_never_takes_basic_auth_from_netrc(tmp_path, monkeypatch):
    """Catches requests replacing the Bearer key with ~/.netrc's Basic auth for the host.

    ``127.1`` is this machine's loopback written so that the client does not recognise it as
    loopback (its environment is then trusted: proxies apply, but netrc must not).
    """
    home = tmp_path / "home"
    home.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("machine 127.0.0.1 login alice password hunter2\n"
                     "machine 127.1 login alice password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("NETRC", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    _Recorder.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plain http to a host not known as loopback
            for host in ("127.0.0.1", "127.1"):
                client = Client(f"http://{host}:{port}/v1", api_key=FAKE_KEY)
                try:
                    client.get_json("/assistants/asst_1")
                finally:
                    client.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert _Recorder.seen == [f"Bearer {FAKE_KEY}"] * 2


# --- 13: lone surrogates -----------------------------------------------------------------

@pytest.mark.parametrize("thread, where", [
    (parse_cell('{"thread": {"messages": [{"role": "user", "content": "hi \\ud800"}]}}'),
     "thread.messages[0].content"),
    (parse([{"role": "user", "content": [{"type": "text", "text": "x\udfff"}]}]),
     "thread.messages[0].content[0].text"),
    (parse_cell("user: hi {x}", {"x": "a\ud800b"}), "thread.messages[0].content"),
    (parse_cell("system: be {x}\nuser: hi", {"x": "\ud800"}), "instructions"),
    (parse({"thread": {"messages": [{"role": "user", "content": "hi"}],
                       "metadata": {"k": "\ud800"}}}), "thread.metadata.k"),
])
def test_a_lone_surrogate_is_a_one_line_error_before_sending(thread, where):
    """Catches a lone surrogate passing validation, running, and then failing to be logged."""
    err = error_of(make_plan, thread)
    assert "lone surrogate" in str(err) and err.param == where


def test_a_lone_surrogate_sends_nothing(server):
    """Catches the run being created on the server before the text turns out unloggable."""
    with pytest.raises(ValidationError, match="lone surrogate"):
        threadrun.run("user: {x}", namespace={"x": "\ud800"}, base_url=server.url, api_key="")
    assert server.counts == {}


# --- 15: Copy as cell and IPython's line expansion ---------------------------------------

@pytest.mark.parametrize("instructions", [
    "Use {x} and $HOME", "Use {x}, $HOME, $$y, {{z}}, it's $ {x!r}", "cost: $y {x:>3}"])
def test_copy_as_cell_escapes_what_ipython_would_expand(ip, instructions):
    """Catches ``{x}`` and ``$HOME`` in option values being expanded when the copied cell runs."""
    from threadrun.faces.form import show_form
    form = show_form(instructions=instructions, label="run {x} $HOME",
                     messages=[{"role": "user", "content": "hi {x} $HOME"}])
    ip.user_ns.update(x="EXPANDED", HOME="EXPANDED", y="EXPANDED")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        text = form.cell_text()
        line, cell = text.split("\n", 1)
        bodies = ip.run_cell_magic("threadrun", line[len("%%threadrun"):] + " --dry-run", cell)
        expected = form.dry_run()
    assert bodies == expected
    assert bodies[0]["instructions"] == instructions
    assert "EXPANDED" not in json.dumps(bodies)


# --- 16: the grid's size cap -------------------------------------------------------------

def test_a_grid_over_the_limit_is_refused_before_any_body_is_built(monkeypatch):
    """Catches ``repeat=3000000`` building gigabytes of bodies before anything is checked."""
    def no_build(*args, **kwargs):
        raise AssertionError("a body was built for a grid over the limit")
    thread = parse_cell("user: hi")
    monkeypatch.setattr(plan, "build_body", no_build)
    err = error_of(make_plan, thread, repeat=3_000_000)
    assert "100,000" in str(err) and "3,000,000" in str(err)
    err = error_of(make_plan, thread, models=["a", "b"], temperatures=[0, 1], repeat=25_001)
    assert "100,004 runs" in str(err)


def test_a_grid_at_the_limit_is_allowed():
    thread = parse_cell("user: hi")
    jobs = make_plan(thread, models=["a", "b"], temperatures=[0.0, 1.0], repeat=25_000)
    assert len(jobs) == plan.MAX_RUNS == 100_000


def test_the_magic_refuses_a_huge_repeat_in_one_line(ip):
    """Catches the magic building bodies for a grid over the limit."""
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("threadrun", "--repeat 3000000 --dry-run", "user: hi")
    assert "over the limit of 100,000 runs" in str(info.value) and "\n" not in str(info.value)


def test_the_readme_documents_the_grid_limit():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if line.startswith("| `--repeat/-n N`"))
    assert "100,000 runs" in row
