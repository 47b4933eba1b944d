"""The poller's cluster totals, kept up to date from changed nodes, agree with totals counted afresh."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest

from omega_tui.data import totals
from omega_tui.data.models import MetricSeries, Reachability
from omega_tui.data.totals import ClusterTotalsBuilder, cluster_totals
from omega_tui.fixed_source import FixedSource

FIGURES = ("cpu_percent", "memory_percent", "gpu_percent")
COUNTS = ("nodes_unreachable", "nodes_by_status", "sessions_by_status", "alerts_by_severity")


def _changed(node, rng: random.Random):
    """The node with one of the things a poll changes: a new sample, reachability, status, or none."""
    what = rng.choice(["sample", "sample", "reach", "status", "short", "same"])
    if what == "sample":
        metrics = tuple(
            MetricSeries(s.metric_type, s.unit, value, s.latest_at, (tuple(s.history) + (value,))[-60:])
            for s in node.metrics for value in [rng.uniform(0, 100)]
        )
        return replace(node, metrics=metrics)
    if what == "reach":
        return replace(node, reachability=rng.choice(list(Reachability)))
    if what == "status":
        return replace(node, status=rng.choice(["active", "draining", "failed", "preempted"]))
    if what == "short":   # a node whose history is still filling in
        return replace(node, metrics=tuple(s._replace(history=s.history[-rng.randint(0, 5):]) for s in node.metrics))
    return node


def _assert_same(built, counted):
    for name in COUNTS:
        assert getattr(built, name) == getattr(counted, name), name
    for name in FIGURES:
        assert getattr(built, name) == pytest.approx(getattr(counted, name)), name


def test_totals_kept_from_changed_nodes_match_a_fresh_count(monkeypatch):
    monkeypatch.setattr(totals, "FULL_RECOUNT_POLLS", 10_000)   # only the incremental path
    snap = FixedSource().snapshot
    rng = random.Random(7)
    nodes = list(snap.nodes)
    builder = ClusterTotalsBuilder()
    for poll in range(40):
        if poll:
            nodes = [_changed(n, rng) if rng.random() < 0.3 else n for n in nodes]
            if poll % 7 == 0:   # a node goes, one that went comes back
                present = {n.node_id for n in nodes}
                back = [n for n in snap.nodes if n.node_id not in present][:1]
                gone = rng.randrange(len(nodes))
                nodes = nodes[:gone] + nodes[gone + 1:] + back
        built = builder.build(nodes, Counter(s.status for s in snap.sessions), list(snap.alerts))
        _assert_same(built, cluster_totals(nodes, list(snap.sessions), list(snap.alerts)))
    assert any(n.reachability is Reachability.MISSING for n in nodes)


def test_totals_of_no_nodes_after_some():
    snap = FixedSource().snapshot
    builder = ClusterTotalsBuilder()
    builder.build(list(snap.nodes), {}, [])
    empty = builder.build([], {}, [])
    assert empty.cpu_percent is None and empty.nodes_by_status == ()


def test_the_mean_history_leaves_out_unreachable_nodes_and_aligns_short_histories_at_their_newest():
    node = FixedSource().snapshot.nodes[0]
    cpu = node.metric("cpu_percent")._replace(history=(10.0, 20.0, 30.0))
    short = replace(node, metrics=(cpu._replace(history=(50.0,)),))
    gone = replace(node, reachability=Reachability.MISSING, metrics=(cpu._replace(history=(90.0, 90.0, 90.0)),))
    assert totals.mean_history([replace(node, metrics=(cpu,)), short, gone], "cpu_percent") == (10.0, 20.0, 40.0)
    assert totals.mean_history([gone], "cpu_percent") == ()


def test_the_sample_step_is_the_median_spacing_of_the_nodes_samples():
    node = FixedSource().snapshot.nodes[0]
    cpu = node.metric("cpu_percent")
    second = 1_000_000
    every_10s = replace(node, metrics=(cpu._replace(history=(1.0, 2.0, 3.0), history_us=(0, 10 * second, 20 * second)),))
    every_30s = replace(node, metrics=(cpu._replace(history=(1.0, 2.0), history_us=(0, 30 * second)),))
    untimed = replace(node, metrics=(cpu._replace(history=(1.0, 2.0), history_us=()),))
    assert totals.sample_step_seconds([every_10s, every_10s, every_30s, untimed], "cpu_percent") == 10.0
    assert totals.sample_step_seconds([untimed], "cpu_percent") is None
    # Only the first `enough` timed nodes are looked at (it runs on the screen's thread, once).
    assert totals.sample_step_seconds([every_10s, untimed, every_30s, every_30s], "cpu_percent", enough=1) == 10.0
