"""What the official ``openai`` SDK receives, recorded under it and checked twice: by the SDK's own
pydantic models (validated, not merely constructed as the SDK does by default) and by the spec's
schemas (``spec_schema``). The program under test stays unmodified: recording patches httpx's
transport, below the SDK, for the duration of a ``with record() as seen`` block."""
from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
from openai.types.beta import Assistant, AssistantDeleted, AssistantStreamEvent, Thread, ThreadDeleted
from openai.types.beta.threads import Message, MessageDeleted, Run
from openai.types.beta.threads.runs import RunStep

import spec_schema

try:
    import httpx2 as httpx  # what the openai SDK sends with since its 3.x releases
except ImportError:  # older SDKs: httpx itself
    import httpx  # type: ignore[no-redef]

ID = r"[^/]+"
#: (method, path under /v1, SSE or JSON) -> (spec schema, SDK type, is a list page)
ANSWERS: list[tuple[str, str, str, Any, bool]] = [
    ("POST", r"/assistants", "AssistantObject", Assistant, False),
    ("GET", r"/assistants", "ListAssistantsResponse", Assistant, True),
    ("GET|POST", rf"/assistants/{ID}", "AssistantObject", Assistant, False),
    ("DELETE", rf"/assistants/{ID}", "DeleteAssistantResponse", AssistantDeleted, False),
    ("POST", r"/threads", "ThreadObject", Thread, False),
    ("GET|POST", rf"/threads/{ID}", "ThreadObject", Thread, False),
    ("DELETE", rf"/threads/{ID}", "DeleteThreadResponse", ThreadDeleted, False),
    ("POST", rf"/threads/{ID}/messages", "MessageObject", Message, False),
    ("GET", rf"/threads/{ID}/messages", "ListMessagesResponse", Message, True),
    ("GET|POST", rf"/threads/{ID}/messages/{ID}", "MessageObject", Message, False),
    ("DELETE", rf"/threads/{ID}/messages/{ID}", "DeleteMessageResponse", MessageDeleted, False),
    ("POST", rf"/threads/(runs|{ID}/runs)", "RunObject", Run, False),
    ("GET", rf"/threads/{ID}/runs", "ListRunsResponse", Run, True),
    ("GET|POST", rf"/threads/{ID}/runs/{ID}", "RunObject", Run, False),
    ("POST", rf"/threads/{ID}/runs/{ID}/(submit_tool_outputs|cancel)", "RunObject", Run, False),
    ("GET", rf"/threads/{ID}/runs/{ID}/steps", "ListRunStepsResponse", RunStep, True),
    ("GET", rf"/threads/{ID}/runs/{ID}/steps/{ID}", "RunStepObject", RunStep, False),
]
EVENTS: Any = pydantic.TypeAdapter(AssistantStreamEvent)


@dataclass
class Answer:
    """One answer the SDK read: its request line, status, content type and whole body."""
    method: str
    path: str
    status: int
    content_type: str
    body: bytes

    def events(self) -> list[tuple[str, Any]]:
        """The server-sent events of a streamed answer, data decoded as JSON where it is."""
        events, name, data = [], None, []
        for line in self.body.decode().splitlines() + [""]:
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and name is not None:
                text = "\n".join(data)
                try:
                    events.append((name, json.loads(text)))
                except ValueError:
                    events.append((name, text))
                name, data = None, []
        return events


@contextlib.contextmanager
def record() -> Iterator[list[Answer]]:
    """Record every answer httpx hands the SDK (streams as they are read) while the block runs."""
    seen: list[Answer] = []
    original = httpx.HTTPTransport.handle_request

    def handle_request(transport: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        response = original(transport, request)
        inner, chunks = response.stream, []

        class Tee(httpx.SyncByteStream):
            def __iter__(self) -> Iterator[bytes]:
                for chunk in inner:  # type: ignore[union-attr]
                    chunks.append(chunk)
                    yield chunk

            def close(self) -> None:
                inner.close()  # type: ignore[union-attr]
                seen.append(Answer(request.method, request.url.path, response.status_code,
                                   response.headers.get("content-type", ""), b"".join(chunks)))

        response.stream = Tee()
        return response

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        httpx.HTTPTransport.handle_request = original  # type: ignore[method-assign]


def kind(answer: Answer) -> tuple[str, Any, bool]:
    """(spec schema, SDK type, is a page) of an answer, by its method and path."""
    path = re.sub(r"^/v1", "", answer.path)
    for methods, pattern, schema, sdk_type, page in ANSWERS:
        if answer.method in methods.split("|") and re.fullmatch(pattern, path):
            return schema, sdk_type, page
    raise AssertionError(f"no schema known for {answer.method} {answer.path}")


def problems(answer: Answer) -> list[str]:
    """Every way an answer breaks the spec or the SDK's models; one line each."""
    if answer.status != 200:
        return [f"{answer.method} {answer.path}: status {answer.status}: {answer.body[:300]!r}"]
    where = f"{answer.method} {answer.path}"
    if answer.content_type.startswith("text/event-stream"):
        found = []
        for name, data in answer.events():
            found += [f"{where} {name}: {e}" for e in spec_schema.schema_errors(
                "AssistantStreamEvent", {"event": name, "data": data})]
            if name != "done":
                found += sdk_errors(f"{where} {name}", EVENTS, {"event": name, "data": data})
        return found
    schema, sdk_type, page = kind(answer)
    body = json.loads(answer.body)
    found = [f"{where}: {e}" for e in spec_schema.schema_errors(schema, body)]
    adapter = pydantic.TypeAdapter(sdk_type)
    for item in body["data"] if page else [body]:
        found += sdk_errors(where, adapter, item)
    return found


def sdk_errors(where: str, adapter: Any, instance: Any) -> list[str]:
    """The SDK's pydantic validation errors for ``instance`` (strict about types, extra allowed)."""
    try:
        adapter.validate_python(instance)
    except pydantic.ValidationError as error:
        return [f"{where}: SDK model: {e['loc']}: {e['msg']}" for e in error.errors()]
    return []
