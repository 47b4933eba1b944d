"""KeyedTable on its own, in a real (headless) Textual app."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from rich.style import Style
from textual.geometry import Region
from textual.widgets import DataTable

from omega_tui.widgets.keyed_table import Column, KeyedTable


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield KeyedTable(id="table")


def rows(keys):
    return [(key, ((key, ""), (key.upper(), "muted"))) for key in keys]


def screen_keys(table: KeyedTable) -> list[str]:
    """The row keys in DataTable's own order, and the first cell of each: what it draws."""
    return [str(table.get_row_at(index)[0]) for index in range(table.row_count)]


def test_rows_leaving_are_removed_in_one_pass_not_one_by_one(monkeypatch):
    # DataTable.remove_row() renumbers every row: thousands of them one by one froze the screen,
    # and even a few cost a pass over 10,000 rows each (typing a filter).
    removed = []
    original = DataTable.remove_row

    def counting_remove_row(self, row_key):
        removed.append(row_key)
        return original(self, row_key)

    monkeypatch.setattr(DataTable, "remove_row", counting_remove_row)
    app = TableApp()

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("name", "NAME", 10), Column("upper", "UPPER", 10)])
            everyone = [f"n{i:04d}" for i in range(640)]
            table.show_rows(rows(everyone))
            await pilot.pause()
            assert table.select_key("n0301")
            await pilot.pause()

            # A few leave.
            few = set(everyone[:3])
            table.show_rows(rows(k for k in everyone if k not in few))
            await pilot.pause()
            assert removed == []
            assert screen_keys(table) == everyone[3:]
            assert table.cursor_key == "n0301"

            # Most leave (stale nodes gone at once), among them the row under the cursor.
            kept = [k for i, k in enumerate(everyone) if k not in few and i % 3 == 0 and k != "n0300"]
            removed.clear()
            table.show_rows(rows(kept))
            await pilot.pause()
            assert removed == []
            assert table.keys == kept
            assert screen_keys(table) == kept
            assert table.cursor_key == "n0303"   # the next row kept after the one that went

            # The table still diffs as before afterwards.
            table.show_rows(rows(kept + ["n9999"]))
            await pilot.pause()
            assert screen_keys(table) == kept + ["n9999"]
            assert table.cursor_key == "n0303"

    asyncio.run(scenario())


def test_home_and_end_go_to_the_first_and_last_row():
    app = TableApp()

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("name", "NAME", 10), Column("upper", "UPPER", 10)])
            keys = [f"n{i:03d}" for i in range(200)]
            table.show_rows(rows(keys))
            table.focus()
            await pilot.press("end")
            assert table.cursor_key == "n199" and table.scroll_y > 0
            await pilot.press("home")
            assert table.cursor_key == "n000" and table.scroll_y == 0

    asyncio.run(scenario())


def test_body_cells_drawn_directly_are_the_segments_datatable_draws():
    # KeyedTable draws plain one-line cells itself (DataTable's Rich path took ~0.3 ms a cell):
    # the segments, styles and click metadata must be the very same, for every cursor/hover state.
    app = TableApp()
    texts = ["", "x", "héllo", "abcdefgh", "  5%", "~12%", " 42% ▁▂█", "■ ab", "日本", "a\tb"]
    styles = ["", "warning bold", "muted", "error bold", "accent bold", "reverse"]

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("a", "A", 8), Column("b", "B", 5, align_right=True), Column("c", "C", 3)])
            cells = [(text, style) for text in texts for style in styles]
            table.show_rows((f"k{i}", ((t[:8], s), (t[:5], s), (t[:3], s))) for i, (t, s) in enumerate(cells))
            await pilot.pause()
            compared = 0
            for row in range(len(cells)):
                for column, width in enumerate((10, 7, 5)):
                    for base in (Style(), Style(bgcolor="black"), Style(color="red", bgcolor="#123456")):
                        for cursor, hover in ((False, False), (True, False), (False, True), (True, True)):
                            mine = table._render_cell(row, column, base, width, cursor, hover)
                            theirs = DataTable._render_cell(table, row, column, base, width, cursor, hover)
                            assert mine == theirs, (cells[row], column, cursor, hover)
                            compared += 1
            assert table.cells_rendered > compared * 0.7   # most went the direct way (not wide characters)

    asyncio.run(scenario())


