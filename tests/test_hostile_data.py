"""Hostile and broken data, from the models through rendering: shown literally, never interpreted.

Property-based (hypothesis) over hostile strings and numbers: the cell builders of
every screen, then whole screens rendered headless (what the compositor would send
to the terminal, line by line). Then a fixed hostile corpus written into the real
PostgreSQL and Redis, read by the real Poller and rendered.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

import cluster_data as cd
from console_app import FIXED_NOW, make_app, wait_for, wait_for_snapshot
from hostile_values import assert_safe, assert_safe_lines, hostile_numbers, hostile_text
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data.models import (
    Allocation, Event, HealthState, Heartbeat, MetricSeries, NodeDetail, Reachability, StoreHealth,
)
from omega_tui.data.poller import Poller
from omega_tui.fixed_source import FixedSource, fixed_node_detail
from omega_tui.messages import OpenNode
from omega_tui.screens import alerts as alerts_screen
from omega_tui.screens import node_detail as detail_screen
from omega_tui.screens import sessions as sessions_screen
from omega_tui.screens.node_detail import NodeDetailScreen
from omega_tui.widgets.health_banner import banner_lines
from omega_tui.widgets.keyed_table import fit_columns

BASE = FixedSource().snapshot
EXTREME_TIMES = st.one_of(
    st.none(),
    st.sampled_from([datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
                     datetime(1970, 1, 1, tzinfo=UTC), FIXED_NOW + timedelta(days=400)]),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)).map(lambda d: d.replace(tzinfo=UTC)),
)
small_ints = st.one_of(st.none(), st.integers(-2**63, 2**63))


@st.composite
def hostile_snapshot(draw):
    text = hostile_text(max_pieces=3)
    node = replace(
        BASE.nodes[0],
        hostname=draw(text), node_type=draw(text), status=draw(text), ip_address=draw(text),
        labels=tuple((draw(text), draw(text)) for _ in range(draw(st.integers(0, 3)))),
        total_cpu_cores=draw(small_ints), total_memory_gb=draw(hostile_numbers), gpu_count=draw(small_ints),
        gpu_memory_gb=draw(hostile_numbers), total_storage_gb=draw(hostile_numbers),
        last_heartbeat=draw(EXTREME_TIMES), reachability=draw(st.sampled_from(list(Reachability))),
        heartbeat=Heartbeat(draw(EXTREME_TIMES), draw(text), draw(hostile_numbers), draw(st.none() | text)),
        metrics=tuple(
            MetricSeries(name, draw(st.none() | text), draw(hostile_numbers), draw(EXTREME_TIMES),
                         tuple(draw(st.lists(hostile_numbers.filter(lambda v: v is not None), max_size=3))))
            for name in ("cpu_percent", "memory_percent", "gpu_percent", "load_1m", "network_rx_bytes")
        ) + ((MetricSeries(draw(text), draw(text), draw(hostile_numbers), draw(EXTREME_TIMES)),)),
        allocations=(Allocation(draw(text), draw(hostile_numbers), draw(hostile_numbers), draw(text)),),
        sessions_running=draw(st.integers(-5, 10**9)), sessions_total=draw(st.integers(-5, 10**9)),
        in_postgres=draw(st.booleans()),
    )
    session = replace(
        BASE.sessions[0], session_name=draw(text), username=draw(st.none() | text), session_type=draw(text),
        status=draw(text), priority=draw(small_ints), cpu_request=draw(hostile_numbers),
        memory_request_gb=draw(hostile_numbers), gpu_request=draw(small_ints), node_id=node.node_id,
        node_hostname=draw(st.none() | text), created_at=draw(EXTREME_TIMES), start_time=draw(EXTREME_TIMES),
    )
    position = draw(st.none() | st.integers(-1, 10**9))
    alert = replace(
        BASE.alerts[0], severity=draw(text), title=draw(text), message=draw(text), since=draw(EXTREME_TIMES),
        node_id=node.node_id, source=draw(st.none() | text), acknowledged_by=draw(st.none() | text),
        acknowledged_at=draw(EXTREME_TIMES),
    )
    health = StoreHealth("Redis", draw(st.sampled_from(list(HealthState))), draw(EXTREME_TIMES),
                         draw(st.none() | text), draw(EXTREME_TIMES), draw(hostile_numbers))
    snapshot = replace(
        BASE, nodes=(node,) + BASE.nodes[1:], sessions=(session,) + BASE.sessions[1:],
        alerts=(alert,) + BASE.alerts[1:], redis=health, notices=(draw(text),),
        queue_positions={} if position is None else {session.session_id: position},
    )
    event = Event(draw(text), draw(EXTREME_TIMES), draw(text), draw(text), draw(st.none() | text), draw(text),
                  node_id=node.node_id)
    return snapshot, event


def assert_cells_safe(cells, columns, what: str) -> None:
    for (text, _style), column in zip(cells, columns, strict=True):
        assert_safe(text, f"{what}.{column.key}")
        assert cell_len(text) <= column.width, (what, column.key, text)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(hostile_snapshot(), st.integers(40, 220))
def test_every_cell_builder_turns_hostile_models_into_safe_bounded_text(drawn, width):
    snapshot, event = drawn
    now = FIXED_NOW
    node, session, alert = snapshot.nodes[0], snapshot.sessions[0], snapshot.alerts[0]

    columns = fit_columns(sessions_screen.COLUMN_SPECS, width)
    position = snapshot.queue_positions.get(session.session_id)
    assert_cells_safe(sessions_screen.session_cells(session, columns, now, position), columns, "sessions")
    assert_safe_lines(sessions_screen.session_detail(session, now, position=position).plain, "session detail")

    columns = fit_columns(alerts_screen.BASE_COLUMNS + (alerts_screen.ACK_COLUMN,), width)
    target = alerts_screen.alert_target(alert, snapshot)
    assert_cells_safe(alerts_screen.alert_cells(alert, target, columns, now), columns, "alerts")

    columns = fit_columns(detail_screen.SESSION_COLUMNS, width)
    assert_cells_safe(detail_screen.session_cells(session, columns, now), columns, "node sessions")
    columns = fit_columns(detail_screen.EVENT_COLUMNS, width)
    assert_cells_safe(detail_screen.event_cells(event, columns, now), columns, "node events")
    assert_safe_lines(detail_screen.inventory(node, now, snapshot.taken_at).plain, "inventory")
    assert_safe_lines(detail_screen.latest_metrics(node).plain, "latest metrics")

    for line in banner_lines(snapshot, now, poll_problem=event.message, stale_after=10.0):
        assert_safe(line.text, "banner")


# --- whole screens --------------------------------------------------------------------

class StaticSource:
    """Always the same snapshot; node detail with the given event."""

    def __init__(self, snapshot, event: Event | None = None):
        self.snapshot, self.event = snapshot, event

    def poll(self):
        return self.snapshot

    def node_detail(self, node_id: str, window: timedelta) -> NodeDetail:
        detail = fixed_node_detail(node_id, window, self.snapshot.taken_at)
        return replace(detail, events=(self.event,) if self.event else detail.events)

    def close(self) -> None:
        pass


def screen_lines(app) -> list[str]:
    """The current screen as the compositor would send it: one string per terminal line."""
    strips = app.screen._compositor.render_strips()
    width = app.size.width
    lines = []
    for strip in strips:
        assert strip.cell_length <= width
        lines.append("".join(segment.text for segment in strip))
    return lines


async def visit_every_screen(app, pilot, node_id: str) -> list[str]:
    """Nodes, sessions, alerts and the node's detail; every line each one showed."""
    await wait_for_snapshot(pilot)
    seen = list(screen_lines(app))
    for key in ("2", "3", "1"):
        await pilot.press(key)
        await wait_for_snapshot(pilot)
        seen += screen_lines(app)
    app.post_message(OpenNode(node_id))
    await wait_for(pilot, lambda: isinstance(app.screen, NodeDetailScreen) and app.screen.detail is not None,
                   "the node detail")
    await pilot.pause()
    seen += screen_lines(app)
    return seen


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(hostile_snapshot())
def test_hostile_snapshots_render_safely_on_every_screen(drawn):
    snapshot, event = drawn
    app = make_app(StaticSource(snapshot, event))

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            for line in await visit_every_screen(app, pilot, snapshot.nodes[0].node_id):
                assert_safe(line, "screen line")
            assert app.is_running

    asyncio.run(scenario())


