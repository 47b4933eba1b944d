"""The console driven by key presses (Textual's Pilot) on FixedSource."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from textual.widgets._footer import FooterKey

from omega_tui.data.models import HealthState
from omega_tui.fixed_source import FixedSource
from omega_tui.screens.alerts import AlertsScreen
from omega_tui.screens.help import HelpScreen
from omega_tui.screens.node_detail import NodeDetailScreen
from omega_tui.screens.overview import OverviewScreen
from omega_tui.screens.sessions import SessionsScreen
from omega_tui.widgets.health_banner import HealthBanner
from omega_tui.widgets.keyed_table import KeyedTable
from omega_tui.widgets import node_table
from omega_tui.widgets.node_table import NodeTable
from omega_tui.widgets.status_line import StatusLine
from tests.console_app import make_app, open_node, poll_now, wait_for, wait_for_snapshot


def run(coroutine):
    return asyncio.run(coroutine)


def hostnames(app, table: NodeTable) -> list[str]:
    by_id = {n.node_id: n.hostname for n in app.snapshot.nodes}
    return [by_id[key] for key in table.keys]


async def select_host(pilot, table: NodeTable, source: FixedSource, hostname: str) -> None:
    assert table.select_key(source.node_id_of(hostname))
    await pilot.pause()


def test_navigation_between_every_screen_and_back():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, OverviewScreen)
            table = app.screen.query_one(NodeTable)
            await pilot.press("down", "down", "down")
            chosen = table.cursor_key
            assert hostnames(app, table)[3] == "cmp-04"

            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen), "node detail")
            assert app.screen.node_id == chosen
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen), "overview again")
            assert app.screen.query_one(NodeTable).cursor_key == chosen  # the cursor stayed

            await pilot.press("2")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, SessionsScreen)
            await pilot.press("3")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, AlertsScreen)

            # An alert about a node opens the node, on top of the alerts.
            active = app.screen.query_one("#alerts-active", KeyedTable)
            active.focus()
            assert active.cursor_key.startswith("event:")  # RAID array degraded, on sto-02
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen), "node of the alert")
            assert app.screen.node_id == source.node_id_of("sto-02")
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), "alerts again")

            # An alert about a session opens the sessions screen on it; escape comes back.
            pending = next(a for a in source.snapshot.alerts if a.session_id)
            active = app.screen.query_one("#alerts-active", KeyedTable)
            active.select_key(pending.alert_id)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "sessions")
            await pilot.pause()
            assert app.screen.table.cursor_key == pending.session_id
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, AlertsScreen), "back to alerts")

            # From a session to its node and back.
            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "sessions")
            running = next(s for s in source.snapshot.sessions if s.status == "running")
            app.screen.select_session(running.session_id)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen), "node of the session")
            assert app.screen.node_id == running.node_id
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "sessions again")

            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
            assert ("f", "Status", "status_filter") in app.screen.keys
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "help closed")

            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen), "overview")
            assert app.screen.query_one(NodeTable).cursor_key == chosen

    run(scenario())


def test_switching_screens_does_not_pile_up_footer_keys():
    # Each screen's footer composes its keys again whenever that screen comes back; Textual's
    # Footer alone kept every key it ever showed (a leak that the soak run found).
    app = make_app()

    def footer_keys_alive() -> int:
        gc.collect()
        return sum(isinstance(thing, FooterKey) for thing in gc.get_objects())

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            counts = []
            for _ in range(6):
                for key in ("2", "3", "4", "1"):
                    await pilot.press(key)
                    await pilot.pause()
                counts.append(footer_keys_alive())
            assert counts[-1] <= counts[1], counts

    run(scenario())


def test_overview_filter_is_live_and_escape_clears_it():
    app = make_app()

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            assert len(table.keys) == 25
            await pilot.press("slash", "g", "p", "u")
            await pilot.pause()
            assert hostnames(app, table) == ["gpu-01", "gpu-02", "gpu-03", "gpu-04", "gpu-05"]
            await pilot.press("backspace", "backspace", "backspace", *"draining")
            await pilot.pause()
            assert hostnames(app, table) == ["cmp-04", "gpu-05"]
            await pilot.press("enter")  # keeps the filter, back to the table
            await pilot.pause()
            assert app.focused is table
            assert "filter: draining" in app.screen.query_one(StatusLine).detail
            await pilot.press("escape")  # clears it
            await pilot.pause()
            assert len(table.keys) == 25

    run(scenario())


def test_sessions_filter_by_user_status_and_type():
    app = make_app()

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            screen = app.screen
            sessions = {s.session_id: s for s in app.snapshot.sessions}
            order = [sessions[k] for k in screen.table.keys]
            assert [s.status for s in order[:5]] == ["pending"] * 5
            assert [app.snapshot.queue_positions.get(s.session_id) for s in order[:5]] == [0, 1, 2, 3, None]
            assert [s.status for s in order[-2:]] == ["paused", "paused"]

            await pilot.press("slash", *"user:alice", "enter")
            await pilot.pause()
            assert {sessions[k].username for k in screen.table.keys} == {"alice"}
            await pilot.press("f")  # status: pending
            await pilot.pause()
            assert [sessions[k].session_name for k in screen.table.keys] == ["train-llm-7b"]
            await pilot.press("escape")
            await pilot.pause()
            assert len(screen.table.keys) == len(sessions)
            await pilot.press("slash", *"type:streaming")
            await pilot.pause()
            assert {sessions[k].session_type for k in screen.table.keys} == {"streaming"}

    run(scenario())


def test_sort_cycles_columns_and_reverses():
    app = make_app()

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            assert hostnames(app, table)[:3] == ["cmp-01", "cmp-02", "cmp-03"]
            await pilot.press("s")  # problems first
            await pilot.pause()
            assert table.sort_key == "status"
            assert hostnames(app, table)[:4] == ["cmp-07", "gpu-03", "hyb-02", "old-01"]  # failed, then down
            await pilot.press("s", "s")  # heartbeat, then CPU (highest first)
            await pilot.pause()
            assert table.sort_key == "cpu"
            cpu = {n.node_id: n.metric("cpu_percent").latest for n in app.snapshot.nodes if n.metric("cpu_percent")}
            values = [cpu[k] for k in table.keys if cpu.get(k) is not None]
            assert values == sorted(values, reverse=True)
            await pilot.press("S")
            await pilot.pause()
            values = [cpu[k] for k in table.keys if cpu.get(k) is not None]
            assert values == sorted(values)
            assert "CPU▲" in str(table.columns["cpu"].label)

    run(scenario())


def test_cursor_stays_on_the_same_node_when_a_refresh_adds_and_reorders_rows():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            await select_host(pilot, table, source, "gpu-02")
            before = table.cursor_row
            gpu_02 = source.node_id_of("gpu-02")

            # A node that sorts first appears: every row moves down one, the cursor follows gpu-02.
            await poll_now(pilot, source.add_node("aaa-00"))
            assert hostnames(app, table)[0] == "aaa-00"
            assert table.cursor_key == gpu_02
            assert table.cursor_row == before + 1

            # Sorted by CPU, new samples reorder the rows: still on gpu-02.
            await pilot.press("s", "s", "s")
            await pilot.pause()
            assert table.cursor_key == gpu_02
            moved = False
            for _ in range(12):
                order = table.keys
                await poll_now(pilot, source.advance())
                moved = moved or table.keys != order
                assert table.cursor_key == gpu_02
                assert table.cursor_row == table.keys.index(gpu_02)
            assert moved, "the CPU values should have reordered some rows"

            # A removed node disappears; the cursor stays on gpu-02.
            await poll_now(pilot, source.remove_node("cmp-01"))
            assert source.node_id_of("gpu-02") in table.keys
            assert table.cursor_key == gpu_02

    run(scenario())


def test_a_refresh_only_touches_the_cells_that_changed():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            cells = len(table.keys) * len(table.columns)
            touched = []
            for _ in range(5):
                before = table.cells_updated
                await poll_now(pilot, source.advance())
                touched.append(table.cells_updated - before)
            assert max(touched) <= cells * 0.2, (touched, cells)
            assert sum(touched) > 0

    run(scenario())


def test_a_refresh_of_a_big_cluster_works_out_only_the_rows_in_view(monkeypatch):
    # 1,000 nodes, 10 % with new samples per poll: the rows out of view are neither worked out
    # nor drawn; they are when scrolled to, and a filter keeps the cursor's node.
    source = FixedSource(extra_hostnames=tuple(f"node-{i:04d}" for i in range(1000)))
    app = make_app(source)
    worked_out = []
    original = NodeTable._cells

    def counting_cells(self, node, keys, widths):
        worked_out.append(node.hostname)
        return original(self, node, keys, widths)

    monkeypatch.setattr(NodeTable, "_cells", counting_cells)
    sorts = []
    original_sort = node_table.sort_nodes
    monkeypatch.setattr(node_table, "sort_nodes", lambda *args, **kw: sorts.append(args[1]) or original_sort(*args, **kw))

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            assert table.row_count == 1025
            view = table.size.height
            for _ in range(3):
                worked_out.clear()
                rendered = table.cells_rendered
                await poll_now(pilot, source.advance())
                assert 0 < len(worked_out) <= view + 12, len(worked_out)
                assert table.cells_rendered - rendered <= (view + 12) * len(table.columns)

            worked_out.clear()
            await pilot.press("end")
            assert table.cursor_key == table.keys[-1]
            assert hostnames(app, table)[-1] in worked_out
            last = str(table.get_row_at(table.row_count - 1)[0]).strip()
            assert last == hostnames(app, table)[-1]
            assert len(worked_out) <= 2 * (view + 12)

            await select_host(pilot, table, source, "node-0550")
            sorts.clear()
            for typed in ("n", "no", "node-", "node-0", "node-05"):   # one snapshot: sorted once, not per key
                table.set_filter(typed)
            await pilot.pause()
            assert sorts == []
            assert table.row_count == 100 and table.cursor_key == source.node_id_of("node-0550")
            table.set_filter("")
            await pilot.pause()
            assert table.row_count == 1025 and table.cursor_key == source.node_id_of("node-0550")

    run(scenario())


def test_health_banner_appears_when_a_store_goes_stale_and_goes_away_when_it_recovers():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            banner = app.screen.query_one(HealthBanner)
            assert not any(line.level in ("error", "warning") for line in banner.lines)

            await poll_now(pilot, source.set_store_health(
                "PostgreSQL", HealthState.STALE, "connection refused"))
            assert banner.has_class("-visible") and banner.has_class("-warning")
            assert "PostgreSQL STALE since 09:26:20 (21s): connection refused" in banner.text
            assert "its data is from 09:26:18" in banner.text

            await poll_now(pilot, source.set_store_health("Redis", HealthState.DOWN, "timeout"))
            assert banner.has_class("-error")
            assert banner.lines[0].text.startswith("✗ Redis DOWN")

            # Every screen shows it.
            await pilot.press("3")
            await wait_for_snapshot(pilot)
            assert "Redis DOWN" in app.screen.query_one(HealthBanner).text

            source.set_store_health("Redis", HealthState.OK)
            await poll_now(pilot, source.set_store_health("PostgreSQL", HealthState.OK))
            banner = app.screen.query_one(HealthBanner)
            assert not any(line.level in ("error", "warning") for line in banner.lines)

    run(scenario())


class FailingSource(FixedSource):
    def __init__(self):
        super().__init__()
        self.fail = False

    def poll(self):
        if self.fail:
            raise RuntimeError("boom \x1b[31m[red]x[/red]")
        return super().poll()


def test_a_failing_poll_is_shown_and_cleared_by_the_next_good_one():
    source = FailingSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            source.fail = True
            await pilot.press("r")
            banner = app.screen.query_one(HealthBanner)
            await wait_for(pilot, lambda: "poll failed" in banner.text, "the failure in the banner")
            assert "poll failed: RuntimeError: boom [red]x[/red]" in banner.text
            source.fail = False
            await poll_now(pilot, source.advance())
            await wait_for(pilot, lambda: "poll failed" not in banner.text, "the banner cleared")

    run(scenario())


def test_pause_stops_polling_and_r_polls_once():
    source = FixedSource()
    app = make_app(source, refresh=0.5)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: source.polls >= 2, "two polls")
            await pilot.press("p")
            await pilot.pause(0.3)
            paused_at = source.polls
            await pilot.pause(1.2)
            assert source.polls == paused_at
            assert "PAUSED" in str(app.screen.query_one(StatusLine).render())
            await pilot.press("r")
            await wait_for(pilot, lambda: source.polls == paused_at + 1, "one poll on r")
            await pilot.pause(0.8)
            assert source.polls == paused_at + 1
            await pilot.press("p")
            await wait_for(pilot, lambda: source.polls >= paused_at + 3, "polling again")

    run(scenario())


def test_refresh_interval_changes_at_run_time():
    app = make_app(refresh=2.0)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("minus")
            assert app.schedule.interval == 5.0
            await pilot.press("plus", "plus")
            assert app.schedule.interval == 1.0
            await pilot.pause()
            assert "every 1s" in str(app.screen.query_one(StatusLine).render())

    run(scenario())


class SlowSource(FixedSource):
    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay
        self.running = 0
        self.most_at_once = 0
        self._count_lock = threading.Lock()

    def poll(self):
        with self._count_lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            return super().poll()
        finally:
            with self._count_lock:
                self.running -= 1


def test_polls_never_overlap():
    source = SlowSource(0.15)
    app = make_app(source, refresh=0.5)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_snapshot(pilot)
            for _ in range(10):
                await pilot.press("r")
                await pilot.pause(0.05)
            await wait_for(pilot, lambda: source.polls >= 5, "several polls")
            assert source.most_at_once == 1

    run(scenario())


class BlockedSource(FixedSource):
    """The first poll answers; the next one hangs until released (a dead server)."""

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.hanging = threading.Event()

    def poll(self):
        if self.polls >= 1:
            self.hanging.set()
            self.release.wait()
        return super().poll()


def test_quitting_is_immediate_even_in_the_middle_of_a_poll():
    source = BlockedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("r")
            await wait_for(pilot, source.hanging.is_set, "a hanging poll")
            started = time.monotonic()
            await pilot.press("q")
        return time.monotonic() - started

    started = time.monotonic()
    try:
        quit_seconds = run(scenario())
        total = time.monotonic() - started
    finally:
        source.release.set()
    assert quit_seconds < 1.0
    assert total < 10


def test_a_newer_snapshot_replaces_one_not_yet_rendered():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_snapshot(pilot)
            screen = app.screen
            shown = []
            original = screen.show_snapshot
            screen.show_snapshot = lambda snapshot: (shown.append(snapshot), original(snapshot))
            first, second = source.advance(), source.advance()
            app._hand_over(first)  # both arrive before the app handles the first
            app._hand_over(second)
            await pilot.pause()
            await pilot.pause()
            assert shown == [second]

    run(scenario())


def test_user_key_remaps_from_settings():
    app = make_app(keys={"sessions": "4", "sort": "o"})

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("o")
            assert app.screen.query_one(NodeTable).sort_key == "status"
            await pilot.press("2")
            await pilot.pause()
            assert isinstance(app.screen, OverviewScreen)
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "sessions on 4")

    run(scenario())


def test_node_detail_switches_the_history_window():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_node(pilot, source, "gpu-01")
            assert source.detail_requests[-1][1].total_seconds() == 3600
            await pilot.press("w")
            await wait_for(pilot, lambda: screen.detail.window_seconds == 86400, "the 24 h window")
            await pilot.press("w")
            await wait_for(pilot, lambda: screen.detail.window_seconds == 7 * 86400, "the 7 d window")
            await pilot.press("W", "W", "W")
            await wait_for(pilot, lambda: screen.detail.window_seconds == 900, "the 15 m window")
            assert "[15m]" in str(screen.query_one("#charts-title").render())

    run(scenario())


def test_command_palette_goes_to_a_node():
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"node hyb-02")
            await pilot.pause(0.5)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen), "the node")
            assert app.screen.node_id == source.node_id_of("hyb-02")

    run(scenario())


def test_strings_from_the_stores_are_shown_literally():
    app = make_app()

    async def scenario():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            table = app.screen.table
            texts = [str(table.get_cell(key, "name")) for key in table.keys]
            assert "[red]not markup[/red] clear" in texts  # markup kept as text, escape removed
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "[red]not" in svg

    run(scenario())


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_every_screen_lays_out_at_small_and_large_sizes(size):
    source = FixedSource()
    app = make_app(source)

    async def scenario():
        async with app.run_test(size=size) as pilot:
            await wait_for_snapshot(pilot)
            table = app.screen.query_one(NodeTable)
            used = sum(c.get_render_width(table) for c in table.columns.values())
            assert used <= size[0] - 2  # no horizontal scrolling of the node table
            for key in ("2", "3"):
                await pilot.press(key)
                await wait_for_snapshot(pilot)
            await open_node(pilot, source, "hyb-03")

    run(scenario())


def test_a_refresh_sends_little_to_the_terminal():
    """At 120x40, with ~10 % of the nodes bringing a new sample, a refresh writes under 2 KB.

    Measured in a fresh process: Rich caches each style's escape codes the first time it
    is rendered, so a process that already rendered in another colour system would
    count different bytes.
    """
    result = subprocess.run(
        [sys.executable, "-m", "tests.refresh_bytes"], capture_output=True, text=True, timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 0, result.stderr
    sizes = json.loads(result.stdout.strip().splitlines()[-1])
    # Every 7th or 8th poll crosses a sparkline bucket and every sparkline shifts by one.
    assert sorted(sizes)[-2] < 2048, sizes
    assert max(sizes) < 8192, sizes
