"""The new metric rows read on a second connection, alongside the poll's other reads, and the short
history loaded on it between polls (real PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data import metric_reader
from omega_tui.data.models import HealthState
from omega_tui.data.poller import Poller

STEP = timedelta(seconds=10)
METRICS_APP = "omega-tui poller (metrics)"


def backends(db, application_name: str) -> list[tuple]:
    """(pid, state, wait_event_type) of this database's sessions named so."""
    return db.execute(
        "SELECT pid, state, wait_event_type FROM pg_stat_activity"
        " WHERE application_name = %s AND datname = current_database()", (application_name,)).fetchall()


def gone(db, application_name: str, timeout: float = 10.0) -> bool:
    """Whether the sessions named so have left (a closed connection's backend exits a moment later)."""
    deadline = time.monotonic() + timeout
    while backends(db, application_name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def sleeping(db) -> bool:
    """Whether the metric connection is in the tests' pg_sleep() (not still being set up: its first
    statements show as active too)."""
    return any(state == "active" and wait == "Timeout" for _, state, wait in backends(db, METRICS_APP))


def wait_until(condition, failure: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.01)


def with_history(db, clock) -> tuple[str, object]:
    """A node with two minutes of cpu_percent every 10 s, values 0..12; its newest sample's time."""
    node = cd.add_node(db, "m1")
    end = clock.now - timedelta(seconds=30)
    cd.add_metric_rows(db, cd.series_rows([node], ["cpu_percent"], end, timedelta(minutes=2), STEP,
                                          lambda n, metric, k: float(k)))
    return node, end


def next_sample(db, clock, node: str, at, value: float):
    """Write a sample at `at` and move the clock past it (the node's next sample is due then)."""
    cd.add_metric_rows(db, [(at, node, "cpu_percent", value)])
    clock.advance(STEP.total_seconds())
    return at


def test_new_metric_rows_are_read_on_a_second_read_only_connection_once_the_history_is_loaded(
        dsn, redis_url, db, clock):
    node, end = with_history(db, clock)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        first = poller.poll()
        assert first.stats.full_metric_load and not backends(db, METRICS_APP)   # the first load: its own connection
        at = next_sample(db, clock, node, end + STEP, 99.0)
        snap = poller.poll()
        series = snap.node(node).metric("cpu_percent")
        assert series.latest == 99.0 and series.latest_at == at and len(series.history) == 14
        assert snap.postgres.ok and not snap.stats.full_metric_load
        assert len(backends(db, METRICS_APP)) == 1
        side = poller._metric_reader.connection
        assert side.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            side.execute("DELETE FROM node_metrics")
        assert db.execute("SELECT count(*) FROM node_metrics").fetchone()[0] == 14
    finally:
        poller.close()
    assert gone(db, METRICS_APP)   # closed with the poller


def test_without_a_second_connection_the_poll_reads_the_metrics_on_its_own_and_tries_again_later(
        dsn, redis_url, db, clock):
    node, end = with_history(db, clock)
    role = "omega_t_one_connection"
    ident = sql.Identifier(role)
    db.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
    db.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'one-pw' CONNECTION LIMIT 1").format(ident))
    params = conninfo_to_dict(dsn)
    params.update(user=role, password="one-pw")
    poller = Poller(Settings(dsn=make_conninfo(**params), redis_url=redis_url), clock=clock)
    try:
        db.execute(sql.SQL("GRANT USAGE ON SCHEMA omega_console TO {}").format(ident))
        db.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(ident))
        db.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA omega_console TO {}").format(ident))
        assert poller.poll().postgres.ok
        at = next_sample(db, clock, node, end + STEP, 50.0)
        snap = poller.poll()   # "too many connections for role": read on the poll's own connection
        assert snap.postgres.ok and snap.node(node).metric("cpu_percent").latest == 50.0
        assert not backends(db, METRICS_APP) and poller._metric_reader.connection is None
        at = next_sample(db, clock, node, at + STEP, 51.0)
        assert poller.poll().node(node).metric("cpu_percent").latest == 51.0

        db.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(ident))
        poller._metric_reader._clock = lambda: time.monotonic() + metric_reader.RETRY_SECONDS
        next_sample(db, clock, node, at + STEP, 52.0)
        snap = poller.poll()
        assert snap.node(node).metric("cpu_percent").latest == 52.0
        assert len(backends(db, METRICS_APP)) == 1   # tried again, and opened
    finally:
        poller.close()
        db.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        db.execute(sql.SQL("DROP ROLE {}").format(ident))


