"""The one path from a request to a DataFrame, shared by ``threadrun.run``, the magic and the form.

A ``Command`` (``grid/command.py``) is a parsed cell (or call): the thread, the grid, the request
fields and how to send them. ``execute`` validates the whole plan before the first request, then
runs it; ``bodies`` is a dry run.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Mapping

import pandas as pd

from . import config, notify, providers
from .client import Client, assistant, counting
from .client.runs import Turn
from .errors import APIConnectionError, APIError, AuthenticationError, NotFoundError, ValidationError
from .grid import budget as budgets
from .grid import cache, capabilities, forecast, notices, tools
from .grid.command import Command, command
from .grid.plan import (
    PENDING_ASSISTANT,
    Job,
    with_assistant,
)
from .grid.sweep import Sweep
from .notify import info as _info
from .rows.row import frame
from .rows.runlog import RunLog
from .server import embedded as runtime


def execute(cmd: Command, *, api_key: str | None = None,
            on_sweep: Callable[[Sweep], None] | None = None,
            on_row: Callable[[dict], None] | None = None,
            notify: bool = True) -> pd.DataFrame:
    """Validate, then run every grid cell; a DataFrame of rows (a dry run is ``bodies``).

    With ``notify`` the one-line notices (``notices``) go to stderr before sending; the form
    shows them itself.

    Each finished row is appended to the run log before anything else sees it. ``on_sweep``
    receives the Sweep before it starts, so another thread can ``cancel()`` it; ``on_row``
    receives each finished row (a dict of row.COLUMNS) as soon as it is logged.
    """
    if cmd.dry_run:
        raise ValidationError("a dry run sends no run and makes no rows: its request bodies come "
                              "from threadrun.dry_run(), with the same arguments")
    jobs = cmd.plan()
    jobs, held = capabilities.screen(jobs, allow=cmd.allow_ignored, embedded=cmd.embedded)
    if notify:
        notices.before_sending(cmd, jobs)
    url = config.base_url(cmd.base_url)
    if url is None:
        url, api_key = runtime.embedded()
    elif api_key is None:
        api_key = config.api_key(cmd.api_key_env)
    client = _client(url, cmd, api_key)
    runlog = cmd.runlog()
    try:
        if cmd.resume is not None:
            assert runlog is not None  # --resume with --no-log is refused when the Command is made
            jobs = _still_to_run(jobs, runlog, cmd.resume)
        keys = cache.keys(jobs, None if cmd.embedded else url, cmd.stream) if runlog is not None else {}
        total = len(jobs) + len(held)
        replayed: dict[int, dict] = {}
        if not cmd.fresh:
            jobs, replayed = cache.replay(jobs, keys, runlog, cmd.label, on_row,
                                          cmd.score_row if cmd.scorer is not None else None)
        budget = budgets.budget(cmd, jobs, runlog) if cmd.budget is not None else None
        unsent = capabilities.unsent_rows(held, label=cmd.label, runlog=runlog, on_row=on_row)
        rows = _run_jobs(client, jobs, cmd, runlog, on_sweep, on_row, {**unsent, **replayed},
                         keys, budget)
    finally:
        if runlog is not None:
            runlog.close()
    if replayed:
        _info(cache.replayed_line(replayed, total))
    df = frame(rows)
    if any(row["status"] != "completed" for row in rows):  # the usual case filters nothing
        warn_failures(df)
    return df


def bodies(cmd: Command) -> list[dict]:
    """The request bodies a Command would send, one per grid cell (cells a provider would cap or
    ignore left out, as a run would), and the forecast of their cost and time, printed
    (``forecast.say``); nothing is sent."""
    jobs, _ = capabilities.screen(cmd.plan(keys=False), allow=cmd.allow_ignored,
                                  embedded=cmd.embedded)
    url = config.base_url(cmd.base_url)
    keys = cache.keys(jobs, None if cmd.embedded else url, cmd.stream)
    threads = {id(job.body.get("thread")): keys[job.index][1] for job in jobs}
    forecast.say(jobs, cmd.log, cmd.concurrency, lambda prompts: _count(cmd, prompts),
                 set() if cmd.fresh else _cached(cmd, jobs, keys), cmd.budget, threads)
    known = config.assistant_id(cmd.assistant) or (assistant.cached(url) if url else None)
    return [_shown_body(job.body, SCRATCH) for job in (with_assistant(jobs, known) if known else jobs)]


def _cached(cmd: Command, jobs: list[Job], keys: dict[int, tuple[str, str]]) -> set[int]:
    """The grid indexes a run of this plan would replay from the run log (free re-runs)."""
    path = forecast.log_path(cmd.log)
    if path is None or not jobs:
        return set()
    with RunLog(path) as runlog:
        done = runlog.completed(list(dict.fromkeys(k[0] for k in keys.values())))
    return {job.index for job in jobs if keys[job.index][0] in done}


def _count(cmd: Command, prompts: dict[str, dict]) -> counting.Counts:
    """The provider's counts of the prompts the log has not seen (the runtime asks it)."""
    if not prompts:
        return counting.Counts()
    url, api_key = config.base_url(cmd.base_url), None
    if url is None:
        url, api_key = runtime.embedded()
    else:
        api_key = config.api_key(cmd.api_key_env)
    client = _client(url, cmd, api_key)
    return counting.count_prompts(client.count_input_tokens, prompts, cmd.concurrency)


