"""A keyed table that repaints only what changed: the panels' tables.

Textual's DataTable re-renders every visible cell whenever any cell changes, and a newest-first
table shifts every row on each new request, so at 2 Hz it cost a quarter of a core at 100
requests/s (perf-limits.md §5; benchmarks/ui_latency.py). This table renders each row once into a
cached Strip, keyed by the row; a tick that adds ten rows renders ten rows. Columns are fixed-width,
rows one line, the header stays on top; keys move a cursor and Enter selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tokentop.ui import keymap
from tokentop.ui.widgets.cells import Cell

Row = tuple[str, tuple[Cell, ...]]
"""A row key and one cell per column of ``COLUMNS`` (all columns, shown or not)."""


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    narrow: bool = True
    """Shown however narrow the table is; the other columns are dropped (``KeyedTable.DROP_ORDER``)
    when the table is too narrow for all of them."""
    descending: bool = True
    """Sorting by this column puts the largest (newest) first."""
    flex: int = 0
    """Share of the width the other shown columns leave in the table (0: none; flex columns split
    it by these weights), up to ``flex_limit`` cells."""
    flex_limit: int = 10_000
    justify: str = "left"
    """``right`` for figures: the header lines up with them."""

    @property
    def cells(self) -> int:
        """Width in cells: ``width``, or the label's if that is wider."""
        return max(self.width, cell_len(self.label))


