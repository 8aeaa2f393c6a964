"""Provider capabilities applied to runs: what a provider would cap, ignore or refuse.

Before sending, ``screen`` holds back every grid cell with a setting its provider's rules
(``provider_rules``, from providers.toml) say it would cap, ignore or refuse: such a cell gets
a ``not_sent`` row saying why (provider, setting, the documented rule and its source, the fix)
that costs nothing, while the rest of the grid runs; a grid of nothing else is a one-line
ValidationError. ``allow_ignored`` sends them anyway: the runtime then notes on the run what
the provider did with them (``run_notice``), as it notes a token cap the provider did not keep.
Data only: the client knows provider names and tables here, never how an engine calls them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .. import providers
from ..errors import ValidationError
from ..providers.rules import Rule
from ..spec import SAMPLING_DEFAULTS
from .plan import PENDING_ASSISTANT, Job

#: The status of a row whose cell was not sent because of a provider's documented rule.
NOT_SENT = "not_sent"
#: What a user sets, as the fix names it.
_OPTION = {"temperature": "-t/--temperature", "top_p": "--top-p",
           "max_completion_tokens": "--max-completion-tokens",
           "reasoning_effort": "--reasoning-effort", "response_format": "response_format",
           "service_tier": "--service-tier"}


@dataclass(frozen=True)
class Finding:
    """A setting of one run that its provider caps, ignores or refuses (by ``rule``)."""

    provider: str
    model: str
    setting: str
    value: Any
    rule: Rule

    def rule_text(self) -> str:
        """``anthropic caps temperature at 1 (source)``: the documented rule."""
        bound = self.rule.bound()
        where = f" on {self.model}" if self.rule.models else ""
        note = f"{self.rule.note}; " if self.rule.note else ""
        return (f"{self.provider} {self.rule.does} {self.setting}{' ' + bound if bound else ''}"
                f"{where} ({note}{self.rule.source})")

    def effect(self, sent: bool) -> str:
        """What became (or would become) of the value: ``temperature 1.5 would run as 1``."""
        shown = f"{self.setting} {_shown(self.value)}"
        if self.rule.does == "caps":
            return f"{shown} {'ran' if sent else 'would run'} as {_shown(self.rule.clamp(self.value))}"
        if self.rule.does == "ignores":
            return f"{shown} {'had' if sent else 'would have'} no effect"
        return f"{shown} {'was sent, though documented as' if sent else 'would be'} refused"

    def fix(self) -> str:
        """What to change: ``use -t ≤ 1``, or leave the setting out."""
        option, rule = _OPTION.get(self.setting, self.setting), self.rule
        if rule.does == "caps" and rule.max is not None and rule.min is None:
            return f"use {option} ≤ {_shown(rule.max)}"
        if rule.does == "caps" and rule.min is not None and rule.max is None:
            return f"use {option} ≥ {_shown(rule.min)}"
        if rule.does == "caps" or (rule.min is not None and rule.max is not None and rule.min != rule.max):
            return f"use {option} within {_shown(rule.min)}–{_shown(rule.max)}"
        if rule.min is not None and rule.min == rule.max:
            return f"use {option} {_shown(rule.min)} or leave it out"
        return f"leave {option} out"

    def reason(self) -> str:
        """The whole line of a cell not sent: rule, effect, fix, and how to send it anyway."""
        return (f"{self.rule_text()}: {self.effect(sent=False)}; {self.fix()}, "
                "or --allow-ignored to send it anyway")


def findings(provider: providers.Provider, model: str, settings: dict[str, Any]) -> list[Finding]:
    """The chosen settings (None = not chosen) the provider's rules cap, ignore or refuse."""
    out = []
    for setting, value in settings.items():
        if value is None or (setting == "response_format" and not isinstance(value, dict)):
            continue  # "auto" is no choice
        rule = provider.rule(setting, model)
        if rule is None and setting == "service_tier" and not provider.offers_tier(value):
            rule = _tier_rule(provider)
        if rule is not None and rule.applies(value):
            out.append(Finding(provider.name, model, setting, value, rule))
    return out


def _tier_rule(provider: providers.Provider) -> Rule:
    """A provider's service tiers as a rule: a tier it does not list is ignored (not sent)."""
    offered = ", ".join(provider.service_tiers) or "none"
    return Rule(("service_tier",), "ignores", note=f"its service tiers: {offered}",
                source=f"service_tiers of [providers.{provider.name}] in providers.toml")


