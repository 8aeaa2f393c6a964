"""Fixtures for the local server tests: a running server, an HTTP session and small helpers."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from typing import Any, Iterator

import pytest
import requests

from threadrun.server import LocalServer, local_server

from helpers import TERMINAL

#: ``threadrun serve`` as a subprocess of this interpreter (the code under test, not an install).
SERVE = ("import argparse, sys; from threadrun.server.cli import add_serve_arguments, serve_from_args; "
         "p = argparse.ArgumentParser(); add_serve_arguments(p); sys.exit(serve_from_args(p.parse_args()))")


def serve(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``threadrun serve --port 0 ARGS`` and the base URL it printed."""
    proc = subprocess.Popen([sys.executable, "-c", SERVE, "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    return proc, proc.stdout.readline().strip()


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, as Ctrl-C; it exits 0."""
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=10) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()


class Api:
    """Thin helpers over a requests session bound to one server."""

    def __init__(self, srv: LocalServer, session: requests.Session) -> None:
        self.srv, self.session = srv, session

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        """POST JSON to ``/v1{path}``."""
        return self.session.post(self.srv.url + path, json=body, timeout=10, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET ``/v1{path}``."""
        return self.session.get(self.srv.url + path, timeout=10, **kwargs)

    def assistant(self, **fields: Any) -> dict:
        """Create an assistant (model gpt-4o unless given) and return it."""
        response = self.post("/assistants", {"model": "gpt-4o", **fields})
        assert response.status_code == 200, response.text
        return response.json()

    def run_body(self, assistant_id: str, text: str = "Hello there", **fields: Any) -> dict:
        """A createThreadAndRun body with one user message."""
        return {"assistant_id": assistant_id,
                "thread": {"messages": [{"role": "user", "content": text}]}, **fields}

    def create_run(self, assistant_id: str | None = None, text: str = "Hello there", **fields: Any) -> dict:
        """Create a run (and an assistant when none is given); return the RunObject."""
        assistant_id = assistant_id or self.assistant()["id"]
        response = self.post("/threads/runs", self.run_body(assistant_id, text, **fields))
        assert response.status_code == 200, response.text
        return response.json()

    def run_path(self, run: dict) -> str:
        """The retrieve path of a run."""
        return f"/threads/{run['thread_id']}/runs/{run['id']}"

    def wait(self, run: dict, timeout: float = 5.0) -> dict:
        """Poll until the run is terminal; return its final RunObject."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.get(self.run_path(run)).json()
            if current["status"] in TERMINAL or time.monotonic() > deadline:
                return current
            time.sleep(0.01)

    def messages(self, thread_id: str, **query: Any) -> dict:
        """One page of the thread's messages."""
        response = self.get(f"/threads/{thread_id}/messages", params=query)
        assert response.status_code == 200, response.text
        return response.json()

    def stream(self, body: dict) -> list[tuple[str, Any]]:
        """Create a streamed run and return its parsed SSE events."""
        with self.session.post(self.srv.url + "/threads/runs", json={**body, "stream": True},
                               stream=True, timeout=10) as response:
            assert response.status_code == 200, response.text
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["transfer-encoding"] == "chunked"
            return parse_sse(response.iter_lines(decode_unicode=True))


def parse_sse(lines: Iterator[str]) -> list[tuple[str, Any]]:
    """Parse ``event:``/``data:`` lines into (event, data) pairs (data JSON-decoded if possible)."""
    events, name, data = [], None, []
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and name is not None:
            raw = "\n".join(data)
            events.append((name, raw if raw == "[DONE]" else json.loads(raw)))
            name, data = None, []
    return events


@pytest.fixture
def srv() -> Iterator[LocalServer]:
    """A server with zero latency on a free port, checked to have answered no unexpected 500."""
    with local_server() as server:
        yield server
        assert server.server_errors == []


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """A keep-alive HTTP session."""
    with requests.Session() as s:
        yield s


@pytest.fixture
def api(srv: LocalServer, session: requests.Session) -> Api:
    """Helpers bound to ``srv``."""
    return Api(srv, session)


@pytest.fixture
def make_api(session: requests.Session):
    """Build Api helpers for servers a test starts itself."""
    return lambda server: Api(server, session)
