"""The console's poller reads ahead of each poll (Poller._start_read_ahead): the next poll takes in
only what changed since, and its snapshot is as fresh (real PostgreSQL and Redis)."""

from __future__ import annotations

import threading
from datetime import timedelta

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data import poller as poller_module
from omega_tui.data.poller import Poller
from test_metric_reader import METRICS_APP, STEP, gone, next_sample, with_history


def gate_read_ahead(monkeypatch) -> tuple[threading.Event, list]:
    """The read-ahead waits for the returned Event before it reads anything; the snapshots it
    builds (otherwise unused) are appended to the returned list."""
    poll, gate, built = Poller._poll, threading.Event(), []

    def gated(self, ahead=False):
        if not ahead:
            return poll(self)
        assert gate.wait(30), "the test did not open the gate"
        built.append(poll(self, ahead))
        return built[-1]

    monkeypatch.setattr(Poller, "_poll", gated)
    return gate, built


def in_thread(call, failure: str, timeout: float = 20.0):
    """call()'s result, failing the test (not hanging it) when it takes longer than `timeout`."""
    done = []
    thread = threading.Thread(target=lambda: done.append(call()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert done, failure
    return done[0]


def test_what_the_read_ahead_took_in_is_in_the_next_snapshot_built_once_and_counted_once(
        dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(poller_module, "READ_AHEAD_SHARE", 0.0)   # as soon as a poll ends
    node, end = with_history(db, clock)
    gate, built = gate_read_ahead(monkeypatch)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock, read_ahead=True)
    try:
        first = poller.poll()
        assert first.node(node).metric("cpu_percent").latest == 12.0
        at = next_sample(db, clock, node, end + STEP, 60.0)
        gate.set()
        poller._read_ahead_thread.join(30)
        assert len(built) == 1
        # Gone from PostgreSQL: only the read-ahead can have it.
        db.execute("DELETE FROM node_metrics WHERE node_id = %s AND time = %s", (node, at))
        snap = poller.poll()
        series = snap.node(node).metric("cpu_percent")
        assert series.latest == 60.0 and series.latest_at == at and len(series.history) == 14
        # The node as the read-ahead built it: the poll had nothing of it to build again.
        assert snap.node(node) is built[0].node(node) and snap.node(node) is not first.node(node)
        # What the read-ahead read counts in this poll: its Redis round trip and this poll's own.
        assert snap.stats.metric_rows_new == 1
        assert snap.stats.redis_round_trips == built[0].stats.redis_round_trips + 1 == 2
        assert poller.poll().stats.metric_rows_new == 0   # counted once
    finally:
        poller.close()


def test_a_notice_of_the_read_ahead_is_in_the_next_snapshot(dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(poller_module, "READ_AHEAD_SHARE", 0.0)
    node, end = with_history(db, clock)
    gate, built = gate_read_ahead(monkeypatch)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock, read_ahead=True)
    try:
        poller.poll()
        cd.add_metric_rows(db, [(end + STEP, node, "cpu_percent", float("nan"))])
        clock.advance(STEP.total_seconds())
        gate.set()
        poller._read_ahead_thread.join(30)
        notice = "1 metric value(s) ignored (not finite, or too many metric types)"
        assert notice in built[0].notices
        # Only the read-ahead met the value: the poll sees it neither in PostgreSQL nor again.
        db.execute("DELETE FROM node_metrics WHERE node_id = %s AND time = %s", (node, end + STEP))
        assert poller.poll().notices.count(notice) == 1
        assert notice not in poller.poll().notices
    finally:
        poller.close()


def test_a_poll_or_close_before_the_read_ahead_is_due_does_not_wait_for_it(dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(poller_module, "READ_AHEAD_SHARE", 1e6)   # its moment never comes
    node, end = with_history(db, clock)
    gate, built = gate_read_ahead(monkeypatch)
    gate.set()
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock, read_ahead=True)
    try:
        poller.poll()
        in_thread(poller.poll, "the poll waited for the read-ahead")
        waiting = poller._read_ahead_thread
        assert waiting.is_alive()
        next_sample(db, clock, node, end + STEP, 70.0)
        snap = in_thread(poller.poll, "the poll waited for the read-ahead")   # the rows are its to read
        assert snap.node(node).metric("cpu_percent").latest == 70.0 and snap.stats.metric_rows_new == 1
        waiting.join(5)
        assert not waiting.is_alive() and poller._read_ahead_thread.is_alive()   # skipped; the next one waits
    finally:
        in_thread(poller.close, "close() waited for the read-ahead")
    poller._read_ahead_thread.join(5)
    assert not poller._read_ahead_thread.is_alive() and built == [] and gone(db, METRICS_APP)


def test_while_the_short_history_fills_the_read_ahead_takes_the_batch_loaded_since_the_poll(
        dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(poller_module, "READ_AHEAD_SHARE", 0.0)
    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 1)
    ids = [cd.add_node(db, f"m{i}") for i in range(3)]
    end = clock.now - timedelta(seconds=30)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], end, timedelta(minutes=2), STEP,
                                          lambda n, metric, k: float(100 * n + k)))
    full = {n: tuple(float(100 * n + k) for k in range(13)) for n in range(3)}
    gate, built = gate_read_ahead(monkeypatch)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock, read_ahead=True)
    try:
        first = poller.poll()   # n0's history; the newest samples of the others; their batch loads after it
        assert len(first.node(ids[1]).metric("cpu_percent").history) < len(full[1])
        assert poller.filling_history
        gate.set()
        poller._read_ahead_thread.join(30)
        assert poller._history_loading == [] and not poller.filling_history   # taken by the read-ahead
        for n, node_id in enumerate(ids):
            assert tuple(built[0].node(node_id).metric("cpu_percent").history) == full[n]
        snap = poller.poll()
        assert snap.stats.metric_rows >= len(full[1]) + len(full[2])   # the batch's rows, counted here
        for n, node_id in enumerate(ids):
            assert snap.node(node_id) is built[0].node(node_id)
    finally:
        poller.close()


def test_the_read_ahead_begins_as_much_earlier_as_the_last_one_took(dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(poller_module, "READ_AHEAD_SHARE", 1e6)
    gate, built = gate_read_ahead(monkeypatch)
    gate.set()
    cd.add_node(db, "m1")
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, refresh=2.0), clock=clock, read_ahead=True)
    try:
        poller._read_ahead_took = 1e6 * 2.0   # as long as its whole share of the gap: it begins at once
        poller.poll()
        poller._read_ahead_thread.join(30)
        assert len(built) == 1 and 0 < poller._read_ahead_took < 30
    finally:
        poller.close()