def job_settings(job: Job) -> dict[str, Any]:
    """The settings a grid cell chooses (its body's, and the effort of its scratch assistant)."""
    body = job.body
    return {"temperature": body.get("temperature"), "top_p": body.get("top_p"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "reasoning_effort": job.reasoning_effort, "response_format": body.get("response_format"),
            "service_tier": job.service_tier}


def screen(jobs: list[Job], *, allow: bool, embedded: bool) -> tuple[list[Job], list[tuple[Job, str]]]:
    """The jobs to send, and the jobs held back with the reason; ValidationError if none is left.

    Only runs on the embedded runtime are screened (another Assistants server runs models its
    own way); ``allow`` sends every job (the runtime notes what the provider did with it).
    """
    if not embedded or allow:
        return jobs, []
    send: list[Job] = []
    held: list[tuple[Job, str]] = []
    seen: dict[tuple, str | None] = {}
    for job in jobs:
        settings = job_settings(job)
        key = (job.body.get("model"), *(repr(v) for v in settings.values()))
        if key not in seen:
            seen[key] = _reason(job.body.get("model"), settings)
        reason = seen[key]
        if reason is None:
            send.append(job)
        else:
            held.append((job, reason))
    if held and not send:
        raise ValidationError(f"no run of this grid would run as asked, so none is sent: "
                              f"{held[0][1]}", param=_first_setting(held[0][0]))
    return send, held


def _reason(spec: Any, settings: dict[str, Any]) -> str | None:
    """Why a cell is not sent ("; "-joined findings), or None to send it."""
    if not isinstance(spec, str):
        return None
    provider, model = providers.resolve(spec)
    found = findings(provider, model, settings)
    return "; ".join(f.reason() for f in found) if found else None


def _first_setting(job: Job) -> str | None:
    spec = job.body.get("model")
    if not isinstance(spec, str):
        return None
    provider, model = providers.resolve(spec)
    found = findings(provider, model, job_settings(job))
    return found[0].setting if found else None


def unsent_rows(held: list[tuple[Job, str]], *, label: str | None, runlog: Any,
                on_row: Callable[[dict], None] | None) -> dict[int, dict]:
    """The rows of the cells not sent, by grid index: logged, passed to ``on_row``, costing 0."""
    rows: dict[int, dict] = {}
    for job, reason in held:
        body = {k: v for k, v in job.body.items() if not (k == "assistant_id" and v == PENDING_ASSISTANT)}
        row = cell_row(job, body, NOT_SENT, reason, label)
        row["cost_usd"] = 0.0  # nothing was sent: no token was used
        if runlog is not None:
            try:
                runlog.append(row, body=body)
            except Exception as exc:  # noqa: BLE001 - keep the row; say it is not logged
                row["error"] = f"{row['error']}; not in the run log: {exc}"
        if on_row is not None:
            on_row(row)
        rows[job.index] = row
    return rows


def cell_row(job: Job, body: dict, status: str, error: str, label: str | None) -> dict:
    """The row of a cell no run answered for, with its grid coordinates as a sent run's row
    has them: the tier asked, and the temperature and top_p the run would report (the body's,
    else the API defaults of threadrun's scratch assistant; another assistant's are unknown)."""
    from ..rows.result import RunResult  # the row needs pandas; the runtime imports this module too
    from ..rows.row import to_row
    row = to_row(RunResult(body=body, status=status, error=error), label=label, repeat=job.repeat,
                 reasoning_effort=job.reasoning_effort, input=job.input)
    row["service_tier"] = job.service_tier
    if job.body.get("assistant_id") == PENDING_ASSISTANT:
        for name, default in SAMPLING_DEFAULTS.items():
            if row[name] is None:
                row[name] = default
    return row


def request_settings(request: Any) -> dict[str, Any]:
    """The settings an engine request carries, named as rules name them."""
    return {"temperature": request.temperature, "top_p": request.top_p,
            "max_completion_tokens": request.max_tokens,
            "reasoning_effort": request.reasoning_effort, "response_format": request.response_format,
            "service_tier": request.service_tier}


def run_notice(provider: providers.Provider, model: str, settings: dict[str, Any],
               sent: dict | None, completion_tokens: int | None) -> str | None:
    """The runtime's note on a finished run: settings the provider capped or ignored (sent
    anyway), and a token cap it did not keep; None when there is nothing to say."""
    notes = [f"sent anyway: {f.rule_text()}: {f.effect(sent=True)}"
             for f in findings(provider, model, settings)]
    ignored = cap_ignored(provider.name, sent, completion_tokens)
    return "; ".join(notes + ([ignored] if ignored else [])) or None


def cap_ignored(provider: str, sent: dict | None, completion_tokens: int | None) -> str | None:
    """``llamacpp ignored the token cap: ...`` when more tokens came back than the cap sent."""
    if not isinstance(sent, dict) or not isinstance(completion_tokens, int):
        return None
    field = next((f for f in providers.TOKEN_CAPS if isinstance(sent.get(f), int)), None)
    if field is None or completion_tokens <= sent[field]:
        return None
    line = (f"{provider} ignored the token cap: {field} {sent[field]} was sent and "
            f"{completion_tokens} completion tokens came back")
    if field == "max_output_tokens":
        return line
    other = "max_tokens" if field == "max_completion_tokens" else "max_completion_tokens"
    return f'{line}; set token_cap = "{other}" in [providers.{provider}] of providers.toml'


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
