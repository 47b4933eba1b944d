"""The session queue: pending sessions in queue order, then scheduled, running, paused.

Filter with `/` (words match any field; `status:`, `user:`, `type:`, `node:`
match one field), `f` cycles the status shown; the panel shows the selected
session in full.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.events import Resize
from textual.widgets import Static

from omega_tui import confirmation
from omega_tui.data.models import LIVE_SESSION_STATUSES, ClusterSnapshot, Session
from omega_tui.messages import OpenNode
from omega_tui.screens.filtered_screen import FilteredScreen
from omega_tui.widgets import status_words
from omega_tui.widgets.filter_bar import FilterBar
from omega_tui.widgets.formatting import MISSING, amount, clock_time, coarse_duration, duration, seconds_between
from omega_tui.widgets.keyed_table import Cell, ColumnSpec, KeyedTable, fit_columns
from omega_tui.widgets.safe_text import clean, truncate

COLUMN_SPECS = (
    ColumnSpec("pos", "#", 3, 0, align_right=True),
    ColumnSpec("name", "SESSION", 16, 0, max_width=30),
    ColumnSpec("user", "USER", 8, 1, max_width=12),
    ColumnSpec("type", "TYPE", 11, 3),
    ColumnSpec("status", "STATUS", 11, 0),
    ColumnSpec("prio", "PRI", 3, 1, align_right=True),
    ColumnSpec("requests", "REQUESTS", 13, 4),
    ColumnSpec("node", "NODE", 10, 4, max_width=20),
    ColumnSpec("time", "WAIT/RUN", 10, 0),
)
SORTS = ("queue", "priority", "time", "user", "name")
STATUS_CYCLE = ("",) + LIVE_SESSION_STATUSES
NARROW_WIDTH = 120
FIELD_TOKENS = ("status", "user", "type", "node")


def queue_order_key(session: Session, positions: Mapping[str, int]):
    """Pending in queue order (queue position, then priority), then scheduled, running, paused."""
    status_rank = {s: n for n, s in enumerate(LIVE_SESSION_STATUSES)}.get(session.status, len(LIVE_SESSION_STATUSES))
    position = positions.get(session.session_id, 1 << 30)
    priority = -(session.priority or 0)
    started = (session.start_time or session.created_at)
    return (status_rank, position if session.status == "pending" else 0, priority,
            started.timestamp() if started else float("inf"), session.session_name)


def time_seconds(session: Session, now: datetime) -> float | None:
    """Waiting time for pending/scheduled sessions, running time for running/paused ones."""
    if session.status in ("pending", "scheduled"):
        return seconds_between(session.created_at, now)
    return seconds_between(session.start_time or session.created_at, now)


def sort_sessions(sessions, sort: str, now: datetime, positions: Mapping[str, int]) -> list[Session]:
    ordered = sorted(sessions, key=lambda s: queue_order_key(s, positions))
    if sort == "priority":
        ordered.sort(key=lambda s: -(s.priority or 0))
    elif sort == "time":
        ordered.sort(key=lambda s: -(time_seconds(s, now) or 0))
    elif sort == "user":
        ordered.sort(key=lambda s: (s.username is None, (s.username or "").lower()))
    elif sort == "name":
        ordered.sort(key=lambda s: s.session_name.lower())
    return ordered


@dataclass(frozen=True, slots=True)
class SessionFilter:
    words: tuple[str, ...] = ()
    fields: tuple[tuple[str, str], ...] = ()   # (field, value) from "field:value" tokens
    status: str = ""                           # from the `f` key

    @classmethod
    def parse(cls, text: str, status: str = "") -> "SessionFilter":
        words, fields = [], []
        for token in text.lower().split():
            field, sep, value = token.partition(":")
            if sep and field in FIELD_TOKENS and value:
                fields.append((field, value))
            else:
                words.append(token)
        return cls(tuple(words), tuple(fields), status)

    def matches(self, session: Session) -> bool:
        if self.status and session.status != self.status:
            return False
        values = {
            "status": session.status.lower(),
            "user": (session.username or "").lower(),
            "type": session.session_type.lower(),
            "node": (session.node_hostname or "").lower(),
        }
        for field, value in self.fields:
            if value not in values[field]:
                return False
        haystack = " ".join([session.session_name.lower(), session.session_id, *values.values()])
        return all(word in haystack for word in self.words)


def requests_text(session: Session) -> str:
    parts = [f"{amount(session.cpu_request)}c", f"{amount(session.memory_request_gb)}G"]
    if session.gpu_request:
        parts.append(f"{session.gpu_request}g")
    return " ".join(parts)


def session_cells(session: Session, columns, now: datetime, position: int | None = None) -> tuple[Cell, ...]:
    """`position`: the session's position in the queue (ClusterSnapshot.queue_positions)."""
    cells: list[Cell] = []
    for column in columns:
        key, width = column.key, column.width
        if key == "pos":
            cell = (str(position + 1) if position is not None else "", "bold") if session.status == "pending" \
                else ("", "")
            if session.status == "pending" and position is None:
                cell = ("?", "warning")
        elif key == "name":
            cell = (clean(session.session_name, width), "bold" if session.status == "pending" else "")
        elif key == "user":
            cell = (clean(session.username, width) or MISSING, "")
        elif key == "type":
            cell = (clean(session.session_type, width), "muted")
        elif key == "status":
            cell = status_words.session_status(session.status)
            cell = (clean(cell[0], width), cell[1])
        elif key == "prio":
            cell = (str(session.priority) if session.priority is not None else MISSING,
                    "bold" if (session.priority or 0) >= 8 else "")
        elif key == "requests":
            cell = (clean(requests_text(session), width), "")
        elif key == "node":
            cell = (clean(session.node_hostname, width) or MISSING, "")
        elif key == "time":
            verb = "wait" if session.status in ("pending", "scheduled") else "run"
            cell = (f"{verb} {coarse_duration(time_seconds(session, now))}", "")
        else:
            cell = ("", "")
        cells.append((truncate(cell[0], width), cell[1]))   # numbers and times too: never wider than the column
    return tuple(cells)