_clients: dict[tuple, Client] = {}
_clients_lock = threading.Lock()


def _client(url: str, cmd: Command, api_key: str) -> Client:
    """A Client per settings, kept for the session: cells reuse its pooled (TLS) connections."""
    settings = (url, api_key, cmd.timeout, cmd.max_retries, cmd.rate, max(cmd.concurrency, 4))
    with _clients_lock:
        if settings not in _clients:
            if len(_clients) >= 8:  # a handful of settings in a session; drop the oldest
                _clients.pop(next(iter(_clients))).close()
            _clients[settings] = Client(settings[0], api_key, timeout=cmd.timeout,
                                        max_retries=cmd.max_retries, pool_size=settings[5],
                                        rpm=cmd.rate)
        return _clients[settings]


def _run_jobs(client: Client, jobs: list[Job], cmd: Command, runlog: RunLog | None,
              on_sweep: Callable[[Sweep], None] | None,
              on_row: Callable[[dict], None] | None, unsent: dict[int, dict],
              keys: dict[int, tuple[str, str]] | None = None,
              budget: budgets.Budget | None = None) -> list[dict]:
    """Get an assistant, then sweep; without an assistant every job gets a row with the error.

    ``unsent``: the rows of cells not sent (``capabilities``) or replayed from the log
    (``cache``), by grid index, kept in grid order. ``keys``: each job's identities for the log.
    """
    keys = keys or {}
    if not jobs:
        return [unsent[i] for i in sorted(unsent)]
    try:
        asst: dict[str | None, str] = {}
        if any(job.body["assistant_id"] == PENDING_ASSISTANT for job in jobs):
            model = next((j.body.get("model") for j in jobs if j.body.get("model")), None)
            asst = {effort: assistant.resolve(client, cmd.assistant, model, effort,
                                              persist=not runtime.is_embedded(client.base_url))
                    for effort in dict.fromkeys(j.reasoning_effort for j in jobs)}
    except APIError as exc:
        reason = f"could not get an assistant: {exc}{_hint(exc, client)}"
        rows = [_failed_row(job, cmd, reason) for job in jobs]
        for row, job in zip(rows, jobs):
            if runlog is not None:
                runlog.append(row, body=job.body, keys=keys.get(job.index, (None, None)))
        by_index = {**unsent, **{job.index: row for job, row in zip(jobs, rows)}}
        return [by_index[i] for i in sorted(by_index)]
    sweep = Sweep(client, with_assistant(jobs, asst), stream=cmd.stream,
                  concurrency=cmd.concurrency, label=cmd.label, progress=cmd.progress,
                  runlog=runlog, on_row=on_row, deadline=cmd.deadline,
                  score=cmd.score_row if cmd.scorer is not None else None,
                  reassign=_reassigner(client, cmd, jobs, asst) if asst else None,
                  turn=_turn(cmd), keys=keys, budget=budget)
    sweep.rows.update(unsent)  # their places in the grid: run() returns rows by grid index
    if on_sweep is not None:
        on_sweep(sweep)
    return sweep.run()


def _turn(cmd: Command) -> Callable[[Job], Turn] | None:
    """What each run does beyond one create: continue its thread, answer its tool calls."""
    box = cmd.fields.get("tools")
    answer = tools.answerer(box) if isinstance(box, tools.Toolbox) else None
    if answer is None and cmd.continue_from is None:
        return None
    return lambda job: Turn(thread_id=job.thread_id, tools=answer, max_steps=cmd.max_steps,
                            parent_run_id=job.parent_run_id)


def _reassigner(client: Client, cmd: Command, jobs: list[Job],
                asst: dict[str | None, str]) -> Callable[[str], str | None]:
    """For a sweep whose runs answer 404: forget the scratch assistant's check, resolve it again
    (a GET, else a new one), once per sweep and id; None when that fails too."""
    lock = threading.Lock()
    done: dict[str, str | None] = {}
    model = next((j.body.get("model") for j in jobs if j.body.get("model")), None)

    def reassign(gone: str) -> str | None:
        with lock:
            if gone not in done:
                efforts = [e for e, a in asst.items() if a == gone]
                assistant.forget(client.base_url, gone)
                try:
                    done[gone] = assistant.resolve(client, cmd.assistant, model, efforts[0],
                                                   persist=not runtime.is_embedded(client.base_url)) if efforts else None
                except APIError:
                    done[gone] = None
            return done[gone]

    return reassign


