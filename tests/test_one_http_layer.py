"""One HTTP layer for the client and the engines: one session factory, one failure reader, one
masker, one owner of retries that logs each decision, and no import cycle in the package."""
from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest
import requests

import threadrun
from threadrun.http import failures

SRC = Path(threadrun.__file__).parent


def _calls(name: str) -> list[str]:
    """Modules (relative to the package) whose code calls ``name(...)``."""
    found = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                spelled = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if spelled == name:
                    found.append(path.relative_to(SRC).as_posix())
    return sorted(set(found))


def test_sessions_are_made_in_one_place_for_the_client_and_the_engines():
    assert _calls("Session") == ["http/session.py"]
    assert _calls("make_session") == ["client/endpoints.py", "server/engines/http.py"]


@pytest.mark.parametrize("name", ["CONNECT_TIMEOUT_S", "MAX_RETRIES"])
def test_each_http_default_is_defined_once(name):
    homes = [p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py")
             if any(isinstance(n, ast.Assign) and any(getattr(t, "id", None) == name for t in n.targets)
                    for n in ast.parse(p.read_text()).body)]
    assert homes == ["config.py"]


def test_failed_requests_are_read_the_same_way_for_the_client_and_the_engines():
    refused = requests.exceptions.ConnectionError("HTTPConnectionPool: Max retries exceeded "
                                                  "(Caused by NewConnectionError: [Errno 111] Connection refused)")
    assert failures.reason(refused) == "connection refused (is the server running?)"
    assert failures.code(refused) == "connection_error"
    timeout = requests.exceptions.ReadTimeout("Read timed out. (read timeout=1)")
    assert failures.reason(timeout) == "read timed out (the server may still be running it)"
    assert failures.code(timeout) == "server_error"
    assert failures.reason(requests.exceptions.RetryError("too many 503 error responses")) == (
        "gave up after retries: too many 503 error responses")


def test_no_module_imports_another_that_imports_it_back():
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        name = ".".join(("threadrun", *path.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__")
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.parse(path.read_text()).body:  # module level: what importing it imports
            for n in node.body if isinstance(node, ast.If) else [node]:
                if isinstance(n, ast.ImportFrom) and n.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - n.level + 1]
                                    + ([n.module] if n.module else []))
                    deps |= {f"{base}.{a.name}" for a in n.names} | {base}
        graph[name] = deps
    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(d == goal or (d in graph and d not in seen and reaches(d, goal, seen | {d}))
                   for d in graph.get(start, ()))
    cycles = [m for m in graph for d in graph[m]
              if d in graph and d != m and not m.startswith(d + ".") and not d.startswith(m + ".")
              and reaches(d, m, {d})]
    assert cycles == []


def test_each_retry_decision_is_logged_without_the_key(server, caplog):
    from threadrun.client import Client
    server.set_fault("retry_after=0.01")
    client = Client(server.url, "sk-test-0123456789abcdef")
    try:
        server.faults.script(["503", "503", "ok"], route="assistants")
        with caplog.at_level(logging.INFO, logger="threadrun.http"):
            client.create_assistant("echo:m")
    finally:
        client.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "threadrun.http"]
    assert lines == ["POST /v1/assistants: retry 1 (HTTP 503)", "POST /v1/assistants: retry 2 (HTTP 503)"]
    assert all("sk-test" not in line for line in caplog.messages)


def test_a_key_is_masked_by_the_one_masker_wherever_it_appears():
    from threadrun import scrub
    assert scrub.mask("said sk-abc123 twice: sk-abc123", "sk-abc123") == "said *** twice: ***"
    assert scrub.mask("short keys stay", "ab") == "short keys stay"


def test_nothing_below_the_faces_imports_them():
    """Data flows one way: the faces call the API, never the other way round (lazy imports too)."""
    offenders = []
    for path in SRC.rglob("*.py"):
        where = path.relative_to(SRC).as_posix()
        if where.startswith("faces/") or where in ("__init__.py", "__main__.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and "faces" in (node.module or "").split("."):
                offenders.append(where)
    assert offenders == []
