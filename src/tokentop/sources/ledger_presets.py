"""Known ledger layouts: which tables to follow, which columns to read, and how to read a row.

``usage_logs`` covers the gateway/app ledgers of the seeds (snake_case ``prompt_tokens``/``user_id``/
``token_source`` or camelCase ``inputTokens``/``companyId`` with a JSON ``metadata``); its rows are plain
records for the ``app`` format. ``llm`` covers simonw/llm's ``logs.db``: both the old ``responses`` and
the new ``turns`` table are followed when present, read by the ``llm_logs`` format.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass



@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    tables: tuple[str, ...]
    """Tables followed, in this order; every one that exists is read."""
    columns: tuple[str, ...] | None
    """Columns read (only those the table has); None reads every column."""
    json_columns: tuple[str, ...]
    """Text columns holding JSON, decoded before the row is normalised."""
    format: str | None
    """The format (by registry name) that reads the rows; None lets the normaliser detect it per row."""


PRESETS: dict[str, Preset] = {
    "usage_logs": Preset(
        name="usage_logs",
        tables=("usage_logs",),
        columns=None,
        json_columns=("metadata", "token_details", "tokenDetails", "usage"),
        format="app",
    ),
    "llm": Preset(
        name="llm",
        tables=("responses", "turns"),
        # never the prompt/response text: it is large and tokentop does not show it
        columns=("id", "model", "resolved_model", "input_tokens", "output_tokens", "token_details",
                 "duration_ms", "datetime_utc", "conversation_id", "thread_id"),
        json_columns=("token_details",),
        format="llm_logs",
    ),
}


def detect_preset(tables: Collection[str]) -> Preset | None:
    """The preset whose tables the database has (``usage_logs`` first), or None."""
    for preset in PRESETS.values():
        if any(table in tables for table in preset.tables):
            return preset
    return None


def preset_for_table(table: str, json_columns: tuple[str, ...]) -> Preset:
    """How to read a table named in config: a known preset's rules, else every column, detected."""
    for preset in PRESETS.values():
        if table in preset.tables:
            return Preset(preset.name, (table,), preset.columns, preset.json_columns + json_columns,
                          preset.format)
    return Preset("custom", (table,), None, PRESETS["usage_logs"].json_columns + json_columns, None)
