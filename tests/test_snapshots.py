"""Snapshot tests of every screen, from FixedSource with a fixed clock.

Regenerate the SVGs after an intended change of the screens with
`pytest tests/test_snapshots.py --snapshot-update`, then look at them
(the report pytest-textual-snapshot writes on failure shows the difference).
"""

from __future__ import annotations

import pytest

from omega_tui.data.models import HealthState
from omega_tui.fixed_source import FixedSource
from tests.console_app import make_app, open_node, wait_for, wait_for_snapshot

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


async def show_overview(pilot) -> None:
    await wait_for_snapshot(pilot)


async def show_sessions(pilot) -> None:
    await wait_for_snapshot(pilot)
    await pilot.press("2")
    await wait_for_snapshot(pilot)


async def show_alerts(pilot) -> None:
    await wait_for_snapshot(pilot)
    await pilot.press("3")
    await wait_for_snapshot(pilot)


async def show_resolved_alerts(pilot) -> None:
    await show_alerts(pilot)
    await pilot.press("h")


async def show_help(pilot) -> None:
    await wait_for_snapshot(pilot)
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "HelpScreen", "the help screen")


SCREENS = {
    "overview": show_overview,
    "sessions": show_sessions,
    "alerts": show_alerts,
    "resolved_alerts": show_resolved_alerts,
    "help": show_help,
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare, screen, size):
    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=SCREENS[screen])


@pytest.mark.parametrize("size", SIZES)
def test_node_detail(snap_compare, size):
    source = FixedSource()

    async def run_before(pilot):
        await open_node(pilot, source, "gpu-01")

    assert snap_compare(make_app(source), terminal_size=SIZES[size], run_before=run_before)


@pytest.mark.parametrize("theme", ["omega-dark", "omega-light", "omega-high-contrast"])
def test_overview_theme(snap_compare, theme):
    assert snap_compare(make_app(theme=theme), terminal_size=(120, 40), run_before=show_overview)


def test_overview_with_stale_store(snap_compare):
    source = FixedSource()
    source.set_store_health("PostgreSQL", HealthState.STALE, "connection refused (127.0.0.1:5432)")
    source.set_store_health("Redis", HealthState.DOWN, "timeout after 5s")
    assert snap_compare(make_app(source), terminal_size=(80, 24), run_before=show_overview)


async def select_node_row(pilot, source: FixedSource, hostname: str) -> None:
    table = pilot.app.screen.query_one("#nodes")
    table.focus()
    assert table.select_key(source.node_id_of(hostname))
    await pilot.pause()


async def wait_for_confirmation(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.__class__.__name__ == "ConfirmScreen", "the confirmation")
    await pilot.pause()


def test_drain_confirmation_asks_for_the_hostname(snap_compare):
    source = FixedSource()

    async def run_before(pilot):
        await wait_for_snapshot(pilot)
        await select_node_row(pilot, source, "gpu-01")
        await pilot.press("d")
        await wait_for_confirmation(pilot)

    assert snap_compare(make_app(source), terminal_size=(80, 24), run_before=run_before)


def test_cancel_confirmation_of_a_running_session(snap_compare):
    async def run_before(pilot):
        await show_sessions(pilot)
        table = pilot.app.screen.query_one("#sessions")
        table.focus()
        assert table.select_key(next(s.session_id for s in pilot.app.snapshot.sessions
                                     if s.session_name == "kafka-bridge"))
        await pilot.press("c")
        await wait_for_confirmation(pilot)

    assert snap_compare(make_app(), terminal_size=(120, 40), run_before=run_before)


def test_confirmation_of_marked_nodes(snap_compare):
    source = FixedSource()

    async def run_before(pilot):
        await wait_for_snapshot(pilot)
        for hostname in ("cmp-01", "ctl-01", "gpu-02"):
            await select_node_row(pilot, source, hostname)
            await pilot.press("space")
        await pilot.press("d")
        await wait_for_confirmation(pilot)

    assert snap_compare(make_app(source), terminal_size=(120, 40), run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_audit_screen(snap_compare, size):
    async def run_before(pilot):
        await wait_for_snapshot(pilot)
        await pilot.press("4")
        await wait_for_snapshot(pilot)

    assert snap_compare(make_app(), terminal_size=SIZES[size], run_before=run_before)