def test_body_lines_drawn_in_one_pass_are_the_strips_datatable_draws(monkeypatch):
    # KeyedTable draws a body line in one pass (DataTable works out styles per cell, then builds
    # the line through several Strips): the strip must be the very same, whatever the cursor,
    # hover, zebra stripes, cursor priorities or cells (wide characters go DataTable's way per cell).
    app = TableApp()
    texts = ["", "x", "héllo", "  5%", " 42% ▁▂█", "日本", "a\tb", "abcdefgh"]
    styles = ["", "warning bold", "muted", "reverse"]

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("a", "A", 8), Column("b", "B", 5, align_right=True), Column("c", "C", 3)])
            cells = [(text, style) for text in texts for style in styles]
            table.show_rows((f"k{i}", ((t[:8], s), (t[:5], s), (t[:3], s))) for i, (t, s) in enumerate(cells))
            table.toggle_mark("k3")
            table.show_rows((f"k{i}", ((t[:8], s), (t[:5], s), (t[:3], s))) for i, (t, s) in enumerate(cells))
            await pilot.pause()
            width = table.size.width
            compared = 0
            settings = [(zebra, cursor_row, hover_row, show_cursor, priority)
                        for zebra in (False, True) for cursor_row, hover_row in ((0, 0), (3, 5), (5, 5))
                        for show_cursor in (True, False) for priority in ("css", "renderable")]
            for zebra, cursor_row, hover_row, show_cursor, priority in settings:
                table.zebra_stripes, table.show_cursor = zebra, show_cursor
                table.cursor_foreground_priority = table.cursor_background_priority = priority
                table.cursor_coordinate = table.cursor_coordinate._replace(row=cursor_row)
                table.hover_coordinate = table.hover_coordinate._replace(row=hover_row)
                table._set_hover_cursor(True)
                for y in range(1, len(cells) + 1):   # (line 0 is the header)
                    for base in (Style(), Style(color="red", bgcolor="#123456")):
                        table._clear_caches()
                        with monkeypatch.context() as patch:   # mine must not go DataTable's way
                            patch.setattr(DataTable, "_render_line_in_row", None)
                            mine = table._render_line(y, 0, width, base)
                        table._clear_caches()
                        theirs = DataTable._render_line(table, y, 0, width, base)
                        assert mine == theirs and mine.cell_length == theirs.cell_length, (
                            cells[y - 1], zebra, cursor_row, hover_row, show_cursor, priority)
                        compared += 1
            assert compared == len(settings) * len(cells) * 2
            # The whole view, scrolled, as the screen draws it (the widget's style taken once a pass).
            table.scroll_to(y=7, animate=False, immediate=True)
            await pilot.pause()
            view = Region(0, 0, width, table.size.height)
            table._clear_caches()
            mine = table.render_lines(view)
            with monkeypatch.context() as patch:
                for name in ("render_lines", "render_line", "_render_line"):
                    patch.setattr(KeyedTable, name, getattr(DataTable, name))
                table._clear_caches()
                theirs = table.render_lines(view)
            assert table.scroll_y == 7 and mine == theirs

    asyncio.run(scenario())


