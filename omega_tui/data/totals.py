"""Cluster-wide figures for the summary header, computed from a poll's nodes, sessions and alerts."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping

from omega_tui.data.models import (
    CANONICAL_METRICS, HISTORY_POINTS, NODE_STATUSES, SESSION_STATUSES, SEVERITIES, Alert, ClusterTotals, MetricSeries,
    Node, Reachability, Session,
)
from omega_tui.data.node_builder import changed_positions

_UNREACHABLE = (Reachability.STALE, Reachability.MISSING)


def _ordered_counts(values, known_order) -> tuple[tuple[str, int], ...]:
    """Counts in the usual order of known values, then unknown values by name."""
    return _in_order(Counter(values), known_order)


def _in_order(counts: Mapping[str, int], known_order) -> tuple[tuple[str, int], ...]:
    known = [(v, counts[v]) for v in known_order if v in counts]
    others = sorted((v, n) for v, n in counts.items() if v not in known_order)
    return tuple(known + others)


def _mean_latest(nodes: list[Node], metric: str) -> float | None:
    values = [s.latest for n in nodes if (s := n.metric(metric)) is not None and s.latest is not None]
    return sum(values) / len(values) if values else None


def mean_history(nodes: list[Node], metric: str) -> tuple[float, ...]:
    """Mean of each history step over the nodes not known to be unreachable, histories aligned at
    their newest point: to seed a cluster sparkline once. Not part of the totals: kept up to date
    every poll it cost 10 ms a poll at 5,000 nodes (every changed history summed again)."""
    full, partial = [], []
    for node in nodes:
        if node.reachability in _UNREACHABLE:
            continue
        series = node.metric(metric)
        if series is not None and series.history:
            history = series.history[-HISTORY_POINTS:]
            (full if len(history) == HISTORY_POINTS else partial).append(history)
    # zip(*full) walks the full-length histories column by column in C.
    sums = [sum(column) for column in zip(*full)] if full else [0.0] * HISTORY_POINTS
    counts = [len(full)] * HISTORY_POINTS
    for history in partial:
        for i, value in enumerate(history, HISTORY_POINTS - len(history)):
            sums[i] += value
            counts[i] += 1
    return tuple(total / count for total, count in zip(sums, counts) if count)


def sample_step_seconds(nodes: list[Node], metric: str, enough: int = 1000) -> float | None:
    """The usual time between two samples of `metric` (the median over the first `enough` nodes
    whose samples' times are known), to space a mean_history() out; None when no node's are known."""
    steps = []
    for node in nodes:
        series = node.metric(metric)
        times = series.history_us if series is not None else ()
        if len(times) > 1 and times[-1] > times[0]:
            steps.append((times[-1] - times[0]) / (len(times) - 1) / 1e6)
            if len(steps) >= enough:
                break
    return statistics.median(steps) if steps else None


def cluster_totals(nodes: list[Node], sessions: list[Session], alerts: list[Alert]) -> ClusterTotals:
    """The totals counted afresh: what ClusterTotalsBuilder keeps up to date poll by poll."""
    # Means cover nodes not known to be unreachable: when Redis is down
    # (reachability unknown) the PostgreSQL figures still count.
    counted = [n for n in nodes if n.reachability not in _UNREACHABLE]
    return ClusterTotals(
        nodes_by_status=_ordered_counts((n.status for n in nodes), NODE_STATUSES),
        nodes_unreachable=sum(n.reachability in _UNREACHABLE for n in nodes),
        cpu_percent=_mean_latest(counted, "cpu_percent"),
        memory_percent=_mean_latest(counted, "memory_percent"),
        gpu_percent=_mean_latest(counted, "gpu_percent"),
        sessions_by_status=_ordered_counts((s.status for s in sessions), SESSION_STATUSES),
        alerts_by_severity=_ordered_counts((a.severity for a in alerts), SEVERITIES),
    )


TOTALS_METRICS = ("cpu_percent", "memory_percent", "gpu_percent")
assert CANONICAL_METRICS[:len(TOTALS_METRICS)] == TOTALS_METRICS
_TRACKED = len(TOTALS_METRICS)
FULL_RECOUNT_POLLS = 150   # sums kept by adding and taking away drift a little: count afresh now and then


class _MetricSums:
    """The sum and count of the latest values of one metric over the counted nodes."""

    __slots__ = ("latest", "latest_count")

    def __init__(self):
        self.latest = 0.0
        self.latest_count = 0

    def add(self, series: MetricSeries, sign: int) -> None:
        """Add (sign 1) or take away (-1) a series."""
        if series.latest is not None:
            self.latest += sign * series.latest
            self.latest_count += sign

    def mean(self) -> float | None:
        return self.latest / self.latest_count if self.latest_count else None


class ClusterTotalsBuilder:
    """cluster_totals() for a poller: the metric means are kept up to date from the nodes whose
    series changed since the last poll (a Node, or its series, that is the same object as last
    poll's changed nothing, see node_builder.py), instead of summed again over every node's history
    every poll; so are the counts of nodes by status and unreachable."""

    def __init__(self):
        self._nodes: list[Node] = []          # as last built from
        self._counted: dict[str, Node] = {}   # node id -> the Node its figures were added from
        self._sums: dict[str, _MetricSums] = {}
        self._statuses: Counter[str] = Counter()
        self._unreachable = 0
        self._polls_since_recount = FULL_RECOUNT_POLLS

    def build(self, nodes: list[Node], session_statuses: Mapping[str, int], alerts: list[Alert]) -> ClusterTotals:
        """`session_statuses`: status -> live sessions (kept up to date by held_sessions.py)."""
        self._polls_since_recount += 1
        if self._polls_since_recount >= FULL_RECOUNT_POLLS:
            self._nodes, self._counted = [], {}
            self._sums = {metric: _MetricSums() for metric in TOTALS_METRICS}
            self._polls_since_recount = 0
        pairs = self._changed_pairs(nodes)
        gone, came = self._changes_by_id(nodes) if pairs is None else self._changes_in_place(pairs)
        self._nodes = list(nodes)   # a copy: the caller's list may be changed in place
        sums = self._sums
        for sign, changed in ((-1, gone), (1, came)):
            for node in changed:
                # One series per metric type, the canonical ones first in their order (MetricHistory's
                # series_of): the TOTALS_METRICS a node has are among its first three.
                for series in node.metrics[:_TRACKED]:
                    metric_sums = sums.get(series.metric_type)
                    if metric_sums is not None:
                        metric_sums.add(series, sign)
        cpu, memory, gpu = (sums[metric] for metric in TOTALS_METRICS)
        return ClusterTotals(
            nodes_by_status=_in_order(+self._statuses, NODE_STATUSES),
            nodes_unreachable=self._unreachable,
            cpu_percent=cpu.mean(),
            memory_percent=memory.mean(),
            gpu_percent=gpu.mean(),
            sessions_by_status=_in_order(session_statuses, SESSION_STATUSES),
            alerts_by_severity=_ordered_counts((a.severity for a in alerts), SEVERITIES),
        )

    def _changed_pairs(self, nodes: list[Node]) -> list[tuple[Node, Node]] | None:
        """(last poll's Node, this poll's) where they differ, when the nodes are last poll's in the same
        order (most polls: the unchanged ones are the same objects, passed over in C); else None."""
        last = self._nodes
        if not last or len(last) != len(nodes):
            return None
        pairs = [(last[i], nodes[i]) for i in changed_positions(nodes, last)]
        for old, new in pairs:
            if old.node_id != new.node_id:
                return None
        return pairs

    def _changes_in_place(self, pairs) -> tuple[list[Node], list[Node]]:
        """The nodes whose figures to take away and to add, from the pairs that differ."""
        gone, came = [], []
        counted, statuses = self._counted, self._statuses
        for old, new in pairs:
            if old.status != new.status:
                statuses[old.status] -= 1
                statuses[new.status] += 1
            was, now = old.reachability not in _UNREACHABLE, new.reachability not in _UNREACHABLE
            self._unreachable += was - now
            if was and now and old.metrics is new.metrics:
                counted[new.node_id] = new   # rebuilt with the same series (a heartbeat, say): adds the same
                continue
            if was:
                gone.append(counted.pop(old.node_id))
            if now:
                came.append(new)
                counted[new.node_id] = new
        return gone, came

    def _changes_by_id(self, nodes: list[Node]) -> tuple[list[Node], list[Node]]:
        """As _changes_in_place, when nodes came, went or moved: matched by id, the counts afresh."""
        counted = {n.node_id: n for n in nodes if n.reachability not in _UNREACHABLE}
        held = self._counted
        gone = [node for node_id, node in held.items()
                if (now := counted.get(node_id)) is not node and (now is None or now.metrics is not node.metrics)]
        came = [node for node_id, node in counted.items()
                if (was := held.get(node_id)) is not node and (was is None or was.metrics is not node.metrics)]
        self._counted = counted
        self._statuses = Counter(n.status for n in nodes)
        self._unreachable = sum(n.reachability in _UNREACHABLE for n in nodes)
        return gone, came
