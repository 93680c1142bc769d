"""The recent-requests table: newest first, following the tail until the user scrolls away."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.binding import BindingType
from textual.message import Message

from tokentop.core.event import UsageEvent
from tokentop.ui import keymap
from tokentop.ui.view import ViewContext
from tokentop.ui.widgets import cells
from tokentop.ui.widgets.table import Column, KeyedTable, Row

MAX_ROWS = 200
"""Hundreds of rows, not thousands: every repaint re-renders the visible table (perf-limits.md §5)."""


class RequestsTable(KeyedTable):
    """Shows the newest requests; stops following (and counts what it misses) once the cursor leaves
    the top row, and resumes on ``f`` / ``Home``."""

    COLUMNS = (
        Column("time", "Time", 8),
        Column("source", "Source/platform", 14, narrow=False, descending=False),
        Column("user", "User", 12, descending=False),
        Column("provider", "Provider", 9, narrow=False, descending=False),
        Column("model", "Model", 20, descending=False),
        Column("prompt", "Prompt", 8, narrow=False, justify="right"),
        Column("completion", "Compl", 7, narrow=False, justify="right"),
        Column("total", "Total", 8, justify="right"),
        Column("cached", "Cached", 7, narrow=False, justify="right"),
        Column("reasoning", "Reason", 7, narrow=False, justify="right"),
        Column("token_source", "Counts", 6),
        Column("latency", "Latency", 7, narrow=False, justify="right"),
        Column("status", "Status", 7, descending=False),
        Column("cost", "Cost", 8, narrow=False, justify="right"),
    )
    DEFAULT_SORT = "time"
    DROP_ORDER = ("reasoning", "cached", "latency", "completion", "prompt", "source", "provider", "cost")
    EMPTY = "waiting for requests…"
    READING = "reading the sources…"
    """Shown instead while a source is still starting (reading its history back, say)."""
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("requests")  # type: ignore[assignment]

    class FollowChanged(Message):
        """Following switched on or off, or the count of requests missed while not following changed."""

        def __init__(self, table: RequestsTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, *, id: str | None = None, classes: str | None = None, max_rows: int = MAX_ROWS) -> None:
        super().__init__(id=id, classes=classes)
        self.max_rows = max_rows
        self.following = True
        self.missed = 0
        """Requests that arrived since the table stopped following (``N new``)."""
        self.missed_more = False
        """The newest shown request left the ring, so ``missed`` is a lower bound."""
        self.events: dict[str, UsageEvent] = {}
        """Row key -> the event shown (holding it keeps ``id()`` keys unique)."""
        self._newest: UsageEvent | None = None
        self._built: dict[str, Row] = {}
        """Rows already built, by key: an event's row only changes with the palette, the timezone, or
        when its time of day turns into a date."""
        self._built_for: tuple[object, ...] = ()

    def show(self, recent: Sequence[UsageEvent], view: ViewContext, starting: bool = False) -> None:
        """Update from a snapshot's recent events (oldest first), unless the user is looking elsewhere;
        ``starting``: a source has not finished starting, so no requests does not yet mean none."""
        empty = self.READING if starting else type(self).EMPTY
        if empty != self.EMPTY:
            self.EMPTY = empty
            self.refresh()
        wanted = [e for e in recent if view.filter.matches_event(e)] if view.filter else list(recent)
        if self.following and (self.cursor_row > 0 or self.scroll_y > 0):
            self._set_following(False)
        if not self.following:
            self._count_missed(wanted)
            return
        shown = wanted[-self.max_rows:]
        self._newest = shown[-1] if shown else None
        self.events = {str(id(e)): e for e in shown}
        validity = (id(view.palette), view.tz, int(view.now // 3600))
        if validity != self._built_for:
            self._built_for, self._built = validity, {}
        built = self._built
        self._built = {key: built.get(key) or self.row(key, e, view) for key, e in self.events.items()}
        self.sync(list(self._built.values()))

    def _count_missed(self, wanted: list[UsageEvent]) -> None:
        newest = self._newest
        for index in range(len(wanted) - 1, -1, -1):
            if wanted[index] is newest:
                missed, more = len(wanted) - 1 - index, False
                break
        else:
            missed, more = len(wanted), newest is not None
        if (missed, more) != (self.missed, self.missed_more):
            self.missed, self.missed_more = missed, more
            self.post_message(self.FollowChanged(self))

    def _set_following(self, following: bool) -> None:
        self.following = following
        self.missed, self.missed_more = 0, False
        self.post_message(self.FollowChanged(self))

    def action_follow(self) -> None:
        self.move_cursor(row=0)
        self.scroll_home(animate=False)
        if not self.following:
            self._set_following(True)

    def action_first(self) -> None:
        """The first row is the newest request: going there means following again."""
        self.action_follow()

    def on_keyed_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        if event.cursor_row > 0 and self.following:
            self._set_following(False)

    def selected_event(self) -> UsageEvent | None:
        key = self.selected_key()
        return None if key is None else self.events.get(key)

    @staticmethod
    def row(key: str, e: UsageEvent, view: ViewContext) -> Row:
        palette = view.palette
        mark = palette["estimated"] if e.token_source == "estimated" else (
            palette["missing"] if e.token_source == "missing" else "")
        where = e.source if not e.platform else f"{e.source}/{e.platform}"
        status = e.status or ("error" if e.error else None)
        status_style = palette["critical"] if e.is_error else ""
        total_style = palette["warning"] if e.mismatched and not mark else mark
        total = cells.number(e.total_tokens, total_style)
        if e.mismatched:
            total = cells.Cell("≠" + total.plain, e.total_tokens, total_style, "right")
        provider = cells.text(e.provider, 20)
        if e.provider_inferred:  # marked, not only dimmed: readable without colour
            provider = cells.Cell(cells.visible(e.provider, 19) + "?", provider.order, palette["muted"])
        return key, (
            cells.when(e.ts, view.now, view.tz),
            cells.text(where, 30),
            cells.text(e.user, 30),
            provider,
            cells.text(e.model, 40),
            cells.number(e.prompt_tokens, mark),
            cells.number(e.completion_tokens, mark),
            total,
            cells.number(e.cached_tokens),
            cells.number(e.reasoning_tokens),
            cells.Cell(cells.TOKEN_MARKERS.get(e.token_source, e.token_source), e.token_source, mark),
            cells.latency(e.latency_ms),
            cells.text(status, 12, status_style),
            cells.money(e.cost, estimate=e.cost_computed),
        )
