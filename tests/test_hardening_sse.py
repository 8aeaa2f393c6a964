"""Issue 11, point 1 (and 14's cap): SSE parsing gives the same events whatever the chunking.

Every stream here is cut at every byte position (and byte by byte); the events must not change.
"""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from threadrun import client as client_module
from threadrun.sse import EventTooLarge, iter_events, iter_lines

ENDINGS = {"LF": b"\n", "CR": b"\r", "CRLF": b"\r\n"}


def splits(data: bytes) -> Iterator[list[bytes]]:
    """``data`` whole, byte by byte, and cut in two at every position (empty chunks included)."""
    yield [data]
    yield [data[i:i + 1] for i in range(len(data))]
    for i in range(len(data) + 1):
        yield [data[:i], b"", data[i:]]


def stream(*lines: str, ending: bytes = b"\n") -> bytes:
    """Lines joined and ended with ``ending``."""
    return b"".join(line.encode() + ending for line in lines)


def events_of(chunks: list[bytes]) -> list[tuple[str, str]]:
    return list(iter_events(iter(chunks)))


def assert_every_split(data: bytes, expected: list[tuple[str, str]]) -> None:
    for chunks in splits(data):
        assert events_of(chunks) == expected, chunks


class FakeResponse:
    """What ``client.iter_sse`` reads: ``iter_content`` yielding the given chunks."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def iter_content(self, chunk_size: int | None = None) -> Iterator[bytes]:
        return iter(self.chunks)


@pytest.mark.parametrize("name", ENDINGS)
def test_multi_line_data_is_joined_with_newlines_whatever_the_line_ending_and_chunking(name):
    """Catches: data lines of one event concatenated or split into several events."""
    data = stream("event: thread.message.delta", "data: first", "data:second", "data:  third", "",
                  ending=ENDINGS[name])
    assert_every_split(data, [("thread.message.delta", "first\nsecond\n third")])


@pytest.mark.parametrize("name", ENDINGS)
def test_comments_id_and_retry_lines_are_ignored(name):
    """Catches: a ``: ping`` comment, ``id:`` or ``retry:`` read as data or as the end of an event."""
    data = stream(": keep-alive", "", "id: 41", "retry: 1000", "event: thread.run.created",
                  ": a comment inside an event", "data: {\"id\": \"run_1\"}", "id: 42", "",
                  ": ping", ": ping", "", ending=ENDINGS[name])
    assert_every_split(data, [("thread.run.created", '{"id": "run_1"}')])


def test_a_crlf_whose_cr_and_lf_arrive_in_different_chunks_is_one_line_ending():
    """Catches: ``\\r`` ending one chunk and ``\\n`` starting the next read as an empty line,
    which ends the event early and loses its name (the bug that orphaned runs)."""
    data = stream("event: thread.run.created", "data: {\"a\": 1}", "", "event: done", "data: [DONE]",
                  "", ending=b"\r\n")
    expected = [("thread.run.created", '{"a": 1}'), ("done", "[DONE]")]
    cuts = [i + 1 for i in range(len(data)) if data[i:i + 2] == b"\r\n"]
    assert cuts, "the stream has CRLF endings to cut"
    for cut in cuts:
        assert events_of([data[:cut], data[cut:]]) == expected
    assert events_of([data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]) == expected
    assert_every_split(data, expected)


def test_lines_end_in_cr_lf_or_crlf_and_an_empty_line_after_a_lone_cr_counts():
    """Catches: a lone CR not ending a line, or a CR then LF swallowing a real empty line."""
    data = b"a\rb\nc\r\nd\r\r\ne\n\rf"
    for chunks in splits(data):
        assert list(iter_lines(iter(chunks))) == [b"a", b"b", b"c", b"d", b"", b"e", b"", b"f"], chunks


@pytest.mark.parametrize("name", ENDINGS)
def test_the_last_event_counts_without_its_blank_line(name):
    """Catches: a stream that ends without the final blank line dropping its last event."""
    ending = ENDINGS[name]
    for data in (stream("event: thread.run.completed", "data: {}", ending=ending),
                 b"event: thread.run.completed" + ending + b"data: {}"):
        assert_every_split(data, [("thread.run.completed", "{}")])


def test_events_without_data_or_with_one_empty_data_line_are_not_dispatched():
    """Catches: ``data:`` alone dispatched as an empty event, which json.loads then chokes on."""
    data = stream("event: ping", "", "data:", "", "event: x", "data: 1", "")
    assert_every_split(data, [("x", "1")])


@pytest.mark.parametrize("name", ENDINGS)
def test_client_iter_sse_parses_json_and_never_sends_done_to_json_loads(name, monkeypatch):
    """Catches: ``[DONE]`` given to json.loads (a ValueError that would break off the stream)."""
    data = stream("event: thread.run.created", 'data: {"id": "run_1",', 'data:  "status": "queued"}',
                  "", "event: done", "data: [DONE]", "", ending=ENDINGS[name])
    loads = json.loads
    seen: list[str] = []

    def recording_loads(text: str, *args, **kwargs):
        seen.append(text)
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", recording_loads)
    for chunks in splits(data):
        events = list(client_module.iter_sse(FakeResponse(chunks)))
        assert events == [("thread.run.created", {"id": "run_1", "status": "queued"}),
                          ("done", "[DONE]")], chunks
    assert "[DONE]" not in seen and seen


def test_a_line_longer_than_the_limit_is_refused_before_it_is_kept_whole():
    """Catches: a line with no newline buffered without limit (memory grows with the stream)."""
    limit = 1000
    pieces = (b"x" * 100 for _ in range(10_000))  # 1 MB with no line ending
    consumed = 0

    def counting() -> Iterator[bytes]:
        nonlocal consumed
        for piece in pieces:
            consumed += 1
            yield piece

    with pytest.raises(EventTooLarge, match="longer than 1000 bytes"):
        list(iter_events(counting(), limit))
    assert consumed <= 11  # refused as soon as the line passed the limit, not at the end


def test_an_event_larger_than_the_limit_is_refused_and_smaller_ones_pass():
    """Catches: many short data lines adding up to an unbounded event."""
    line = b"data: " + b"y" * 90 + b"\n"
    assert len(events_of([line * 10 + b"\n"])[0][1]) == 10 * 90 + 9
    with pytest.raises(EventTooLarge, match="larger than 500 bytes"):
        list(iter_events(iter([line] * 10), 500))
