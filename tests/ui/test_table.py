"""The keyed table: rows rendered once and cached, ellipsis on overflow, cursor by keys and mouse."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tokentop.ui.widgets import cells
from tokentop.ui.widgets.table import Column, KeyedTable


class Numbers(KeyedTable):
    COLUMNS = (Column("name", "Name", 6, descending=False), Column("n", "N", 5))
    DEFAULT_SORT = "n"


def rows(values: dict[str, int]) -> list:
    return [(name, (cells.text(name), cells.number(n))) for name, n in values.items()]


class TableApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield Numbers()

    def on_keyed_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        self.selected.append(event.key)


async def test_a_sync_renders_only_new_and_changed_rows():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(Numbers)
        built: list[str] = []
        original = table._line

        def counting(row_cells, base):  # noqa: ANN001, ANN202
            built.append(row_cells[0].plain)
            return original(row_cells, base)

        table._line = counting  # type: ignore[method-assign]
        table.sync(rows({"a": 1, "b": 2, "c": 3}))
        await pilot.pause()
        assert {"a", "b", "c"} <= set(built)
        built.clear()
        assert not table.sync(rows({"a": 1, "b": 2, "c": 3}))  # nothing changed, nothing to paint
        table.sync(rows({"a": 1, "b": 20, "c": 3, "d": 4}))
        await pilot.pause()
        assert sorted(b for b in built if b in "abcd") == ["b", "d"]
        assert table.rows == ["b", "d", "c", "a"]


async def test_overflowing_cells_end_in_an_ellipsis_and_keys_move_the_cursor():
    app = TableApp()
    async with app.run_test(size=(40, 12)) as pilot:
        table = app.query_one(Numbers)
        table.sync(rows({"a-very-long-name": 3, "b": 2, "c": 1}))
        table.focus()
        await pilot.pause()
        line = "".join(segment.text for segment in table.render_line(1))
        assert " a-ver… " in line
        await pilot.press("down", "down", "down")
        assert table.cursor_row == 2 and table.selected_key() == "c"
        await pilot.press("home")
        assert table.cursor_row == 0
        await pilot.click(Numbers, offset=(2, 2))
        assert table.selected_key() == "b"
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["b"]


class Wide(KeyedTable):
    COLUMNS = (Column("name", "Name", 6, descending=False), Column("extra", "Extra", 5, narrow=False))


async def test_sorting_by_a_column_a_narrow_table_drops_falls_back():
    app = App()
    async with app.run_test(size=(40, 12)) as pilot:
        table = Wide()
        await app.mount(table)
        table.sync([(k, (cells.text(k), cells.number(n))) for k, n in (("b", 1), ("a", 2))])
        table.action_next_sort()
        assert table.sort_key == "extra" and table.rows == ["a", "b"]
        table.styles.width = 12  # 15 cells would show both columns: the table fits itself as it is resized
        await pilot.pause()
        assert table.sort_key == "name" and table.rows == ["a", "b"] and table.column_keys() == ["name"]
        assert "".join(s.text for s in table.render_line(1)).strip() == "a"


class Several(KeyedTable):
    COLUMNS = (Column("a", "A", 4), Column("b", "B", 4, narrow=False), Column("c", "C", 4, narrow=False),
               Column("d", "D", 4, narrow=False))
    DROP_ORDER = ("c",)


async def test_a_table_drops_optional_columns_in_its_order_until_the_rest_fit():
    app = App()
    async with app.run_test(size=(40, 12)):
        table = Several()
        await app.mount(table)
        for width, keys in ((24, ["a", "b", "c", "d"]), (23, ["a", "b", "d"]), (18, ["a", "b", "d"]),
                            (17, ["a", "b"]), (12, ["a", "b"]), (11, ["a"]), (3, ["a"]), (40, ["a", "b", "c", "d"])):
            table.fit(width)
            assert table.column_keys() == keys, width


class Flexing(KeyedTable):
    COLUMNS = (Column("a", "A", 4), Column("note", "Note", 6, flex=True), Column("z", "Z", 4, narrow=False))


async def test_a_flex_column_takes_the_width_the_others_leave():
    app = App()
    async with app.run_test(size=(60, 12)) as pilot:
        table = Flexing()
        table.styles.width = 30  # 6 + 8 + 6 at their own widths: the note gets the 10 cells left over
        await app.mount(table)
        table.sync([("k", (cells.text("x"), cells.text("a long note that will not fit"), cells.text("z")))])
        await pilot.pause()
        assert [c.width for c in table.visible_columns()] == [4, 16, 4]
        assert table.virtual_size.width == 30
        line = "".join(s.text for s in table.render_line(1))
        assert "a long note tha…  z" in line
        table.styles.width = 14  # too narrow for Z: dropped; the note keeps its own width
        await pilot.pause()
        assert [c.width for c in table.visible_columns()] == [4, 6]


class Exact(KeyedTable):
    COLUMNS = (Column("a", "A", 10), Column("b", "B", 10), Column("c", "C", 10, narrow=False))


async def test_columns_are_fitted_again_when_rows_outgrow_the_height_and_bring_a_scrollbar():
    app = App()
    async with app.run_test(size=(36, 10)) as pilot:
        table = Exact()
        await app.mount(table)
        await pilot.pause()
        assert table.column_keys() == ["a", "b", "c"]  # 36 cells: exactly the width
        table.sync([(str(i), (cells.text("x"), cells.text("y"), cells.text("z"))) for i in range(30)])
        await pilot.pause()
        assert table.show_vertical_scrollbar
        assert table.column_keys() == ["a", "b"]
        assert table.virtual_size.width <= table.scrollable_content_region.width