def session_detail(session: Session | None, now: datetime, compact: bool = False,
                   position: int | None = None) -> Content:
    if session is None:
        return Content.styled("no session selected", "$foreground-muted")
    status_text, _ = status_words.session_status(session.status)
    waited = seconds_between(session.created_at, session.start_time or now)
    if compact:  # a few lines under the table on a narrow terminal
        queue = f" · queue #{position + 1}" if position is not None else ""
        lines = [
            Content.assemble((clean(session.session_name, 60), "bold"), "  ",
                             (clean(session.session_id), "$foreground-muted")),
            Content(f"{clean(session.username) or MISSING} · {clean(session.session_type)} · {status_text}"
                    f"{queue} · priority {session.priority if session.priority is not None else MISSING}"),
            Content(f"requests {requests_text(session)} · node {clean(session.node_hostname) or MISSING}"),
            Content(f"created {clock_time(session.created_at, now)} · started {clock_time(session.start_time, now)}"
                    f" · waited {duration(waited)}"),
        ]
        return Content("\n").join(lines)
    rows = [
        ("session", clean(session.session_name, 60)),
        ("id", clean(session.session_id)),
        ("user", clean(session.username) or MISSING),
        ("type", clean(session.session_type)),
        ("status", status_text),
        ("queue", f"position {position + 1}" if position is not None
         else ("not in queue:pending_sessions" if session.status == "pending" else MISSING)),
        ("priority", str(session.priority) if session.priority is not None else MISSING),
        ("requests", f"{amount(session.cpu_request)} cpu, {amount(session.memory_request_gb)} GB, "
                     f"{session.gpu_request or 0} gpu"),
        ("node", clean(session.node_hostname) or MISSING),
        ("created", clock_time(session.created_at, now)),
        ("started", clock_time(session.start_time, now)),
        ("waited", duration(waited)),
        ("running", duration(seconds_between(session.start_time, now)) if session.start_time else MISSING),
    ]
    return Content("\n").join(Content.assemble((f"{name:<9} ", "bold"), value) for name, value in rows)


