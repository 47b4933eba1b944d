"""Action keys in the console, on real PostgreSQL and Redis: the Poller reads, an ActionRunner acts.

Every confirmation is driven by key presses (Pilot) and checked in the database.
"""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from dataclasses import replace

import psycopg

import cluster_data as cd
from console_app import wait_for, wait_for_snapshot
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data import actions
from omega_tui.data.action_runner import ActionRunner
from omega_tui.data.actions import Actor
from omega_tui.data.poller import Poller
from omega_tui.screens.alerts import AlertsScreen
from omega_tui.screens.audit import AuditScreen
from omega_tui.screens.confirm import ConfirmScreen
from omega_tui.screens.node_detail import NodeDetailScreen
from omega_tui.screens.sessions import SessionsScreen
from omega_tui.widgets.activity_line import ActivityLine
from omega_tui.widgets.keyed_table import KeyedTable
from omega_tui.widgets.node_table import NodeTable
from omega_tui.widgets.status_line import StatusLine
from test_roles import logins  # noqa: F401 - the fixture

ACTOR = Actor(operator="ops1", os_user="ops1", os_host="console-t")


def make_cluster(dsn: str) -> dict:
    """A GPU node with a running and a scheduled session, two idle nodes, a queued session, an event."""
    with cd.connect(dsn) as conn:
        user = cd.add_user(conn, "carol")
        ids = {"busy": cd.add_node(conn, "gpu-busy", node_type="gpu", gpus=4),
               "idle1": cd.add_node(conn, "cmp-idle-1"), "idle2": cd.add_node(conn, "cmp-idle-2")}
        ids["running"] = cd.add_session(conn, user, "train-big", status="running", node_id=ids["busy"])
        ids["scheduled"] = cd.add_session(conn, user, "render-next", status="scheduled", node_id=ids["busy"])
        ids["queued"] = cd.add_session(conn, user, "queued-job")
        ids["event"] = cd.add_event(conn, severity="warning", message="disk hot", node_id=ids["busy"])
    return ids


@contextmanager
def live_app(dsn: str, redis_url: str, *, read_only: bool = False, actions_dsn: str | None = None):
    settings = replace(Settings(), dsn=dsn, redis_url=redis_url, refresh=300.0, read_only=read_only)
    poller = Poller(settings)
    runner = None if read_only else ActionRunner(replace(settings, dsn=actions_dsn or dsn), actor=ACTOR)
    try:
        yield OmegaApp(poller, settings, actions=runner)
    finally:
        poller.close()
        if runner is not None:
            runner.close()


def query(dsn: str, sql: str, params=()):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def node_status(dsn: str, node_id: str) -> str:
    return query(dsn, "SELECT status FROM nodes WHERE node_id = %s", (node_id,))[0][0]


def session_status(dsn: str, session_id: str) -> str:
    return query(dsn, "SELECT status FROM sessions WHERE session_id = %s", (session_id,))[0][0]


def audit_count(dsn: str) -> int:
    return query(dsn, "SELECT count(*) FROM omega_console.audit_log")[0][0]


def activity(app) -> str:
    return app.screen.query_one(ActivityLine).text


async def on_overview(pilot, node_id: str) -> NodeTable:
    await wait_for_snapshot(pilot)
    table = pilot.app.screen.query_one(NodeTable)
    await wait_for(pilot, lambda: node_id in table.keys, "the node row")
    table.focus()
    assert table.select_key(node_id)
    await pilot.pause()
    return table


async def confirm_screen(pilot) -> ConfirmScreen:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), "the confirmation")
    await pilot.pause()
    return pilot.app.screen


async def closed(pilot) -> None:
    await wait_for(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), "the confirmation to close")


async def action_done(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: app.activity.running is None and app.activity.results_at is not None,
                   "the action's result", timeout=15)
    await pilot.pause()


