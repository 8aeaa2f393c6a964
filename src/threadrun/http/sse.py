"""Server-sent events from a byte stream, whatever its chunking (stdlib only).

Lines end in CR, LF or CRLF, and a CRLF may be split across chunks; ``data:`` lines of one event
are joined with newlines; comments (``:``), ``id:`` and ``retry:`` lines are ignored. Both the
client (our server's Assistants stream) and the engines (an upstream's chat or responses stream)
read events through ``iter_events``.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, Iterator

#: The longest line or event kept; past it the stream is refused (a broken or hostile server).
MAX_EVENT_BYTES = 16 << 20
#: The most bytes read from a streamed answer at once.
READ_BYTES = 64 << 10


class EventTooLarge(ValueError):
    """A stream line or event grew past MAX_EVENT_BYTES."""


_ENDING = re.compile(rb"\r\n|\r|\n")


def iter_lines(chunks: Iterable[bytes], limit: int = MAX_EVENT_BYTES) -> Iterator[bytes]:
    """Lines (without their ending) from byte chunks; CR, LF and CRLF all end a line."""
    pending: list[bytes] = []  # the pieces of the line not yet ended
    size, skip_lf = 0, False
    for chunk in chunks:
        if not chunk:
            continue
        if skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the LF of a CRLF whose CR ended the previous chunk
        skip_lf = chunk[-1:] == b"\r"
        start = 0
        for end in _ENDING.finditer(chunk):
            size += end.start() - start
            _check(size, limit)
            pending.append(chunk[start:end.start()])
            yield b"".join(pending)
            pending, size, start = [], 0, end.end()
        if start < len(chunk):
            size += len(chunk) - start
            _check(size, limit)  # before keeping it: memory stays bounded by the limit
            pending.append(chunk[start:])
    if pending:
        yield b"".join(pending)


def _check(size: int, limit: int) -> None:
    """Refuse a line longer than ``limit`` bytes."""
    if size > limit:
        raise EventTooLarge(f"the server sent a stream line longer than {limit} bytes")


def iter_events(chunks: Iterable[bytes], limit: int = MAX_EVENT_BYTES) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs; ``event`` defaults to ``message``; a last event without its blank line counts."""
    event, size = "message", 0
    data: list[str] = []
    for raw in iter_lines(chunks, limit):
        line = raw.decode("utf-8", errors="replace")
        if not line:
            yield from _dispatch(event, data)
            event, data, size = "message", [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value or "message"
        elif name == "data":
            data.append(value)
            size += len(raw)
            if size > limit:
                raise EventTooLarge(f"the server sent a stream event larger than {limit} bytes")
    yield from _dispatch(event, data)


def _dispatch(event: str, data: list[str]) -> Iterator[tuple[str, str]]:
    """The event, unless its data is empty (no ``data:`` line, or one empty one), as the spec says."""
    text = "\n".join(data)
    if text:
        yield event, text


def iter_sse(response: Any, limit: int = MAX_EVENT_BYTES) -> Iterator[tuple[str, Any]]:
    """``(event, data)`` of a streamed ``requests`` answer; data is parsed JSON unless ``[DONE]``."""
    for event, text in iter_events(response_chunks(response), limit):
        yield event, parse_data(text)


def response_chunks(response: Any, size: int = READ_BYTES) -> Iterator[bytes]:
    """A streamed answer's bytes as they arrive, at most ``size`` at a time, chunked or not.

    ``iter_content(chunk_size=None)`` reads an answer without chunked encoding whole before
    yielding anything; urllib3's ``read1`` returns what has arrived.
    """
    read1 = getattr(getattr(response, "raw", None), "read1", None)
    if read1 is None:
        yield from response.iter_content(chunk_size=None)
        return
    while chunk := read1(size, decode_content=True):
        yield chunk


def parse_data(text: str) -> Any:
    """An event's data: ``[DONE]`` stays text, anything else is JSON (ValueError if it is not)."""
    return text if text == "[DONE]" else json.loads(text)