class SessionsScreen(FilteredScreen):
    TITLE_TEXT = "Ω Sessions"
    HELP_NOTES = (
        "Pending sessions in queue order (queue position, then priority), then scheduled, running, paused.",
        "Filter: words match any field; status: user: type: node: match one, e.g. 'user:alice gpu'. "
        "f cycles the status shown. enter (or n) opens the session's node.",
        "c cancels the session (its allocations are released). space marks sessions (■): c then cancels all "
        "marked ones, confirmed once.",
    )
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("f", "cycle_status", "Status", id="status_filter"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("n", "open_node", "Node", id="open_node", show=False),
        Binding("c", "cancel", "Cancel", id="cancel"),
        Binding("space", "mark", "Mark", id="mark", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.sort = "queue"
        self.status_filter = ""
        self._columns = fit_columns(COLUMN_SPECS, 80)

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="sessions-body"):
            yield KeyedTable(id="sessions")
            yield Static(id="session-detail")
        yield FilterBar("words, or status: user: type: node:  (enter: keep, esc: clear)", id="filter-bar")

    @property
    def table(self) -> KeyedTable:
        return self.query_one("#sessions", KeyedTable)

    def on_resize(self, event: Resize) -> None:
        narrow = event.size.width < NARROW_WIDTH
        self.set_class(narrow, "-narrow")
        table_width = event.size.width if narrow else event.size.width - 44  # the detail panel
        self._columns = fit_columns(COLUMN_SPECS, table_width)
        self.table.set_columns(self._columns)
        self._render_rows()

    def on_mount(self) -> None:
        self.table.set_columns(self._columns)

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self.table.marked &= {s.session_id for s in snapshot.sessions}   # sessions that ended: marks dropped
        self._render_rows()

    def _render_rows(self) -> None:
        snapshot = self.shown_snapshot
        if snapshot is None:
            return
        now = self.omega.now()
        wanted = SessionFilter.parse(self.filter_text, self.status_filter)
        sessions = [s for s in snapshot.sessions if wanted.matches(s)]
        positions = snapshot.queue_positions
        self.table.show_rows(
            (s.session_id, session_cells(s, self._columns, now, positions.get(s.session_id)))
            for s in sort_sessions(sessions, self.sort, now, positions)
        )
        self._show_selected()

    def selected_session(self) -> Session | None:
        key = self.table.cursor_key
        if key is None or self.shown_snapshot is None:
            return None
        return next((s for s in self.shown_snapshot.sessions if s.session_id == key), None)

    def _show_selected(self) -> None:
        session = self.selected_session()
        position = self.shown_snapshot.queue_positions.get(session.session_id) if session is not None else None
        detail = session_detail(session, self.omega.now(), compact=self.has_class("-narrow"), position=position)
        self.query_one("#session-detail", Static).update(detail)

    def select_session(self, session_id: str) -> bool:
        """Show `session_id`, clearing filters that hide it."""
        if session_id not in self.table.keys and (self.filter_text or self.status_filter):
            self.filter_text, self.status_filter = "", ""
            self._render_rows()
            self.refresh_chrome()
        found = self.table.select_key(session_id)
        self._show_selected()
        return found

    def status_detail(self) -> str:
        words = f"sort: {self.sort}"
        if self.table.marked:
            words += f"  {len(self.table.marked)} marked"
        if self.status_filter:
            words += f"  status: {self.status_filter}"
        if self.filter_text:
            words += f"  filter: {clean(self.filter_text, 30)}"
        return words

    def on_data_table_row_highlighted(self, event: KeyedTable.RowHighlighted) -> None:
        self._show_selected()

    def on_data_table_row_selected(self, event: KeyedTable.RowSelected) -> None:
        event.stop()
        self.action_open_node()

    def action_open_node(self) -> None:
        session = self.selected_session()
        if session is not None and session.node_id:
            self.post_message(OpenNode(session.node_id))
        elif session is not None:
            self.notify("This session is not placed on a node.", timeout=3)

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        self.table.toggle_mark(key)
        self._render_rows()
        self.table.action_cursor_down()
        self.refresh_chrome()

    def action_cancel(self) -> None:
        """Cancel the marked sessions, or else the selected one."""
        snapshot = self.shown_snapshot
        if snapshot is None:
            return
        keys = self.table.marked or ({self.table.cursor_key} if self.table.cursor_key else set())
        shown = {key: index for index, key in enumerate(self.table.keys)}   # in the order on screen
        sessions = sorted((s for s in snapshot.sessions if s.session_id in keys),
                          key=lambda s: shown.get(s.session_id, len(shown)))
        if sessions:
            self.omega.act(confirmation.for_sessions(sessions, self.omega.now()), on_go_ahead=self._clear_marks)

    def _clear_marks(self) -> None:
        if self.table.marked:
            self.table.marked.clear()
            self._render_rows()
            self.refresh_chrome()

    def action_cycle_status(self) -> None:
        self.status_filter = STATUS_CYCLE[(STATUS_CYCLE.index(self.status_filter) + 1) % len(STATUS_CYCLE)]
        self._render_rows()
        self.refresh_chrome()

    def action_sort(self) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._render_rows()
        self.refresh_chrome()

    def action_back(self) -> None:
        if self.filter_text or self.status_filter:
            self.filter_text, self.status_filter = "", ""
            self.query_one(FilterBar).action_clear()
            self._render_rows()
            self.refresh_chrome()
        else:
            super().action_back()

