"""The plan: one validated request body per grid cell (input × model × effort × temperature × repeat).

The magic, the form and ``threadrun.run`` all come through ``make_plan``: request bodies are
built once, here, from a parsed ``Thread`` and validated by ``body.validate_body``.
"""
from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Sequence

from ..errors import ValidationError
from ..spec import REASONING_EFFORTS, SERVICE_TIERS
from .body import check_temperature, check_top_p, validate_body
from .thread import Thread
from .tools import Toolbox

#: Stands in for the assistant id until the real one is known (dry runs, validation).
PENDING_ASSISTANT = "asst_threadrun_scratch"

#: The most runs one grid (model × effort × temperature × repeat) may have; README documents it.
MAX_RUNS = 100_000


@dataclass(frozen=True)
class Job:
    """One grid cell: its coordinates and the request body that runs it."""

    index: int
    model: str | None
    temperature: float | None
    repeat: int
    body: dict
    reasoning_effort: str | None = None
    input: Any = None  #: the input's index label (``--over``), None without inputs
    #: Continuing a thread: the body is a createRun body for this thread (``continuation``).
    thread_id: str | None = None
    parent_run_id: str | None = None
    service_tier: str | None = None  #: the tier asked (``--service-tier``), in x_threadrun


def split_list(value: str | Iterable[Any] | None) -> list[Any]:
    """``"a,b"`` or ``["a", "b"]`` → a list without blanks; None → ``[]``."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [v.strip() if isinstance(v, str) else v for v in items]
    return [v for v in out if v not in ("", None)]


def split_items(value: str | Iterable[Any] | None, option: str, hint: str = "") -> list[Any]:
    """A grid option's items: ``"a,b"`` or ``["a", "b"]``; an empty item (or a None in a list)
    is a one-line error naming it, ending with ``hint``.

    ``--model ''``, ``a,,b`` or a trailing comma would otherwise run the default silently.
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [v.strip() if isinstance(v, str) else v for v in items]
    if items and all(v in ("", None) for v in items):
        raise ValidationError(f"{option} is empty; give it a value or leave it out",
                              param=option.lstrip("-").replace("-", "_"))
    if isinstance(value, str) and "" in items:
        raise ValidationError(f"{option} has an empty item in {value!r}; separate values with "
                              f"single commas", param=option.lstrip("-").replace("-", "_"))
    if any(v in ("", None) for v in items):
        bad = "None" if None in items else "an empty string"
        raise ValidationError(f"{option} has {bad} in {items!r}; give each item a value{hint}",
                              param=option.lstrip("-").replace("-", "_"))
    return items


def parse_models(value: str | Iterable[str] | None) -> list[str | None]:
    """Models of the grid; none given means the assistant's own model."""
    models = split_items(value, "--model")
    for model in models:
        if not isinstance(model, str):
            raise ValidationError(f"--model expects model names, got {model!r}", param="model")
    return list(dict.fromkeys(models)) or [None]


def parse_temperatures(value: str | float | Iterable[Any] | None) -> list[float | None]:
    """Temperatures of the grid, each checked to be within 0–2; none given means the default."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    items: Any = value
    temps = [check_temperature(_number(t, "--temperature")) for t in split_items(items, "--temperature")]
    return list(dict.fromkeys(temps)) or [None]


def parse_efforts(value: str | Iterable[str] | None) -> list[str | None]:
    """Reasoning efforts of the grid (``minimal,low,...``); none given means the model's default."""
    efforts = split_items(value, "--reasoning-effort")
    for effort in efforts:
        if effort not in REASONING_EFFORTS:
            close = difflib.get_close_matches(str(effort), REASONING_EFFORTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"--reasoning-effort {effort!r} is not one of "
                                  f"{', '.join(REASONING_EFFORTS)}{hint}", param="reasoning_effort")
    return list(dict.fromkeys(efforts)) or [None]


