"""Providers as data: where a ``provider:model`` runs, which API it speaks, where its key is.

The built-in presets are ``data/providers.toml``; ``$THREADRUN_HOME/providers.toml`` is merged
over them, table by table and field by field. ``resolve("openai:gpt-5-mini")`` splits a model
spec into its Provider and the name the provider knows; a table's ``api`` is one of the shapes an
engine is registered for (``apis``). Pure stdlib: both the client (to check a
plan before sending it) and the server's engines (to run it) read this module.
"""
from __future__ import annotations

import difflib
import math
import os
import re
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import config
from ..errors import ValidationError
from . import apis
from .rules import Rule, first_rule, parse_rules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

TOKEN_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")
AUTHS = ("bearer", "api-key")
FIELDS = {"base_url": str, "base_url_env": str, "api": str, "key_env": str, "key_required": bool,
          "auth": str, "token_cap": str, "local": bool, "prices": dict, "rules": list,
          "check_models": bool, "concurrency": int, "timeout": float, "service_tiers": list,
          "token_count": str}
#: Bounds of the numeric fields: runs a provider serves at once, seconds each upstream read waits.
BOUNDS = {"concurrency": (1, 1024), "timeout": (0.5, 3600.0)}
#: The token-cap field of a table that names none: the one most OpenAI-compatible chat servers
#: read (llama-cpp-python reads only ``max_tokens``); presets name theirs.
DEFAULT_CAP = {"chat": "max_tokens", "responses": "max_output_tokens"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
#: Fine-tuned OpenAI ids start with "ft:"; that prefix is part of the model name, not a provider.
NOT_PROVIDERS = ("ft",)

Price = tuple[float, float]


@dataclass(frozen=True)
class Provider:
    """One provider: its endpoint, API, key variable, token-cap field, prices and rules."""

    name: str
    api: str = "chat"
    base_url: str = ""
    base_url_env: str | None = None
    key_env: str | None = None
    key_required: bool = True
    auth: str = "bearer"
    token_cap: str = "max_tokens"
    local: bool = False
    prices: dict[str, Price] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    check_models: bool | None = None  #: ask GET /models once and note unlisted models (None: if local)
    concurrency: int | None = None  # runs served at once; None: no limit of the provider's
    timeout: float | None = None  # seconds each upstream read may wait; None: the client's bound
    service_tiers: tuple[str, ...] = ()  #: the ``service_tier`` values it takes (OpenAI: flex...)
    token_count: str | None = None  #: its prompt-token count endpoint (``apis.TOKEN_COUNTS``)

    def rule(self, setting: str, model: str) -> Rule | None:
        """The documented rule for ``setting`` on ``model`` (see ``provider_rules``), if any."""
        return first_rule(self.rules, setting, model)

    def offers_tier(self, tier: str | None) -> bool:
        """Whether a run may ask this provider for ``tier`` (its ``service_tiers``)."""
        return tier is not None and tier in self.service_tiers

    def refuses(self, setting: str, model: str) -> bool:
        """Whether the provider refuses ``setting`` on ``model`` whatever its value."""
        rule = self.rule(setting, model)
        return rule is not None and rule.does == "refuses" and rule.min is None and rule.max is None

    def endpoint(self) -> str:
        """The base URL: ``$base_url_env`` when set, else ``base_url`` (ValidationError if none)."""
        from_env = os.environ.get(self.base_url_env) if self.base_url_env else None
        if from_env and not usable_url(from_env):  # never quoted: it may hold a password
            raise ValidationError(f"${self.base_url_env} (provider {self.name!r}) is not an http(s) "
                                  "URL without user, query or fragment, with a port up to 65535",
                                  param="model")
        url = from_env or self.base_url
        if not url:
            raise ValidationError(f"provider {self.name!r} has no base URL: set ${self.base_url_env}"
                                  if self.base_url_env else
                                  f"provider {self.name!r} has no base_url in providers.toml")
        return url.rstrip("/")

    def key(self) -> str | None:
        """The provider's key from its variable, read now; None when unset (and not required)."""
        value = os.environ.get(self.key_env, "").strip() if self.key_env else ""
        if not value and self.key_required and self.key_env and not self.offline:
            raise ValidationError(f"provider {self.name!r} needs a key: set ${self.key_env}",
                                  param="model")
        return value or None

    def check_ready(self) -> None:
        """Fail before sending anything when the key or the base URL is missing."""
        if not self.offline:
            self.key()
            self.endpoint()

    @property
    def offline(self) -> bool:
        """Whether its engine calls no upstream (echo, or an api registered ``offline``)."""
        return apis.offline(self.api)


def user_file() -> Path:
    """The user's providers file: ``$THREADRUN_HOME/providers.toml``."""
    return config.home() / "providers.toml"


def _packaged_text() -> str:
    return resources.files("threadrun").joinpath("data/providers.toml").read_text(encoding="utf-8")


_cache: dict[tuple, dict[str, Provider]] = {}


def providers() -> dict[str, Provider]:
    """Every provider, presets then the user's file merged over (re-read when the file changes)."""
    path = user_file()
    try:
        info = path.stat()
        stamp = info.st_mtime_ns, info.st_size
    except OSError:
        stamp = None
    key = (str(path), stamp)
    if key not in _cache:
        tables = _tables(_packaged_text(), "the packaged providers.toml")
        if stamp is not None:
            for name, table in _tables(_read(path), str(path)).items():
                preset = tables.get(name)
                if preset is None:  # a table of the user's own: defaults that fit what it says
                    table = {**own_defaults(table), **table}
                tables[name] = _merged(preset or {}, table)
        _cache.clear()
        _cache[key] = {name: Provider(name=name, **table) for name, table in tables.items()}
    return _cache[key]


def own_defaults(table: dict[str, Any]) -> dict[str, Any]:
    """Defaults for a table of the user's own (not over a preset): the usual cap field; a server
    on this machine (a loopback base URL) is local (runs cost 0); a key is needed only when the
    table names the variable it is read from (``key_env``)."""
    return {"token_cap": DEFAULT_CAP.get(table.get("api", "chat"), "max_tokens"),
            "local": _loopback(table.get("base_url", "")),
            "key_required": bool(table.get("key_env"))}


def _loopback(url: Any) -> bool:
    from urllib.parse import urlsplit
    try:
        return isinstance(url, str) and config.is_loopback(urlsplit(url).hostname)
    except ValueError:
        return False


def _merged(preset: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """A user's table over a preset, field by field; the user's rules come before the preset's."""
    merged = {**preset, **table}
    if "rules" in table and "rules" in preset:
        merged["rules"] = (*table["rules"], *preset["rules"])
    return merged


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValidationError(f"{path}: cannot read it ({reason})") from None


#: A providers file larger than this, or with more tables, is refused (a typo'd path to a big
#: file, or a generated one gone wrong) before it is parsed.
MAX_FILE_BYTES, MAX_TABLES = 1 << 20, 1000


def _tables(text: str, where: str) -> dict[str, dict[str, Any]]:
    """The checked ``[providers.NAME]`` tables of one TOML text (ValidationError: file, line, field)."""
    if len(text) > MAX_FILE_BYTES:
        raise ValidationError(f"{where}: {len(text):,} characters; a providers file holds at most "
                              f"{MAX_FILE_BYTES:,}")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"{where}: not valid TOML: {exc}") from None
    unknown = [k for k in data if k != "providers"]
    if unknown:
        raise ValidationError(f"{where}, line {_line_of(text, unknown[0])}: unknown table "
                              f"{unknown[0]!r}; write [providers.NAME] tables")
    tables = data.get("providers") or {}
    if not isinstance(tables, dict):
        raise ValidationError(f"{where}, line {_line_of(text, 'providers')}: 'providers' is "
                              f"{type(tables).__name__}; write one [providers.NAME] table per provider")
    if len(tables) > MAX_TABLES:
        raise ValidationError(f"{where}: {len(tables):,} provider tables; at most {MAX_TABLES:,}")
    out: dict[str, dict[str, Any]] = {}
    for name, table in tables.items():
        out[name] = _check_table(name, table, text, where)
    return out


def _check_table(name: str, table: Any, text: str, where: str) -> dict[str, Any]:
    """One provider table, each field checked; errors name the file, the line and the field."""
    def bad(key: str | None, problem: str) -> ValidationError:
        line = _line_of(text, f"providers.{name}", key)
        return ValidationError(f"{where}, line {line}: [providers.{name}]"
                               f"{'.' + key if key else ''}: {problem}")
    if not NAME_RE.match(name) or name in NOT_PROVIDERS:
        raise bad(None, "a provider name is lowercase letters, digits, '-' or '_'")
    if not isinstance(table, dict):
        raise bad(None, "expected a table")
    for key, value in table.items():
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; fields: {', '.join(FIELDS)}"
            raise bad(key, f"unknown field{hint}")
        if not _typed(value, FIELDS[key]):
            raise bad(key, f"expected {FIELDS[key].__name__.replace('str', 'a string')}, "
                           f"got {value!r}")
        if key in BOUNDS and not BOUNDS[key][0] <= value <= BOUNDS[key][1]:
            raise bad(key, f"{value!r} is not between {BOUNDS[key][0]:g} and {BOUNDS[key][1]:g}")
    for key, allowed in (("api", apis.names()), ("token_cap", TOKEN_CAPS), ("auth", AUTHS),
                         ("token_count", apis.TOKEN_COUNTS)):
        if key in table and table[key] not in allowed:
            close = difflib.get_close_matches(table[key], allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise bad(key, f"{table[key]!r} is not one of {', '.join(allowed)}{hint}")
    if table.get("base_url") and not usable_url(table["base_url"]):
        raise bad("base_url", f"{table['base_url']!r} is not an http(s) URL without user, query "
                              "or fragment, with a port up to 65535")
    for key in ("key_env", "base_url_env"):
        if key in table and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", table[key]):
            raise bad(key, f"{table[key]!r} is not an environment variable name")
    if "prices" in table:
        try:
            table = {**table, "prices": {m: _price(m, v) for m, v in table["prices"].items()}}
        except ValueError as exc:
            raise bad("prices", str(exc)) from None
    if "service_tiers" in table:
        from ..spec import SERVICE_TIERS
        bad_tier = next((t for t in table["service_tiers"] if t not in SERVICE_TIERS), None)
        if bad_tier is not None:
            raise bad("service_tiers", f"{bad_tier!r} is not one of {', '.join(SERVICE_TIERS)}")
        table = {**table, "service_tiers": tuple(table["service_tiers"])}
    if "rules" in table:
        try:
            table = {**table, "rules": parse_rules(table["rules"])}
        except ValueError as exc:
            field, _, problem = str(exc).partition(": ")
            line = _rule_line(text, name, field)
            raise ValidationError(f"{where}, line {line}: [providers.{name}].{field}: {problem}") from None
    return table


def _typed(value: Any, kind: type) -> bool:
    """Whether a TOML value has a field's type (an int is a float; a bool is never a number)."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def _price(model: str, value: Any) -> Price:
    """``[input, output]`` USD per 1M tokens, both finite and >= 0."""
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    and math.isfinite(v) and v >= 0 for v in value)):
        return float(value[0]), float(value[1])
    raise ValueError(f"price of {model!r} must be [input, output] USD per 1M tokens, got {value!r}")


def _line_of(text: str, table: str, key: str | None = None) -> int:
    """The 1-based line of ``[table]`` (or of ``key`` inside it) in a TOML text; 1 if not found."""
    lines = text.splitlines()
    head = re.compile(r"^\s*\[\s*" + re.escape(table).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    start = next((i for i, line in enumerate(lines) if head.match(line)), None)
    if start is None:
        dotted = re.compile(r"^\s*" + re.escape(table.split(".")[-1]) + r"\s*[.=]")
        return next((i + 1 for i, line in enumerate(lines) if dotted.match(line)), 1)
    if key is None:
        return start + 1
    keyed = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if keyed.match(lines[i]):
            return i + 1
    return start + 1


def _rule_line(text: str, name: str, field: str) -> int:
    """The line of ``rules[N].key`` (the Nth ``[[providers.NAME.rules]]``, then its key)."""
    match = re.match(r"rules\[(\d+)\]\.?(\w*)", field)
    if not match:
        return _line_of(text, f"providers.{name}", "rules")
    index, key = int(match.group(1)), match.group(2)
    head = re.compile(r"^\s*\[\[\s*providers\s*\.\s*" + re.escape(name) + r"\s*\.\s*rules\s*\]\]")
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if head.match(line)]
    if len(starts) < index:
        return _line_of(text, f"providers.{name}", "rules")
    start = starts[index - 1]
    keyed = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=") if key else None
    for i in range(start + 1, len(lines)):
        if lines[i].lstrip().startswith("["):
            break
        if keyed is not None and keyed.match(lines[i]):
            return i + 1
    return start + 1


def split_spec(spec: str) -> tuple[str | None, str]:
    """``"openai:gpt-5-mini"`` → ``("openai", "gpt-5-mini")``; no prefix → ``(None, spec)``."""
    prefix, sep, rest = spec.partition(":")
    if not sep or prefix in NOT_PROVIDERS or not re.match(r"^[A-Za-z][\w.-]*$", prefix):
        return None, spec
    return prefix, rest


def default_provider() -> str:
    """The provider of a model given without a prefix: openai when ``$OPENAI_API_KEY`` is set, else echo."""
    return "openai" if os.environ.get("OPENAI_API_KEY", "").strip() else "echo"


def get(name: str, where: str = "") -> Provider:
    """The provider called ``name``; unknown: a one-line ValidationError with the closest name."""
    known = providers()
    if name not in known:
        close = difflib.get_close_matches(name.lower(), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(f"unknown provider {name!r}{where}{hint}; known: {', '.join(known)} "
                              f"(add others in {user_file()})", param="model")
    return known[name]


_URL = re.compile(r"^https?://[^/?#@\s]+(/[^?#\s]*)?$")


def usable_url(url: str) -> bool:
    """An http(s) URL with no user, query, fragment, whitespace or control character, and a port
    that exists (1-65535)."""
    if not isinstance(url, str) or not _URL.match(url) or not url.isprintable():
        return False
    from urllib.parse import urlsplit
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port > 0


def check_spec(spec: str) -> None:
    """Refuse a model spec that would not run where it says: an invisible or control character
    anywhere, a provider prefix with look-alike letters (``ｏlama:x``), or an empty one (``:m``).
    Any of these would otherwise fall back to the default provider and send the thread there."""
    import unicodedata
    for i, char in enumerate(spec):
        if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") or (char.isspace() and char != " "):
            raise ValidationError(f"model {spec!r} has an invisible or control character "
                                  f"(U+{ord(char):04X}) at position {i + 1}; type the name again",
                                  param="model")
    if spec != spec.strip():
        raise ValidationError(f"model {spec!r} starts or ends with a space", param="model")
    prefix, sep, _ = spec.partition(":")
    if sep and not prefix:
        raise ValidationError(f"model {spec!r} has an empty provider prefix; write provider:model "
                              "(`threadrun providers` lists them) or drop the ':'", param="model")
    if sep and not prefix.isascii():
        plain = unicodedata.normalize("NFKC", prefix).lower()
        close = difflib.get_close_matches(plain, providers(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValidationError(f"model {spec!r}: the provider prefix {prefix!r} has characters that "
                              f"only look like letters{hint}", param="model")


def resolve(spec: str, default: str | None = None) -> tuple[Provider, str]:
    """The Provider and model name of a spec; an unknown prefix is a one-line ValidationError."""
    check_spec(spec)
    prefix, model = split_spec(spec)
    provider = get(prefix or default or default_provider(), f" in model {spec!r}")
    if not model:
        raise ValidationError(f"model {spec!r} names a provider but no model", param="model")
    return provider, model


def qualified(spec: str, default: str | None = None) -> str:
    """The spec with its provider written out: ``gpt-4o`` → ``echo:gpt-4o`` (or ``openai:``)."""
    provider, model = resolve(spec, default)
    return f"{provider.name}:{model}"