# --- through the real readers ------------------------------------------------------------

MARKUP_HOST = "[b]evil[/b]"
ESCAPE_HOST = "esc\x1b[2Jhost"
LINK_SESSION = "[link=https://evil.example]job[/link]"
TITLE_USER = "u\x1b]0;pwned\x07ser"
RTL_MESSAGE = "disk \u202efull\u202c שלום [red]x[/red]"


def write_hostile_cluster(dsn: str, redis_url: str) -> dict:
    now = cd.utc_now()
    with cd.connect(dsn) as conn:
        conn.execute("ALTER TABLE nodes DROP CONSTRAINT nodes_status_check")
        conn.execute("ALTER TABLE nodes DROP CONSTRAINT nodes_node_type_check")
        conn.execute("ALTER TABLE sessions DROP CONSTRAINT sessions_status_check")
        conn.execute("ALTER TABLE system_events DROP CONSTRAINT IF EXISTS system_events_severity_check")
        user = cd.add_user(conn, TITLE_USER)
        markup = cd.add_node(conn, MARKUP_HOST, status="rebooting\x1b[5m", labels={
            "[i]k": "\x1b]8;;https://evil.example\x1b\\v", "n": float("1e308"), "wide": "日本語" * 40})
        escape = cd.add_node(conn, ESCAPE_HOST, node_type="\u202egpu")
        longname = cd.add_node(conn, "h" * 240 + "👩\u200d💻")
        cd.add_session(conn, user, LINK_SESSION, status="[b]weird", node_id=markup)
        cd.add_session(conn, user, "future", status="running", node_id=escape,
                       created_at=datetime(9999, 1, 1, tzinfo=UTC))
        cd.add_event(conn, severity="catastrophic\x07", message=RTL_MESSAGE, node_id=markup,
                     event_type="\x1b[31mtype")
        cd.add_event(conn, severity="error", message="old", node_id=escape, at=datetime(1971, 1, 1, tzinfo=UTC))
        # PostgreSQL's infinite timestamps have no Python datetime: read as no time, not a failed poll.
        conn.execute("UPDATE nodes SET last_heartbeat = 'infinity', updated_at = '-infinity' WHERE node_id = %s",
                     (escape,))
        conn.execute("UPDATE sessions SET start_time = 'infinity', created_at = '-infinity' WHERE session_name = %s",
                     ("future",))
        conn.execute("UPDATE system_events SET resolved_at = 'infinity' WHERE message = 'old'")
        cd.add_metric_rows(conn, [
            (now - timedelta(seconds=5), markup, "cpu_percent", float("inf")),
            (now - timedelta(seconds=5), markup, "memory_percent", -50.0),
            (now - timedelta(seconds=5), markup, "gpu_percent", 1e300),
            (now - timedelta(seconds=5), escape, "cpu_percent", float("-inf")),
            (now - timedelta(seconds=5), escape, "load_1m", float("nan")),
            (now + timedelta(days=365), escape, "memory_percent", 50.0),          # far future
            (datetime(1970, 1, 2, tzinfo=UTC), longname, "cpu_percent", 12.0),    # far past
            (now - timedelta(seconds=5), longname, "\x1b[2Jcustom", 3.0),
        ])
    client = cd.redis_client(redis_url)
    try:
        cd.write_raw_heartbeat(client, markup, b"\xff\xfe\x1b[2J not json")
        cd.write_raw_heartbeat(client, escape, json.dumps({"timestamp": ["x"], "status": {"a": 1}, "load": "hi"}))
        cd.write_heartbeat(client, longname, "99999999999999999999", status="\x1b]0;t\x07")
        cd.set_queue(client, ["\x1b[2J", "not-a-session"])
    finally:
        client.close()
    return {"markup": markup, "escape": escape, "long": longname}


