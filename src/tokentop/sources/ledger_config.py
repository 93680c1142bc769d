"""A ledger source's options: checked, with errors naming the config key (``[sources.NAME]``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokentop.config import Config
from tokentop.core.normalise import Normaliser
from tokentop.sources.ledger_presets import PRESETS, Preset
from tokentop.sources.options import Start, check_options, normaliser_for, role_of, start_of
from tokentop.sources.table_options import (TABLE_OPTIONS, TableSettings, check_names, check_preset, mapped_columns,
                                            mapped_fields, option_error, positive_numbers, sum_history_of)

OPTIONS = TABLE_OPTIONS | {"path", "busy_timeout"}
DEFAULT_POLL_INTERVAL = 0.2
DEFAULT_BATCH_SIZE = 1_000
"""Rows per fetch: small enough that a fetched batch is still in the CPU caches when it is decoded."""
DEFAULT_BUSY_TIMEOUT = 0.25
"""Seconds a query waits on a lock before the poll gives up and tries again next time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerSettings(TableSettings):
    path: Path
    poll_interval: float = DEFAULT_POLL_INTERVAL
    batch_size: int = DEFAULT_BATCH_SIZE
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT


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
    bad = option_error(name, config)
    path = options.get("path")
    if not isinstance(path, str) or not path:
        raise bad("path", "a ledger source needs the path of its SQLite file")
    preset = options.get("preset")
    check_preset(preset, PRESETS, bad)
    check_names(((key, options[key]) for key in ("table", "id_column") if key in options), bad)
    fields = mapped_fields(options, bad)
    numbers = positive_numbers(options, (("poll_interval", DEFAULT_POLL_INTERVAL, float),
                                         ("busy_timeout", DEFAULT_BUSY_TIMEOUT, float),
                                         ("batch_size", DEFAULT_BATCH_SIZE, int)), bad)
    settings = LedgerSettings(
        path=Path(path).expanduser(), table=options.get("table"), preset=preset, id_column=options.get("id_column"),
        columns=mapped_columns(fields), json_columns=mapped_columns(fields, json_only=True),
        sum_history=sum_history_of(options, bad), **numbers,
    )
    return settings, fields
