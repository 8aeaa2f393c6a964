"""Deterministic stand-in tokenizer: a token is a run of word characters or one punctuation mark."""
from __future__ import annotations

import re

TOKEN_RE = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str | None) -> int:
    """Number of tokens in ``text`` (``\\w+`` runs and single non-space punctuation marks)."""
    if not text:
        return 0
    return sum(1 for _ in TOKEN_RE.finditer(text))


def truncate_tokens(text: str, limit: int) -> str:
    """The prefix of ``text`` that holds exactly its first ``limit`` tokens (all of it if fewer)."""
    if limit <= 0:
        return ""
    for index, match in enumerate(TOKEN_RE.finditer(text), start=1):
        if index == limit:
            return text[:match.end()]
    return text
