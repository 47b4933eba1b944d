"""The audit trail: every action taken through any console, newest first, filterable.

Data comes from the snapshot (the poller reads new rows of
omega_console.audit_log each poll); the panel under the table shows the
selected entry in full.
"""

from __future__ import annotations

from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.events import Resize
from textual.widgets import Static

from omega_tui.data.models import AuditEntry, ClusterSnapshot
from omega_tui.messages import OpenAlert, OpenNode, OpenSession
from omega_tui.screens.filtered_screen import FilteredScreen
from omega_tui.widgets.filter_bar import FilterBar
from omega_tui.widgets.formatting import MISSING, clock_time
from omega_tui.widgets.keyed_table import Cell, ColumnSpec, KeyedTable, cell_content, fit_columns
from omega_tui.widgets.safe_text import clean

COLUMN_SPECS = (
    ColumnSpec("at", "TIME", 12, 0),
    ColumnSpec("operator", "OPERATOR", 8, 0, max_width=10),
    ColumnSpec("action", "ACTION", 11, 0),
    ColumnSpec("target", "TARGET", 14, 0, max_width=30),
    ColumnSpec("result", "RESULT", 11, 0),
    ColumnSpec("change", "BEFORE → AFTER", 24, 2, max_width=40),
    ColumnSpec("detail", "DETAIL", 30, 3, max_width=70),   # wide terminals; the panel below shows it anyway
)
RESULTS: dict[str, Cell] = {
    "ok": ("✓ ok", "success"),
    "already": ("= already", "muted"),
    "not_found": ("? not found", "warning"),
    "refused": ("✗ refused", "error bold"),
    "failed": ("✗ failed", "error bold"),
}


def short_time(when: datetime | None, now: datetime) -> str:
    """HH:MM:SS today, 'Mar 14 09:24' this year, else the date: at most 12 characters."""
    if when is None:
        return MISSING
    local = when.astimezone(now.tzinfo) if when.tzinfo and now.tzinfo else when
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%b %d %H:%M" if local.year == now.year else "%Y-%m-%d")


def result_cell(result: str) -> Cell:
    return RESULTS.get(result) or ("? " + clean(result, 12), "warning")


def target_names(snapshot: ClusterSnapshot) -> dict[str, str]:
    """Names for target ids the audit row did not name (refusals, alerts), from the snapshot."""
    names = {node.node_id: node.hostname for node in snapshot.nodes if node.hostname}
    names.update((s.session_id, s.session_name) for s in snapshot.sessions)
    names.update((a.alert_id, a.title) for a in snapshot.alerts + snapshot.resolved_alerts)
    return names


def target_text(entry: AuditEntry, names: dict[str, str] | None = None) -> str:
    name = entry.target_name or (names or {}).get(entry.target_id) or entry.target_id
    return f"{entry.target_kind} {name}"


def change_text(entry: AuditEntry) -> str:
    if not entry.before and not entry.after:
        return ""
    return f"{entry.before or MISSING} → {entry.after or MISSING}"


def audit_matches(entry: AuditEntry, needle: str, names: dict[str, str]) -> bool:
    haystack = " ".join([entry.operator, entry.os_user, entry.os_host, entry.db_user, entry.action,
                         target_text(entry, names), entry.target_id, entry.result, entry.detail or "",
                         entry.before, entry.after]).lower()
    return all(word in haystack for word in needle.lower().split())


def audit_cells(entry: AuditEntry, names: dict[str, str], columns, now: datetime) -> tuple[Cell, ...]:
    values: dict[str, Cell] = {
        "at": (short_time(entry.at, now), ""),
        "operator": (entry.operator, "bold"),
        "action": (entry.action, ""),
        "target": (target_text(entry, names), "primary"),
        "result": result_cell(entry.result),
        "change": (change_text(entry), "muted"),
        "detail": (entry.detail or "", ""),
    }
    return tuple((clean(values[c.key][0], c.width), values[c.key][1]) for c in columns)