def test_the_metric_connection_terminated_between_polls_is_invisible(dsn, redis_url, db, clock):
    node, end = with_history(db, clock)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        poller.poll()
        at = next_sample(db, clock, node, end + STEP, 70.0)
        assert poller.poll().node(node).metric("cpu_percent").latest == 70.0
        [(pid, _, _)] = backends(db, METRICS_APP)
        assert db.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        next_sample(db, clock, node, at + STEP, 71.0)
        snap = poller.poll()   # its connection is dead: one immediate retry, as for the poll's own
        assert snap.postgres.state is HealthState.OK
        assert snap.node(node).metric("cpu_percent").latest == 71.0
        assert [p for p, _, _ in backends(db, METRICS_APP)] != [pid]
    finally:
        poller.close()


def test_close_from_another_thread_cancels_a_running_metric_read(dsn, redis_url, db, clock):
    node, end = with_history(db, clock)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, statement_timeout=120), clock=clock)
    poller.poll()
    next_sample(db, clock, node, end + STEP, 80.0)
    locker = psycopg.connect(dsn)
    locker.execute("LOCK TABLE node_metrics IN ACCESS EXCLUSIVE MODE")   # the metric read waits; nothing else does
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("snap", poller.poll()))
    try:
        worker.start()
        wait_until(lambda: any(wait == "Lock" for _, _, wait in backends(db, METRICS_APP)),
                   "the metric read never waited on the lock")
        poller.close()
        worker.join(timeout=20)
        assert not worker.is_alive()
    finally:
        locker.rollback()
        locker.close()
    snap = result["snap"]
    assert snap.postgres.state is HealthState.STALE and "cancel" in snap.postgres.reason
    assert snap.node(node).metric("cpu_percent").latest == 12.0   # the last data, kept
    assert gone(db, METRICS_APP)


def test_a_read_cancelled_while_its_connection_opens_never_begins(dsn):
    opening, go = threading.Event(), threading.Event()

    def slow_open(dsn_):
        opening.set()
        assert go.wait(20)
        return psycopg.connect(dsn_, autocommit=True)

    reads = []
    reader = metric_reader.MetricReader(slow_open)
    reader.start(dsn, lambda conn: reads.append(conn.execute("SELECT 1").fetchone()))
    assert opening.wait(20)
    reader.close()   # no statement to cancel yet: the read must not begin once the connection opens
    go.set()
    reader.wait()
    assert reads == [] and reader.connection is None   # and the connection, opened late, was closed
    with pytest.raises(metric_reader.ReadCancelled):
        reader.result()


def test_the_rest_of_the_short_history_loads_between_polls_on_the_metric_connection(
        dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import pg_reads
    from omega_tui.data import poller as poller_module

    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 1)
    ids = [cd.add_node(db, f"m{i}") for i in range(3)]
    end = clock.now - timedelta(seconds=30)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], end, timedelta(minutes=2), STEP,
                                          lambda n, metric, k: float(100 * n + k)))
    full = {n: tuple(float(100 * n + k) for k in range(13)) for n in range(3)}
    read_history, reads = pg_reads.read_recent_metrics, []

    def noted(db, node_ids, rows_per_node):
        reads.append((db.conn, threading.current_thread().name, sorted(node_ids)))
        yield from read_history(db, node_ids, rows_per_node)

    monkeypatch.setattr(pg_reads, "read_recent_metrics", noted)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        snap = poller.poll()   # n0's history; the newest samples of the others
        assert tuple(snap.node(ids[0]).metric("cpu_percent").history) == full[0]
        assert len(snap.node(ids[1]).metric("cpu_percent").history) < len(full[1])
        poller._metric_reader.wait()   # the batch read after the poll, before the next one
        assert len(reads) == 2
        conn, thread, batch = reads[1]
        assert batch == sorted(ids[1:]) and thread == "omega-metric-read"
        assert conn is poller._metric_reader.connection and conn is not poller._conn

        snap = poller.poll()   # takes it first thing
        assert snap.stats.metric_rows >= len(full[1]) + len(full[2])
        for n, node_id in enumerate(ids):
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == full[n]
        assert poller._history_pending == [] and poller._history_loading == [] and len(reads) == 2
    finally:
        poller.close()