def parse_tiers(value: str | Iterable[str] | None) -> list[str | None]:
    """Service tiers of the grid (``flex,priority``); none given means the provider's default."""
    tiers = split_items(value, "--service-tier", " ('default' is the standard tier)")
    for tier in tiers:
        if tier not in SERVICE_TIERS:
            close = difflib.get_close_matches(str(tier), SERVICE_TIERS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValidationError(f"--service-tier {tier!r} is not one of "
                                  f"{', '.join(SERVICE_TIERS)}{hint}", param="service_tier")
    return list(dict.fromkeys(tiers)) or [None]


def parse_top_p(value: Any) -> float | None:
    """One top_p within 0–1, or None."""
    return None if value is None else check_top_p(_number(value, "--top-p"))


def parse_metadata(items: Iterable[str] | dict | None) -> dict[str, str] | None:
    """``["k=v", ...]`` (or a dict) → a metadata dict."""
    if items is None:
        return None
    if isinstance(items, dict):
        return {str(k): str(v) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        key, sep, val = str(item).partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"--metadata expects key=value, got {item!r}", param="metadata")
        out[key.strip()] = val.strip()
    return out or None


def parse_repeat(value: Any) -> int:
    """A repeat count of at least 1."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.lstrip("+-").isdigit():
        raise ValidationError(f"--repeat expects a whole number, got {value!r}", param="repeat")
    if int(text) < 1:
        raise ValidationError(f"--repeat must be 1 or more, got {value!r}", param="repeat")
    return int(text)


def build_body(thread: Thread, **fields: Any) -> dict:
    """The createThreadAndRun body: the JSON body's fields, the thread, then ``fields`` on top."""
    body = copy.deepcopy(dict(thread.body))
    inner = body.pop("thread", None) or {}
    messages = [{"role": m.role, "content": m.content, **m.extra} for m in thread.messages]
    plain = all(isinstance(m.content, str) and not m.extra for m in thread.messages)
    body["thread"] = {**inner, "messages": messages if plain else copy.deepcopy(messages)}
    if thread.instructions is not None:
        body["instructions"] = thread.instructions
    for name, value in fields.items():
        if value is not None:
            body[name] = (_tools(value) if name == "tools" else value
                          if isinstance(value, (str, int, float)) else copy.deepcopy(value))
    validate_body(body)
    return body


def _tools(value: Any) -> Any:
    """Tool names (``"code_interpreter"``) as ``{"type": name}``; dicts kept; Python functions
    (a ``Toolbox``) as their function tool definitions."""
    if isinstance(value, Toolbox):
        return copy.deepcopy(value.definitions)
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        return value
    return [{"type": t} if isinstance(t, str) else copy.deepcopy(t) for t in items]


def make_plan(thread: Thread, *, models: Sequence[str | None] = (None,),
              temperatures: Sequence[float | None] = (None,), repeat: int = 1,
              assistant_id: str | None = None, efforts: Sequence[str | None] = (None,),
              qualify: Callable[[str], str] | None = None,
              inputs: Sequence[tuple[Any, Thread]] | None = None,
              tiers: Sequence[str | None] = (None,), **fields: Any) -> list[Job]:
    """Every grid cell's validated body: input-major, then model, effort, temperature, service
    tier, repeat. A tier travels as ``x_threadrun.service_tier`` (threadrun's own field: the
    Assistants spec has none; the runtime's engines send it upstream).

    ``inputs``: (index label, that input's filled-in thread) per input (``--over``); without
    it the grid has one input, ``thread``. A grid over ``MAX_RUNS`` runs is a one-line
    ValidationError before any body is built.

    ``qualify`` writes each model's provider out (``gpt-4o`` → ``echo:gpt-4o``), for the
    embedded runtime; a JSON body's own model is qualified too.
    """
    cells: Sequence[tuple[Any, Thread]] = [(None, thread)] if inputs is None else inputs
    size = len(cells) * len(models) * len(efforts) * len(temperatures) * len(tiers) * repeat
    if size > MAX_RUNS:
        counted = f"{len(cells):,} input × " if inputs is not None else ""
        tiered = f"{len(tiers)} service tier × " if len(tiers) > 1 else ""
        raise ValidationError(
            f"the grid has {size:,} runs ({counted}{len(models)} model × {len(efforts)} effort × "
            f"{len(temperatures)} temperature × {tiered}{repeat:,} repeat), over the limit of "
            f"{MAX_RUNS:,} runs per cell; split it into several cells", param="repeat")
    jobs: list[Job] = []
    qualified: dict[str, str] = {}
    for label, cell in cells:
        for model in models:
            for effort in efforts:
                for temperature in temperatures:
                    for tier in tiers:
                        extension = {"x_threadrun": {"service_tier": tier}} if tier else {}
                        body = build_body(cell, assistant_id=assistant_id or cell.body.get("assistant_id")
                                          or PENDING_ASSISTANT,
                                          model=model, temperature=temperature, **fields, **extension)
                        if qualify is not None and isinstance(body.get("model"), str):
                            if body["model"] not in qualified:  # once per model, not per input
                                qualified[body["model"]] = qualify(body["model"])
                            body["model"] = qualified[body["model"]]
                        for rep in range(repeat):
                            jobs.append(Job(len(jobs), body.get("model") if model else model,
                                            temperature, rep, dict(body), effort, label,
                                            service_tier=tier))
    return jobs


def with_assistant(jobs: list[Job], assistant_id: str | dict[str | None, str]) -> list[Job]:
    """The same plan with the placeholder assistant id replaced by a real one (one per effort)."""
    def pick(job: Job) -> str:
        return assistant_id if isinstance(assistant_id, str) else assistant_id[job.reasoning_effort]
    return [replace(j, body={**j.body, "assistant_id": pick(j)})
            if j.body.get("assistant_id") == PENDING_ASSISTANT else j for j in jobs]


def _number(value: Any, option: str) -> float:
    if isinstance(value, bool):
        raise ValidationError(f"{option} expects a number, got {value!r}", param=option.lstrip("-"))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{option} expects a number, got {value!r}", param=option.lstrip("-")) from None
