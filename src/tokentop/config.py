"""TOML configuration: where it is found, what it holds, and one clear error when it is wrong.

Search order: ``--config PATH``, else ``$TOKENTOP_CONFIG``, else ``tokentop.toml`` in the working
directory, else ``tokentop.toml`` / ``config.toml`` in the platform's user config dir
(``platformdirs.user_config_path("tokentop")``). No file is fine: everything has a default.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platformdirs import user_config_path

from tokentop.core.keycap import DEFAULT_MAX_KEYS
from tokentop.core.periods import Period
from tokentop.core.plans import Plan, PlanBook
from tokentop.sources.kinds import KINDS

DEFAULT_MAX_BODY_BYTES = 1 << 20
"""Bytes of an HTTP response body read at most (``[limits] max_body_bytes``)."""


class ConfigError(Exception):
    """A configuration problem, naming the file, the key and what is wrong with it."""

    def __init__(self, file: Path | str | None, key: str, problem: str) -> None:
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{key}: {problem}" if key else f"{where}{problem}")
        self.file, self.key, self.problem = file, key, problem


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A source declared by name in config (kind-specific options are checked by the source)."""

    name: str
    kind: str
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Limits:
    """The ``[limits]`` table: bounds on what tokentop keeps of what it reads (docs/reliability.md)."""

    max_keys: int = DEFAULT_MAX_KEYS
    """Distinct values kept per dimension (user, model, provider, platform); the least used beyond
    it are folded into ``(other)``."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Default for every HTTP source's ``max_body_bytes``."""


@dataclass(frozen=True, slots=True)
class Config:
    path: Path | None = None
    plans: PlanBook = field(default_factory=PlanBook)
    sources: tuple[SourceConfig, ...] = ()
    alerts: Mapping[str, Any] = field(default_factory=dict)
    """The ``[alerts]`` table: per-rule thresholds and the mute list (checked by the alert rules)."""
    display: Mapping[str, Any] = field(default_factory=dict)
    prices: Mapping[str, Any] = field(default_factory=dict)
    """The ``[prices]`` table: per-model price overrides."""
    metrics: Mapping[str, Any] = field(default_factory=dict)
    """The ``[metrics]`` table: the Prometheus export's cardinality bounds (checked by tokentop.prometheus)."""
    limits: Limits = field(default_factory=Limits)
    keys: Mapping[str, Any] = field(default_factory=dict)
    """The ``[keys]`` table: binding id -> keys (checked by the live app's keymap)."""


def config_dir() -> Path:
    return user_config_path("tokentop", appauthor=False)


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(path, "", "no such config file")
        return path
    if env := os.environ.get("TOKENTOP_CONFIG"):
        path = Path(env).expanduser()
        if not path.is_file():  # a config asked for by name must not be silently replaced by another
            raise ConfigError(path, "TOKENTOP_CONFIG", "no such config file")
        return path
    candidates = [Path.cwd() / "tokentop.toml"]
    candidates += [config_dir() / "tokentop.toml", config_dir() / "config.toml"]
    return next((p for p in candidates if p.is_file()), None)


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    path = find_config(explicit)
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML ({exc})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read ({exc})") from None
    return parse_config(data, path)


KNOWN_TABLES = frozenset({"billing", "plans", "users", "sources", "alerts", "display", "prices", "metrics",
                          "keys", "limits"})


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> Config:
    """The whole config, checked once for every command: a setting one command would reject is
    rejected by all of them (``[alerts]``, ``[prices]`` and ``[metrics]`` too, though only some
    commands use them)."""
    unknown = set(data) - KNOWN_TABLES
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], f"unknown setting (known: {', '.join(sorted(KNOWN_TABLES))})")
    config = Config(
        path=path,
        plans=_plan_book(data, path),
        sources=_sources(_table(data, "sources", path), path),
        alerts=_table(data, "alerts", path),
        display=_table(data, "display", path),
        prices=_table(data, "prices", path),
        metrics=_table(data, "metrics", path),
        keys=_table(data, "keys", path),
        limits=_limits(_table(data, "limits", path), path),
    )
    _check_tables(config)
    return config


def _check_tables(config: Config) -> None:
    """``[alerts]``, ``[prices]`` and ``[metrics]``, checked by the code that uses them."""
    from tokentop.core.alerts.settings import SettingError, parse_alert_settings
    from tokentop.core.pricing import PriceError, parse_price

    try:
        parse_alert_settings(config.alerts)
        for name, spec in config.prices.items():
            parse_price(spec, f"prices.{name}")
    except (SettingError, PriceError) as exc:
        raise ConfigError(config.path, exc.key, exc.problem) from None
    if config.metrics:  # (only then: the exporter's module is slow to import)
        from tokentop.prometheus import view_settings

        view_settings(config)


