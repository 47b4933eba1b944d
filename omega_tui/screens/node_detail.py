"""One node: inventory and labels, resources allocated/total, history charts over a
window switched by keys, the sessions on the node and its recent events."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.widgets import Label, Static
from textual.worker import Worker, WorkerState

from omega_tui import confirmation
from omega_tui.data.models import CANONICAL_METRICS, ClusterSnapshot, Event, Node, NodeDetail, Session
from omega_tui.messages import OpenSession
from omega_tui.screens.console_screen import ConsoleScreen
from omega_tui.widgets import status_words
from omega_tui.widgets.formatting import (
    MISSING,
    age,
    amount,
    clock_time,
    coarse_duration,
    metric_value,
    seconds_between,
)
from omega_tui.widgets.keyed_table import Cell, Column, ColumnSpec, KeyedTable, cell_content, fit_columns
from omega_tui.widgets.metric_chart import ChartLine, ChartSpec, MetricChart
from omega_tui.widgets.resource_bars import ResourceBars
from omega_tui.widgets.safe_text import clean

WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("15m", timedelta(minutes=15)),
    ("1h", timedelta(hours=1)),
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
)
DEFAULT_WINDOW = 1  # 1 h
# chart id, title, metric types (one line each), scale, percent axis
CHARTS = (
    ("chart-cpu", "CPU %", ("cpu_percent",), 1.0, True),
    ("chart-memory", "Memory %", ("memory_percent",), 1.0, True),
    ("chart-gpu", "GPU %", ("gpu_percent",), 1.0, True),
    ("chart-network", "Network MB/s (rx, tx)", ("net_rx_bytes", "net_tx_bytes"), 1e6, False),
    ("chart-temperature", "Temperature °C", ("temperature_c",), 1.0, False),
)
LINE_COLOURS = ("primary", "accent")
ALWAYS_CHARTED = ("chart-cpu", "chart-memory")
NARROW_WIDTH = 120


def drained_by(node: Node | None, snapshot: ClusterSnapshot, now: datetime) -> str:
    """'asked by ops2 at 14:02:11' for a draining node, from the newest successful drain in the audit trail."""
    if node is None or node.status != "draining":
        return ""
    entry = next((e for e in snapshot.audit if e.target_id == node.node_id and e.action == "drain"
                  and e.result == "ok"), None)
    return f"asked by {clean(entry.operator, 20)} at {clock_time(entry.at, now)}" if entry is not None else ""


def inventory(node: Node | None, now: datetime, read_at: datetime, drain_note: str = "") -> Content:
    if node is None:
        return Content.styled("This node is no longer in the snapshot.", "$warning bold")
    capacity = [f"{amount(node.total_cpu_cores)} cores", f"{amount(node.total_memory_gb)} GB RAM",
                f"{amount(node.total_storage_gb)} GB disk"]
    if node.gpu_count:
        capacity.append(f"{node.gpu_count} GPU ({amount(node.gpu_memory_gb)} GB)")
    last_beat = (f"{clock_time(node.last_heartbeat, now)} ({age(node.last_heartbeat, now)} ago)"
                 if node.last_heartbeat else MISSING)

    def field(name: str) -> Content:
        return Content.styled(f"{name:<9} ", "bold")

    lines = [
        Content.assemble(field("host"), (clean(node.hostname, 60), "bold")),
        Content.assemble(field("state"), cell_content(status_words.drain_progress(node)), "  heartbeat ",
                         cell_content(status_words.reachability(node, now, read_at))),
        Content.assemble(field("type"), clean(node.node_type), "  address ", clean(node.ip_address) or MISSING),
        Content.assemble(field("capacity"), " · ".join(capacity)),
        Content.assemble(field("sessions"), f"{node.sessions_running} running, {node.sessions_total} live",
                         "  last beat ", last_beat),
        Content.assemble(field("id"), (clean(node.node_id), "$foreground-muted")),
    ]
    if drain_note:
        lines.insert(2, Content.assemble(field("drain"), (drain_note, "$foreground-muted")))
    if node.heartbeat is not None and node.heartbeat.problem:
        lines.append(Content.assemble(field("bad beat"), (clean(node.heartbeat.problem, 60), "$warning")))
    if not node.in_postgres:
        lines.append(Content.assemble(field("note"), ("heartbeating in Redis, not in the nodes table", "$warning")))
    if node.labels:
        labels = [Content.assemble((clean(key, 24), "$primary"), "=", clean(value, 40)) for key, value in node.labels]
        lines.append(Content.assemble(field("labels"), Content("  ").join(labels)))
    return Content("\n").join(lines)


def latest_metrics(node: Node | None) -> Content:
    """All the node's metrics, canonical and others, as `name value` pairs that wrap."""
    if node is None or not node.metrics:
        return Content.styled("no metrics", "$foreground-muted")
    parts = []
    for series in node.metrics:
        name = clean(series.metric_type.removesuffix("_percent"), 22)
        value = clean(metric_value(series.metric_type, series.unit, series.latest), 16).replace(" ", "\u00a0")
        style = "$foreground-muted" if series.metric_type in CANONICAL_METRICS else "$accent"
        parts.append(Content.assemble((name, style), "\u00a0", value))  # no-break space: pairs stay whole
    return Content("  ").join(parts)


