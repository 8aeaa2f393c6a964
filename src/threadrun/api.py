"""The one path from a request to a DataFrame, shared by ``threadrun.run``, the magic and the form.

A ``Command`` is a parsed cell (or call): the thread, the grid, the request fields and how to
send them. ``execute`` validates the whole plan before the first request, then runs it.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import pandas as pd

from . import config, notify, providers
from .client import Client, assistant
from .client.runs import Turn
from .errors import APIConnectionError, APIError, AuthenticationError, NotFoundError, ValidationError
from .grid import cache, capabilities, continuation, forecast, notices, options, tools
from .grid import inputs as grid_inputs
from .grid.plan import (
    PENDING_ASSISTANT,
    Job,
    make_plan,
    parse_efforts,
    parse_models,
    parse_temperatures,
    parse_tiers,
    with_assistant,
)
from .grid.sweep import Sweep
from .grid.thread import Thread, parse
from .notify import info as _info
from .rows import scores
from .rows.inputs import Table, missing_column
from .rows.result import RunResult
from .rows.row import frame, to_row
from .rows.runlog import RunLog
from .server import embedded as runtime


@dataclass
class Command:
    """Everything one cell or call asks for, parsed once.

    The grid and the request fields have their own attributes; every ``send`` option of
    ``options.OPTIONS`` (timeout, concurrency, label...) is in ``settings`` and reads as an
    attribute too (``cmd.timeout``).
    """

    thread: Thread
    models: list[str | None] = field(default_factory=lambda: [None])
    temperatures: list[float | None] = field(default_factory=lambda: [None])
    efforts: list[str | None] = field(default_factory=lambda: [None])
    repeat: int = 1
    fields: dict[str, Any] = field(default_factory=dict)
    tiers: list[str | None] = field(default_factory=lambda: [None])
    settings: dict[str, Any] = field(default_factory=options.defaults)
    #: ``--over``: the inputs, and (label, filled-in thread) per input; ``thread`` is the template
    inputs: Table | None = None
    threads: list[tuple[Any, Thread]] | None = None
    scorer: scores.Scorer | None = None

    def __getattr__(self, name: str) -> Any:
        """A setting as an attribute: ``cmd.timeout`` is ``cmd.settings["timeout"]``."""
        settings = self.__dict__.get("settings")
        if settings is not None and name in settings:
            return settings[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def runlog(self) -> RunLog | None:
        """The run log this command writes to: False = none, a path, else the default one."""
        return None if self.log is False else RunLog(self.log if isinstance(self.log, str) else None)

    @property
    def embedded(self) -> bool:
        """Whether this command runs on the embedded runtime (no base URL given or set)."""
        return config.base_url(self.base_url) is None

    def plan(self) -> list[Job]:
        """The validated grid (raises ValidationError, sends nothing).

        Every model's provider prefix is checked; on the embedded runtime each model is
        written with its provider, and each provider's key must be set.
        """
        for model in self.models:
            if model:
                provider, _ = providers.resolve(model)
                if self.embedded:
                    provider.check_ready()
        if any(self.efforts) and config.assistant_id(self.assistant):
            raise ValidationError("--reasoning-effort runs one scratch assistant per effort; "
                                  "drop --assistant (and $THREADRUN_ASSISTANT_ID)",
                                  param="reasoning_effort")
        if self.continue_from is not None:
            return self._continuation()
        return make_plan(self.thread, models=self.models, temperatures=self.temperatures,
                         repeat=self.repeat, assistant_id=config.assistant_id(self.assistant),
                         efforts=self.efforts, inputs=self.threads, tiers=self.tiers,
                         qualify=providers.qualified if self.embedded else None, **self.fields)

    def score_row(self, row: dict, label: Any) -> None:
        """Score a finished row (before it is logged), with its input's columns beside it."""
        if self.scorer is not None:
            if "_by_label" not in self.__dict__:
                self.__dict__["_by_label"] = (dict(zip(self.inputs.labels, self.inputs.records))
                                              if self.inputs is not None else {})
            self.scorer.apply(row, self.__dict__["_by_label"].get(label))

    def _continuation(self) -> list[Job]:
        """The plan of ``--continue``: each earlier row's thread runs again (``continuation``)."""
        jobs, skipped = continuation.plan(self.thread, self.continue_from,
                                          assistant_id=config.assistant_id(self.assistant),
                                          qualify=providers.qualified if self.embedded else None,
                                          **self.fields)
        for job in jobs:
            if job.model:
                provider, _ = providers.resolve(job.model)
                if self.embedded:
                    provider.check_ready()
        if skipped:
            notify.warn(f"--continue: {skipped} of {skipped + len(jobs)} rows have no thread "
                        "(their run was never created); they are not continued")
        return jobs


