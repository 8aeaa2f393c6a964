"""Pages of a list (messages, assistants, runs, run steps): ``limit``, ``order`` and the cursors;
and the query string itself (``query_params``), with the array parameter ``include[]``."""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import parse_qsl

from .validate import check_enum, fail

#: The one ``include[]`` value the spec allows (createRun, run steps): file_search result content,
#: harmless to accept here since file_search is refused.
STEP_INCLUDES = ("step_details.tool_calls[*].file_search.results[*].content",)


def query_params(raw: str) -> dict[str, Any]:
    """A query string's parameters: each one's last non-empty value, and an array ``name[]``'s
    every value, in order, as a list (``include[]=a&include[]=b``)."""
    query: dict[str, Any] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        if name.endswith("[]"):
            query.setdefault(name, []).append(value)
        elif value:
            query[name] = value
    return query


def check_include(query: dict[str, Any]) -> None:
    """A 400 naming an ``include[]`` value other than the spec's one (the values are ignored)."""
    for index, value in enumerate(query.get("include[]", [])):
        check_enum(value, f"include[{index}]", STEP_INCLUDES)


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


def page(items: list[Any], limit: int, after: str | None, before: str | None,
         kind: str = "message") -> tuple[list[Any], bool]:
    """Cut one page out of ordered objects (``.id`` or ``["id"]``) using the after/before cursors."""
    ids = [m["id"] if isinstance(m, dict) else m.id for m in items]
    for name, cursor in (("after", after), ("before", before)):
        if cursor is not None and cursor not in ids:
            fail(name, f"Invalid '{name}': no {kind} with id '{cursor[:80]}' in this list.")
    if after is not None:
        items = items[ids.index(after) + 1:]
        ids = ids[ids.index(after) + 1:]
    if before is not None:
        items = items[:ids.index(before)]
        return items[-limit:], len(items) > limit
    return items[:limit], len(items) > limit


def list_page(items: list[Any], query: dict[str, str], kind: str,
              as_dict: Callable[[Any], dict] = lambda item: item) -> dict:
    """A list answer (``object: list``, ``data``, ``first_id``, ``last_id``, ``has_more``) of
    ``items`` oldest first, as ``query`` asks: ``order`` (default desc), ``limit``, cursors."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        fail("order", f"Invalid value: '{order[:20]}'. Supported values are: 'asc' and 'desc'.")
    limit = parse_limit(query.get("limit", "20"))
    items = list(reversed(items)) if order == "desc" else list(items)
    items, has_more = page(items, limit, query.get("after"), query.get("before"), kind)
    data = [as_dict(item) for item in items]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": has_more}
