"""Pages of a thread's message list: the ``limit`` query value and the after/before cursors."""
from __future__ import annotations

from .objects import Message
from .validate import fail


def parse_limit(raw: str) -> int:
    """The ``limit`` query value, 1..100, else a 400 naming ``limit``."""
    try:
        limit = int(raw)
    except ValueError:
        fail("limit", f"Invalid type for 'limit': expected an integer, but got '{raw[:20]}' instead.",
             "invalid_type")
    if not 1 <= limit <= 100:
        fail("limit", f"Invalid 'limit': expected a value between 1 and 100, but got {limit} instead.",
             "integer_out_of_range")
    return limit


def page(items: list[Message], limit: int, after: str | None, before: str | None) -> tuple[list[Message], bool]:
    """Cut one page out of ordered messages using the after/before cursors."""
    ids = [m.id for m in items]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            fail(name, f"Invalid '{name}': no message with id '{cursor[:80]}' in this list.")
    if after is not None:
        items = items[ids.index(after) + 1:]
        ids = ids[ids.index(after) + 1:]
    if before is not None:
        items = items[:ids.index(before)]
        return items[-limit:], len(items) > limit
    return items[:limit], len(items) > limit
