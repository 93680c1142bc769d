"""A ledger's continuity: its resume state (per table the high-water mark, the anchor row and the
columns it holds), and what a file replaced by another leaves beside it (its ``-wal``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from tokentop.sources.ledger_table import decode


class TableState(msgspec.Struct):
    table: str
    mark: str
    hw: Any
    anchor: list[Any] | None
    columns: list[str]


class LedgerState(msgspec.Struct):
    """A ledger source's resume state (after ``kind``/``version``)."""

    path: str
    dev: int
    ino: int
    tables: list[TableState]


def parse_state(body: Mapping[str, Any]) -> LedgerState | str:
    """A resume state's body checked and parsed (values decodable); a string says why it does not fit."""
    try:
        state = msgspec.convert({k: v for k, v in body.items() if k not in ("kind", "version")}, LedgerState)
        for table in state.tables:
            decode(table.hw)
            for value in table.anchor or ():
                decode(value)
    except (msgspec.ValidationError, ValueError) as exc:
        return f"not a ledger state ({exc})"
    return state


def wal_size(path: Path) -> int:
    try:
        return os.stat(f"{path}-wal").st_size
    except OSError:
        return 0


def stale_wal_warning(path: Path, info: os.stat_result) -> str | None:
    """A replaced WAL ledger whose old ``-wal`` still holds frames reads wrong in every SQLite client."""
    try:
        wal = os.stat(f"{path}-wal")
    except OSError:
        return None
    if wal.st_size > 0 and wal.st_mtime_ns < info.st_mtime_ns:
        return "warning: the file was replaced but an older non-empty -wal is beside it"
    return None
