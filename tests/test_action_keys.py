"""Action keys on FixedSource (no store): the palette's actions, marks, and acting without a database."""

from __future__ import annotations

import asyncio

from omega_tui.fixed_source import FixedSource
from omega_tui.screens.confirm import ConfirmScreen
from omega_tui.widgets.activity_line import ActivityLine
from omega_tui.widgets.node_table import NodeTable
from tests.console_app import make_app, poll_now, wait_for, wait_for_snapshot


def test_the_command_palette_drains_through_the_same_confirmation():
    app = make_app()

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"drain gpu-01")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            assert app.screen.confirmation.title == "Drain gpu-01?"
            assert app.screen.confirmation.typed_phrase == "gpu-01"
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the confirmation to close")

    asyncio.run(scenario())


def test_marks_of_nodes_that_go_away_are_dropped_and_fixed_data_cannot_be_acted_on():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            table.focus()
            for hostname in ("cmp-01", "cmp-03"):
                assert table.select_key(source.node_id_of(hostname))
                await pilot.press("space")
            await poll_now(pilot, source.remove_node("cmp-03"))
            assert table.marked == {source.node_id_of("cmp-01")}
            await pilot.press("u")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
            assert app.screen.confirmation.title == "Resume cmp-01?"
            await pilot.press("tab", "enter")
            await wait_for(pilot, lambda: "no database to act on" in app.screen.query_one(ActivityLine).text,
                           "the refusal")
            assert table.marked == {source.node_id_of("cmp-01")}   # nothing was done: the marks stay

    asyncio.run(scenario())