@pytest.mark.parametrize("slow", [False, True])
def test_a_history_batch_that_did_not_fit_between_polls_makes_the_next_ones_half_the_size(
        dsn, redis_url, db, clock, monkeypatch, slow):
    from omega_tui.data import pg_reads
    from omega_tui.data import poller as poller_module

    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 1)
    monkeypatch.setattr(poller_module, "HISTORY_FILL_POLLS", 2)
    monkeypatch.setattr(poller_module, "HISTORY_BATCH_MIN", 1)
    ids = [cd.add_node(db, f"h{i}") for i in range(9)]
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], clock.now - timedelta(seconds=30),
                                          timedelta(minutes=2), STEP, lambda n, metric, k: float(k)))
    read_history, slow_reads = pg_reads.read_recent_metrics, [slow]

    def maybe_slow(db, node_ids, rows_per_node):
        if slow_reads[0] and threading.current_thread().name == "omega-metric-read":
            db.execute("SELECT pg_sleep(1.5)")
        yield from read_history(db, node_ids, rows_per_node)

    monkeypatch.setattr(pg_reads, "read_recent_metrics", maybe_slow)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, refresh=0.4), clock=clock)
    try:
        sizes = []
        for _ in range(3):
            poller.poll()
            sizes.append(len(poller._history_loading))
            time.sleep(0.3)   # the next poll, 0.3 s after: (0.75 of the refresh) while a slow batch still loads
            slow_reads[0] = False   # only the first batch is slow
        poller.poll()
        # 8 nodes left after the first poll: batches of 4 (two polls' worth); one still loading when the
        # next poll began made the next ones 2; batches in time stay at the size they began with.
        assert sizes == ([4, 2, 2] if slow else [4, 4, 0])
        assert poller._history_pending == [] and poller._history_loading == []
    finally:
        poller.close()


def test_close_cancels_a_history_batch_running_between_polls(dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import pg_reads
    from omega_tui.data import poller as poller_module

    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 1)
    ids = [cd.add_node(db, f"m{i}") for i in range(2)]
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], clock.now - timedelta(seconds=30),
                                          timedelta(minutes=2), STEP, lambda n, metric, k: float(k)))
    read_history = pg_reads.read_recent_metrics

    def slow_between_polls(db, node_ids, rows_per_node):
        if threading.current_thread().name == "omega-metric-read":
            db.execute("SELECT pg_sleep(60)")
        yield from read_history(db, node_ids, rows_per_node)

    monkeypatch.setattr(pg_reads, "read_recent_metrics", slow_between_polls)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, statement_timeout=120), clock=clock)
    poller.poll()
    wait_until(lambda: sleeping(db), "the history batch never started")
    batch = poller._history_batch
    started = time.monotonic()
    poller.close()
    assert time.monotonic() - started < 5   # cancelled, not waited for
    assert gone(db, METRICS_APP)
    assert poller.poll().taken_at == clock.now   # after close: no store is touched, no exception
    assert poller._history_batch == batch   # cancelled, not too slow: no smaller batch


def test_a_history_batch_whose_connection_dies_is_loaded_by_a_later_one(dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import pg_reads
    from omega_tui.data import poller as poller_module

    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 1)
    ids = [cd.add_node(db, f"m{i}") for i in range(2)]
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], clock.now - timedelta(seconds=30),
                                          timedelta(minutes=2), STEP, lambda n, metric, k: float(100 * n + k)))
    read_history, between = pg_reads.read_recent_metrics, []

    def first_one_stalls(db, node_ids, rows_per_node):
        if threading.current_thread().name == "omega-metric-read" and not between:
            between.append(node_ids)
            db.execute("SELECT pg_sleep(60)")
        yield from read_history(db, node_ids, rows_per_node)

    monkeypatch.setattr(pg_reads, "read_recent_metrics", first_one_stalls)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, statement_timeout=120), clock=clock)
    try:
        poller.poll()
        wait_until(lambda: sleeping(db), "the history batch never started")
        [(pid, _, _)] = backends(db, METRICS_APP)
        assert db.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        batch = poller._history_batch
        snap = poller.poll()   # the batch failed: put back, and read again after this poll
        assert snap.postgres.state is HealthState.OK and poller._history_batch == batch
        assert poller._history_loading == [ids[1]]
        snap = poller.poll()
        full = tuple(float(100 + k) for k in range(13))
        assert tuple(snap.node(ids[1]).metric("cpu_percent").history) == full
        assert [p for p, _, _ in backends(db, METRICS_APP)] != [pid]
    finally:
        poller.close()
