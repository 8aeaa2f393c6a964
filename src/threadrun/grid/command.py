"""One parsed command per cell (or call): the thread, the grid, the request fields and how to
send them, each option parsed and checked as ``options.OPTIONS`` says before anything is sent."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import config, notify, providers
from ..errors import ValidationError
from ..rows import scores
from ..rows.inputs import Table, missing_column
from ..rows.runlog import RunLog
from . import continuation, options, tools
from . import inputs as grid_inputs
from .plan import Job, make_plan, parse_efforts, parse_models, parse_temperatures, parse_tiers
from .thread import Thread, parse
from .variables import variable


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

    def plan(self, keys: bool = True) -> list[Job]:
        """The validated grid (raises ValidationError, sends nothing).

        Every model's provider prefix is checked; on the embedded runtime each model is
        written with its provider, and each provider's key must be set (``keys``: a dry run
        forecasts without them; its token counts then say the key is missing).
        """
        for model in self.models:
            if model:
                provider, _ = providers.resolve(model)
                if self.embedded and keys:
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
    if given.get("tools") is not None:
        given["tools"] = tools.from_names(given["tools"], namespace)
    if isinstance(given.get("continue_from"), str) and namespace is not None:
        given["continue_from"] = variable(given["continue_from"].strip(), namespace, "--continue",
                                          param="continue_from")
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
