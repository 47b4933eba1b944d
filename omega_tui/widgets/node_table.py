"""The node table of the overview: one row per node, updated in place every poll.

Columns are laid out for the available width: the essential ones first
(host, status, heartbeat, CPU), the rest added by priority while they fit,
then the metric columns grow a sparkline, then the hostname grows.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from operator import itemgetter

from textual.events import Resize

from omega_tui.data.models import ClusterSnapshot, Node
from omega_tui.widgets import status_words
from omega_tui.widgets.formatting import MISSING, amount, load, percent
from omega_tui.widgets.keyed_table import (
    CELL_PADDING,
    SCROLLBAR_ALLOWANCE,
    Cell,
    Column,
    ColumnSpec,
    KeyedTable,
)
from omega_tui.widgets.safe_text import clean
from omega_tui.widgets.sparkline_cells import history_spark

SPARK_WIDTH = 8
SPARK_BUCKET_SECONDS = 15.0
HOST_MIN, HOST_MAX = 12, 30

METRIC_VALUE_WIDTH = 5      # "~100%"
OLD_SAMPLE_SECONDS = 60.0  # a latest value older than this is shown as old
METRIC_COLUMNS = {"cpu": "cpu_percent", "mem": "memory_percent", "gpu": "gpu_percent"}


# Display order; `priority` decides what stays on a narrow terminal.
COLUMN_SPECS = (
    ColumnSpec("host", "HOST", HOST_MIN, 0),
    ColumnSpec("type", "TYPE", 7, 2),
    ColumnSpec("status", "STATUS", status_words.STATUS_WIDTH, 0),
    ColumnSpec("beat", "HEARTBEAT", 11, 1),
    ColumnSpec("cpu", "CPU", METRIC_VALUE_WIDTH, 0, align_right=True),
    ColumnSpec("mem", "MEM", METRIC_VALUE_WIDTH, 1, align_right=True),
    ColumnSpec("gpu", "GPU", METRIC_VALUE_WIDTH, 2, align_right=True),
    ColumnSpec("load", "LOAD", 5, 3, align_right=True),
    ColumnSpec("sess", "SESS", 5, 3, align_right=True),
    ColumnSpec("alloc", "ALLOC", 12, 4),
)
# What to show first when the terminal is narrow: a CPU sparkline matters more than the allocations.
LAYOUT_STEPS = (
    ("column", "host"), ("column", "status"), ("column", "cpu"),
    ("column", "beat"), ("column", "mem"), ("column", "type"), ("column", "gpu"),
    ("spark", "cpu"), ("column", "load"), ("column", "sess"), ("spark", "mem"),
    ("column", "alloc"), ("spark", "gpu"),
)
SORT_KEYS = ("host", "status", "beat", "cpu", "mem", "gpu", "load", "sess")
SORT_LABELS = {"host": "host", "status": "problems first", "beat": "heartbeat", "cpu": "CPU",
               "mem": "memory", "gpu": "GPU", "load": "load", "sess": "sessions"}
_DESCENDING_FIRST = {"cpu", "mem", "gpu", "load", "sess", "beat"}


def layout_columns(available: int) -> tuple[list[str], dict[str, int]]:
    """Which columns fit in `available` cells, and their widths.

    Columns and sparklines are added in the order of LAYOUT_STEPS while they fit
    (priority 0 columns always); on a wide terminal the sparklines double; then
    the hostname column takes what is left.
    """
    budget = available - SCROLLBAR_ALLOWANCE
    specs = {spec.key: spec for spec in COLUMN_SPECS}
    widths: dict[str, int] = {}
    used = 0
    for step, key in LAYOUT_STEPS:
        if step == "column":
            cost = specs[key].width + CELL_PADDING
            if specs[key].priority == 0 or used + cost <= budget:
                widths[key] = specs[key].width
                used += cost
        elif key in widths and used + SPARK_WIDTH + 1 <= budget:
            widths[key] += SPARK_WIDTH + 1
            used += SPARK_WIDTH + 1
    if budget - used >= 3 * SPARK_WIDTH + (HOST_MAX - HOST_MIN):  # a wide terminal: longer sparklines
        for key in METRIC_COLUMNS:
            if widths.get(key, 0) > METRIC_VALUE_WIDTH:
                widths[key] += SPARK_WIDTH
                used += SPARK_WIDTH
    widths["host"] += min(HOST_MAX - HOST_MIN, max(0, budget - used))
    keys = [spec.key for spec in COLUMN_SPECS if spec.key in widths]
    return keys, widths


@lru_cache(maxsize=1 << 16)
def natural_key(text: str) -> tuple:
    """cmp-2 before cmp-10."""
    return tuple(int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", text))


def _latest(node: Node, metric_type: str) -> float | None:
    series = node.metric(metric_type)
    return series.latest if series is not None else None


def _sort_value(key: str, now: datetime):
    """The function giving a node's value for sort `key` (None: missing); not for "host" (see sort_nodes)."""
    if key == "status":
        return status_words.node_problem_rank
    if key == "beat":
        def age(node: Node) -> float:
            seconds = node.heartbeat_age_at(now)
            return seconds if seconds is not None else float("inf")
        return age
    metric = METRIC_COLUMNS.get(key) or ("load_1m" if key == "load" else None)
    if metric is not None:
        return lambda node: _latest(node, metric)
    if key == "sess":
        return lambda node: node.sessions_total
    return lambda node: None


