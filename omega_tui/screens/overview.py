"""Cluster overview, the start screen: summary header and the node table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from omega_tui import confirmation
from omega_tui.data.models import ClusterSnapshot, Node
from omega_tui.messages import OpenNode
from omega_tui.screens.console_screen import ConsoleScreen
from omega_tui.widgets.filter_bar import FilterBar
from omega_tui.widgets.node_table import SORT_LABELS, NodeTable
from omega_tui.widgets.safe_text import clean
from omega_tui.widgets.summary_header import SummaryHeader


class OverviewScreen(ConsoleScreen):
    TITLE_TEXT = "Ω Nodes"
    HELP_NOTES = (
        "Filter: words match hostname, type, status, address and labels (key=value). escape clears it.",
        "s cycles the sort column (or click a header), S reverses. + and - change the refresh interval.",
        "~ before a value: its sample is more than a minute old.",
        "d drains (no new sessions; running ones finish), u resumes. space marks nodes (■): d and u then act "
        "on all marked ones. A draining node shows its live sessions left (▼ draining 3), then ▼ drained.",
    )
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse", id="sort_reverse", show=False),
        Binding("d", "drain", "Drain", id="drain"),
        Binding("u", "resume", "Resume", id="resume", show=False),
        Binding("space", "mark", "Mark", id="mark", show=False),
    ]

    def compose_body(self) -> ComposeResult:
        yield SummaryHeader(id="summary")
        yield NodeTable(id="nodes")
        yield FilterBar("host, type, status, label…  (enter: keep, esc: clear)", id="filter-bar")

    @property
    def table(self) -> NodeTable:
        return self.query_one(NodeTable)

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        self.query_one(SummaryHeader).show_snapshot(snapshot)
        table = self.table
        if table.marked:   # marks of nodes gone are dropped
            table.marked &= {node.node_id for node in snapshot.nodes}
        table.show_snapshot(snapshot, self.omega.now())

    def status_detail(self) -> str:
        table = self.table
        words = f"sort: {SORT_LABELS.get(table.sort_key, table.sort_key)}{' ↺' if table.sort_reverse else ''}"
        if table.marked:
            words += f"  {len(table.marked)} marked"
        if table.filter_text:
            words += f"  filter: {clean(table.filter_text, 30)}"
        return words

    # -- actions -------------------------------------------------------------------

    def _targets(self) -> list[Node]:
        """The marked nodes, or else the one under the cursor."""
        snapshot = self.shown_snapshot
        if snapshot is None:
            return []
        table = self.table
        keys = table.marked or ({table.cursor_key} if table.cursor_key else set())
        shown = {key: index for index, key in enumerate(table.keys)}   # in the order on screen
        nodes = [node for node in snapshot.nodes if node.node_id in keys]
        return sorted(nodes, key=lambda n: shown.get(n.node_id, len(shown)))

    def action_mark(self) -> None:
        key = self.table.cursor_key
        if key is None:
            return
        self.table.toggle_mark(key)
        self.table.refresh_rows()
        self.table.action_cursor_down()
        self.refresh_chrome()

    def action_drain(self) -> None:
        self._node_action("drain")

    def action_resume(self) -> None:
        self._node_action("resume")

    def _node_action(self, action: str) -> None:
        nodes = self._targets()
        if not nodes:
            return
        unknown = [n for n in nodes if not n.in_postgres]
        if unknown:
            self.omega.refuse(f"{action}: {len(unknown)} node(s) heartbeat in Redis but are not in the nodes table")
            return
        self.omega.act(confirmation.for_nodes(action, nodes, self.shown_snapshot, self.omega.now()),
                       on_go_ahead=self._clear_marks)

    def _clear_marks(self) -> None:
        if self.table.marked:
            self.table.marked.clear()
            self.table.refresh_rows()
            self.refresh_chrome()

    def select_node(self, node_id: str) -> bool:
        return self.table.select_key(node_id)

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def action_sort(self) -> None:
        self.table.cycle_sort()
        self.refresh_chrome()

    def action_sort_reverse(self) -> None:
        self.table.reverse_sort()
        self.refresh_chrome()

    def action_back(self) -> None:
        if self.table.filter_text:
            self.query_one(FilterBar).action_clear()
        else:
            super().action_back()

    def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
        self.table.set_filter(event.text)
        self.refresh_chrome()

    def on_filter_bar_closed(self, event: FilterBar.Closed) -> None:
        self.table.focus()

    def on_data_table_header_selected(self, event: NodeTable.HeaderSelected) -> None:
        event.stop()
        if self.table.sort_by_column(event.column_key.value):
            self.refresh_chrome()

    def on_data_table_row_selected(self, event: NodeTable.RowSelected) -> None:
        event.stop()
        self.post_message(OpenNode(event.row_key.value))