def chart_specs(detail: NodeDetail) -> dict[str, ChartSpec]:
    series = dict(detail.series)
    end = detail.fetched_at.timestamp()
    specs: dict[str, ChartSpec] = {}
    for chart_id, title, metric_types, scale, is_percent in CHARTS:
        lines = tuple(
            ChartLine(metric_type, series.get(metric_type, ()), LINE_COLOURS[n % 2])
            for n, metric_type in enumerate(metric_types)
        )
        specs[chart_id] = ChartSpec(title, lines, detail.window_seconds, end, scale, is_percent)
    others = [name for name in series if name not in CANONICAL_METRICS]
    if others:
        name = others[0]
        specs["chart-other"] = ChartSpec(clean(name, 30), (ChartLine(name, series[name], "accent"),),
                                         detail.window_seconds, end)
    return specs


SESSION_COLUMNS = (
    ColumnSpec("name", "SESSION", 16, 0, max_width=30),
    ColumnSpec("user", "USER", 10, 1),
    ColumnSpec("status", "STATUS", 11, 0),
    ColumnSpec("time", "TIME", 6, 0, align_right=True),
)
EVENT_COLUMNS = (
    ColumnSpec("at", "AGO", 6, 0, align_right=True),
    ColumnSpec("severity", "SEVERITY", 10, 0),
    ColumnSpec("type", "TYPE", 14, 2),
    ColumnSpec("message", "MESSAGE", 24, 0, max_width=80),
)


def session_cells(session: Session, columns: list[Column], now: datetime) -> tuple[Cell, ...]:
    started = session.start_time or session.created_at
    seconds = (now - started).total_seconds() if started else None
    values: dict[str, Cell] = {
        "name": (session.session_name, ""),
        "user": (session.username or MISSING, ""),
        "status": status_words.session_status(session.status),
        "time": (coarse_duration(seconds), ""),
    }
    return tuple((clean(values[c.key][0], c.width), values[c.key][1]) for c in columns)


def event_cells(event: Event, columns: list[Column], now: datetime) -> tuple[Cell, ...]:
    resolved = event.resolved_at is not None
    values: dict[str, Cell] = {
        "at": (coarse_duration(seconds_between(event.timestamp, now)), ""),
        "severity": status_words.severity(event.severity) if not resolved else ("✓ resolved", "muted"),
        "type": (event.event_type, "muted"),
        "message": (event.message, "muted" if resolved else ""),
    }
    return tuple((clean(values[c.key][0], c.width), values[c.key][1]) for c in columns)