def sort_nodes(nodes, key: str, reverse: bool, now: datetime, by_host: list[Node] | None = None) -> list[Node]:
    """Nodes ordered by `key`; missing values always last; ties by hostname.

    `by_host`: the same nodes already in hostname order (the table keeps it per snapshot), so that
    another sort is one sort of the values (stable: ties stay in hostname order)."""
    descending = (key in _DESCENDING_FIRST) != reverse
    if by_host is None:
        by_host = sorted(nodes, key=lambda n: natural_key(n.hostname))
    if key == "host":
        return by_host[::-1] if descending else by_host
    value_of = _sort_value(key, now)
    valued = [(value_of(node), node) for node in by_host]   # each value worked out once
    present = [pair for pair in valued if pair[0] is not None]
    present.sort(key=itemgetter(0), reverse=descending)     # reverse keeps equal values in their order
    return [node for _, node in present] + [node for value, node in valued if value is None]


def node_haystack(node: Node) -> str:
    """What the filter searches: the node's host, type, status, reachability, IP and labels, lowercased."""
    return " ".join(
        [node.hostname, node.node_type, node.status, node.reachability.value, node.ip_address or ""]
        + [f"{k}={v}" for k, v in node.labels]
    ).lower()


def node_matches(node: Node, needle: str) -> bool:
    """Client-side filter: every word must appear in the node's host, type, status, IP or labels."""
    haystack = node_haystack(node)
    return all(word in haystack for word in needle.lower().split())


def metric_cell(value: float | None, spark: str | None, width: int, old: bool = False) -> Cell:
    """Latest value (and sparkline); a value from an old sample is shown muted, with a '~'."""
    text = percent(value)
    if old and value is not None:
        text = "~" + text
    if spark is not None:
        text = f"{text:>5} {spark}"
    style = ""
    if old:
        style = "muted"
    elif value is not None:
        style = "error bold" if value >= 98 else "warning" if value >= 90 else ""
    return (text[:width] if len(text) > width else text, style)


def allocation_cell(node: Node) -> Cell:
    parts = []
    cpu = node.allocation("cpu")
    if cpu is not None:
        parts.append(f"{amount(cpu.allocated)}/{amount(cpu.total)}c")
    gpu = node.allocation("gpu")
    if gpu is not None and gpu.total:
        parts.append(f"{amount(gpu.allocated)}/{amount(gpu.total)}g")
    return (" ".join(parts) or MISSING, "")