LIMIT_MINIMUMS = {"max_keys": 10, "max_body_bytes": 1024}


def _limits(table: Mapping[str, Any], path: Path | None) -> Limits:
    _known_keys(table, frozenset(LIMIT_MINIMUMS), "limits", path)
    values = {}
    for key, least in LIMIT_MINIMUMS.items():
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(path, f"limits.{key}", f"must be a whole number >= {least}")
            values[key] = value
    return Limits(**values)


def _table(data: Mapping[str, Any], key: str, path: Path | None) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise ConfigError(path, key, "must be a table")
    return value


def _string(table: Mapping[str, Any], key: str, default: str, where: str, path: Path | None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(path, f"{where}.{key}", "must be a string")
    return value


def _known_keys(table: Mapping[str, Any], known: frozenset[str], where: str, path: Path | None) -> None:
    """A misspelt key (``timezon``) is an error, not a silently ignored setting."""
    unknown = set(table) - known
    if unknown:
        raise ConfigError(path, f"{where}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(known))})")


def _period(spec: str, tz: str, where: str, path: Path | None) -> Period:
    try:
        Period.parse("month", tz)
    except ValueError as exc:
        raise ConfigError(path, f"{where}.timezone", str(exc)) from None
    try:
        return Period.parse(spec, tz)
    except ValueError as exc:
        raise ConfigError(path, f"{where}.period", str(exc)) from None


BILLING_KEYS = frozenset({"period", "timezone"})
PLAN_KEYS = frozenset({"limit", "period", "timezone"})
USERS_KEYS = frozenset({"plans", "default_plan"})


def _plan_book(data: Mapping[str, Any], path: Path | None) -> PlanBook:
    billing = _table(data, "billing", path)
    _known_keys(billing, BILLING_KEYS, "billing", path)
    tz = _string(billing, "timezone", "UTC", "billing", path)
    billing_period = _period(_string(billing, "period", "month", "billing", path), tz, "billing", path)
    plans: dict[str, Plan] = {}
    for name, spec in _table(data, "plans", path).items():
        if not isinstance(spec, Mapping):
            raise ConfigError(path, f"plans.{name}", "must be a table with 'limit' (and optionally 'period')")
        _known_keys(spec, PLAN_KEYS, f"plans.{name}", path)
        limit = spec.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ConfigError(path, f"plans.{name}.limit", "must be a whole number of tokens (>= 0), or absent")
        period_spec = spec.get("period")
        if period_spec is None and "timezone" not in spec:
            period = billing_period
        elif period_spec is None or isinstance(period_spec, str):
            period = _period(period_spec or billing_period.label,
                             _string(spec, "timezone", tz, f"plans.{name}", path), f"plans.{name}", path)
        else:
            raise ConfigError(path, f"plans.{name}.period", "must be a string")
        plans[name] = Plan(name, limit, period)
    users = _table(data, "users", path)
    _known_keys(users, USERS_KEYS, "users", path)
    assignments = users.get("plans", {})
    if not isinstance(assignments, Mapping) or not all(isinstance(v, str) for v in assignments.values()):
        raise ConfigError(path, "users.plans", "must map user ids to plan names")
    for user, plan in assignments.items():
        if plan not in plans:
            raise ConfigError(path, f"users.plans.{user}", f"unknown plan {plan!r}")
    default = users.get("default_plan")
    if default is not None and not isinstance(default, str):
        raise ConfigError(path, "users.default_plan", "must be a plan name")
    if default is not None and default not in plans:
        raise ConfigError(path, "users.default_plan", f"unknown plan {default!r}")
    return PlanBook(plans, dict(assignments), default, billing_period)


SOURCE_KINDS = frozenset(KINDS)
"""Every kind a config may name (registered in tokentop.sources.kinds)."""


def _sources(table: Mapping[str, Any], path: Path | None) -> tuple[SourceConfig, ...]:
    out = []
    for name, spec in table.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(path, f"sources.{name}", "must be a table")
        kind = spec.get("kind")
        if not isinstance(kind, str) or kind not in SOURCE_KINDS:
            raise ConfigError(path, f"sources.{name}.kind", f"must be one of {', '.join(sorted(SOURCE_KINDS))}")
        role = spec.get("role", "primary")
        if not isinstance(role, str) or role not in ("primary", "reference"):
            raise ConfigError(path, f"sources.{name}.role", "must be 'primary' or 'reference'")
        out.append(SourceConfig(name, kind, {k: v for k, v in spec.items() if k != "kind"}))
    return tuple(out)
