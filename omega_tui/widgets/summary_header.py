"""The overview's header: the cluster at a glance, in three lines.

Nodes by state (and unreachable), cluster CPU / memory / GPU with sparklines,
sessions by status, alerts by severity. Laid out for the widget's width: on a
narrow terminal the words shrink and the sparklines get shorter.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import NamedTuple

from rich.cells import cell_len
from textual.content import Content
from textual.geometry import Region
from textual.widget import Widget

from omega_tui.data.models import ClusterSnapshot
from omega_tui.data.totals import mean_history, sample_step_seconds
from omega_tui.widgets.formatting import percent
from omega_tui.widgets.sparkline_cells import SparkHistory

CLUSTER_BUCKET_SECONDS = 5.0
# status, symbol, word, short word, style
_NODE_STATES = (
    ("active", "●", "active", "", ""),
    ("draining", "▼", "draining", "drain", "$warning bold"),
    ("failed", "✗", "failed", "failed", "$error bold"),
    ("maintenance", "◆", "maint", "maint", "$primary"),
    ("inactive", "○", "inactive", "off", "$foreground-muted"),
)
_SESSION_STATES = (
    ("running", "▶", "running", "run", "$success"),
    ("pending", "…", "pending", "pend", "$warning"),
    ("scheduled", "◷", "scheduled", "sched", "$primary"),
    ("paused", "‖", "paused", "paused", "$foreground-muted"),
)
_SEVERITIES = (
    ("critical", "✖", "critical", "crit", "$error bold reverse"),
    ("error", "✖", "error", "err", "$error bold"),
    ("warning", "▲", "warning", "warn", "$warning"),
)


def _fit(width: int, variants) -> Content:
    """The first rendering of a line that fits `width` (the last one if none does)."""
    line = Content("")
    for variant in variants:
        line = variant()
        if line.cell_length <= width:
            break
    return line


class SummaryHeader(Widget):
    DEFAULT_CSS = """
    SummaryHeader {
        height: 3;
        padding: 0 1;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._snapshot: ClusterSnapshot | None = None
        self._shown: list[Content] = []
        self._shown_width = 0   # the width _shown was laid out for
        self.sparks = SparkHistory(CLUSTER_BUCKET_SECONDS, keep=64)

    def show_snapshot(self, snapshot: ClusterSnapshot) -> None:
        if snapshot is self._snapshot:
            return
        totals = snapshot.totals
        for name, metric, latest in (
            ("cpu", "cpu_percent", totals.cpu_percent),
            ("memory", "memory_percent", totals.memory_percent),
            ("gpu", "gpu_percent", totals.gpu_percent),
        ):
            # Seeded once, from the nodes' short histories (spaced as their samples are); from then on
            # fed the cluster's means.
            if self.sparks.get(name) is None:
                history, step = mean_history(snapshot.nodes, metric), sample_step_seconds(snapshot.nodes, metric)
            else:
                history, step = (), None
            self.sparks.feed(name, latest, snapshot.taken_at, history, step)
        self._snapshot = snapshot
        lines = self._lines()
        # Repaint only what changed: most polls change a few characters of the usage line.
        for y, (before, after) in enumerate(zip_longest(self._shown, lines)):
            if before is None or after is None or before.markup != after.markup:
                for start, end in _changed_spans(before, after, self.size.width):
                    self.refresh(Region(start, y, end - start, 1))
        self._shown, self._shown_width = lines, self._width()

    def on_resize(self) -> None:
        self._shown, self._shown_width = self._lines(), self._width()

    def render(self) -> Content:
        if self._snapshot is None:
            return Content("waiting for the first poll…")
        # The lines worked out for this snapshot (show_snapshot, on_resize): not again at each repaint
        # (at 10,000 nodes going over the 7,700 alerts took a few milliseconds), unless the width changed.
        if self._shown and self._shown_width == self._width():
            return Content("\n").join(self._shown)
        return Content("\n").join(self._lines())

    def _width(self) -> int:
        return self.content_size.width or self.size.width

    def _lines(self) -> list[Content]:
        snapshot = self._snapshot
        if snapshot is None:
            return []
        width = self._width()
        alerts = _alert_counts(snapshot)
        return [
            _fit(width, [lambda: self._nodes_line(snapshot, 2, True), lambda: self._nodes_line(snapshot, 1, False)]),
            self._usage_line(snapshot, width),
            _fit(width, [lambda: self._work_line(snapshot, alerts, 2, True),
                         lambda: self._work_line(snapshot, alerts, 1, False)]),
        ]

    def _nodes_line(self, snapshot: ClusterSnapshot, gap: int, long_words: bool) -> Content:
        counts = dict(snapshot.totals.nodes_by_status)
        parts: list[Content] = [Content.styled(f"Nodes {len(snapshot.nodes)}", "bold")]
        known = 0
        for status, symbol, word, short, style in _NODE_STATES:
            count = counts.get(status, 0)
            known += count
            label = word if long_words else short
            if count or status == "active":
                parts.append(Content.styled(f"{symbol} {count} {label}".rstrip(), style))
        other = sum(counts.values()) - known
        if other:
            parts.append(Content.styled(f"? {other} other" if long_words else f"? {other}", "$warning"))
        unreachable = snapshot.totals.nodes_unreachable
        if not snapshot.redis.ok:  # without heartbeats nobody knows which nodes are reachable
            parts.append(Content.styled("? reachability unknown" if long_words else "? reach", "$warning bold"))
        else:
            parts.append(Content.styled(f"✗ {unreachable} unreachable", "$error bold" if unreachable else ""))
        return Content(" " * gap).join(parts)

    def _usage_line(self, snapshot: ClusterSnapshot, width: int) -> Content:
        totals = snapshot.totals
        spark_width = max(4, min(24, (width - 3 * 11) // 3))
        parts = []
        for label, name, value in (("CPU", "cpu", totals.cpu_percent), ("MEM", "memory", totals.memory_percent),
                                   ("GPU", "gpu", totals.gpu_percent)):
            series = self.sparks.get(name)
            spark = series.text(snapshot.taken_at, spark_width) if series else " " * spark_width
            style = "$error bold" if (value or 0) >= 95 else "$warning" if (value or 0) >= 85 else "$primary"
            parts.append(Content.assemble((f"{label} ", "bold"), f"{percent(value):>4} ", (spark, style)))
        return Content("  ").join(parts)

    def _work_line(self, snapshot: ClusterSnapshot, alerts: _AlertCounts, gap: int, long_words: bool) -> Content:
        sessions = dict(snapshot.totals.sessions_by_status)
        parts: list[Content] = [Content.styled("Sessions" if long_words else "Sess", "bold")]
        for status, symbol, word, short, style in _SESSION_STATES:
            count = sessions.get(status, 0)
            if count or status in ("running", "pending"):
                parts.append(Content.styled(f"{symbol} {count} {word if long_words else short}", style if count else ""))
        parts.append(Content.styled("│ Alerts", "bold"))
        shown = 0
        for severity, symbol, word, short, style in _SEVERITIES:
            count = alerts.by_severity.get(severity, 0)
            shown += count
            if count:
                parts.append(Content.styled(f"{symbol} {count} {word if long_words else short}", style))
        rest = alerts.active - shown
        if rest:
            parts.append(Content(f"+{rest} other" if long_words else f"+{rest}"))
        if alerts.acknowledged and long_words:
            parts.append(Content.styled(f"({alerts.acknowledged} acked)", "$foreground-muted"))
        if not alerts.active:
            parts.append(Content.styled("none active", "$success"))
        return Content(" " * gap).join(parts)


class _AlertCounts(NamedTuple):
    by_severity: dict[str, int]   # the active (not acknowledged) alerts
    active: int
    acknowledged: int


def _alert_counts(snapshot: ClusterSnapshot) -> _AlertCounts:
    by_severity: dict[str, int] = {}
    active = 0
    for alert in snapshot.alerts:
        if not alert.acknowledged:
            active += 1
            by_severity[alert.severity] = by_severity.get(alert.severity, 0) + 1
    return _AlertCounts(by_severity, active, len(snapshot.alerts) - active)


SPAN_GAP = 4       # unchanged characters between two changed runs that still make two regions


def _changed_spans(before: Content | None, after: Content | None, width: int) -> list[tuple[int, int]]:
    """[start, end) runs of the line (content coordinates, as refresh() takes them) whose characters changed; the whole line
    when its length or only its styles changed (a colour turning to warning, say)."""
    if (before is None or after is None or len(before.plain) != len(after.plain)
            or cell_len(before.plain) != len(before.plain) or cell_len(after.plain) != len(after.plain)
            or list(before.spans) != list(after.spans)):
        return [(0, width)]
    spans: list[tuple[int, int]] = []
    for index, (a, b) in enumerate(zip(before.plain, after.plain)):
        if a == b:
            continue
        if spans and index - spans[-1][1] < SPAN_GAP:
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    if not spans:
        return [(0, width)]
    return spans