def audit_detail(entry: AuditEntry | None, names: dict[str, str], now: datetime) -> Content:
    if entry is None:
        return Content.styled("no entry selected", "$foreground-muted")
    who = f"{clean(entry.operator, 30)} (OS user {clean(entry.os_user, 30)} on {clean(entry.os_host, 40)}, " \
          f"database user {clean(entry.db_user, 30)})"
    lines = [
        Content.assemble((f"#{entry.audit_id} ", "$foreground-muted"), clock_time(entry.at, now), "  ",
                         (clean(entry.action, 20), "bold"), " ", clean(target_text(entry, names), 80), "  ",
                         cell_content(result_cell(entry.result))),
        Content(f"by {who}"),
        Content(clean(f"{change_text(entry)}  {entry.detail or ''}".strip(), 200)),
    ]
    return Content("\n").join(lines)


class AuditScreen(FilteredScreen):
    TITLE_TEXT = "Ω Audit"
    HELP_NOTES = (
        "Every action taken through any console (and the CLI), newest first: who (operator, OS user and host, "
        "database user), what, on which target, before and after, and how it went. Filter: words match any field.",
    )
    BINDINGS = [Binding("slash", "filter", "Filter", id="filter")]

    def __init__(self) -> None:
        super().__init__()
        self._columns = fit_columns(COLUMN_SPECS, 80)
        self._names: dict[str, str] = {}

    def compose_body(self) -> ComposeResult:
        yield KeyedTable(id="audit")
        yield Static(id="audit-detail")
        yield FilterBar("operator, action, target, result…  (enter: keep, esc: clear)", id="filter-bar")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#audit", KeyedTable)

    def on_mount(self) -> None:
        self.table.set_columns(self._columns)

    def on_resize(self, event: Resize) -> None:
        self._columns = fit_columns(COLUMN_SPECS, event.size.width)
        self.table.set_columns(self._columns)
        self._render_rows()

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self._render_rows()

    def _render_rows(self) -> None:
        snapshot = self.shown_snapshot
        if snapshot is None:
            return
        now = self.omega.now()
        names = self._names = target_names(snapshot)
        entries = [e for e in snapshot.audit if audit_matches(e, self.filter_text, names)]
        self.table.show_rows((str(e.audit_id), audit_cells(e, names, self._columns, now)) for e in entries)
        self._show_selected()

    def selected_entry(self) -> AuditEntry | None:
        key = self.table.cursor_key
        if key is None or self.shown_snapshot is None:
            return None
        return next((e for e in self.shown_snapshot.audit if str(e.audit_id) == key), None)

    def _show_selected(self) -> None:
        self.query_one("#audit-detail", Static).update(
            audit_detail(self.selected_entry(), self._names, self.omega.now()))

    def status_detail(self) -> str:
        snapshot = self.shown_snapshot
        count = len(snapshot.audit) if snapshot is not None else 0
        words = f"{count} entries" if count else "no entries"
        if self.filter_text and count:
            words = f"{len(self.table.keys)} of {words}"
        if self.filter_text:
            words += f"  filter: {clean(self.filter_text, 30)}"
        return words

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        """enter: the entry's target, while it is in the snapshot."""
        event.stop()
        entry, snapshot = self.selected_entry(), self.shown_snapshot
        if entry is None or snapshot is None:
            return
        if entry.target_kind == "node" and snapshot.node(entry.target_id):
            self.post_message(OpenNode(entry.target_id))
        elif entry.target_kind == "session" and any(s.session_id == entry.target_id for s in snapshot.sessions):
            self.post_message(OpenSession(entry.target_id))
        elif entry.target_kind == "alert" and any(a.alert_id == entry.target_id for a in snapshot.alerts):
            self.post_message(OpenAlert(entry.target_id))
        else:
            self.notify("Its target is no longer live.", timeout=3)