def test_the_header_line_is_kept_while_it_shows_the_same_and_drawn_again_when_not():
    # DataTable drew the header again after every key press and refresh; KeyedTable keeps it,
    # and must never show a stale one: hovered, relabelled (the sort arrow), another theme.
    app = TableApp()

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("a", "A", 8), Column("b", "B", 5, align_right=True)])
            table.show_rows(rows([f"n{i:02d}" for i in range(40)]))
            await pilot.pause()
            width, base = table.size.width, table.rich_style

            def mine():
                return table._render_line(0, 0, width, base)

            def datatables():   # drawn afresh by DataTable (its own caches emptied, not KeyedTable's)
                for cache in (table._line_cache, table._row_render_cache, table._cell_render_cache):
                    cache.clear()
                return DataTable._render_line(table, 0, 0, width, base)

            first = mine()
            assert first == datatables() and "A" in first.text
            for key in ("down", "pagedown", "end"):
                await pilot.press(key)
                assert mine() is first   # kept, not drawn again
            table.show_rows(rows([f"n{i:02d}" for i in range(30)]))   # rows changed: the header did not
            assert mine() is first
            table.hover_coordinate = table.hover_coordinate._replace(row=-1)
            table._set_hover_cursor(True)
            hovered = mine()
            assert hovered == datatables() and hovered != first
            table._set_hover_cursor(False)
            table.set_columns([Column("a", "A▲", 8), Column("b", "B", 5, align_right=True)])
            assert mine() == datatables() and "A▲" in mine().text
            app.theme = "textual-light"
            await pilot.pause()
            base = table.rich_style
            assert mine() == datatables() and mine() != first

    asyncio.run(scenario())


def test_show_keys_works_out_only_the_rows_in_view_and_keeps_datatable_in_step():
    app = TableApp()
    keys = [f"n{i:04d}" for i in range(3000)]

    async def scenario():
        async with app.run_test(size=(60, 20)) as pilot:
            table = app.query_one(KeyedTable)
            table.set_columns([Column("name", "NAME", 10), Column("gen", "GEN", 6)])
            asked: list[str] = []

            def cells_for(generation):
                def produce(key):
                    asked.append(key)
                    return ((key, ""), (str(generation), "muted"))
                return produce

            table.show_keys(keys, cells_for(1))
            await pilot.pause()
            assert 0 < len(asked) <= 40          # the rows in view and a few around them, not 3,000
            assert str(table.get_row_at(0)[1]) == "1"
            assert table.select_key("n0002")
            await pilot.pause()

            # A refresh in another order: DataTable's own order follows, the cursor stays on its key,
            # and the rows out of view are not worked out.
            asked.clear()
            rendered = table.cells_rendered
            reordered = list(reversed(keys))
            table.show_keys(reordered, cells_for(2))
            await pilot.pause()
            assert table.keys == reordered
            assert table.get_row_index("n0000") == 2999
            assert table.cursor_key == "n0002" and table.cursor_row == 2997
            # The view followed the cursor: its rows are worked out anew; n2999 (top) never was yet.
            assert [str(c) for c in table.get_row_at(2997)] == ["n0002", "2"]
            assert [str(c) for c in table.get_row_at(0)] == ["", ""]
            assert len(asked) <= 45
            assert table.cells_rendered - rendered <= 2 * 45

            # Rows scrolled into view are worked out then, from the latest function.
            asked.clear()
            await pilot.press("home")
            await pilot.pause()
            assert "n2999" in asked
            assert [str(c) for c in table.get_row_at(0)] == ["n2999", "2"]

            # A refresh that changes cells but not the rows keeps DataTable's list of rows (which
            # DataTable itself rebuilds, O(rows), after every cell update).
            rows_before = table.ordered_rows
            table.show_keys(reordered, cells_for(5))
            await pilot.pause()
            assert [str(c) for c in table.get_row_at(0)] == ["n2999", "5"]
            assert table.ordered_rows is rows_before

            # Most rows leave, then come back blank and are worked out when seen.
            table.show_keys(reordered[:10], cells_for(3))
            await pilot.pause()
            assert table.row_count == 10 and table.cursor_key == reordered[0]
            table.show_keys(reordered, cells_for(4))
            await pilot.pause()
            assert table.row_count == 3000
            assert [str(c) for c in table.get_row_at(0)] == ["n2999", "4"]
            assert [str(c) for c in table.get_row_at(2000)] == ["", ""]   # not seen yet
            table.move_cursor(row=2000)
            await pilot.pause()
            assert [str(c) for c in table.get_row_at(2000)] == [reordered[2000], "4"]

    asyncio.run(scenario())
