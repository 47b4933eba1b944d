"""Alerts: active ones by severity then age, acknowledged ones apart, resolved
history (with time to resolve) on a toggle. Enter jumps to the node or session."""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import Label

from omega_tui import confirmation
from omega_tui.data.models import Alert, AlertKind, ClusterSnapshot
from omega_tui.messages import OpenNode, OpenSession
from omega_tui.screens.filtered_screen import FilteredScreen
from omega_tui.widgets import status_words
from omega_tui.widgets.filter_bar import FilterBar
from omega_tui.widgets.formatting import MISSING, coarse_duration, duration, seconds_between
from omega_tui.widgets.keyed_table import Cell, ColumnSpec, KeyedTable, fit_columns
from omega_tui.widgets.safe_text import clean, truncate

BASE_COLUMNS = (
    ColumnSpec("severity", "SEVERITY", 8, 0),
    ColumnSpec("age", "AGE", 6, 0, align_right=True),
    ColumnSpec("title", "ALERT", 18, 0, max_width=30),
    ColumnSpec("target", "NODE/SESSION", 12, 1, max_width=24),
    ColumnSpec("message", "MESSAGE", 20, 2, max_width=70),
    ColumnSpec("source", "SOURCE", 10, 4),
)
ACK_COLUMN = ColumnSpec("ack", "ACKED BY", 12, 1)
RESOLVED_COLUMN = ColumnSpec("ttr", "RESOLVED IN", 11, 0, align_right=True)
TABLES = ("alerts-active", "alerts-acked", "alerts-resolved")


def alert_order(alerts, *, newest_first: bool = True) -> list[Alert]:
    """By severity (critical first), then newest first within a severity."""
    ordered = sorted(alerts, key=lambda a: a.since.timestamp() if a.since else 0.0, reverse=newest_first)
    ordered.sort(key=lambda a: status_words.SEVERITY_RANK.get(a.severity, len(status_words.SEVERITY_RANK)))
    return ordered


def alert_target(alert: Alert, snapshot: ClusterSnapshot) -> str:
    if alert.node_id:
        node = snapshot.node(alert.node_id)
        return node.hostname if node else alert.node_id
    if alert.session_id:
        session = next((s for s in snapshot.sessions if s.session_id == alert.session_id), None)
        return session.session_name if session else alert.session_id
    return ""


def alert_matches(alert: Alert, target: str, needle: str) -> bool:
    haystack = " ".join([alert.severity, alert.kind.value, alert.title, alert.message, target,
                         alert.source or "", alert.acknowledged_by or ""]).lower()
    return all(word in haystack for word in needle.lower().split())


def alert_cells(alert: Alert, target: str, columns, now: datetime) -> tuple[Cell, ...]:
    quiet = alert.acknowledged or alert.resolved_at is not None  # no longer asks for attention
    cells: list[Cell] = []
    for column in columns:
        key, width = column.key, column.width
        if key == "severity":
            text, style = status_words.severity(alert.severity)
            cell = (clean(text, width), "muted" if quiet else style)
        elif key == "age":
            cell = (coarse_duration(seconds_between(alert.since, now)), "")
        elif key == "title":
            cell = (clean(alert.title, width), "" if quiet else "bold")
        elif key == "target":
            cell = (clean(target, width) or MISSING, "primary")
        elif key == "message":
            cell = (clean(alert.message, width), "")
        elif key == "source":
            cell = (clean(alert.source, width) or MISSING, "muted")
        elif key == "ack":
            who = clean(alert.acknowledged_by, 6) or "?"
            cell = (clean(f"{who} {coarse_duration(seconds_between(alert.acknowledged_at, now))}", width), "")
        elif key == "ttr":
            taken = alert.time_to_resolve
            cell = (duration(taken.total_seconds()) if taken is not None else MISSING, "success")
        else:
            cell = ("", "")
        cells.append((truncate(cell[0], width), cell[1]))   # numbers and times too: never wider than the column
    return tuple(cells)


