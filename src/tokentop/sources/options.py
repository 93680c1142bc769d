"""Options every source kind accepts: role, format, default token source, field mapping, and ``start``."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokentop.config import Config, ConfigError
from tokentop.core.formats import FORMATS
from tokentop.core.field_map import MAPPABLE_FIELDS
from tokentop.core.normalise import CostFunction, NormaliseOptions, Normaliser
from tokentop.core.pricing import PriceError, PriceTable, shipped_table
from tokentop.core.timeparse import parse_time

COMMON_OPTIONS = frozenset({"role", "format", "default_token_source", "fields", "start"})


@dataclass(frozen=True, slots=True)
class Start:
    """Where a source begins in what is already there when it starts (the ``start`` option, the same
    for every kind): ``end``, ``beginning``, the last ``lines`` records (``tail``; lines of each file,
    rows of each table), or every record at or after ``since`` (UTC epoch seconds)."""

    mode: str = "end"
    lines: int = 0
    since: float | None = None

    def __str__(self) -> str:
        if self.mode == "tail":
            return f"tail:{self.lines}"
        if self.mode == "since":
            return f"since:{self.since:g}"
        return self.mode


def parse_start(value: Any, where: str, config: Config) -> Start:
    """``"end"``, ``"beginning"``, ``"tail:N"`` (or an integer N), ``"since:TIME"`` (epoch or ISO)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return Start("tail", lines=value)
    if value in ("end", "beginning"):
        return Start(value)
    if isinstance(value, str) and value.startswith("tail:") and value[5:].isdigit():
        return Start("tail", lines=int(value[5:]))
    if isinstance(value, str) and value.startswith("since:"):
        try:
            since = parse_time(value[6:])
        except ValueError:
            since = None
        if since is not None:
            return Start("since", since=since)
    raise ConfigError(config.path, where, "must be 'end', 'beginning', 'tail:N' or 'since:TIME'")


def start_of(name: str, options: Mapping[str, Any], config: Config, default: str = "end") -> Start:
    """The ``start`` option of source ``name`` (``default`` when absent): where it begins."""
    return parse_start(options.get("start", default), f"sources.{name}.start", config)


def normaliser_for(name: str, options: Mapping[str, Any], config: Config) -> Normaliser:
    """A Normaliser configured from a source's options (errors name the config key)."""
    where = f"sources.{name}"
    fmt = options.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ConfigError(config.path, f"{where}.format", f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    default = options.get("default_token_source", "actual")
    if default not in ("actual", "estimated"):
        raise ConfigError(config.path, f"{where}.default_token_source", "must be 'actual' or 'estimated'")
    fields = options.get("fields", {})
    if not isinstance(fields, Mapping) or not all(isinstance(v, str) for v in fields.values()):
        raise ConfigError(config.path, f"{where}.fields", "must map field names to dotted paths")
    unknown = set(fields) - MAPPABLE_FIELDS
    if unknown:
        raise ConfigError(config.path, f"{where}.fields.{sorted(unknown)[0]}",
                          f"unknown field (mappable: {', '.join(sorted(MAPPABLE_FIELDS))})")
    opts = NormaliseOptions(source=name, default_token_source=default, format=fmt, field_map=dict(fields))
    return Normaliser(opts, cost_of=cost_function(config))


def role_of(name: str, options: Mapping[str, Any], config: Config) -> str:
    role = options.get("role", "primary")
    if role not in ("primary", "reference"):
        raise ConfigError(config.path, f"sources.{name}.role", "must be 'primary' or 'reference'")
    return str(role)


def check_options(name: str, options: Mapping[str, Any], allowed: frozenset[str], config: Config) -> None:
    unknown = set(options) - allowed - COMMON_OPTIONS
    if unknown:
        raise ConfigError(config.path, f"sources.{name}.{sorted(unknown)[0]}", "unknown source option")


@functools.cache
def _shipped_prices() -> PriceTable:
    return shipped_table()


def cost_function(config: Config) -> CostFunction:
    """Cost from the shipped price table with the config's ``[prices."model"]`` overrides."""
    try:
        table = _shipped_prices().with_overrides(config.prices)
    except PriceError as exc:
        raise ConfigError(config.path, exc.key, exc.problem) from None
    return table.cost
