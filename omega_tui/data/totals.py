"""Cluster-wide figures for the summary header, computed from a poll's nodes, sessions and alerts."""

from __future__ import annotations

from collections import Counter

from omega_tui.data.models import (
    HISTORY_POINTS, NODE_STATUSES, SESSION_STATUSES, SEVERITIES, Alert, ClusterTotals, Node, Reachability, Session,
)

_UNREACHABLE = (Reachability.STALE, Reachability.MISSING)


def _ordered_counts(values, known_order) -> tuple[tuple[str, int], ...]:
    """Counts in the usual order of known values, then unknown values by name."""
    counts = Counter(values)
    known = [(v, counts[v]) for v in known_order if v in counts]
    others = sorted((v, n) for v, n in counts.items() if v not in known_order)
    return tuple(known + others)


def _mean_latest(nodes: list[Node], metric: str) -> float | None:
    values = [s.latest for n in nodes if (s := n.metric(metric)) is not None and s.latest is not None]
    return sum(values) / len(values) if values else None


def _mean_history(nodes: list[Node], metric: str) -> tuple[float, ...]:
    """Mean over nodes of each history step; histories are aligned at their newest point."""
    full, partial = [], []
    for node in nodes:
        series = node.metric(metric)
        if series is not None and series.history:
            history = series.history[-HISTORY_POINTS:]
            (full if len(history) == HISTORY_POINTS else partial).append(history)
    # zip(*full) walks the full-length histories column by column in C: this
    # runs on every poll over every node.
    sums = [sum(column) for column in zip(*full)] if full else [0.0] * HISTORY_POINTS
    counts = [len(full)] * HISTORY_POINTS
    for history in partial:
        for i, value in enumerate(history, HISTORY_POINTS - len(history)):
            sums[i] += value
            counts[i] += 1
    return tuple(total / count for total, count in zip(sums, counts) if count)


def cluster_totals(nodes: list[Node], sessions: list[Session], alerts: list[Alert]) -> ClusterTotals:
    # Means cover nodes not known to be unreachable: when Redis is down
    # (reachability unknown) the PostgreSQL figures still count.
    counted = [n for n in nodes if n.reachability not in _UNREACHABLE]
    return ClusterTotals(
        nodes_by_status=_ordered_counts((n.status for n in nodes), NODE_STATUSES),
        nodes_unreachable=sum(n.reachability in _UNREACHABLE for n in nodes),
        cpu_percent=_mean_latest(counted, "cpu_percent"),
        memory_percent=_mean_latest(counted, "memory_percent"),
        gpu_percent=_mean_latest(counted, "gpu_percent"),
        cpu_history=_mean_history(counted, "cpu_percent"),
        memory_history=_mean_history(counted, "memory_percent"),
        gpu_history=_mean_history(counted, "gpu_percent"),
        sessions_by_status=_ordered_counts((s.status for s in sessions), SESSION_STATUSES),
        alerts_by_severity=_ordered_counts((a.severity for a in alerts), SEVERITIES),
    )
