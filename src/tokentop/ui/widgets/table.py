"""A DataTable kept in step with a list of keyed rows by diffing, never by rebuilding.

Every ``update_cell`` invalidates the whole table's render cache (perf-limits.md §5), so a tick
changes only the cells whose text or style changed, adds and removes only the rows that came and
went, and sorts only when something changed. Columns are fixed-width so no cell is re-measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

from tokentop.ui.theming import Palette
from tokentop.ui.widgets.cells import Cell

Row = tuple[str, tuple[Cell, ...]]
"""A row key and one cell per column of ``COLUMNS`` (all columns, shown or not)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    narrow: bool = True
    """Shown on narrow screens too."""
    descending: bool = True
    """Sorting by this column puts the largest (newest) first."""


class KeyedTable(DataTable[Cell]):
    """Base of the panels' tables: declared columns, keyed rows, a cycling sort column."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DEFAULT_SORT: ClassVar[str] = ""
    BINDINGS: ClassVar[list[Binding]] = [  # type: ignore[assignment]
        Binding("s,greater_than_sign", "next_sort", "Sort", key_display="s", tooltip="Sort by the next column (also >)"),
        Binding("less_than_sign", "previous_sort", "Sort back", key_display="<", show=False,
                tooltip="Sort by the previous column"),
    ]

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.narrow = False
        self.palette = Palette.from_variables({})
        self._shown: dict[str, tuple[tuple[str, str], ...]] = {}
        self._rows: list[Row] = []
        self.sort_key = self.DEFAULT_SORT or self.COLUMNS[0].key
        self.sort_descending = self._column(self.sort_key).descending

    def on_mount(self) -> None:
        self._add_columns()

    # -- columns and sorting ------------------------------------------------------------------

    def visible_columns(self) -> list[Column]:
        return [c for c in self.COLUMNS if c.narrow or not self.narrow]

    def _column(self, key: str) -> Column:
        return next(c for c in self.COLUMNS if c.key == key)

    def _add_columns(self) -> None:
        for column in self.visible_columns():
            label = column.label + (" ▼" if column.key == self.sort_key and self.sort_descending else
                                    " ▲" if column.key == self.sort_key else "")
            self.add_column(label, key=column.key, width=max(column.width, len(label)))

    def set_narrow(self, narrow: bool) -> None:
        """Show the narrow column set (rebuilds the table; only when the layout class flips)."""
        if narrow != self.narrow:
            self.narrow = narrow
            self.reset()
            self.sync(self._rows)

    def reset(self) -> None:
        """Drop every row and column; the next :meth:`sync` rebuilds them."""
        self.clear(columns=True)
        self._shown.clear()
        if self.is_mounted:
            self._add_columns()

    def action_next_sort(self) -> None:
        self._cycle_sort(+1)

    def action_previous_sort(self) -> None:
        self._cycle_sort(-1)

    def _cycle_sort(self, step: int) -> None:
        columns = self.visible_columns()
        keys = [c.key for c in columns]
        index = keys.index(self.sort_key) if self.sort_key in keys else 0
        self.sort_key = keys[(index + step) % len(keys)]
        self.sort_descending = self._column(self.sort_key).descending
        self.reset()
        self.sync(self._rows)

    # -- rows -----------------------------------------------------------------------------------

    def sync(self, rows: Sequence[Row]) -> bool:
        """Make the table show ``rows`` (any order; the table sorts); True if anything changed."""
        self._rows = list(rows)
        columns = self.visible_columns()
        shown_keys = {c.key for c in columns}
        indexes = [i for i, c in enumerate(self.COLUMNS) if c.key in shown_keys]
        wanted = {key: tuple(cells[i] for i in indexes) for key, cells in rows}
        stale = [key for key in self._shown if key not in wanted]
        changed = bool(stale)
        if stale and len(stale) > len(self._shown) // 2:
            self.clear()
            self._shown.clear()
        else:
            for key in stale:
                self.remove_row(key)
                del self._shown[key]
        for key, cells in wanted.items():
            signature = tuple(cell.signature() for cell in cells)
            old = self._shown.get(key)
            if old == signature:
                continue
            changed = True
            if old is None:
                self.add_row(*cells, key=key)
            else:
                for column, cell, before, after in zip(columns, cells, old, signature):
                    if before != after:
                        self.update_cell(key, column.key, cell)
            self._shown[key] = signature
        if changed:
            self._sort()
        return changed

    def _sort(self) -> None:
        if self.sort_key in {c.key for c in self.visible_columns()}:
            self.sort(self.sort_key, key=lambda cell: cell.order, reverse=self.sort_descending)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # DataTable measures every cell of every new row (~35 us each, the largest cost of a busy
        # tick). Every column here has a fixed width and every row is one line, so there is nothing
        # to measure: pass no rows, and the base class only recomputes the virtual size.
        super()._update_dimensions(())

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return key.value
