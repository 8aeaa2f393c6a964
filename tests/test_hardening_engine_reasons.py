"""Issue 21 point 8: every upstream answer gets its real reason in the row.

A stand-in answers a streamed request with a 200 JSON error, a 200 text/html page or a whole
JSON reply, and any request with a 307 redirect; the row says what the upstream said (status,
message, Location), not "the stream ended before the reply did" or "Exceeded 0 redirects".
"""
from __future__ import annotations

import pytest

import threadrun
from standin_upstream import Recorded, StandIn

REPLY = {"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
         "choices": [{"index": 0, "finish_reason": "stop",
                      "message": {"role": "assistant", "content": "whole answer"}}]}


def run(server, isolated, monkeypatch, recorded: Recorded, stream: bool = True):
    monkeypatch.setenv("STANDIN_KEY", "sk-standin-0123456789")
    with StandIn(recorded=recorded) as standin:
        home = isolated / "threadrun-home"
        home.mkdir(parents=True, exist_ok=True)
        (home / "providers.toml").write_text(
            f'[providers.odd]\nbase_url = "{standin.url}"\napi = "chat"\nkey_env = "STANDIN_KEY"\n'
            'check_models = false\n')
        return threadrun.run("user: hi", model="odd:m", base_url=server.url, log=False,
                             progress=False, stream=stream).iloc[0]


def test_a_200_json_error_to_a_streamed_request_says_its_message(server, isolated, monkeypatch):
    """Catches: "the stream ended before the reply did" for an error answered as one JSON body."""
    row = run(server, isolated, monkeypatch, Recorded(body={"error": {"message": "model is loading"}}))
    assert row["status"] == "failed" and "model is loading" in row["error"]
    assert "stream ended" not in row["error"]


def test_an_html_page_to_a_streamed_request_says_what_it_is(server, isolated, monkeypatch):
    """Catches: a proxy's HTML page taken for an empty event stream."""
    page = Recorded(body=None, events=["<html><body><h1>502 Bad Gateway</h1></body></html>"],
                    content_type="text/html")
    row = run(server, isolated, monkeypatch, page)
    assert row["status"] == "failed" and "text/html instead of an event stream" in row["error"]
    assert "502 Bad Gateway" in row["error"] and "stream ended" not in row["error"]


def test_a_whole_json_reply_to_a_streamed_request_is_the_reply(server, isolated, monkeypatch):
    """Catches: a server that ignores ``stream`` (one JSON reply) failing the run."""
    row = run(server, isolated, monkeypatch, Recorded(body=REPLY))
    assert (row["status"], row["reply"]) == ("completed", "whole answer")


@pytest.mark.parametrize("stream", [True, False])
def test_a_redirect_says_its_status_and_location(server, isolated, monkeypatch, stream):
    """Catches: "Exceeded 0 redirects." without the status or where it pointed."""
    moved = Recorded(body={"moved": True}, status=307,
                     headers={"location": "https://new.example/v2/chat/completions"})
    row = run(server, isolated, monkeypatch, moved, stream)
    assert row["status"] == "failed" and "307" in row["error"]
    assert "https://new.example/v2/chat/completions" in row["error"]