def test_drain_asks_with_cancel_focused_and_enter_or_escape_change_nothing(dsn, redis_url):
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await on_overview(pilot, ids["idle1"])
            await pilot.press("d")
            modal = await confirm_screen(pilot)
            assert modal.focused.id == "confirm-no"
            assert modal.confirmation.typed_phrase is None          # an idle node: yes/no only
            assert "cmp-idle-1: 0 sessions on it (0 running), 0 GPUs." in modal.confirmation.lines
            await pilot.press("enter")                               # on Cancel
            await closed(pilot)
            await pilot.press("d")
            await confirm_screen(pilot)
            await pilot.press("escape")
            await closed(pilot)
            await pilot.pause(0.2)
            assert app.activity.running is None and app.activity.results_at is None

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
    assert node_status(dsn, ids["idle1"]) == "active"
    assert audit_count(dsn) == 0


def test_drain_of_a_busy_node_needs_its_name_typed(dsn, redis_url):
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            table = await on_overview(pilot, ids["busy"])
            await pilot.press("d")
            modal = await confirm_screen(pilot)
            assert modal.confirmation.typed_phrase == "gpu-busy"
            assert any("2 sessions on it (1 running), 4 GPUs" in line for line in modal.confirmation.lines)
            assert any(line.split()[:3] == ["train-big", "carol", "running"] for line in modal.confirmation.lines)
            yes = modal.query_one("#confirm-yes")
            assert modal.focused.id == "confirm-no" and yes.disabled
            await pilot.press("shift+tab")                           # to the name field
            await pilot.press(*"gpu-bus")
            await pilot.press("enter")                               # a wrong name: nothing happens
            await pilot.pause()
            assert modal.query_one("#confirm-typed").value == "gpu-bus"
            assert yes.disabled and isinstance(app.screen, ConfirmScreen)
            await pilot.press(*"ys")                                 # "gpu-busys"
            await pilot.pause()
            assert yes.disabled
            await pilot.press("backspace")
            await pilot.pause()
            assert not yes.disabled
            await pilot.press("enter")
            await closed(pilot)
            await action_done(pilot)
            assert "✓ gpu-busy draining; 2 session(s) still on it" in activity(app)
            # The next poll shows the drain's progress on the row.
            await wait_for(pilot, lambda: "▼ draining 2" in str(table.get_row(ids["busy"])[2]), "progress")

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
    assert node_status(dsn, ids["busy"]) == "draining"
    assert query(dsn, "SELECT operator, action, target_name, result FROM omega_console.audit_log") == [
        ("ops1", "drain", "gpu-busy", "ok")]


def test_marked_nodes_are_drained_with_one_confirmation_and_a_result_each(dsn, redis_url):
    ids = make_cluster(dsn)
    with cd.connect(dsn) as conn:
        conn.execute("UPDATE nodes SET status = 'draining' WHERE node_id = %s", (ids["idle2"],))

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            table = await on_overview(pilot, ids["idle1"])
            await pilot.press("space")
            assert table.select_key(ids["idle2"])
            await pilot.press("space")
            assert table.marked == {ids["idle1"], ids["idle2"]}
            assert str(table.get_row(ids["idle1"])[0]).startswith("■ cmp-idle-1")
            assert "2 marked" in app.screen.query_one(StatusLine).detail
            await pilot.press("d")
            modal = await confirm_screen(pilot)
            assert modal.confirmation.title == "Drain 2 nodes?"
            assert [name for _, name in modal.confirmation.targets] == ["cmp-idle-1", "cmp-idle-2"]
            await pilot.press("tab", "enter")                       # Cancel -> Drain
            await closed(pilot)
            await action_done(pilot)
            text = activity(app)
            assert "✓ cmp-idle-1 draining" in text and "= cmp-idle-2 is already draining" in text
            assert not table.marked                                  # used up
            assert "marked" not in app.screen.query_one(StatusLine).detail

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
    assert node_status(dsn, ids["idle1"]) == node_status(dsn, ids["idle2"]) == "draining"
    assert query(dsn, "SELECT result FROM omega_console.audit_log ORDER BY audit_id") == [("ok",), ("already",)]