class NodeDetailScreen(ConsoleScreen):
    TITLE_TEXT = "Ω Node"
    HELP_NOTES = (
        "w and W change the history window: 15m, 1h, 24h, 7d. enter on a session opens it.",
        "d drains this node, u resumes it; c cancels the session selected in the node's session list.",
    )
    BINDINGS = [
        Binding("escape", "back", "Back", id="back"),
        Binding("w", "next_window", "Window", id="window_next"),
        Binding("W", "previous_window", "Window back", id="window_previous", show=False),
        Binding("d", "drain", "Drain", id="drain"),
        Binding("u", "resume", "Resume", id="resume", show=False),
        Binding("c", "cancel", "Cancel session", id="cancel", show=False),
    ]

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id
        self.window_index = DEFAULT_WINDOW
        self.detail: NodeDetail | None = None
        self._session_columns: list[Column] = []
        self._event_columns: list[Column] = []

    @property
    def window(self) -> timedelta:
        return WINDOWS[self.window_index][1]

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="detail-body"):
            with Horizontal(id="detail-top"):
                yield Static(id="inventory")
                with Vertical(id="detail-resources"):
                    yield Label("Resources allocated / total", classes="section-title")
                    yield ResourceBars(id="resources")
                    yield Label("Latest metrics", classes="section-title")
                    yield Static(id="latest-metrics")
            yield Label("", id="charts-title", classes="section-title")
            with Grid(id="charts"):
                for chart_id, *_ in CHARTS:
                    yield MetricChart(id=chart_id)
                yield MetricChart(id="chart-other")
            with Horizontal(id="detail-bottom"):
                with Vertical(id="detail-sessions"):
                    yield Label("Sessions on this node", classes="section-title")
                    yield KeyedTable(id="node-sessions")
                with Vertical(id="detail-events"):
                    yield Label("Recent events", classes="section-title")
                    yield KeyedTable(id="node-events")

    def on_mount(self) -> None:
        self._fit_tables(self.size.width or 80)
        self.query_one("#chart-other").display = False
        self._update_charts_title()
        self.fetch_detail()

    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow")
        self._fit_tables(event.size.width)
        if self.shown_snapshot is not None:
            self.render_snapshot(self.shown_snapshot)
        if self.detail is not None:
            self._show_events(self.detail)

    def _fit_tables(self, width: int) -> None:
        table_width = width - 2 if width < NARROW_WIDTH else width // 2 - 2
        self._session_columns = fit_columns(SESSION_COLUMNS, table_width)
        self._event_columns = fit_columns(EVENT_COLUMNS, table_width)
        self.query_one("#node-sessions", KeyedTable).set_columns(self._session_columns)
        self.query_one("#node-events", KeyedTable).set_columns(self._event_columns)

    def status_detail(self) -> str:
        node = self.shown_snapshot.node(self.node_id) if self.shown_snapshot else None
        return clean(node.hostname, 40) if node else clean(self.node_id)

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        now = self.omega.now()
        node = snapshot.node(self.node_id)
        self.query_one("#inventory", Static).update(inventory(node, now, snapshot.taken_at, drained_by(node, snapshot, now)))
        self.query_one(ResourceBars).show(node.allocations if node else ())
        self.query_one("#latest-metrics", Static).update(latest_metrics(node))
        sessions = [s for s in snapshot.sessions if s.node_id == self.node_id]
        self.query_one("#node-sessions", KeyedTable).show_rows(
            (s.session_id, session_cells(s, self._session_columns, now)) for s in sessions
        )
        detail = self.detail
        if detail is not None and (snapshot.taken_at - detail.fetched_at).total_seconds() > max(
            30.0, detail.bucket_seconds
        ):
            self.fetch_detail()

    def fetch_detail(self) -> None:
        self.run_worker(
            partial(self.omega.fetch_node_detail, self.node_id, self.window),
            name=f"node detail {WINDOWS[self.window_index][0]}",
            group="node-detail",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "node-detail" or event.state is not WorkerState.SUCCESS:
            return  # failures are reported by the app
        detail = worker.result
        if isinstance(detail, NodeDetail) and detail.window_seconds == self.window.total_seconds():
            self.show_detail(detail)

    def show_detail(self, detail: NodeDetail) -> None:
        self.detail = detail
        specs = chart_specs(detail)
        for chart in self.query(MetricChart):
            spec = specs.get(chart.id or "")
            chart.show(spec)
            # CPU and memory always; the others (GPU on a node without one...) only with data.
            chart.display = chart.id in ALWAYS_CHARTED or (spec is not None and spec.has_data)
        self._show_events(detail)
        self._update_charts_title()

    def _show_events(self, detail: NodeDetail) -> None:
        now = self.omega.now()
        self.query_one("#node-events", KeyedTable).show_rows(
            (event.event_id, event_cells(event, self._event_columns, now)) for event in detail.events
        )

    def _update_charts_title(self) -> None:
        name = WINDOWS[self.window_index][0]
        choices = " ".join(f"[{label}]" if label == name else label for label, _ in WINDOWS)
        detail = self.detail
        bucket = f", {coarse_duration(detail.bucket_seconds)} buckets" if detail else ""
        title = Content(f"History: {choices}{bucket}  (w: next window)")
        if detail is not None and detail.problem:
            title = Content.assemble(title, "  ", (f"✗ {clean(detail.problem, 100)}", "$error"))
        self.query_one("#charts-title", Label).update(title)

    def action_next_window(self) -> None:
        self._set_window((self.window_index + 1) % len(WINDOWS))

    def action_previous_window(self) -> None:
        self._set_window((self.window_index - 1) % len(WINDOWS))

    def _set_window(self, index: int) -> None:
        self.window_index = index
        self._update_charts_title()
        self.fetch_detail()

    def action_drain(self) -> None:
        self._node_action("drain")

    def action_resume(self) -> None:
        self._node_action("resume")

    def _node_action(self, action: str) -> None:
        snapshot = self.shown_snapshot
        node = snapshot.node(self.node_id) if snapshot is not None else None
        if node is None or not node.in_postgres:
            self.omega.refuse(f"{action}: this node is not in the nodes table")
            return
        self.omega.act(confirmation.for_nodes(action, [node], snapshot, self.omega.now()))

    def action_cancel(self) -> None:
        snapshot = self.shown_snapshot
        key = self.query_one("#node-sessions", KeyedTable).cursor_key
        session = next((s for s in snapshot.sessions if s.session_id == key), None) if snapshot and key else None
        if session is None:
            self.omega.refuse("cancel: no session selected in this node's session list")
            return
        self.omega.act(confirmation.for_sessions([session], self.omega.now()))

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "node-sessions":
            self.post_message(OpenSession(event.row_key.value))