def test_hostile_rows_in_postgres_and_redis_are_shown_literally(dsn, redis_url):
    ids = write_hostile_cluster(dsn, redis_url)
    settings_ = replace(Settings(), dsn=dsn, redis_url=redis_url, refresh=300.0)
    poller = Poller(settings_)
    app = OmegaApp(poller, settings_)

    async def scenario():
        async with app.run_test(size=(160, 48)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, "a first poll")
            snapshot = app.snapshot
            assert snapshot.postgres.ok and snapshot.redis.ok
            assert {n.node_id for n in snapshot.nodes} >= set(ids.values())
            markup = snapshot.node(ids["markup"])
            assert markup.reachability is Reachability.MALFORMED
            assert markup.metric("cpu_percent") is None                      # inf is not a value
            assert snapshot.node(ids["escape"]).reachability is Reachability.MALFORMED

            lines = await visit_every_screen(app, pilot, ids["markup"])
            for line in lines:
                assert_safe(line, "screen line")
            shown = "\n".join(lines)
            assert MARKUP_HOST in shown                                       # literal, not bold
            assert "eschost" in shown                                         # the escape sequence removed, the rest kept
            assert "[link=https://evil.example]job" in shown or "[link=https://evi" in shown
            assert "? [b]weird" in shown                                      # unknown status, literal
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "pwned" not in shown and "pwned" not in svg   # OSC payload dropped

    try:
        asyncio.run(scenario())
    finally:
        poller.close()