def command(thread: Any, *, namespace: Mapping[str, Any] | None = None,
            **given: Any) -> Command:
    """Build a Command from Python values (lists or comma-separated strings for the grid).

    The keywords are the names of ``options.OPTIONS`` (``model``, ``temperature``, ``top_p``,
    ``timeout``...); each is parsed and checked as the table says, before anything is sent.
    """
    table = [o for o in options.OPTIONS if o.role != "cell"]
    names = [o.name for o in table]
    for name in given:
        if name not in names:
            raise options.unknown(name, names)
    given = {**given, **tools.from_names(given, namespace)}
    values = {o.name: o.check(given[o.name]) for o in table
              if given.get(o.name) is not None or (o.role == "grid" and o.name in given)}
    settings = {**options.defaults(), **{o.name: values[o.name] for o in options.table("send")
                                         if o.name in values}}
    _check_together(settings)
    if settings.get("continue_from") is not None:
        _check_continuation(values)
    interpolate = values.get("interpolate", True)
    found: Table | None = None
    threads: list[tuple[Any, Thread]] | None = None
    template: Thread | None = None
    if values.get("over") is not None:
        if not interpolate:
            raise ValidationError("--over fills {column} placeholders; it cannot go with "
                                  "--no-interpolate", param="over")
        found = grid_inputs.read(values["over"], namespace)
        template = parse(thread, None)
        threads = grid_inputs.threads(template, found, namespace)
    scorer = scores.make(settings.get("score"), settings.get("expect"), namespace)
    if scorer is not None and scorer.expect is not None:
        if found is None:
            raise ValidationError("--score equals compares with an input column: give the "
                                  "inputs with --over", param="expect")
        if scorer.expect not in found.columns:
            raise ValidationError(missing_column(scorer.expect, found.columns, "--expect"),
                                  param="expect")
    return Command(thread=template or parse(thread, namespace if interpolate else None),
                   models=values.get("model") or parse_models(None),
                   temperatures=values.get("temperature") or parse_temperatures(None),
                   efforts=values.get("reasoning_effort") or parse_efforts(None),
                   repeat=values.get("repeat", 1),
                   tiers=values.get("service_tier") or parse_tiers(None),
                   fields={o.name: values[o.name] for o in options.table("field")
                           if values.get(o.name) is not None},
                   settings=settings, inputs=found, threads=threads, scorer=scorer)


def _check_continuation(values: dict[str, Any]) -> None:
    """``--continue`` runs each thread on its own model and settings: no grid of its own."""
    own = [options.find(n).dashed for n in ("model", "temperature", "reasoning_effort", "repeat", "resume")
           if values.get(n) not in (None, [None], 1)]
    if own:
        raise ValidationError(f"--continue runs each thread again on its own model and settings; "
                              f"drop {', '.join(own)}", param="continue_from")


def _check_together(settings: dict[str, Any]) -> None:
    """Settings that make sense alone but not together, or that need the environment."""
    env = settings.get("api_key_env")
    if env is not None and not os.environ.get(env):
        raise ValidationError(f"--api-key-env names ${env}, which is not set", param="api_key_env")
    if settings.get("resume") is not None:
        if settings.get("label") not in (None, settings["resume"]):
            raise ValidationError("--resume LABEL continues that label; drop --label or make it the same")
        if settings.get("log") is False:
            raise ValidationError("--resume reads the run log; it cannot go with --no-log")
        settings["label"] = settings["resume"]
    if settings.get("fresh") and settings.get("log") is False:
        raise ValidationError("--fresh re-runs what the run log holds; with --no-log every run is "
                              "fresh already: drop one of them", param="fresh")


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
        raise ValidationError("a dry run sends nothing and makes no rows: its request bodies come "
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
        budget = forecast.budget(cmd, jobs, runlog) if cmd.budget is not None else None
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
    jobs, _ = capabilities.screen(cmd.plan(), allow=cmd.allow_ignored, embedded=cmd.embedded)
    forecast.say(jobs, cmd.log, cmd.concurrency)
    url = config.base_url(cmd.base_url)
    known = config.assistant_id(cmd.assistant) or (assistant.cached(url) if url else None)
    return [_shown_body(job.body, SCRATCH) for job in (with_assistant(jobs, known) if known else jobs)]


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
              budget: forecast.Budget | None = None) -> list[dict]:
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
    return to_row(RunResult(body=_shown_body(job.body), status="error", error=error),
                  label=cmd.label, repeat=job.repeat, reasoning_effort=job.reasoning_effort,
                  input=job.input)


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
