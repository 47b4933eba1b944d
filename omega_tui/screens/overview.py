"""Cluster overview, the start screen: summary header and the node table."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding

from omega_tui.data.models import ClusterSnapshot
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
    )
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="filter"),
        Binding("s", "sort", "Sort", id="sort"),
        Binding("S", "sort_reverse", "Reverse", id="sort_reverse", show=False),
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
        self.table.show_snapshot(snapshot, self.omega.now())

    def status_detail(self) -> str:
        table = self.table
        words = f"sort: {SORT_LABELS.get(table.sort_key, table.sort_key)}{' ↺' if table.sort_reverse else ''}"
        if table.filter_text:
            words += f"  filter: {clean(table.filter_text, 30)}"
        return words

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
