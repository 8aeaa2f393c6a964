"""Keys masked by value in what the runtime answers: every loaded provider's key, whatever its
variable is named, plus what ``threadrun.scrub`` knows (variables named like secrets, the
runtime's token), in each spelling JSON gives it. An upstream that echoes a key (in its reply,
tool arguments, an error body, a stream error chunk or ``response.failed``) never gets it into a
run, a stream or a row.
"""
from __future__ import annotations

import json
from typing import Callable

from .. import scrub
from .engines import EngineReply

Secrets = dict[str, str]


def secrets() -> Secrets:
    """Every secret to mask (and its escaped spellings), longest first."""
    found = scrub.known()
    for value, holder in scrub.provider_keys().items():  # every provider's key, by value
        for spelling in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            found.setdefault(spelling, holder)
    return dict(sorted(found.items(), key=lambda item: -len(item[0])))


def mask(text: str | None, known: Secrets | None = None) -> str | None:
    """``text`` with every secret replaced by ``***``."""
    return scrub.scrub(text, secrets() if known is None else known)


def masked_reply(reply: EngineReply, known: Secrets) -> EngineReply:
    """The reply with every key masked in its text and its tool calls' names and arguments."""
    reply.text = mask(reply.text, known) or ""
    reply.tool_calls = [{**call, **{k: mask(call[k], known) for k in ("name", "arguments")
                                    if isinstance(call.get(k), str)}}
                        for call in reply.tool_calls if isinstance(call, dict)]
    return reply


class PieceMasker:
    """Masks a stream of text pieces; holds back only a tail that begins some key (a key split
    across pieces is still masked); ``flush()`` at the end gives the rest."""

    def __init__(self, emit: Callable[[str], None], known: Secrets) -> None:
        self.emit, self.known = emit, known
        self.prefixes = {s[:i] for s in known for i in range(1, len(s))}
        self.hold = max((len(s) for s in known), default=1) - 1
        self.buffer = ""

    def _held(self, text: str) -> int:
        """How many trailing characters of ``text`` could be the start of a key."""
        for size in range(min(self.hold, len(text)), 0, -1):
            if text[-size:] in self.prefixes:
                return size
        return 0

    def __call__(self, piece: str) -> None:
        text = scrub.scrub(self.buffer + piece, self.known) or ""
        cut = len(text) - self._held(text)
        self.buffer = text[cut:]
        if cut:
            self.emit(text[:cut])

    def flush(self) -> None:
        """Emit what was held back (masked)."""
        text, self.buffer = scrub.scrub(self.buffer, self.known) or "", ""
        if text:
            self.emit(text)