def test_marks_of_sessions_that_end_are_dropped(dsn, redis_url):
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            table = app.screen.query_one("#sessions", KeyedTable)
            table.focus()
            for key in (ids["queued"], ids["scheduled"]):
                assert table.select_key(key)
                await pilot.press("space")
            assert table.marked == {ids["queued"], ids["scheduled"]}
            with cd.connect(dsn) as conn:
                conn.execute("UPDATE sessions SET status = 'completed', end_time = now() WHERE session_id = %s",
                             (ids["scheduled"],))
            await pilot.press("r")
            await wait_for(pilot, lambda: ids["scheduled"] not in table.keys, "the session to end")
            assert table.marked == {ids["queued"]}

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))


def test_cancel_of_queued_and_running_sessions(dsn, redis_url):
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, SessionsScreen)
            table = app.screen.table
            table.focus()
            assert table.select_key(ids["queued"])
            await pilot.press("c")
            modal = await confirm_screen(pilot)
            assert modal.confirmation.typed_phrase is None and modal.confirmation.title == "Cancel session queued-job?"
            assert modal.confirmation.lines[0] == "queued-job: user carol, pending, not started"
            await pilot.press("tab", "enter")
            await closed(pilot)
            await action_done(pilot)
            assert "✓ queued-job cancelled (was pending)" in activity(app)

            await wait_for(pilot, lambda: ids["queued"] not in table.keys, "the cancelled session to go")
            assert table.select_key(ids["running"])
            await pilot.press("c")
            modal = await confirm_screen(pilot)
            assert modal.confirmation.typed_phrase == "train-big"
            assert modal.confirmation.lines[0].startswith("train-big: user carol, running on gpu-busy, has run ")
            await pilot.press("shift+tab", *"train-big", "enter")
            await closed(pilot)
            await wait_for(pilot, lambda: "✓ train-big cancelled (was running)" in activity(app), "the result")

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
    assert session_status(dsn, ids["queued"]) == session_status(dsn, ids["running"]) == "cancelled"


def test_acknowledge_needs_no_confirmation_and_resolve_asks(dsn, redis_url):
    ids = make_cluster(dsn)
    alert_id = f"event:{ids['event']}"

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("3")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, AlertsScreen)
            active = app.screen.query_one("#alerts-active", KeyedTable)
            active.focus()
            assert active.select_key(alert_id)
            await pilot.press("a")
            assert not isinstance(app.screen, ConfirmScreen)
            await action_done(pilot)
            acked = app.screen.query_one("#alerts-acked", KeyedTable)
            await wait_for(pilot, lambda: alert_id in acked.keys, "the alert among the acknowledged")
            acked.focus()
            assert acked.select_key(alert_id)
            await pilot.press("R")
            modal = await confirm_screen(pilot)
            assert modal.confirmation.title.startswith("Resolve ")
            await pilot.press("tab", "enter")
            await closed(pilot)
            await wait_for(pilot, lambda: alert_id not in acked.keys, "the resolved alert to leave")

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
    assert query(dsn, "SELECT acknowledged_by FROM omega_console.alert_acks") == [("ops1",)]
    assert query(dsn, "SELECT resolved_at IS NOT NULL FROM system_events WHERE event_id = %s", (ids["event"],)) == [
        (True,)]


