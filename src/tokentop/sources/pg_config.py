"""The options of a ``postgres`` source (see docs/sources-postgres.md): checked and turned into settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokentop.config import Config, ConfigError
from tokentop.sources.pg_dsn import LIBPQ_OPTIONS, Dsn, DsnError, parse
from tokentop.sources.pg_follow import DEFAULT_LOOKBACK
from tokentop.sources.pg_tables import PRESET_NAMES, split_name

OPTIONS = frozenset({"dsn", "table", "preset", "columns", "id_column", "poll_interval", "batch_size",
                     "statement_timeout", "lookback", "password_env", "notify_channel", "sum_history"}) | LIBPQ_OPTIONS
DEFAULT_POLL_INTERVAL = 0.25
DEFAULT_BATCH_SIZE = 2000
DEFAULT_STATEMENT_TIMEOUT = 60.0

@dataclass(frozen=True, slots=True)
class PostgresSettings:
    dsn: Dsn
    table: str | None = None
    preset: str | None = None
    id_column: str | None = None
    columns: tuple[str, ...] = ()
    json_columns: tuple[str, ...] = ()
    custom_fields: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    batch_size: int = DEFAULT_BATCH_SIZE
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    lookback: float = DEFAULT_LOOKBACK
    notify_channel: str | None = None
    sum_history: bool = True


def settings_of(name: str, options: Mapping[str, Any], config: Config) -> tuple[PostgresSettings, dict[str, str]]:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(config.path, f"sources.{name}.{key}", problem)

    raw = options.get("dsn")
    if not isinstance(raw, str) or not raw:
        raise bad("dsn", "a postgres source needs a libpq URL or conninfo string")
    try:
        dsn = parse(raw, options)
    except DsnError as exc:
        raise bad("dsn", str(exc)) from None
    table = options.get("table", dsn.own.get("table"))
    preset = options.get("preset", dsn.own.get("preset"))
    if preset is not None and preset not in PRESET_NAMES:
        raise bad("preset", f"unknown preset {preset!r} (known: {', '.join(PRESET_NAMES)})")
    for key, value in (("table", table), ("id_column", options.get("id_column")),
                       ("notify_channel", options.get("notify_channel"))):
        if value is not None and not (isinstance(value, str) and value):
            raise bad(key, "must be a non-empty string")
    if table is not None and len(split_name(table)) > 2:
        raise bad("table", "must be table or schema.table")
    columns = options.get("columns", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) and v for v in columns.values()):
        raise bad("columns", "must map field names to a column or column.json.path")
    given = options.get("fields", {})
    if not isinstance(given, Mapping):
        raise bad("fields", "must map field names to dotted paths")
    fields = {**columns, **given}
    heads = tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values() if isinstance(v, str)))
    numbers: dict[str, Any] = {}
    for key, default, kind in (("poll_interval", DEFAULT_POLL_INTERVAL, float),
                               ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT, float),
                               ("lookback", DEFAULT_LOOKBACK, float), ("batch_size", DEFAULT_BATCH_SIZE, int)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
                kind is int and not isinstance(value, int)):
            raise bad(key, f"must be a positive {'whole ' if kind is int else ''}number")
        numbers[key] = kind(value)
    sum_history = options.get("sum_history", True)
    if not isinstance(sum_history, bool):
        raise bad("sum_history", "must be true or false")
    settings = PostgresSettings(
        dsn=dsn, table=table, preset=preset, id_column=options.get("id_column"), columns=heads,
        custom_fields=bool(fields), notify_channel=options.get("notify_channel"), sum_history=sum_history,
        **numbers)
    return settings, fields
