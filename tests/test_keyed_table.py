"""KeyedTable on its own, in a real (headless) Textual app."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
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
