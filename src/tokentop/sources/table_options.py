"""Options shared by the sources that follow a database table (the SQLite ``ledger`` and ``postgres``):
which table, preset and columns to read, how often and how much, and whether to sum the history.

Each kind checks its own options (path or DSN, timeouts) and calls these helpers in the same order, so
an error names the config key (``[sources.NAME]``) and reads the same for both kinds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tokentop.config import Config, ConfigError

TABLE_OPTIONS = frozenset({"table", "preset", "columns", "id_column", "poll_interval", "batch_size", "sum_history"})

Bad = Callable[[str, str], ConfigError]
"""Makes the error for one option: ``bad(key, problem)``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TableSettings:
    """What both table kinds read; each kind subclasses it with its own connection and timeouts."""

    table: str | None = None
    preset: str | None = None
    id_column: str | None = None
    columns: tuple[str, ...] = ()
    """Columns named by the ``columns``/``fields`` mapping (read even when the preset would not)."""
    json_columns: tuple[str, ...] = ()
    poll_interval: float
    batch_size: int
    sum_history: bool = True
    """Sum the history in the database; false: read every row."""


def option_error(name: str, config: Config) -> Bad:
    def bad(key: str, problem: str) -> ConfigError:
        return ConfigError(config.path, f"sources.{name}.{key}", problem)
    return bad


def check_preset(preset: Any, known: Collection[str], bad: Bad) -> None:
    if preset is not None and (not isinstance(preset, str) or preset not in known):  # (a list is no key)
        raise bad("preset", f"unknown preset {preset!r} (known: {', '.join(known)})")


def check_names(values: Iterable[tuple[str, Any]], bad: Bad) -> None:
    """Each given name of a table, column or channel is a non-empty string (pass only those given)."""
    for key, value in values:
        if not (isinstance(value, str) and value):
            raise bad(key, "must be a non-empty string")


def mapped_fields(options: Mapping[str, Any], bad: Bad) -> dict[str, str]:
    """The ``columns`` mapping (field to ``column`` or ``column.json.path``) with ``fields`` over it."""
    columns = options.get("columns", {})
    if not isinstance(columns, Mapping) or not all(isinstance(v, str) and v for v in columns.values()):
        raise bad("columns", "must map field names to a column or column.json.path")
    given = options.get("fields", {})
    if not isinstance(given, Mapping):
        raise bad("fields", "must map field names to dotted paths")
    return {**columns, **given}


def mapped_columns(fields: Mapping[str, Any], *, json_only: bool = False) -> tuple[str, ...]:
    """The columns the field mapping reads (the head of each path), first-seen order; ``json_only``:
    those read with a path into them, so they hold JSON."""
    return tuple(dict.fromkeys(v.split(".", 1)[0] for v in fields.values()
                               if isinstance(v, str) and (not json_only or "." in v)))


def positive_numbers(options: Mapping[str, Any], defaults: Iterable[tuple[str, float, type]],
                     bad: Bad) -> dict[str, Any]:
    """Each ``(key, default, int or float)`` option, checked positive (and whole for ``int``)."""
    numbers: dict[str, Any] = {}
    for key, default, kind in defaults:
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or (
                kind is int and not isinstance(value, int)):
            raise bad(key, f"must be a positive {'whole ' if kind is int else ''}number")
        numbers[key] = kind(value)
    return numbers


def sum_history_of(options: Mapping[str, Any], bad: Bad) -> bool:
    sum_history = options.get("sum_history", True)
    if not isinstance(sum_history, bool):
        raise bad("sum_history", "must be true or false")
    return sum_history