def _still_to_run(jobs: list[Job], runlog: RunLog, label: str) -> list[Job]:
    """The grid cells of ``label`` without a completed row in the log (the input is part of a
    cell: with ``--over`` a row of another input does not count)."""
    done = runlog.completed_cells(label, with_input=True)
    todo = [j for j in jobs if not _is_done(j, done)]
    notify.warn(f"resuming {label!r}: {len(jobs) - len(todo)} of {len(jobs)} runs already "
                f"completed, {len(todo)} to run")
    return todo


def run(thread: Any, model: Any = None, temperature: Any = None, *, api_key: str | None = None,
        namespace: Mapping[str, Any] | None = None, **options: Any) -> pd.DataFrame:
    """Run a thread (cell text, a list of messages, or a request body) over a grid → DataFrame.

    ``model`` and ``temperature`` take one value, a list, or a comma-separated string; other
    options are those of ``%%threadrun`` with underscores (``top_p``, ``repeat``, ``label``,
    ``instructions``, ``max_completion_tokens``, ``stream=False`` to poll, ``base_url``...).
    Models are ``provider:model`` (``openai:gpt-5-mini``, ``ollama:llama3.2``; see ``threadrun
    providers``); ``reasoning_effort`` is a grid dimension too. Runs go to the embedded runtime
    unless ``base_url`` or ``$THREADRUN_BASE_URL`` names another Assistants server, whose key comes
    from ``$THREADRUN_API_KEY`` or ``api_key_env="OTHER_VAR"``; ``api_key="..."`` works but warns,
    since a key written in a notebook ends up in its file and history. It always returns a
    DataFrame, one row per run; ``dry_run()`` takes the same arguments and returns the bodies.
    """
    if options.get("dry_run"):
        raise ValidationError("run() always returns a DataFrame of runs; for the request bodies "
                              "without sending them, call threadrun.dry_run() with the same arguments")
    if api_key:
        notify.warn("api_key= puts the key in your code (and the notebook's history); prefer "
                    "$THREADRUN_API_KEY or api_key_env=")
    return execute(command(thread, namespace=namespace, model=model, temperature=temperature,
                           **options), api_key=api_key)


def dry_run(thread: Any, model: Any = None, temperature: Any = None, *,
            namespace: Mapping[str, Any] | None = None, **options: Any) -> list[dict]:
    """The request bodies ``run()`` would send with these arguments, one per grid cell, checked
    as a run checks them; nothing is sent (``%%threadrun --dry-run``)."""
    options.pop("dry_run", None)
    return bodies(command(thread, namespace=namespace, model=model, temperature=temperature,
                          dry_run=True, **options))


def warn_failures(df: pd.DataFrame) -> None:
    """One line on stderr when some runs did not complete."""
    bad = df[df["status"] != "completed"]
    if bad.empty:
        return
    counts = ", ".join(f"{s}: {n}" for s, n in bad["status"].value_counts().items())
    first = bad.iloc[0]
    who = first["run_id"] if isinstance(first["run_id"], str) else f"row {bad.index[0]}"
    notify.warn(f"{len(bad)} of {len(df)} runs did not complete ({counts}); {who}: {first['error']}")


def _is_done(job: Job, done: set[tuple]) -> bool:
    """Whether a logged completed row matches the job (an unset model/temperature matches any)."""
    provider, model = providers.split_spec(job.model) if job.model else (None, None)
    return any((model is None or (m == model and provider in (None, p)))
               and (job.temperature is None or t == job.temperature)
               and e == job.reasoning_effort and r == job.repeat and i == job.input
               for p, m, t, e, r, i in done)


def _failed_row(job: Job, cmd: Command, error: str) -> dict:
    return capabilities.cell_row(job, _shown_body(job.body), "error", error, cmd.label)


#: What a dry run shows for a scratch assistant that does not exist yet (no made-up id).
SCRATCH = "(a scratch assistant, created at the first run)"


def _shown_body(body: dict, placeholder: str | None = None) -> dict:
    """A body as a person sees it: the stand-in id of a scratch assistant not made yet replaced."""
    if body.get("assistant_id") != PENDING_ASSISTANT:
        return body
    if placeholder is None:
        return {k: v for k, v in body.items() if k != "assistant_id"}
    return {**body, "assistant_id": placeholder}


def _hint(exc: APIError, client: Client) -> str:
    """What to do about a server that cannot be used at all (said once, in the stderr line)."""
    from urllib.parse import urlsplit
    if isinstance(exc, APIConnectionError) and "connection refused" in str(exc):
        return (f"; nothing answers at {client.base_url}: start `threadrun serve` there, or unset "
                f"THREADRUN_BASE_URL (and drop --base-url) to use the embedded runtime")
    if isinstance(exc, NotFoundError) and not urlsplit(client.base_url).path.rstrip("/").endswith("/v1"):
        return f"; the base URL has no /v1: try {client.base_url}/v1"
    if isinstance(exc, AuthenticationError) and "Authorization" not in client.session.headers:
        return (f"; no key was sent: set ${config.API_KEY_ENV} (or name another variable with "
                f"--api-key-env)")
    return ""


__all__ = ["Command", "bodies", "command", "dry_run", "execute", "run"]