class AlertsScreen(FilteredScreen):
    TITLE_TEXT = "Ω Alerts"
    HELP_NOTES = (
        "Active alerts by severity, newest first; acknowledged ones apart, below. h shows the resolved "
        "ones with their time to resolve. enter opens the node or session an alert is about.",
        "a acknowledges the selected alert at once (it moves to Acknowledged); R resolves an event alert, "
        "after confirmation. Alerts the console derives (unreachable, thresholds...) clear by themselves.",
    )
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("h", "toggle_resolved", "Resolved", id="history"),
        Binding("a", "acknowledge", "Ack", id="acknowledge"),
        Binding("R", "resolve", "Resolve", id="resolve"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.show_resolved = False
        self._columns: dict[str, list] = {}
        self._fit(80)

    def compose_body(self) -> ComposeResult:
        yield Label("Active", id="alerts-active-title", classes="section-title")
        yield KeyedTable(id="alerts-active")
        yield Label("Acknowledged", id="alerts-acked-title", classes="section-title")
        yield KeyedTable(id="alerts-acked")
        yield Label("Resolved", id="alerts-resolved-title", classes="section-title")
        yield KeyedTable(id="alerts-resolved")
        yield FilterBar("words in severity, title, message, node…  (enter: keep, esc: clear)", id="filter-bar")

    def _fit(self, width: int) -> None:
        base = list(BASE_COLUMNS)
        self._columns = {
            "alerts-active": fit_columns(base, width),
            "alerts-acked": fit_columns(base[:2] + [ACK_COLUMN] + base[2:], width),
            "alerts-resolved": fit_columns(base[:2] + [RESOLVED_COLUMN] + base[2:], width),
        }

    def on_mount(self) -> None:
        self._apply_columns()
        self._set_resolved_visible(False)

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width)
        self._apply_columns()
        self._render_rows()

    def _apply_columns(self) -> None:
        for table_id in TABLES:
            self.query_one(f"#{table_id}", KeyedTable).set_columns(self._columns[table_id])

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self._render_rows()

    def _render_rows(self) -> None:
        snapshot = self.shown_snapshot
        if snapshot is None:
            return
        now = self.omega.now()
        groups = {
            "alerts-active": [a for a in snapshot.alerts if not a.acknowledged],
            "alerts-acked": [a for a in snapshot.alerts if a.acknowledged],
            "alerts-resolved": list(snapshot.resolved_alerts),
        }
        titles = {"alerts-active": "Active", "alerts-acked": "Acknowledged", "alerts-resolved": "Resolved (recent)"}
        for table_id, alerts in groups.items():
            targets = {a.alert_id: alert_target(a, snapshot) for a in alerts}
            shown = [a for a in alerts if alert_matches(a, targets[a.alert_id], self.filter_text)]
            if table_id == "alerts-resolved":
                shown.sort(key=lambda a: a.resolved_at.timestamp() if a.resolved_at else 0.0, reverse=True)
            else:
                shown = alert_order(shown)
            columns = self._columns[table_id]
            self.query_one(f"#{table_id}", KeyedTable).show_rows(
                (a.alert_id, alert_cells(a, targets[a.alert_id], columns, now)) for a in shown
            )
            count = f"{len(shown)}" if len(shown) == len(alerts) else f"{len(shown)} of {len(alerts)}"
            self.query_one(f"#{table_id}-title", Label).update(f"{titles[table_id]} ({count})")

    def status_detail(self) -> str:
        return f"filter: {clean(self.filter_text, 30)}" if self.filter_text else ""

    def select_alert(self, alert_id: str) -> bool:
        for table_id in TABLES:
            table = self.query_one(f"#{table_id}", KeyedTable)
            if alert_id in table.keys:
                if table_id == "alerts-resolved" and not self.show_resolved:
                    self._set_resolved_visible(True)
                table.focus()
                return table.select_key(alert_id)
        return False

    def _alert(self, alert_id: str) -> Alert | None:
        snapshot = self.shown_snapshot
        if snapshot is None:
            return None
        return next((a for a in snapshot.alerts + snapshot.resolved_alerts if a.alert_id == alert_id), None)

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        alert = self._alert(event.row_key.value)
        if alert is None:
            return
        if alert.node_id and self.shown_snapshot and self.shown_snapshot.node(alert.node_id):
            self.post_message(OpenNode(alert.node_id))
        elif alert.session_id:
            self.post_message(OpenSession(alert.session_id))
        else:
            self.notify("This alert concerns no node or session in the snapshot.", timeout=3)

    def selected_alert(self) -> Alert | None:
        """The alert under the cursor of the focused alert table (the active one if none is focused)."""
        focused = self.focused if isinstance(self.focused, KeyedTable) and self.focused.id in TABLES else None
        table = focused or self.query_one("#alerts-active", KeyedTable)
        key = table.cursor_key
        return self._alert(key) if key is not None else None

    def action_acknowledge(self) -> None:
        alert = self.selected_alert()
        if alert is None or alert.resolved_at is not None:
            return
        if alert.acknowledged:
            self.omega.refuse(f"{clean(alert.title, 40)} is already acknowledged (by {clean(alert.acknowledged_by, 20) or '?'})")
            return
        self.omega.act(confirmation.for_alert("acknowledge", alert))

    def action_resolve(self) -> None:
        alert = self.selected_alert()
        if alert is None or alert.resolved_at is not None:
            return
        if alert.kind is not AlertKind.EVENT:
            self.omega.refuse(f"{clean(alert.title, 40)} clears by itself when its condition ends; acknowledge it instead")
            return
        self.omega.act(confirmation.for_alert("resolve", alert))

    def action_toggle_resolved(self) -> None:
        self._set_resolved_visible(not self.show_resolved)

    def _set_resolved_visible(self, visible: bool) -> None:
        self.show_resolved = visible
        self.set_class(visible, "-show-resolved")
        for widget_id in ("alerts-resolved", "alerts-resolved-title"):
            self.query_one(f"#{widget_id}").display = visible

    def filter_closed_focus(self):
        return self.query_one("#alerts-active", KeyedTable)
