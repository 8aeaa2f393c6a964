"""Server-sent events from a byte stream, whatever its chunking (stdlib only).

Lines end in CR, LF or CRLF, and a CRLF may be split across chunks; ``data:`` lines of one event
are joined with newlines; comments (``:``), ``id:`` and ``retry:`` lines are ignored. Both the
client (our server's Assistants stream) and the engines (an upstream's chat or responses stream)
read events through ``iter_events``.
"""
from __future__ import annotations

import json
from typing import Any, Iterable, Iterator

#: The longest line or event kept; past it the stream is refused (a broken or hostile server).
MAX_EVENT_BYTES = 16 << 20


class EventTooLarge(ValueError):
    """A stream line or event grew past MAX_EVENT_BYTES."""


def iter_lines(chunks: Iterable[bytes], limit: int = MAX_EVENT_BYTES) -> Iterator[bytes]:
    """Lines (without their ending) from byte chunks; CR, LF and CRLF all end a line."""
    buffer = b""
    pending_cr = False
    for chunk in chunks:
        if not chunk:
            continue
        if pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        pending_cr = False
        buffer += chunk
        start = 0
        while True:
            cr, lf = buffer.find(b"\r", start), buffer.find(b"\n", start)
            ends = [i for i in (cr, lf) if i >= 0]
            if not ends:
                break
            end = min(ends)
            yield buffer[start:end]
            if buffer[end:end + 1] == b"\r":
                if end + 1 == len(buffer):
                    pending_cr = True  # its LF may come in the next chunk
                elif buffer[end + 1:end + 2] == b"\n":
                    end += 1
            start = end + 1
        buffer = buffer[start:]
        if len(buffer) > limit:
            raise EventTooLarge(f"a stream line is longer than {limit} bytes")
    if buffer:
        yield buffer


def iter_events(chunks: Iterable[bytes], limit: int = MAX_EVENT_BYTES) -> Iterator[tuple[str, str]]:
    """``(event, data)`` pairs; ``event`` defaults to ``message``; a last event without its blank line counts."""
    event, data, size = "message", [], 0
    for raw in iter_lines(chunks, limit):
        line = raw.decode("utf-8", errors="replace")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data, size = "message", [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
            size += len(value)
            if size > limit:
                raise EventTooLarge(f"a stream event is larger than {limit} bytes")
    if data:
        yield event, "\n".join(data)


def parse_data(text: str) -> Any:
    """An event's data: ``[DONE]`` stays text, anything else is JSON (ValueError if it is not)."""
    return text if text == "[DONE]" else json.loads(text)