class NodeTable(KeyedTable):
    """The overview's node table: layout, sort, filter and sparklines over KeyedTable."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sort_key = "host"
        self.sort_reverse = False
        self.filter_text = ""
        self._snapshot: ClusterSnapshot | None = None
        self._nodes_by_id: dict[str, Node] = {}
        self._sorted: tuple[tuple, list[Node]] | None = None   # (snapshot, sort, now), every node in order
        self._by_host: tuple[ClusterSnapshot, list[Node]] | None = None   # the snapshot's nodes by hostname
        self._host_order: tuple[list[str], list[int]] = ([], [])   # hostnames as listed, their positions by hostname
        self._now: datetime | None = None
        self._metric_cells: dict[tuple[str, str], tuple] = {}
        self._haystacks: dict[str, tuple[Node, tuple, str]] = {}   # node id -> (node, fields, what the filter searches)
        self._searched: tuple[list[Node], list[tuple[Node, str]]] | None = None   # (nodes in order, _haystacks_of them)
        self._layout: tuple[list[str], dict[str, int]] = layout_columns(80)

    def show_snapshot(self, snapshot: ClusterSnapshot, now: datetime) -> None:
        if snapshot is not self._snapshot:
            self._nodes_by_id = {node.node_id: node for node in reversed(snapshot.nodes)}  # first one wins
            if len(self._metric_cells) > 3 * len(self._nodes_by_id) + 64:   # nodes went away
                self._metric_cells = {k: v for k, v in self._metric_cells.items() if k[0] in self._nodes_by_id}
        self._snapshot, self._now = snapshot, now
        self._render_rows()

    def set_sort(self, key: str, reverse: bool = False) -> None:
        self.sort_key, self.sort_reverse = key, reverse
        self._apply_columns()
        self._render_rows()

    def cycle_sort(self) -> str:
        index = SORT_KEYS.index(self.sort_key) if self.sort_key in SORT_KEYS else -1
        self.set_sort(SORT_KEYS[(index + 1) % len(SORT_KEYS)])
        return self.sort_key

    def reverse_sort(self) -> None:
        self.set_sort(self.sort_key, not self.sort_reverse)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        if not text.split():
            self._haystacks.clear()   # it holds the nodes it last saw: none kept while no filter needs them
            self._searched = None
        self._render_rows()

    def refresh_rows(self) -> None:
        """Show the rows again (after a mark changed)."""
        self._render_rows()

    def on_resize(self, event: Resize) -> None:
        self._layout = layout_columns(event.size.width)
        self._apply_columns()
        self._render_rows()

    def on_mount(self) -> None:
        # (KeyedTable.on_mount runs too: Textual calls the handler of every class in the MRO.)
        self._layout = layout_columns(self.size.width or 80)
        self._apply_columns()

    def sort_by_column(self, key: str) -> bool:
        """Sort by the column whose header was clicked; again on the same column reverses."""
        if key not in SORT_KEYS:
            return False
        self.set_sort(key, not self.sort_reverse if key == self.sort_key else False)
        return True

    def _apply_columns(self) -> None:
        keys, widths = self._layout
        specs = {spec.key: spec for spec in COLUMN_SPECS}
        columns = []
        for key in keys:
            label = specs[key].label
            if key == self.sort_key:
                descending = (key in _DESCENDING_FIRST) != self.sort_reverse
                label += "▼" if descending else "▲"
            columns.append(Column(key, label, widths[key], specs[key].align_right))
        self.set_columns(columns)

    def _render_rows(self) -> None:
        if self._snapshot is None or self._now is None:
            return
        # Sorted once per snapshot and sort: each keystroke of a filter then only filters (in order).
        sorted_for = (self._snapshot, self.sort_key, self.sort_reverse, self._now)
        if self._sorted is None or self._sorted[0][0] is not self._snapshot or self._sorted[0][1:] != sorted_for[1:]:
            if self._by_host is None or self._by_host[0] is not self._snapshot:
                self._by_host = (self._snapshot, self._sorted_by_host(self._snapshot.nodes))
            self._sorted = (sorted_for, sort_nodes(self._snapshot.nodes, self.sort_key, self.sort_reverse, self._now,
                                                   by_host=self._by_host[1]))
        ordered = self._sorted[1]
        words = self.filter_text.lower().split()
        if words:
            ordered = self._matching(ordered, words)
        # Each row's cells are worked out only when the row is in view (see KeyedTable.show_keys).
        self.show_keys([node.node_id for node in ordered], self._layout_cells)

    def _sorted_by_host(self, nodes: tuple[Node, ...]) -> list[Node]:
        """The nodes in hostname order; while the hostnames are the last snapshot's, in their order
        (a few milliseconds less per snapshot at 10,000 nodes than sorting them again)."""
        hosts = [node.hostname for node in nodes]
        if hosts != self._host_order[0]:
            self._host_order = (hosts, sorted(range(len(hosts)), key=lambda i: natural_key(hosts[i])))
        return [nodes[i] for i in self._host_order[1]]

    def _matching(self, nodes: list[Node], words: list[str]) -> list[Node]:
        """The nodes matching every word (see node_matches), in their order."""
        if self._searched is None or self._searched[0] is not nodes:
            self._searched = (nodes, self._haystacks_of(nodes))
        pairs = self._searched[1]
        if len(words) == 1:   # the usual case, without a generator per node
            word = words[0]
            return [node for node, haystack in pairs if word in haystack]
        return [node for node, haystack in pairs if all(word in haystack for word in words)]

    def _haystacks_of(self, nodes: list[Node]) -> list[tuple[Node, str]]:
        """Each node with what the filter searches, in order: worked out once per snapshot and sort
        (the same list), so that a keystroke only searches (10,000 strings: a few milliseconds).
        A haystack is kept while the node's fields stay (most new Node objects have only new metrics)."""
        cache = self._haystacks
        if len(cache) > 2 * len(nodes) + 64:   # nodes went away
            cache.clear()
        pairs = []
        for node in nodes:
            cached = cache.get(node.node_id)
            if cached is None or cached[0] is not node:
                fields = (node.hostname, node.node_type, node.status, node.reachability, node.ip_address,
                          node.labels)
                haystack = cached[2] if cached is not None and cached[1] == fields else node_haystack(node)
                cached = cache[node.node_id] = (node, fields, haystack)
            pairs.append((node, cached[2]))
        return pairs

    def _layout_cells(self, node_id: str) -> tuple[Cell, ...]:
        keys, widths = self._layout
        return self._cells(self._nodes_by_id[node_id], keys, widths)

    def _metric_cell(self, node: Node, metric_type: str, width: int, taken_at: datetime) -> Cell:
        series = node.metric(metric_type)
        old = bool(series and series.latest_at and
                   (taken_at - series.latest_at).total_seconds() > OLD_SAMPLE_SECONDS)
        bucket = int(taken_at.timestamp() // SPARK_BUCKET_SECONDS)
        # The poller hands over the same MetricSeries object while a series has no new sample,
        # so most cells come from here (this matters with thousands of nodes).
        cache_key = (node.node_id, metric_type)
        cached = self._metric_cells.get(cache_key)
        if cached is not None and cached[0] is series and cached[1] == (bucket, width, old):
            return cached[2]
        spark = None
        if width > METRIC_VALUE_WIDTH:
            spark_width = width - METRIC_VALUE_WIDTH - 1
            spark = (history_spark(series, taken_at, spark_width, SPARK_BUCKET_SECONDS) if series is not None
                     else " " * spark_width)
        cell = metric_cell(series.latest if series else None, spark, width, old)
        self._metric_cells[cache_key] = (series, (bucket, width, old), cell)
        return cell

    def _cells(self, node: Node, keys: list[str], widths: dict[str, int]) -> tuple[Cell, ...]:
        now = self._now
        taken_at = self._snapshot.taken_at
        cells = []
        for key in keys:
            width = widths[key]
            if key == "host":
                cell = (clean(node.hostname, width), "bold" if node.status == "failed" else "")
            elif key == "type":
                cell = (clean(node.node_type, width), "muted")
            elif key == "status":
                text, style = status_words.node_status(node)
                cell = (clean(text, width), style)
            elif key == "beat":
                text, style = status_words.reachability(node, now, taken_at)
                cell = (clean(text, width), style)
            elif key in METRIC_COLUMNS:
                cell = self._metric_cell(node, METRIC_COLUMNS[key], width, taken_at)
            elif key == "load":
                cell = (load(_latest(node, "load_1m")), "")
            elif key == "sess":
                cell = (f"{node.sessions_running}/{node.sessions_total}" if node.sessions_total else MISSING, "")
            elif key == "alloc":
                text, style = allocation_cell(node)
                cell = (clean(text, width), style)
            else:
                cell = ("", "")
            cells.append(cell)
        return tuple(cells)
