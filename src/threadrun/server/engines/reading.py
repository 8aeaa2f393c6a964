"""Reading an upstream answer with caps: bytes as they arrive, decoded here, never past a cap.

Every upstream answer (streamed or not) is read as a stream of raw bytes and decoded here, not
by urllib3: a gzip or deflate body is inflated at most ``INFLATE_STEP`` bytes at a time, so a
509 KB gzip bomb costs no more memory than its cap allows. Past ``MAX_READ_BYTES`` decoded
bytes, or ``MAX_REPLY_CHARS`` of reply text and tool arguments, the call fails in one line
naming the cap (the run's row is ``failed``, never a 512 MB reply).
"""
from __future__ import annotations

import zlib
from typing import Any, Iterator

from . import EngineReply, UpstreamError

#: Decoded bytes one engine call reads at most (a whole answer, or a stream's events).
MAX_READ_BYTES = 32 << 20
#: Characters of reply text plus tool arguments one run keeps at most: its final event, JSON
#: escaped (up to 6 bytes a character), stays under the client's 16 MB event cap.
MAX_REPLY_CHARS = 2_000_000
#: Raw bytes read at a time, and decoded bytes inflated at a time.
READ_STEP = 16 << 10
INFLATE_STEP = 64 << 10
#: What the engines ask for: encodings decoded here, with a bound.
ACCEPT_ENCODING = "gzip, deflate"


def _decoder(name: str, encoding: str) -> Any:
    """A zlib decompressor for the answer's Content-Encoding (None: as is)."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UpstreamError(f"{name}: answered in the encoding {encoding[:30]!r}, which was not asked for")


def _inflate(decoder: Any, data: bytes) -> Iterator[bytes]:
    """Inflate ``data`` at most ``INFLATE_STEP`` bytes at a time."""
    while data:
        out = decoder.decompress(data, INFLATE_STEP)
        if out:
            yield out
        data = decoder.unconsumed_tail
        if not out and not data:
            break


def over_cap(name: str, what: str, cap: int, unit: str) -> UpstreamError:
    """The one line of a call stopped at a cap."""
    size = f"{cap >> 20} MB" if unit == "bytes" else f"{cap:,} characters"
    return UpstreamError(f"{name}: the upstream's {what} is over the runtime's {size} cap; "
                         "the rest was not read")


def body_chunks(response: Any, name: str, cap: int = MAX_READ_BYTES) -> Iterator[bytes]:
    """The answer's decoded bytes as they arrive; UpstreamError past ``cap`` decoded bytes."""
    decoder = _decoder(name, response.headers.get("content-encoding", ""))
    raw = response.raw
    total = 0
    while chunk := raw.read1(READ_STEP, decode_content=False):
        for piece in ([chunk] if decoder is None else _inflate(decoder, chunk)):
            total += len(piece)
            if total > cap:
                raise over_cap(name, "answer", cap, "bytes")
            yield piece


def read_body(response: Any, name: str, cap: int = MAX_READ_BYTES) -> bytes:
    """The whole (decoded) answer, at most ``cap`` bytes."""
    return b"".join(body_chunks(response, name, cap))


def check_reply(reply: EngineReply, name: str, cap: int = MAX_REPLY_CHARS) -> EngineReply:
    """The reply, unless its text and tool arguments are over ``cap`` characters."""
    size = len(reply.text or "") + sum(len(str(call.get("arguments") or "")) + len(str(call.get("name") or ""))
                                      for call in reply.tool_calls if isinstance(call, dict))
    if size > cap:
        raise over_cap(name, "reply (text and tool arguments)", cap, "chars")
    return reply


class CappedEmit:
    """``emit`` that fails the call once the streamed text passes ``cap`` characters."""

    def __init__(self, emit: Any, name: str, cap: int = MAX_REPLY_CHARS) -> None:
        self.emit, self.name, self.cap, self.size = emit, name, cap, 0

    def __call__(self, piece: str) -> None:
        self.size += len(piece)
        if self.size > self.cap:
            raise over_cap(self.name, "reply (text and tool arguments)", self.cap, "chars")
        self.emit(piece)
