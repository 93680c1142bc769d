"""A ledger source's options: checked, with errors naming the config key (``[sources.NAME]``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokentop.config import Config, ConfigError
from tokentop.core.normalise import Normaliser
from tokentop.sources.ledger_presets import PRESETS, Preset
from tokentop.sources.options import Start, check_options, normaliser_for, role_of, start_of

OPTIONS = frozenset({"path", "table", "preset", "columns", "id_column", "poll_interval", "batch_size",
                     "busy_timeout", "sum_history"})
DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_BATCH_SIZE = 1_000
"""Rows per fetch: small enough that a fetched batch is still in the CPU caches when it is decoded."""
DEFAULT_BUSY_TIMEOUT = 0.25
"""Seconds a query waits on a lock before the poll gives up and tries again next time."""

@dataclass(frozen=True, slots=True)
class LedgerSettings:
    path: Path
    table: str | None = None
    preset: str | None = None
    id_column: str | None = None
    columns: tuple[str, ...] = ()
    """Columns named by the ``columns`` mapping (read even when the preset would not)."""
    json_columns: tuple[str, ...] = ()
    poll_interval: float = DEFAULT_POLL_INTERVAL
    batch_size: int = DEFAULT_BATCH_SIZE
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT
    sum_history: bool = True
    """Sum the history in SQLite (``ledger_sums``); false: read every row."""



def source_parts(name: str, options: Mapping[str, Any], config: Config
                 ) -> tuple[str, LedgerSettings, Callable[[Preset], Normaliser], Start]:
    """Role, settings, the normaliser for the preset found, and the start policy (default ``beginning``)."""
    check_options(name, options, OPTIONS, config)
    settings, fields = _settings(name, options, config)
    common = {k: v for k, v in options.items() if k in ("format", "default_token_source")}
    common["fields"] = fields
    normaliser_for(name, common, config)  # reject bad common options now, not at the first poll

    def for_preset(preset: Preset) -> Normaliser:
        if "format" in options or preset.format is None:
            return normaliser_for(name, common, config)
        return normaliser_for(name, {**common, "format": preset.format}, config)

    return role_of(name, options, config), settings, for_preset, start_of(name, options, config, default="beginning")

def _settings(name: str, options: Mapping[str, Any], config: Config) -> tuple[LedgerSettings, dict[str, str]]:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(config.path, f"sources.{name}.{key}", problem)

    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise bad("path", "a ledger source needs the path of its SQLite file")
    preset = options.get("preset")
    if preset is not None and preset not in PRESETS:
        raise bad("preset", f"unknown preset {preset!r} (known: {', '.join(PRESETS)})")
    for key in ("table", "id_column"):
        if key in options and not (isinstance(options[key], str) and options[key]):
            raise bad(key, "must be a non-empty string")
    columns = options.get("columns", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) and v for v in columns.values()):
        raise bad("columns", "must map field names to a column or column.json.path")
    given = options.get("fields", {})
    if not isinstance(given, Mapping):
        raise bad("fields", "must map field names to dotted paths")
    fields = {**columns, **given}
    heads = tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values() if isinstance(v, str)))
    json_heads = tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values() if isinstance(v, str) and "." in v))
    numbers = {}
    for key, default, kind in (("poll_interval", DEFAULT_POLL_INTERVAL, float),
                               ("busy_timeout", DEFAULT_BUSY_TIMEOUT, float),
                               ("batch_size", DEFAULT_BATCH_SIZE, int)):
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
                kind is int and not isinstance(value, int)):
            raise bad(key, f"must be a positive {'whole ' if kind is int else ''}number")
        numbers[key] = kind(value)
    sum_history = options.get("sum_history", True)
    if not isinstance(sum_history, bool):
        raise bad("sum_history", "must be true or false")
    settings = LedgerSettings(
        path=Path(path).expanduser(), table=options.get("table"), preset=preset, id_column=options.get("id_column"),
        columns=heads, json_columns=json_heads, sum_history=sum_history, **numbers,
    )
    return settings, fields
