"""Issue 11, point 1 (and 14's cap): SSE parsing gives the same events whatever the chunking.

Every stream here is cut at every byte position (and byte by byte); the events must not change.
"""
from __future__ import annotations

import json
from typing import Iterator

import pytest

from threadrun.client import runs as client_module
from threadrun.http.sse import EventTooLarge, iter_events, iter_lines

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


# -- issue 15, point 3: iter_sse on hand-built byte streams ---------------------------------------
# Planted bugs these catch: the parser keeping only the last of several ``data:`` lines of an
# event, and ``[DONE]`` passed to json.loads (a ValueError that breaks off the stream).


class FakeRaw:
    """What ``sse.response_chunks`` reads first: urllib3's ``raw.read1``, the given chunks in turn."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = [c for c in chunks if c]  # read1 returns b"" only at the end

    def read1(self, size: int = -1, decode_content: bool = True) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class FakeRead1Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.raw = FakeRaw(chunks)


def sse_of(chunks: list[bytes], read1: bool) -> list:
    response = FakeRead1Response(chunks) if read1 else FakeResponse(chunks)
    return list(client_module.iter_sse(response))


@pytest.mark.parametrize("read1", [False, True], ids=["iter_content", "read1"])
@pytest.mark.parametrize("name", ENDINGS)
def test_iter_sse_gives_done_as_text_in_each_form_it_comes(name, read1):
    """Planted bug: ``[DONE]`` passed to json.loads. It comes as the Assistants ``done`` event,
    as chat completions' bare ``data: [DONE]`` (event ``message``), and as the last line of a
    stream without its blank line; each is given back as the text ``[DONE]``."""
    ending = ENDINGS[name]
    data = stream("event: thread.run.completed", 'data: {"status": "completed"}', "",
                  "event: done", "data: [DONE]", "", "data: [DONE]", "", ending=ending) \
        + b"data: [DONE]"
    expected = [("thread.run.completed", {"status": "completed"}), ("done", "[DONE]"),
                ("message", "[DONE]"), ("message", "[DONE]")]
    for chunks in splits(data):
        assert sse_of(chunks, read1) == expected, chunks


def test_the_done_marker_stays_text_and_json_that_resembles_it_is_parsed():
    """Planted bug: ``[DONE]`` passed to json.loads; and the opposite mistake, JSON data that
    merely resembles the marker left as text."""
    assert sse_of([b"data: [DONE]\n\n"], False) == [("message", "[DONE]")]
    assert sse_of([b'data: ["DONE"]\n\n'], False) == [("message", ["DONE"])]
    assert sse_of([b'data: "[DONE]"\n\n'], False) == [("message", "[DONE]")]


@pytest.mark.parametrize("read1", [False, True], ids=["iter_content", "read1"])
@pytest.mark.parametrize("name", ENDINGS)
def test_iter_sse_joins_a_json_document_spread_over_many_data_lines(name, read1):
    """Planted bug: only the last ``data:`` line of an event kept. The run object is written
    pretty-printed, one JSON line per ``data:`` line: no single line is JSON, only all of them
    joined with newlines are, whatever the chunking (byte by byte, cut anywhere)."""
    run = {"id": "run_1", "object": "thread.run", "status": "in_progress",
           "usage": {"prompt_tokens": 3, "completion_tokens": 2}, "metadata": {"k": "v\u00e9"}}
    lines = json.dumps(run, indent=2, ensure_ascii=False).split("\n")
    assert len(lines) > 5
    data = stream("event: thread.run.in_progress", *(f"data: {line}" for line in lines), "",
                  ending=ENDINGS[name])
    for chunks in splits(data):
        assert sse_of(chunks, read1) == [("thread.run.in_progress", run)], chunks


SPEC_CASES = {
    # name: (lines, expected events)
    "empty_data_line_in_the_middle": (["data: a", "data:", "data: b", ""], [("message", "a\n\nb")]),
    "field_without_colon_is_an_empty_value": (["data", "data: x", ""], [("message", "\nx")]),
    "comment_between_data_lines": (["data: a", ": not data", "data: b", ""], [("message", "a\nb")]),
    "id_and_retry_between_data_lines": (["data: a", "id: 7", "retry: 3000", "data: b", "",
                                         "id", "retry: soon", "data: c", ""],
                                        [("message", "a\nb"), ("message", "c")]),
    "id_and_retry_values_that_look_like_data": (['id: {"x": 1}', "retry: [DONE]", "data: 1", ""],
                                                [("message", "1")]),
    "unknown_fields_ignored": (["foo: bar", "Data: no", "data : no", "data: yes", ""],
                               [("message", "yes")]),
    "event_name_does_not_leak_into_the_next_event": (["event: a", "data: 1", "", "data: 2", ""],
                                                     [("a", "1"), ("message", "2")]),
    "only_one_space_after_the_colon_is_dropped": (["data:   three", "data:none", ""],
                                                  [("message", "  three\nnone")]),
    "last_event_with_several_data_lines_and_no_blank_line": (["event: e", "data: a", "data: b"],
                                                             [("e", "a\nb")]),
}


@pytest.mark.parametrize("name", ENDINGS)
@pytest.mark.parametrize("case", SPEC_CASES)
def test_event_stream_rules_hold_whatever_the_line_ending_and_chunking(case, name):
    """Planted bug: only the last ``data:`` line kept (most cases here have several). The rest of
    the event-stream rules: a field with no colon has an empty value, comments, ``id:``,
    ``retry:`` and unknown fields (names are case-sensitive) are skipped wherever they are, the
    event name is reset after each event."""
    lines, expected = SPEC_CASES[case]
    data = stream(*lines, ending=ENDINGS[name])
    if lines[-1]:  # no blank line at the end: drop the ending of the last line too
        data = data[:-len(ENDINGS[name])]
    assert_every_split(data, expected)


def test_mixed_line_endings_and_a_final_lone_cr_in_one_stream():
    """Planted bug: only the last ``data:`` line kept. CRLF, CR and LF mixed in one stream (as a
    proxy may rewrite some), the last line ended by a CR that is the stream's very last byte."""
    data = b"event: x\r\ndata: a\rdata: b\ndata: c\r\n\r\n" + b"data: d\ndata: e\r"
    assert_every_split(data, [("x", "a\nb\nc"), ("message", "d\ne")])