def test_read_only_mode_has_no_action_keys_and_shows_a_lock(dsn, redis_url):
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            table = await on_overview(pilot, ids["idle1"])
            assert "🔒 read-only" in str(app.screen.query_one(StatusLine).render())
            keys = {b.binding.key for b in app.screen.active_bindings.values()}
            assert not keys & {"d", "u", "space"} and "s" in keys      # removed, not just disabled
            await pilot.press("space", "d", "u")
            assert not table.marked and not isinstance(app.screen, ConfirmScreen)
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            await pilot.press("c")
            await pilot.press("3")
            await wait_for_snapshot(pilot)
            await pilot.press("a", "R")
            await pilot.pause(0.2)
            assert not isinstance(app.screen, ConfirmScreen) and app.activity.results_at is None

    with live_app(dsn, redis_url, read_only=True) as app:
        asyncio.run(scenario(app))
    assert audit_count(dsn) == 0
    assert query(dsn, "SELECT count(*) FROM omega_console.alert_acks") == [(0,)]
    assert {s for (s,) in query(dsn, "SELECT status FROM nodes")} == {"active"}


def test_permission_denied_is_shown_and_the_console_keeps_running(dsn, redis_url, logins):  # noqa: F811
    ids = make_cluster(dsn)

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            await on_overview(pilot, ids["idle1"])
            await pilot.press("d")
            await confirm_screen(pilot)
            await pilot.press("tab", "enter")
            await closed(pilot)
            await action_done(pilot)
            assert "✗ cmp-idle-1: permission denied for drain as omega_t_ro; nothing changed" in activity(app)
            assert "(x: dismiss)" in activity(app)
            await pilot.press("r")                                   # still polling, still answering keys
            await pilot.press("x")
            assert activity(app) == ""
            await pilot.press("2")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, SessionsScreen)

    with live_app(dsn, redis_url, actions_dsn=logins["omega_readonly"]) as app:
        asyncio.run(scenario(app))
    assert node_status(dsn, ids["idle1"]) == "active"


def test_a_drain_is_tracked_until_the_node_is_idle_and_other_operators_show(dsn, redis_url):
    ids = make_cluster(dsn)
    other = Actor(operator="ops2", os_user="ops2", os_host="console-2")

    async def scenario(app):
        async with app.run_test(size=(120, 40)) as pilot:
            table = await on_overview(pilot, ids["busy"])
            with cd.connect(dsn) as conn:   # another operator drains, from another console
                assert actions.drain_node(conn, None, other, ids["busy"]).result == "ok"
            await pilot.press("r")

            def status_cell() -> str:
                return str(table.get_row(ids["busy"])[2]).strip()

            await wait_for(pilot, lambda: status_cell() == "▼ draining 2", "draining with 2 sessions left")
            assert "ops2 draining gpu-busy" in activity(app)
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen), "the node detail")
            await wait_for_snapshot(pilot)
            inventory = str(app.screen.query_one("#inventory").render())
            assert "▼ draining · 2 sessions left  heartbeat" in inventory
            assert "drain     asked by ops2 at " in inventory

            with cd.connect(dsn) as conn:
                conn.execute("UPDATE sessions SET status = 'completed', end_time = now() WHERE session_id = %s",
                             (ids["running"],))
            await pilot.press("r")
            await wait_for(pilot, lambda: "draining · 1 session left" in str(app.screen.query_one("#inventory").render()),
                           "1 session left")
            with cd.connect(dsn) as conn:
                conn.execute("UPDATE sessions SET status = 'cancelled', end_time = now() WHERE session_id = %s",
                             (ids["scheduled"],))
            await pilot.press("r")
            await wait_for(pilot, lambda: "▼ drained" in str(app.screen.query_one("#inventory").render()), "drained")
            await pilot.press("escape")
            await wait_for(pilot, lambda: status_cell() == "▼ drained", "drained on the row")

            await pilot.press("4")
            await wait_for_snapshot(pilot)
            assert isinstance(app.screen, AuditScreen)
            rows = [" ".join(str(c).strip() for c in app.screen.table.get_row(k)) for k in app.screen.table.keys]
            assert len(rows) == 1 and "ops2 drain node gpu-busy ✓ ok" in rows[0]

    with live_app(dsn, redis_url) as app:
        asyncio.run(scenario(app))
