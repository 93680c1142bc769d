"""Where a PostgreSQL source resumes, and where it starts without a resume state.

The resume state is the follower's place in the table, as of the batches yielded: the highest key
counted (following by a monotonic key), or the newest time counted and the request ids seen within
the look-back window before it (following by time: a late row is still recognised as counted). A
restored state skips summing history: reading continues after the place, row by row. It never holds
the DSN's password (the table and the mode only).

The ``start`` option without a state: ``beginning`` (the default) sums the history; ``since:TIME`` sums
from TIME on (the database filters); when following, ``end`` counts only rows committed from now on and
``tail:N`` reads the newest N rows one by one (nothing summed). Reading to the end (``snapshot``) reads
everything, ``since`` filtered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from tokentop.sources.pg_follow import RowCursor
from tokentop.sources.options import Start


class PgState(msgspec.Struct, forbid_unknown_fields=False):
    table: str | None = None
    """The table as SQL (quoted, schema-qualified when configured so); None: nothing read yet."""
    by: str | None = None
    """``key`` or ``time``."""
    high_water: int | None = None
    newest: float | None = None
    seen: list[str] = []


def parse_state(body: Mapping[str, Any]) -> PgState | str:
    """The state, or why it does not fit."""
    try:
        state = msgspec.convert({k: v for k, v in body.items() if k not in ("kind", "version")}, PgState)
    except msgspec.ValidationError as exc:
        return f"it does not have the shape of a postgres state ({exc})"
    if state.by not in (None, "key", "time"):
        return f"unknown follow mode {state.by!r}"
    return state


def state_of(table: str | None, cursor: RowCursor | None) -> dict[str, Any]:
    if cursor is None or table is None:
        return {"table": table}
    if cursor.by_key:
        return {"table": table, "by": "key", "high_water": cursor.high_water}
    return {"table": table, "by": "time", "newest": cursor.newest,
            "seen": [k for k in cursor.seen if isinstance(k, str)]}


def resume(cursor: RowCursor, table: str, state: PgState) -> str | None:
    """Place ``cursor`` where ``state`` says; None when it did, else why it could not."""
    if state.table != table:
        return f"it is of table {str(state.table)[:100]}, not {table}"
    if state.by == "key" and cursor.by_key and state.high_water is not None:
        cursor.high_water = state.high_water
        return None
    if state.by == "time" and not cursor.by_key and state.newest is not None:
        cursor.newest = state.newest
        cursor.seen = dict.fromkeys(state.seen, state.newest)  # (kept until the window moves past them)
        return None
    return f"it follows the table by {state.by}, the source by {'key' if cursor.by_key else 'time'}"


def sums_history(start: Start, follow: bool) -> bool:
    """Whether history is summed (``end`` and ``tail`` place the cursor instead, when following)."""
    return not follow or start.mode in ("beginning", "since")


async def place(conn: Any, cursor: RowCursor, start: Start) -> None:
    """``end``: after the newest row; ``tail:N``: before the newest N rows."""
    layout = cursor.layout
    order = layout.mark or layout.time
    skip = 0 if start.mode == "end" else start.lines
    cur = await conn.execute(f"SELECT {order} FROM {cursor.table} WHERE {cursor.where} AND {order} IS NOT NULL"
                             f" ORDER BY {order} DESC OFFSET %s LIMIT 1", (skip,))
    found = await cur.fetchone()
    if found is None:
        return  # fewer rows than that: all are read
    if layout.mark is not None:
        cursor.high_water = int(found[0])
    elif start.mode == "tail":
        cursor.start_after(time=_epoch(found[0]))
    else:
        await cursor.skip_window(conn, _epoch(found[0]))


def _epoch(value: Any) -> float:
    from tokentop.sources.pg_tables import epoch

    return epoch(value)