def test_multibyte_text_split_inside_a_character_is_read_whole():
    """A UTF-8 character cut between two chunks must not become two replacement characters."""
    text = "h\u00e9llo \u2713 \U0001f600"
    data = stream("data: " + text, "data: " + text, "")
    assert_every_split(data, [("message", f"{text}\n{text}")])


@pytest.mark.parametrize("name", ENDINGS)
def test_a_client_streamed_run_reads_split_data_lines_and_done_without_breaking_off(name, caplog):
    """End to end, through ``Client.run``: a stand-in server streams each event's JSON over
    several ``data:`` lines (line ending LF, CR or CRLF), with comments, ``id:``/``retry:`` and a
    closing ``[DONE]``. Planted bugs: only the last data line kept (no event is JSON: the run is
    never known and fails); ``[DONE]`` sent to json.loads (the clean stream is logged as broken
    off). The stream carries the whole run: no poll and no messages request follows it."""
    import logging

    from standin_assistants import ASSISTANT_ID, REPLY, StandIn

    from threadrun.client import Client

    caplog.set_level(logging.DEBUG, logger="threadrun")
    ending = ENDINGS[name].decode()
    with StandIn(ending=ending, split_data=True) as srv:
        assert srv.stream().count(b"data: ") > 4 * 6  # several data lines per event
        client = Client(base_url=srv.url)
        try:
            result = client.run({"assistant_id": ASSISTANT_ID, "thread": {"messages": [
                {"role": "user", "content": "hi"}]}}, stream=True)
        finally:
            client.close()
        seen = [(s.method, s.path.split("?")[0]) for s in srv.seen]
    assert result.status == "completed", result.error
    assert result.reply == REPLY and result.extra.get("reply_from_stream") is True
    assert result.run["id"] == "run_standin" and result.run["usage"]["total_tokens"] == 5
    assert seen == [("POST", "/v1/threads/runs")], seen
    assert not [r for r in caplog.records if "broke off" in r.getMessage()], caplog.text
