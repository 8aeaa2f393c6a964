"""The runtime's routes (``METHOD /v1/...`` templates and the ``App`` endpoint each one calls)
and the answers endpoints give (``Reply``, ``StreamReply``)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from .objects import Run
from .validate import ErrorAnswer

PREFIX = "/v1"
THREAD = "/threads/{thread_id}"
RUN = THREAD + "/runs/{run_id}"
ROUTES = (
    ("POST", "/assistants", "create_assistant"),
    ("GET", "/assistants", "list_assistants"),
    ("GET", "/assistants/{assistant_id}", "get_assistant"),
    ("POST", "/assistants/{assistant_id}", "update_assistant"),
    ("DELETE", "/assistants/{assistant_id}", "delete_assistant"),
    ("POST", "/threads", "create_thread"),
    ("POST", "/threads/runs", "create_run"),
    ("POST", "/threads/runs/input_tokens", "count_input_tokens"),  # threadrun's own (counting.py)
    ("GET", THREAD, "get_thread"),
    ("POST", THREAD, "update_thread"),
    ("DELETE", THREAD, "delete_thread"),
    ("GET", THREAD + "/messages", "list_messages"),
    ("POST", THREAD + "/messages", "create_message"),
    ("GET", THREAD + "/messages/{message_id}", "get_message"),
    ("POST", THREAD + "/messages/{message_id}", "update_message"),
    ("DELETE", THREAD + "/messages/{message_id}", "delete_message"),
    ("POST", THREAD + "/runs", "create_thread_run"),
    ("GET", THREAD + "/runs", "list_runs"),
    ("GET", RUN, "get_run"),
    ("POST", RUN, "update_run"),
    ("POST", RUN + "/cancel", "cancel_run"),
    ("POST", RUN + "/submit_tool_outputs", "submit_tool_outputs"),
    ("GET", RUN + "/steps", "list_steps"),
    ("GET", RUN + "/steps/{step_id}", "get_step"),
)
COMPILED = [(method, template, name, re.compile(
    "^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")) for method, template, name in ROUTES]
#: The methods a known path answers (a 405 names them in ``Allow``).
ALLOWED = ("GET", "POST", "DELETE")


@dataclass
class Reply:
    """A JSON answer."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False


@dataclass
class StreamReply:
    """An SSE answer: ``(event, data)`` pairs produced lazily (and paced) by ``events``, which
    pauses (``stream.PAUSE``) until ``run`` changes or its clock says."""

    events: Iterator[tuple[str, Any]]
    run: Run


@dataclass
class Match:
    """A routed request: its count key, endpoint name and path parameters, or an error status."""

    route: str
    endpoint: str | None
    params: dict[str, str]
    status: int | None = None


def match_route(method: str, path: str) -> Match:
    """Route ``METHOD /v1/...``: the endpoint, or status 404 (unknown path) / 405 (wrong method)."""
    if not path.startswith(PREFIX + "/"):
        return Match("unknown", None, {}, 404)
    sub, known_path = path[len(PREFIX):], False
    literal = [route for route in COMPILED if route[1] == sub]  # /threads/runs is no thread id
    for route_method, template, name, regex in literal or COMPILED:
        found = regex.match(sub)
        if found and route_method == method:
            return Match(f"{method} {template}", name, found.groupdict())
        known_path = known_path or bool(found)
    return Match("unknown", None, {}, 405 if known_path else 404)


def route_error(match: Match) -> ErrorAnswer:
    """The 404/405 error of an unrouted request."""
    if match.status == 405:
        return ErrorAnswer(405, "Method not allowed for this URL.", None, None)
    return ErrorAnswer(404, "Invalid URL: unknown route.", None, None)