def _flexed(columns: list[Column], spare: int) -> list[Column]:
    """``columns`` with the ``spare`` cells shared among the flex ones by weight, none beyond its
    ``flex_limit`` (what a capped column cannot take goes to the others)."""
    widths = {c.key: c.cells for c in columns}
    growing = [c for c in columns if c.flex]
    while spare > 0 and growing:
        weights = sum(c.flex for c in growing)
        given = 0
        for c in growing:
            share = max(1, spare * c.flex // weights)
            grant = min(share, c.flex_limit - widths[c.key], spare - given)
            widths[c.key] += grant
            given += grant
        spare -= given
        growing = [c for c in growing if widths[c.key] < c.flex_limit]
        if not given:
            break
    return [replace(c, width=widths[c.key]) if widths[c.key] != c.cells else c for c in columns]


class KeyedTable(ScrollView, can_focus=True, inherit_bindings=False):
    """Base of the panels' tables: declared columns, keyed rows, a cursor, a cycling sort column.

    Its keys are the keymap's ``table`` scope only (not ScrollView's: a table that fits its width has
    nothing to scroll sideways, and a key outside the keymap would be missing from help and footer).
    """

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    DEFAULT_SORT: ClassVar[str] = ""
    EMPTY: ClassVar[str] = ""
    """Shown (dimmed) in place of rows while there are none."""
    DROP_ORDER: ClassVar[tuple[str, ...]] = ()
    """Optional columns (``narrow=False``) in the order they are dropped when the table is too narrow
    for every column (first named, first dropped); those not named go after, right to left."""
    BINDINGS: ClassVar[list[BindingType]] = keymap.bindings("table")  # type: ignore[assignment]
    COMPONENT_CLASSES: ClassVar[set[str]] = {"keyed-table--header", "keyed-table--cursor"}
    DEFAULT_CSS = """
    KeyedTable { height: 1fr; background: $surface; color: $foreground; }
    KeyedTable > .keyed-table--header { text-style: bold; background: $panel; color: $foreground; }
    KeyedTable > .keyed-table--cursor { background: $panel-lighten-1; }
    KeyedTable:focus > .keyed-table--cursor { background: $accent; color: $text; text-style: bold; }
    """

    class RowHighlighted(Message):
        def __init__(self, table: KeyedTable, cursor_row: int, key: str | None) -> None:
            super().__init__()
            self.table, self.cursor_row, self.key = table, cursor_row, key

    class RowSelected(Message):
        def __init__(self, table: KeyedTable, cursor_row: int, key: str) -> None:
            super().__init__()
            self.table, self.cursor_row, self.key = table, cursor_row, key

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._hidden: frozenset[str] = frozenset()
        """Optional columns dropped: the table is too narrow for them (see :meth:`fit`)."""
        self._room = 0
        """The table's width as last fitted (a flex column takes what the others leave of it)."""
        self._visible: list[Column] | None = None
        """The columns shown, worked out once per layout (every rendered row reads them)."""
        self.sort_key = self.DEFAULT_SORT or self.COLUMNS[0].key
        self.sort_descending = self._column(self.sort_key).descending
        self.cursor_row = 0
        self._rows: list[Row] = []
        """The last rows given to :meth:`sync`, with every column (to rebuild on layout changes)."""
        self._cells: dict[str, tuple[Cell, ...]] = {}
        """Row key -> the cells of the shown columns."""
        self._signatures: dict[str, tuple[tuple[str, str], ...]] = {}
        self._order: list[str] = []
        self._strips: dict[str, Strip] = {}
        self._strip_style: Style | None = None
        self._base: Style | None = None

    # -- columns and sorting ------------------------------------------------------------------

    def columns(self) -> list[Column]:
        """Every column as this table shows it, before any is dropped (subclasses relabel here)."""
        return list(self.COLUMNS)

    def visible_columns(self) -> list[Column]:
        if self._visible is None:
            shown = [c for c in self.columns() if c.key not in self._hidden]
            self._visible = _flexed(shown, self._room - sum(c.cells + 2 for c in shown))
        return self._visible

    def column_keys(self) -> list[str]:
        return [c.key for c in self.visible_columns()]

    def _column(self, key: str) -> Column:
        return next(c for c in self.COLUMNS if c.key == key)

    def _dropped(self, width: int) -> tuple[set[str], int]:
        """The optional columns to drop, in ``DROP_ORDER``, until the rest fit in ``width`` cells,
        and the cells the rest take."""
        columns = self.columns()
        named = [c for key in self.DROP_ORDER for c in columns if c.key == key]
        order = named + [c for c in reversed(columns) if not c.narrow and c not in named]
        total = sum(c.cells + 2 for c in columns)
        hidden: set[str] = set()
        for column in order:
            if total <= width:
                break
            hidden.add(column.key)
            total -= column.cells + 2
        return hidden, total

    def fitted_width(self, width: int) -> int:
        """Cells the table needs within ``width``, vertical scrollbar included: what its columns take
        once those that do not fit are dropped (a panel can give the rest to its neighbour)."""
        scrollbar = self.styles.scrollbar_size_vertical
        return self._dropped(width - scrollbar)[1] + scrollbar

    def fit(self, width: int) -> None:
        """Show the columns that fit in ``width`` cells: optional columns are dropped, in
        ``DROP_ORDER``, until the rest fit (a top-like view never hides a column off to the right)."""
        columns = self.columns()
        hidden, _ = self._dropped(width)
        flexed = width != self._room and any(c.flex for c in columns)
        self._room = width
        if hidden != self._hidden or flexed:
            self._hidden = frozenset(hidden)
            self.reset()
            self.sync(self._rows)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_to_size()

    def _fit_to_size(self) -> None:
        """:meth:`fit` the columns to the width rows can use: less the vertical scrollbar once the
        rows outgrow the height (the scrollbar comes without a resize)."""
        if not self.size.width:
            return  # not laid out yet
        overflowing = len(self._order) + 1 > self.size.height
        self.fit(self.size.width - (self.styles.scrollbar_size_vertical if overflowing else 0))

    def reset(self) -> None:
        """Forget every shown row and the layout; the next :meth:`sync` builds them again."""
        self._visible = None
        self._cells.clear()
        self._signatures.clear()
        self._order.clear()
        self._strips.clear()
        self._update_size()
        self.refresh()

    def action_next_sort(self) -> None:
        self._cycle_sort(+1)

    def action_previous_sort(self) -> None:
        self._cycle_sort(-1)

    def action_reverse_sort(self) -> None:
        """Largest first <-> smallest first, on the same column (htop's ``I``)."""
        self.sort_descending = not self.sort_descending
        self._sort()
        self.refresh()

    def _cycle_sort(self, step: int) -> None:
        keys = self.column_keys()
        index = keys.index(self.sort_key) if self.sort_key in keys else 0
        self.sort_key = keys[(index + step) % len(keys)]
        self.sort_descending = self._column(self.sort_key).descending
        self._sort()
        self.refresh()

    def _sort(self) -> None:
        keys = self.column_keys()
        if self.sort_key not in keys:  # the sort column was dropped: the table got too narrow for it
            self.sort_key = self.DEFAULT_SORT if self.DEFAULT_SORT in keys else keys[0]
            self.sort_descending = self._column(self.sort_key).descending
        index = keys.index(self.sort_key)
        cells = self._cells
        self._order = sorted(cells, key=lambda k: cells[k][index].order, reverse=self.sort_descending)

    # -- rows -----------------------------------------------------------------------------------

    def sync(self, rows: Sequence[Row]) -> bool:
        """Make the table show ``rows`` (any order; the table sorts); True if anything changed."""
        self._rows = list(rows)
        shown = set(self.column_keys())
        indexes = [i for i, c in enumerate(self.COLUMNS) if c.key in shown]
        wanted = {key: tuple(cells[i] for i in indexes) for key, cells in rows}
        changed = len(wanted) != len(self._cells)
        for key in [k for k in self._cells if k not in wanted]:
            del self._cells[key], self._signatures[key]
            self._strips.pop(key, None)
        for key, cells in wanted.items():
            signature = tuple(cell.signature() for cell in cells)
            if self._signatures.get(key) != signature:
                changed = True
                self._cells[key], self._signatures[key] = cells, signature
                self._strips.pop(key, None)
        if changed:
            self._sort()
            self._update_size()
            self.cursor_row = min(self.cursor_row, max(0, len(self._order) - 1))
            self.refresh()
            self._fit_to_size()
        return changed

    def _update_size(self) -> None:
        width = sum(c.cells + 2 for c in self.visible_columns())
        self.virtual_size = Size(width, len(self._order) + 1)

    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def rows(self) -> list[str]:
        """Row keys, top to bottom."""
        return list(self._order)

    def get_row_at(self, index: int) -> tuple[Cell, ...]:
        return self._cells[self._order[index]]

    def selected_key(self) -> str | None:
        return self._order[self.cursor_row] if self._order else None

    # -- cursor ---------------------------------------------------------------------------------

    def move_cursor(self, row: int) -> None:
        row = max(0, min(row, len(self._order) - 1))
        if row != self.cursor_row:
            self.cursor_row = row
            self.post_message(self.RowHighlighted(self, row, self.selected_key()))
        self._scroll_to_cursor()
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)  # the header takes a line
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._order) - 1)

    def action_select(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.post_message(self.RowSelected(self, self.cursor_row, key))

    def on_click(self, event: events.Click) -> None:
        row = self.scroll_offset.y + event.y - 1  # (line 0 is the header)
        if event.y >= 1 and row < len(self._order):
            self.move_cursor(row)
            if event.chain > 1:
                self.action_select()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # -- rendering ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self._base_style()
        if base != self._strip_style:
            self._strips.clear()  # the theme changed
            self._strip_style = base
        if y == 0:
            strip = self._header(base + self.get_component_rich_style("keyed-table--header"))
        else:
            index = scroll_y + y - 1
            if index >= len(self._order):
                if index == 0 and self.EMPTY:
                    return Strip([Segment(f" {self.EMPTY}", base + Style(dim=True, italic=True))]).crop_extend(
                        scroll_x, scroll_x + width, base)
                return Strip.blank(width, base)
            key = self._order[index]
            strip = self._strips.get(key)
            if strip is None:
                strip = self._strips[key] = self._line(self._cells[key], base)
            if index == self.cursor_row:
                cursor = self.get_component_rich_style("keyed-table--cursor")
                strip = Strip(Segment.apply_style(list(strip), post_style=cursor), strip.cell_length)
        # (A cached row's strip keeps its own crop cache: an unchanged row costs no new Strip a frame.)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _base_style(self) -> Style:
        """The table's own style, worked out once per style change (``DOMNode.rich_style`` walks
        every ancestor: once per rendered line it was a fifth of a frame's cost)."""
        if self._base is None:
            self._base = self.rich_style
        return self._base

    def notify_style_update(self) -> None:
        self._base = None
        super().notify_style_update()

    def _header(self, style: Style) -> Strip:
        """The column labels, aligned as their figures are. The sort arrow goes beside its label, in
        the space between columns when the label fills its column: it never takes a label's letters."""
        line = []
        for column in self.visible_columns():
            label, width = column.label, column.cells
            arrow = ("▼" if self.sort_descending else "▲") if column.key == self.sort_key else ""
            pad = width - cell_len(label)
            if column.justify == "right":
                before = " " * (pad - 2) + arrow + " " if arrow and pad >= 2 else " " * pad
                line.append((arrow if arrow and pad < 2 else " ") + set_cell_size(before, pad) + label + " ")
            else:
                after = " " + arrow if arrow and pad >= 2 else " " * pad
                line.append(" " + label + set_cell_size(after, pad) + (arrow if arrow and pad < 2 else " "))
        text = "".join(line)
        return Strip([Segment(text, style)], cell_len(text))

    def _line(self, cells: Sequence[Cell], base: Style) -> Strip:
        """One row: each cell cropped (with an ellipsis) or padded to its column, one space each side."""
        line = Text(no_wrap=True, end="")
        for column, cell in zip(self.visible_columns(), cells):
            text, width = cell.plain, column.cells
            if cell_len(text) > width:
                text = set_cell_size(text, width - 1) + "…"
            elif cell.justify == "right" or column.justify == "right":
                text = " " * (width - cell_len(text)) + text
            line.append(" ")
            line.append(set_cell_size(text, width), cell.style)
            line.append(" ")
        # Text.render ignores the Text's own style, so the base goes under every segment here.
        return Strip(Segment.apply_style(line.render(self.app.console), style=base), cell_len(line.plain))
