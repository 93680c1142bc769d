"""The options of a ``postgres`` source (see docs/sources-postgres.md): checked and turned into settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tokentop.config import Config
from tokentop.sources.pg_dsn import LIBPQ_OPTIONS, Dsn, DsnError, parse
from tokentop.sources.pg_follow import DEFAULT_LOOKBACK
from tokentop.sources.pg_tables import PRESET_NAMES, split_name
from tokentop.sources.table_options import (TABLE_OPTIONS, TableSettings, check_names, check_preset, mapped_columns,
                                            mapped_fields, option_error, positive_numbers, sum_history_of)

OPTIONS = TABLE_OPTIONS | {"dsn", "statement_timeout", "lookback", "password_env", "notify_channel"} | LIBPQ_OPTIONS
DEFAULT_POLL_INTERVAL = 0.25
DEFAULT_BATCH_SIZE = 2000
DEFAULT_STATEMENT_TIMEOUT = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PostgresSettings(TableSettings):
    dsn: Dsn
    custom_fields: bool = False
    poll_interval: float = DEFAULT_POLL_INTERVAL
    batch_size: int = DEFAULT_BATCH_SIZE
    statement_timeout: float = DEFAULT_STATEMENT_TIMEOUT
    lookback: float = DEFAULT_LOOKBACK
    notify_channel: str | None = None


def settings_of(name: str, options: Mapping[str, Any], config: Config) -> tuple[PostgresSettings, dict[str, str]]:
    bad = option_error(name, config)
    raw = options.get("dsn")
    if not isinstance(raw, str) or not raw:
        raise bad("dsn", "a postgres source needs a libpq URL or conninfo string")
    try:
        dsn = parse(raw, options)
    except DsnError as exc:
        raise bad("dsn", str(exc)) from None
    table = options.get("table", dsn.own.get("table"))
    preset = options.get("preset", dsn.own.get("preset"))
    check_preset(preset, PRESET_NAMES, bad)
    names = (("table", table), ("id_column", options.get("id_column")), ("notify_channel", options.get("notify_channel")))
    check_names(((key, value) for key, value in names if value is not None), bad)
    if table is not None and len(split_name(table)) > 2:
        raise bad("table", "must be table or schema.table")
    fields = mapped_fields(options, bad)
    numbers = positive_numbers(options, (("poll_interval", DEFAULT_POLL_INTERVAL, float),
                                         ("statement_timeout", DEFAULT_STATEMENT_TIMEOUT, float),
                                         ("lookback", DEFAULT_LOOKBACK, float),
                                         ("batch_size", DEFAULT_BATCH_SIZE, int)), bad)
    # json_columns stays empty: PostgreSQL says which columns hold JSON by their type (``pg_tables.layout``).
    settings = PostgresSettings(
        dsn=dsn, table=table, preset=preset, id_column=options.get("id_column"), columns=mapped_columns(fields),
        custom_fields=bool(fields), notify_channel=options.get("notify_channel"),
        sum_history=sum_history_of(options, bad), **numbers)
    return settings, fields
