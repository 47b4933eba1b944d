"""The poller against real PostgreSQL and Redis: snapshots, incremental cost, health, node detail."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data import pg_reads
from omega_tui.data.metric_history import to_micros
from omega_tui.data.models import HISTORY_POINTS, HealthState, Reachability
from omega_tui.data.node_detail import detail_resolution
from omega_tui.data.poller import FIRST_LOAD_ROWS_PER_NODE, Poller
from omega_tui.data.totals import mean_history, sample_step_seconds

STEP = timedelta(seconds=10)


def make_poller(dsn, redis_url, clock, **settings) -> Poller:
    return Poller(Settings(dsn=dsn, redis_url=redis_url, **settings), clock=clock)


@pytest.fixture
def rd(redis_url):
    client = cd.redis_client(redis_url)
    yield client
    client.close()


def test_snapshot_matches_what_was_written(dsn, redis_url, db, rd, clock):
    user = cd.add_user(db, "alice")
    gpu = cd.add_node(db, "gpu-01", node_type="gpu", gpus=4, gpu_memory_gb=80, labels={"rack": "r1", "tier": 2})
    cpu = cd.add_node(db, "cpu-01", status="draining", ip="10.0.0.7")
    cd.add_resource(db, gpu, "cpu", 32, 12, "cores")
    cd.add_resource(db, gpu, "gpu", 4, 2, "devices")
    running = cd.add_session(db, user, "train", status="running", node_id=gpu, gpus=2)
    cd.add_session(db, user, "paused-job", status="paused", node_id=gpu)
    cd.add_session(db, user, "done", status="completed", node_id=gpu)
    first = cd.add_session(db, user, "first", created_at=clock.now - timedelta(minutes=3))
    second = cd.add_session(db, user, "second", created_at=clock.now - timedelta(minutes=2))
    unqueued = cd.add_session(db, user, "not-queued", created_at=clock.now - timedelta(minutes=1))
    end = clock.now - timedelta(seconds=20)
    cd.add_metric_rows(db, cd.series_rows(
        [gpu, cpu], ["cpu_percent", "memory_percent"], end, timedelta(minutes=5), STEP,
        lambda n, metric, k: 10 * n + k + (0.5 if metric == "memory_percent" else 0)))
    cd.add_metric_rows(db, cd.series_rows([gpu], ["gpu_percent"], end, timedelta(minutes=5), STEP, lambda n, m, k: 80.0))
    cd.write_heartbeat(rd, gpu, clock.now - timedelta(seconds=3), load=2.5)
    cd.write_heartbeat(rd, cpu, (clock.now - timedelta(seconds=4)).timestamp(), status="draining")
    cd.set_queue(rd, [second, first])   # queue order is Redis's, not creation order

    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()

    assert snap.taken_at == clock.now
    assert snap.postgres.state is HealthState.OK and snap.redis.state is HealthState.OK
    assert [n.hostname for n in snap.nodes] == ["cpu-01", "gpu-01"]
    g, c = snap.node(gpu), snap.node(cpu)
    assert (g.status, g.node_type, g.gpu_count, g.gpu_memory_gb) == ("active", "gpu", 4, 80.0)
    assert c.status == "draining" and c.ip_address == "10.0.0.7"
    assert g.labels == (("rack", "r1"), ("tier", "2"))
    assert (g.sessions_running, g.sessions_total) == (1, 2)
    assert (c.sessions_running, c.sessions_total) == (0, 0)
    assert g.allocation("gpu").allocated == 2 and g.allocation("gpu").total == 4
    assert g.allocation("cpu").unit == "cores" and c.allocations == ()

    assert g.reachability is Reachability.LIVE and g.heartbeat.load == 2.5 and g.heartbeat_age_at(snap.taken_at) == 3
    assert c.reachability is Reachability.LIVE and c.heartbeat.status == "draining" and c.heartbeat_age_at(snap.taken_at) == 4

    # 5 minutes at 10 s = 31 samples, oldest first; canonical metrics in their usual order.
    assert [m.metric_type for m in g.metrics] == ["cpu_percent", "memory_percent", "gpu_percent"]
    cpu_series = c.metric("cpu_percent")
    assert tuple(cpu_series.history) == tuple(float(10 + k) for k in range(31))
    assert cpu_series.latest == 40.0 and cpu_series.latest_at == end and cpu_series.unit == "percent"
    assert tuple(cpu_series.history_us) == tuple(to_micros(end - (30 - k) * STEP) for k in range(31))
    assert c.metric("memory_percent").latest == 40.5
    assert c.metric("gpu_percent") is None

    by_name = {s.session_name: s for s in snap.sessions}
    assert set(by_name) == {"train", "paused-job", "first", "second", "not-queued"}
    position = snap.queue_positions.get
    assert position(by_name["second"].session_id) == 0 and position(by_name["first"].session_id) == 1
    assert position(by_name["not-queued"].session_id) is None
    assert by_name["train"].node_hostname == "gpu-01" and by_name["train"].username == "alice"
    assert by_name["train"].session_id == running and by_name["train"].gpu_request == 2
    assert by_name["not-queued"].session_id == unqueued

    totals = snap.totals
    assert dict(totals.nodes_by_status) == {"active": 1, "draining": 1}
    assert totals.nodes_unreachable == 0
    assert totals.cpu_percent == pytest.approx((30 + 40) / 2)
    assert totals.gpu_percent == 80.0
    cpu_history = mean_history(snap.nodes, "cpu_percent")   # seeds the header's sparkline
    assert cpu_history[-1] == pytest.approx(35.0) and cpu_history[0] == pytest.approx(5.0)
    assert sample_step_seconds(snap.nodes, "cpu_percent") == pytest.approx(10.0)   # and spaces it as written
    assert dict(totals.sessions_by_status) == {"pending": 3, "running": 1, "paused": 1}
    assert snap.stats.sql_statements == 8 and snap.stats.full_metric_load


def test_results_fetched_a_few_rows_at_a_time_lose_no_row(dsn, redis_url, db, clock, monkeypatch):
    monkeypatch.setattr(pg_reads, "FETCH_CHUNK_ROWS", 2)
    user = cd.add_user(db, "alice")
    nodes = [cd.add_node(db, f"n{i}") for i in range(5)]
    for node in nodes:
        cd.add_session(db, user, f"job-{node[:4]}", status="running", node_id=node)
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows(nodes, ["cpu_percent", "memory_percent"], end, timedelta(minutes=5), STEP,
                                          lambda n, m, k: float(10 * n + k)))
    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
        assert sorted(n.node_id for n in snap.nodes) == sorted(nodes) and len(snap.sessions) == 5
        for n, node in enumerate(nodes):
            assert tuple(snap.node(node).metric("memory_percent").history) == tuple(float(10 * n + k) for k in range(31))

        # The next poll reads only what changed: a session more, three new samples of every series.
        cd.add_session(db, user, "late", status="pending")
        cd.add_metric_rows(db, [(end + k * STEP, node, metric, 100.0 + k) for node in nodes
                                for metric in ("cpu_percent", "memory_percent") for k in (1, 2, 3)])
        snap = poller.poll()
        assert snap.stats.metric_rows == 30 and len(snap.sessions) == 6
        assert all(tuple(snap.node(node).metric("cpu_percent").history[-3:]) == (101.0, 102.0, 103.0) for node in nodes)
    finally:
        poller.close()


def test_history_holds_the_last_60_points_in_order_and_only_new_rows_are_added(dsn, redis_url, db, clock):
    node = cd.add_node(db, "n1")
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows([node], ["cpu_percent"], end, timedelta(minutes=15), STEP,
                                          lambda n, m, k: float(k)))
    poller = make_poller(dsn, redis_url, clock)
    try:
        series = poller.poll().node(node).metric("cpu_percent")
        assert len(series.history) == HISTORY_POINTS
        assert tuple(series.history) == tuple(float(k) for k in range(91 - HISTORY_POINTS, 91))

        # Two new samples: only they are read.
        cd.add_metric_rows(db, [(end + STEP, node, "cpu_percent", 1000.0), (end + 2 * STEP, node, "cpu_percent", 1001.0)])
        snap = poller.poll()
        series = snap.node(node).metric("cpu_percent")
        assert tuple(series.history[-3:]) == (90.0, 1000.0, 1001.0)
        assert len(series.history) == HISTORY_POINTS and series.latest == 1001.0
        assert (snap.stats.metric_rows, snap.stats.metric_rows_new) == (2, 2) and not snap.stats.full_metric_load

        # Nothing new: nothing is read, nothing changes.
        snap = poller.poll()
        assert (snap.stats.metric_rows, snap.stats.metric_rows_new) == (0, 0)
        assert snap.node(node).metric("cpu_percent") is series   # unchanged series are reused, not rebuilt
    finally:
        poller.close()


def test_new_metrics_pair_each_node_with_its_own_watermark(db):
    # Node ids and watermarks go as joined texts (pg_reads.joined): the server splits them back into
    # pairs. A null watermark (nothing held) means every row since the first-load horizon.
    nodes = [cd.add_node(db, name) for name in ("a", "b", "c")]
    base = cd.utc_now().replace(microsecond=0) - timedelta(minutes=5)
    times = [base + timedelta(seconds=10 * k) for k in range(6)]
    cd.add_metric_rows(db, [(at, node, "cpu_percent", float(k)) for node in nodes for k, at in enumerate(times)])
    micros = [(at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for at in times]

    rows = pg_reads.read_new_metrics(db, nodes, [micros[4], None, micros[1]], 1000)
    got = {node: sorted(row[2] for row in rows if row[0] == node) for node in nodes}
    assert got == {nodes[0]: micros[5:], nodes[1]: micros, nodes[2]: micros[2:]}
    assert pg_reads.read_new_metrics(db, [nodes[1]], [None], 1000) and not pg_reads.read_new_metrics(
        db, [nodes[0]], [micros[5]], 1000)


def test_a_value_holding_a_comma_is_not_sent_joined():
    assert pg_reads.joined(["x", None, 3]) == "x,null,3"
    assert pg_reads.joined([]) == ""
    with pytest.raises(ValueError):
        pg_reads.joined(["a,b", "c"])


def test_sample_times_are_read_to_the_exact_microsecond(db):
    # Times become integer microseconds in SQL (pg_reads._MICROS): a sample read again must match exactly.
    node = cd.add_node(db, "a")
    base = cd.utc_now().replace(microsecond=0) - timedelta(minutes=10)
    fractions = [0, 1, 499_999, 500_000, 500_001, 999_999] + [k * 7_919 % 1_000_000 for k in range(1, 200)]
    times = [base + timedelta(seconds=2 * k, microseconds=us) for k, us in enumerate(fractions)]
    cd.add_metric_rows(db, [(at, node, "cpu_percent", 1.0) for at in times])
    exact = sorted((at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) for at in times)

    assert sorted(row[2] for row in pg_reads.read_new_metrics(db, [node], [None], 1000)) == exact
    assert sorted(row[2] for row in pg_reads.read_new_metrics(db, [node], [exact[3]], 1000)) == exact[4:]
    (recent,) = [row for rows in pg_reads.read_recent_metrics(db, [node], 1000) for row in rows]
    assert sorted(recent[3]) == exact


def test_late_rows_of_a_node_are_read_whatever_the_other_nodes_wrote(dsn, redis_url, db, clock):
    """Each node is read from its own newest sample: a node that falls behind (an agent replaying its
    buffer after an outage, a slow clock, a series written by a slower writer) loses nothing."""
    quick, replaying, skewed = (cd.add_node(db, name) for name in ("quick", "replaying", "skewed"))
    end = clock.now - timedelta(minutes=10)
    cd.add_metric_rows(db, cd.series_rows([quick, replaying, skewed], ["cpu_percent", "gpu_percent"], end,
                                          timedelta(minutes=5), STEP, lambda n, m, k: float(k)))
    poller = make_poller(dsn, redis_url, clock)
    try:
        poller.poll()
        # The quick node reports up to now; the skewed node's clock is 40 s slow; the replaying node
        # stays silent for 9 minutes, then its agent sends the buffered samples, oldest first, in two goes.
        cd.add_metric_rows(db, cd.series_rows([quick], ["cpu_percent", "gpu_percent"], clock.now,
                                              timedelta(minutes=9), STEP, lambda n, m, k: 1.0))
        cd.add_metric_rows(db, cd.series_rows([skewed], ["cpu_percent"], clock.now - timedelta(seconds=40),
                                              timedelta(minutes=9), STEP, lambda n, m, k: 2.0))
        cd.add_metric_rows(db, cd.series_rows([skewed], ["gpu_percent"], clock.now - timedelta(seconds=80),
                                              timedelta(minutes=9) - timedelta(seconds=40), STEP, lambda n, m, k: 2.5))
        first_go = end + timedelta(minutes=4)
        cd.add_metric_rows(db, cd.series_rows([replaying], ["cpu_percent", "gpu_percent"], first_go,
                                              timedelta(minutes=4) - STEP, STEP, lambda n, m, k: 100.0 + k))
        snap = poller.poll()
        assert snap.node(replaying).metric("cpu_percent").latest_at == first_go

        # The rest of the buffer, all older than the quick node's newest sample, and the next
        # samples of the skewed node's GPU series (another writer, 30-40 s behind its CPU series).
        second_go = clock.now - timedelta(seconds=30)
        cd.add_metric_rows(db, cd.series_rows([replaying], ["cpu_percent", "gpu_percent"], second_go,
                                              second_go - first_go - STEP, STEP, lambda n, m, k: 200.0 + k))
        cd.add_metric_rows(db, [(clock.now - timedelta(seconds=70), skewed, "gpu_percent", 3.0)])
        snap = poller.poll()
        assert not snap.stats.full_metric_load
        replayed = snap.node(replaying).metric("cpu_percent")
        assert replayed.latest_at == second_go and replayed.latest == 232.0
        assert tuple(replayed.history[-33:]) == tuple(200.0 + k for k in range(33))
        assert tuple(replayed.history[-57:-33]) == tuple(100.0 + k for k in range(24))   # nothing missing in between
        assert tuple(snap.node(skewed).metric("gpu_percent").history[-3:]) == (2.5, 2.5, 3.0)
        assert snap.node(skewed).metric("cpu_percent").latest_at == clock.now - timedelta(seconds=40)

        # Nothing new. Only the skewed node's CPU rows newer than its lagging GPU series are read
        # again (3 of them) until that series catches up; nothing is counted twice.
        snap = poller.poll()
        assert (snap.stats.metric_rows, snap.stats.metric_rows_new) == (3, 0)
    finally:
        poller.close()


def _two_polls(dsn, redis_url, db, rd, clock, nodes: int, history: timedelta):
    """First and incremental poll over `nodes` nodes with `history` of 9 metrics."""
    metrics = ["cpu_percent", "memory_percent", "gpu_percent", "gpu_memory_percent", "disk_percent",
               "net_rx_bytes", "net_tx_bytes", "load_1m", "temperature_c"]
    ids = [cd.add_node(db, f"n{i:03d}") for i in range(nodes)]
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows(ids, metrics, end, history, STEP, lambda n, m, k: float(k % 100)))
    for node_id in ids:
        cd.write_heartbeat(rd, node_id, clock.now)
    poller = make_poller(dsn, redis_url, clock)
    try:
        first = poller.poll().stats
        second = poller.poll().stats    # steady state: nothing new
        cd.add_metric_rows(db, cd.series_rows(ids, metrics, end + 2 * STEP, 1 * STEP, STEP, lambda n, m, k: 1.0))
        third = poller.poll().stats     # two new samples per series
    finally:
        poller.close()
    return first, second, third, nodes * len(metrics)


def test_poll_cost_does_not_grow_with_history_or_nodes(servers, dsn, redis_url, db, rd, clock):
    small = _two_polls(dsn, redis_url, db, rd, clock, nodes=3, history=timedelta(minutes=10))
    db.execute("TRUNCATE node_metrics")
    db.execute("DELETE FROM nodes")
    rd.flushdb()
    large = _two_polls(dsn, redis_url, db, rd, clock, nodes=30, history=timedelta(hours=2))

    for first, second, third, series in (small, large):
        assert first.full_metric_load and not second.full_metric_load and not third.full_metric_load
        # The newest 60 of each series, read from a bounded number of newest rows per node, not the whole history.
        assert first.metric_rows_new == series * HISTORY_POINTS
        assert first.metric_rows <= (series // 9) * FIRST_LOAD_ROWS_PER_NODE
        # Incremental: nothing when nothing is new, then only the two new samples of each series.
        assert (second.metric_rows, second.metric_rows_new) == (0, 0)
        assert (third.metric_rows, third.metric_rows_new) == (series * 2, series * 2)
    for s_poll, l_poll in zip(small[:3], large[:3]):
        assert s_poll.sql_statements == l_poll.sql_statements
        assert s_poll.redis_round_trips == l_poll.redis_round_trips
    assert small[1].sql_statements == 8 and small[1].redis_round_trips == 1   # no open event changed: resolved ones not read


def test_heartbeats_are_read_in_mget_batches_without_keys(dsn, redis_url, db, rd, clock):
    ids = [str(r[0]) for r in db.execute(
        """INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)
           SELECT 'n' || i, '10.0.0.1', 'compute', 8, 32, 100 FROM generate_series(1, 2100) i RETURNING node_id""")]
    for node_id in ids[:5]:
        cd.write_heartbeat(rd, node_id, clock.now)
    poller = make_poller(dsn, redis_url, clock)
    try:
        poller.poll()
        rd.config_resetstat()
        snap = poller.poll()
    finally:
        poller.close()
    stats = rd.info("commandstats")
    assert stats["cmdstat_mget"]["calls"] == 3          # 2,100 keys in batches of at most 1,000
    assert "cmdstat_keys" not in stats
    assert snap.stats.redis_round_trips == 1
    assert sum(n.reachability is Reachability.LIVE for n in snap.nodes) == 5
    assert snap.totals.nodes_unreachable == 2095


def test_a_node_new_to_postgres_has_its_heartbeat_read_in_the_same_poll(dsn, redis_url, db, rd, clock):
    # Redis is read for the nodes of the last poll while PostgreSQL is; one more round trip asks
    # about the nodes PostgreSQL just brought, and only then.
    first = cd.add_node(db, "a")
    cd.write_heartbeat(rd, first, clock.now)
    poller = make_poller(dsn, redis_url, clock)
    try:
        poller.poll()
        assert poller.poll().stats.redis_round_trips == 1
        second = cd.add_node(db, "b")
        cd.write_heartbeat(rd, second, clock.now)
        snap = poller.poll()
        assert {n.hostname: n.reachability for n in snap.nodes} == {"a": Reachability.LIVE, "b": Reachability.LIVE}
        assert snap.stats.redis_round_trips == 2
        assert poller.poll().stats.redis_round_trips == 1
    finally:
        poller.close()


def test_redis_down_keeps_postgres_fresh_and_recovers(servers, dsn, redis_url, db, rd, clock):
    if servers.redis is None:
        pytest.skip("needs the embedded Redis (stops and restarts it)")
    node = cd.add_node(db, "n1")
    user = cd.add_user(db)
    pending = cd.add_session(db, user, "queued")
    cd.write_heartbeat(rd, node, clock.now)
    cd.set_queue(rd, [pending])
    poller = make_poller(dsn, redis_url, clock)
    try:
        before = poller.poll()
        assert before.redis.ok and before.node(node).reachable
        servers.redis.stop()
        db.execute("UPDATE nodes SET status = 'maintenance' WHERE node_id = %s", (node,))
        cd.add_metric_rows(db, [(clock.now - timedelta(seconds=2), node, "cpu_percent", 42.0)])
        failed_at = clock.advance(2)

        snap = poller.poll()
        assert snap.postgres.ok
        assert snap.node(node).status == "maintenance"                   # PostgreSQL data still fresh
        assert snap.node(node).metric("cpu_percent").latest == 42.0
        assert snap.redis.state is HealthState.STALE
        assert snap.redis.since == failed_at and snap.redis.last_ok == before.taken_at
        assert snap.redis.reason
        n = snap.node(node)
        assert n.reachability is Reachability.UNKNOWN                    # cannot tell, not "missing"
        assert n.heartbeat == before.node(node).heartbeat and n.heartbeat_age_at(snap.taken_at) == 2
        assert snap.queue_positions.get(snap.sessions[0].session_id) == 0   # last queue order kept
        assert not any(a.alert_id.startswith("unreachable:") for a in snap.alerts)
        assert servers.redis.password not in (snap.redis.reason or "")

        # A refusal costs nothing to repeat: the next poll tries again (no backoff), still STALE since then.
        snap = poller.poll()
        assert snap.stats.redis_round_trips == 1 and snap.redis.since == failed_at
        assert snap.redis.state is HealthState.STALE
    finally:
        servers.redis.start()

    cd.write_heartbeat(rd, node, clock.now)   # the embedded Redis keeps nothing across a restart
    clock.advance(1.5)
    try:
        snap = poller.poll()
        assert snap.redis.state is HealthState.OK and snap.redis.reason is None
        assert snap.node(node).reachability is Reachability.LIVE
    finally:
        poller.close()


def test_postgres_down_keeps_last_data_heartbeats_refresh_and_recovers(servers, dsn, redis_url, db, rd, clock):
    if servers.pg is None:
        pytest.skip("needs the embedded PostgreSQL (stops and restarts it)")
    a = cd.add_node(db, "a")
    b = cd.add_node(db, "b")
    cd.add_metric_rows(db, [(clock.now - timedelta(seconds=5), a, "cpu_percent", 12.0)])
    cd.write_heartbeat(rd, a, clock.now)
    cd.write_heartbeat(rd, b, clock.now)
    db.close()
    poller = make_poller(dsn, redis_url, clock)
    try:
        before = poller.poll()
        assert before.postgres.ok and len(before.nodes) == 2
        servers.pg.stop()
        rd.delete(f"node:heartbeat:{b}")           # b stops heartbeating while PostgreSQL is down
        failed_at = clock.advance(2)
        snap = poller.poll()
        assert snap.postgres.state is HealthState.STALE and snap.postgres.since == failed_at
        assert snap.postgres.last_ok == before.taken_at and snap.postgres.reason
        assert [n.hostname for n in snap.nodes] == ["a", "b"]          # last nodes kept
        assert snap.node(a).metric("cpu_percent").latest == 12.0
        assert snap.redis.ok
        assert snap.node(a).reachability is Reachability.LIVE and snap.node(a).heartbeat_age_at(snap.taken_at) == 2
        assert snap.node(b).reachability is Reachability.MISSING       # heartbeats still refresh
        assert any(x.alert_id == f"unreachable:{b}" for x in snap.alerts)
        assert snap.stats.sql_statements <= 1      # the statement that found the connection dead

        snap = poller.poll()                         # refused again (retried at once): no statement ran
        assert snap.postgres.since == failed_at and snap.stats.sql_statements == 0
        assert snap.postgres.state is HealthState.STALE
    finally:
        servers.pg.start()

    conn = cd.connect(dsn)
    try:
        conn.execute("UPDATE nodes SET status = 'failed' WHERE node_id = %s", (a,))
    finally:
        conn.close()
    clock.advance(1.5)
    try:
        snap = poller.poll()
        assert snap.postgres.state is HealthState.OK and snap.postgres.reason is None
        assert snap.node(a).status == "failed"
    finally:
        poller.close()


def test_postgres_restart_between_polls_is_invisible(servers, dsn, redis_url, db, clock):
    if servers.pg is None:
        pytest.skip("needs the embedded PostgreSQL")
    cd.add_node(db, "a")
    db.close()
    poller = make_poller(dsn, redis_url, clock)
    try:
        assert poller.poll().postgres.ok
        servers.pg.stop()
        servers.pg.start()
        clock.advance(2)
        snap = poller.poll()    # the old connection is dead; one immediate reconnect
        assert snap.postgres.ok and len(snap.nodes) == 1
    finally:
        servers.pg.start()
        poller.close()


def test_stores_never_reached_are_down_not_stale(clock):
    poller = Poller(Settings(dsn="postgresql://nobody@127.0.0.1:1/none", redis_url="redis://127.0.0.1:1/0",
                             connect_timeout=1), clock=clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()
    assert snap.postgres.state is HealthState.DOWN and snap.redis.state is HealthState.DOWN
    assert snap.postgres.since == clock.now and snap.postgres.last_ok is None
    assert snap.postgres.reason and snap.redis.reason
    assert snap.nodes == () and snap.alerts == ()


def test_unknown_statuses_nulls_and_odd_metrics_are_shown_not_fatal(dsn, redis_url, db, rd, clock):
    db.execute("ALTER TABLE nodes DROP CONSTRAINT nodes_status_check")
    db.execute("ALTER TABLE nodes ALTER COLUMN hostname DROP NOT NULL")
    odd = cd.add_node(db, "odd", status="rebooting")
    db.execute("UPDATE nodes SET hostname = NULL, gpu_count = NULL, gpu_memory_gb = NULL, labels = NULL "
               "WHERE node_id = %s", (odd,))
    plain = cd.add_node(db, "plain", labels={"k": ["x", 1]})
    at = clock.now - timedelta(seconds=10)
    cd.add_metric_rows(db, [(at, odd, "fan_rpm", 3000.0), (at, odd, "cpu_percent", 50.0),
                            (at, odd, "aaa_custom", 1.0), (at, plain, "cpu_percent", float("nan"))])
    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()
    n = snap.node(odd)
    assert n.status == "rebooting" and not n.known_status
    assert n.hostname == "" and n.gpu_count is None and n.gpu_memory_gb is None and n.labels == ()
    assert [m.metric_type for m in n.metrics] == ["cpu_percent", "aaa_custom", "fan_rpm"]
    assert n.metric("fan_rpm").unit is None and n.metric("fan_rpm").latest == 3000.0
    assert snap.node(plain).labels == (("k", '["x", 1]'),)
    assert snap.node(plain).metric("cpu_percent") is None             # NaN is not a value
    assert any("ignored" in notice for notice in snap.notices)
    assert ("rebooting", 1) in snap.totals.nodes_by_status


@pytest.mark.parametrize("window, source, bucket, points", [
    (timedelta(minutes=15), "raw", 15, 60),
    (timedelta(hours=1), "1m", 60, 60),
    (timedelta(hours=24), "1m", 600, 144),
    (timedelta(days=7), "1h", 3600, 168),
])
def test_node_detail_windows_get_60_to_200_points(window, source, bucket, points):
    got_source, width = detail_resolution(window)
    assert (got_source, width.total_seconds()) == (source, bucket)
    assert window / width == points


def test_node_detail_uses_rollups_plus_raw_tail_without_double_counting(dsn, redis_url, db, clock):
    node = cd.add_node(db, "n1")
    now = cd.utc_now()
    start = (now - timedelta(hours=2)).replace(second=0)
    # value = seconds since start: each 1-minute bucket has a distinct, checkable mean
    rows = [(start + k * STEP, node, "cpu_percent", float(k * 10)) for k in range(int((now - start) / STEP) - 9)]
    split = len(rows) - 40
    split = split - split % 6 + 3        # the last rolled-up minute holds 3 of its 6 samples
    rolled, tail = rows[:split], rows[split:]
    cd.add_metric_rows(db, rolled)
    db.execute("SELECT omega_console.refresh_node_metrics_rollups()")   # rollup now ends mid-way through a minute
    cd.add_metric_rows(db, tail)                                         # newer raw rows, not rolled up
    cd.add_event(db, severity="info", event_type="boot", node_id=node, at=now - timedelta(minutes=50))
    cd.add_event(db, severity="error", event_type="disk", node_id=node, at=now - timedelta(minutes=5))
    expected: dict = {}
    for at, _, _, value in rows:
        expected.setdefault(at.replace(second=0), []).append(value)

    poller = make_poller(dsn, redis_url, clock)
    try:
        detail = poller.node_detail(node, timedelta(hours=1))
        assert detail.problem is None and detail.bucket_seconds == 60
        (name, points), = detail.series
        assert name == "cpu_percent" and 55 <= len(points) <= 61
        assert [p.at for p in points] == sorted(p.at for p in points)
        inside = [p for p in points if p.at > now - timedelta(minutes=55)]
        assert inside[-1].at == rows[-1][0].replace(second=0)          # the raw tail is there
        for p in inside:
            values = expected[p.at]
            assert (p.avg, p.min, p.max) == (pytest.approx(sum(values) / len(values)), min(values), max(values))
        assert [e.event_type for e in detail.events] == ["disk", "boot"]

        short = poller.node_detail(node, timedelta(minutes=15))
        assert short.bucket_seconds == 15 and 50 <= len(short.series[0][1]) <= 61   # data ends 90 s ago
        day = poller.node_detail(node, timedelta(hours=24))
        assert day.bucket_seconds == 600 and sum(p.avg is not None for p in day.series[0][1]) in (12, 13, 14)
        week = poller.node_detail(node, timedelta(days=7))
        assert week.bucket_seconds == 3600 and len(week.series[0][1]) in (2, 3)
        assert week.series[0][1][-1].max == rows[-1][3]

        assert poller.node_detail("not-a-uuid", timedelta(hours=1)).problem
        assert poller.node_detail(cd.new_id(), timedelta(hours=1)).series == ()
    finally:
        poller.close()


def test_close_from_another_thread_cancels_a_running_poll(dsn, redis_url, db, clock):
    cd.add_node(db, "n1")
    poller = make_poller(dsn, redis_url, clock, statement_timeout=120)
    poller.poll()
    locker = psycopg.connect(dsn)
    locker.execute("LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")   # the next poll's first query waits
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("snap", poller.poll()))
    try:
        clock.advance(2)
        worker.start()
        while not locker.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchone()[0]:
            time.sleep(0.01)
        poller.close()
        worker.join(timeout=60)
        assert not worker.is_alive()
    finally:
        locker.rollback()
        locker.close()
    snap = result["snap"]
    assert snap.postgres.state is HealthState.STALE and len(snap.nodes) == 1
    assert poller.poll().taken_at == clock.now        # after close: no store is touched, no exception


def test_first_load_in_batches_and_reload_after_a_gap_keep_the_history_right(dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import pg_reads, poller as poller_module

    monkeypatch.setattr(pg_reads, "FIRST_LOAD_BATCH", 2)
    ids = [cd.add_node(db, f"n{i}") for i in range(5)]
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], end, timedelta(minutes=12), STEP,
                                          lambda n, m, k: float(100 * n + k)))
    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
        assert snap.stats.sql_statements == 5 + 3 + 1 + 1   # 5 nodes in batches of 2, the acks, the audit trail
        for n, node_id in enumerate(ids):
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == tuple(float(100 * n + k) for k in range(13, 73))

        # After a gap the history is loaded again in batches too (here the first two nodes, in one
        # statement), while the others keep theirs and get their newest samples.
        monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 2)
        monkeypatch.setattr(poller_module, "RELOAD_AFTER_SECONDS", -1.0)   # as if the last read were long ago
        cd.add_metric_rows(db, [(end + STEP, ids[0], "cpu_percent", 5.0), (end + STEP, ids[4], "cpu_percent", 7.0)])
        snap = poller.poll()
        # The five reads of changes (the counts, nodes, sessions, the live session ids, open events), one
        # history batch, the others' newest rows, the acks, the audit trail.
        assert snap.stats.full_metric_load and snap.stats.sql_statements == 5 + 1 + 1 + 1 + 1
        # The others' histories load between this poll and the next (see test_metric_reader.py).
        assert sorted(poller._history_loading) == sorted(ids[2:]) and poller._history_pending == []
        expected = {n: tuple(float(100 * n + k) for k in range(13, 73)) for n in range(5)}
        expected[0] = expected[0][1:] + (5.0,)
        expected[4] = expected[4][1:] + (7.0,)
        for n, node_id in enumerate(ids):
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == expected[n]

        monkeypatch.setattr(poller_module, "RELOAD_AFTER_SECONDS", 300.0)
        snap = poller.poll()
        assert not snap.stats.full_metric_load and poller._history_pending == []
        for n, node_id in enumerate(ids):
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == expected[n]
    finally:
        poller.close()


def test_a_history_batch_slower_than_the_statement_timeout_waits_for_a_smaller_batch(
        dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import pg_reads, poller as poller_module

    ids = [cd.add_node(db, f"n{i}") for i in range(8)]
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], end, timedelta(minutes=12), STEP,
                                          lambda n, m, k: float(100 * n + k)))
    read_history = pg_reads.read_recent_metrics
    asked = threading.Semaphore(0)

    def cold_cache(db, node_ids, rows_per_node):   # the real server cancels it at the statement timeout
        asked.release()
        db.execute("SELECT pg_sleep(5)")
        yield []

    monkeypatch.setattr(pg_reads, "read_recent_metrics", cold_cache)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url, statement_timeout=0.3), clock=clock)
    try:
        snap = poller.poll()
        assert snap.postgres.state is HealthState.OK and len(snap.nodes) == 8   # the poll went on
        newest = poller_module.LATEST_ROWS_PER_NODE
        assert all(len(snap.node(i).metric("cpu_percent").history) == newest for i in ids)
        assert poller._history_batch < poller_module.FIRST_POLL_HISTORY_NODES
        # A smaller batch is tried between polls, too slow again: it waits for a smaller one still.
        assert sorted(poller._history_loading + poller._history_pending) == sorted(ids)
        batch = len(poller._history_loading)
        poller.poll()
        assert poller._history_batch == max(1, batch // 4)
        assert sorted(poller._history_loading + poller._history_pending) == sorted(ids)

        # Asked by the first poll, the batch after it and the batch begun after this poll: that one
        # is reading, the cache still cold.
        assert all(asked.acquire(timeout=5) for _ in range(3))
        monkeypatch.setattr(pg_reads, "read_recent_metrics", read_history)   # the cache is warm now
        sizes = []
        for _ in range(5):
            sizes.append(len(poller._history_loading))
            snap = poller.poll()
        # The batch begun while the cache was cold fails too; then each batch that loads in time
        # doubles the next one (the last is what is left of the 8 nodes).
        assert sizes == [1, 1, 2, 4, 1]
        assert poller._history_pending == [] and poller._history_loading == []
        assert all(tuple(snap.node(i).metric("cpu_percent").history) == tuple(float(100 * n + k) for k in range(13, 73))
                   for n, i in enumerate(ids))
    finally:
        poller.close()


def test_the_first_poll_brings_the_newest_samples_and_the_history_fills_in_over_the_next_polls(
        dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data import poller as poller_module

    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 2)
    monkeypatch.setattr(poller_module, "HISTORY_FILL_POLLS", 2)   # 3 nodes left: batches of 2 and 1
    monkeypatch.setattr(poller_module, "HISTORY_BATCH_MIN", 1)
    ids = [cd.add_node(db, f"n{i}") for i in range(5)]
    end = clock.now - timedelta(minutes=1)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent", "memory_percent"], end, timedelta(minutes=12), STEP,
                                          lambda n, m, k: float(100 * n + k)))
    full = {n: tuple(float(100 * n + k) for k in range(13, 73)) for n in range(5)}
    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
        assert snap.stats.full_metric_load
        for n, node_id in enumerate(ids):
            node = snap.node(node_id)
            # The first shown have their history, the others their newest samples (the newest rows, two metrics).
            expected = full[n] if n < 2 else full[n][-(poller_module.LATEST_ROWS_PER_NODE // 2):]
            assert tuple(node.metric("cpu_percent").history) == expected and tuple(node.metric("memory_percent").history) == expected

        cd.add_metric_rows(db, [(end + STEP, node_id, "cpu_percent", 5.0) for node_id in ids])
        snap = poller.poll()   # n2 and n3 loaded, new rows for the others
        assert not snap.stats.full_metric_load
        for n, node_id in enumerate(ids):
            expected = full[n][1:] + (5.0,) if n < 4 else full[n][-(poller_module.LATEST_ROWS_PER_NODE // 2):] + (5.0,)
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == expected
        snap = poller.poll()
        for n, node_id in enumerate(ids):
            assert tuple(snap.node(node_id).metric("cpu_percent").history) == full[n][1:] + (5.0,)
            assert tuple(snap.node(node_id).metric("memory_percent").history) == full[n]
        assert poller._history_pending == []
    finally:
        poller.close()


def test_a_database_without_the_console_schema_still_polls(dsn, redis_url, db, clock):
    node = cd.add_node(db, "n1")
    db.execute("DROP TABLE omega_console.alert_acks")
    poller = make_poller(dsn, redis_url, clock)
    try:
        snap = poller.poll()
        assert snap.postgres.ok and snap.node(node) is not None
        assert f"unreachable:{node}" in {a.alert_id for a in snap.alerts}
        assert any("alert_acks" in notice for notice in snap.notices)
        assert poller.poll().postgres.ok
    finally:
        poller.close()


def test_a_node_watermark_waits_for_its_slowest_series_but_not_for_a_stopped_one():
    from omega_tui.data.metric_history import STOPPED_SERIES_US, MetricHistory

    history = MetricHistory()
    s = 1_000_000
    history.merge([("a", "cpu_percent", 100 * s, 1.0, None), ("a", "gpu_percent", 70 * s, 1.0, None),
                   ("b", "cpu_percent", 100 * s, 1.0, None),
                   ("b", "gpu_percent", 100 * s - STOPPED_SERIES_US - s, 1.0, None)])
    # a: GPU lags 30 s behind CPU: read from the GPU's newest. b: GPU stopped long ago: from the CPU's.
    assert history.node_watermarks(["a", "b", "c"]) == [70 * s, 100 * s, None]
    history.merge([("a", "gpu_percent", 90 * s, 2.0, None)])
    assert history.node_watermarks(["a"]) == [90 * s]


def test_series_built_ahead_are_still_listed_as_changed_once():
    # The metric reader's thread builds the changed nodes' series (build_changed) before the poll's
    # thread builds the nodes: take_changed() must still list them, once.
    from omega_tui.data.metric_history import MetricHistory

    history = MetricHistory()
    history.merge([("a", "cpu_percent", 1_000_000, 1.0, None), ("b", "cpu_percent", 1_000_000, 2.0, None)])
    history.build_changed()
    built = history.series_of("a")
    history.merge([("b", "cpu_percent", 2_000_000, 3.0, None)])   # changed again, not built yet
    assert history.take_changed() == {"a", "b"}
    assert history.series_of("a") is built and history.series_of("b")[0].latest == 3.0
    assert history.take_changed() == set()


def test_only_nodes_whose_next_sample_is_due_are_asked_for_rows_and_every_node_in_its_turn():
    from omega_tui.data.metric_history import DUE_EARLY_US, SWEEP_POLLS, MetricHistory

    history = MetricHistory()
    s = 1_000_000
    history.merge([("a", "cpu_percent", 90 * s, 1.0, None), ("a", "cpu_percent", 100 * s, 1.0, None),   # every 10 s
                   ("b", "cpu_percent", 85 * s, 1.0, None), ("b", "cpu_percent", 95 * s, 1.0, None),
                   ("one", "cpu_percent", 99 * s, 1.0, None)])                                         # cadence unknown
    nodes = ["a", "b", "one", "new"]
    now = 105 * s   # b's next sample is due (at 105 s), a's not (110 s)
    asked = [history.nodes_to_read(nodes, now) for _ in range(2 * SWEEP_POLLS)]
    assert all({"b", "one", "new"} <= set(ids) for ids, _ in asked)
    assert sum("a" in ids for ids, _ in asked) == 2                    # in its turn: once every SWEEP_POLLS
    assert all(since == [{"a": 100 * s, "b": 95 * s, "one": 99 * s}.get(i) for i in ids] for ids, since in asked)
    # Asked from DUE_EARLY_US before it is due; after a new sample, due again a cadence later.
    assert all("a" in history.nodes_to_read(["a"], 110 * s - DUE_EARLY_US)[0] for _ in range(SWEEP_POLLS))
    history.merge([("a", "cpu_percent", 110 * s, 1.0, None)])
    assert sum("a" in history.nodes_to_read(["a"], 112 * s)[0] for _ in range(SWEEP_POLLS)) == 1


def test_nodes_asked_for_rows_are_exactly_those_due_without_history_or_in_their_turn():
    # nodes_to_read() works in C over the node list: it must pick exactly the nodes of the rule,
    # for lists that stay the same and lists that change.
    import random

    from omega_tui.data.metric_history import SWEEP_POLLS, MetricHistory

    rng = random.Random(5)
    history = MetricHistory()
    s = 1_000_000
    nodes = [f"n{k}" for k in range(60)]
    history.merge([(node, "cpu_percent", (rng.randrange(50) + step * cadence) * s, 1.0, None)
                   for node in nodes[:50] for cadence in [rng.choice((2, 5, 10, 30))] for step in range(3)])
    lists = [nodes, nodes, nodes[10:] + ["late"], list(nodes)]
    for poll, listed in enumerate(lists * 3):
        now = (60 + 7 * poll) * s
        asked, since = history.nodes_to_read(listed, now)
        turn = history._sweep
        held, due = history._node_since, history._node_due
        expected = {n for n in listed if n not in held or due[n] <= now or hash(n) % SWEEP_POLLS == turn}
        assert len(asked) == len(set(asked)) and set(asked) == expected
        assert since == [held.get(n) for n in asked]


def test_a_row_off_its_nodes_cadence_is_read_within_a_sweep(dsn, redis_url, db, clock, monkeypatch):
    from omega_tui.data.metric_history import SWEEP_POLLS

    ids = [cd.add_node(db, f"n{i}") for i in range(3)]
    end = clock.now - timedelta(seconds=1)   # every node wrote a second ago, every 10 s: none due
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent"], end, timedelta(minutes=2), STEP,
                                          lambda n, m, k: float(k)))
    asked = []
    read_new_metrics = pg_reads.read_new_metrics
    monkeypatch.setattr(pg_reads, "read_new_metrics",
                        lambda db, node_ids, *args: asked.append(list(node_ids)) or read_new_metrics(db, node_ids, *args))
    poller = make_poller(dsn, redis_url, clock)
    try:
        poller.poll()
        cd.add_metric_rows(db, [(end + timedelta(seconds=0.5), ids[1], "cpu_percent", 99.0)])   # a replayed row, say
        seen = []
        for _ in range(SWEEP_POLLS):
            snap = poller.poll()
            seen.append(snap.node(ids[1]).metric("cpu_percent").latest)
        assert seen.count(99.0) >= 1 and seen[-1] == 99.0
        # The nodes not due were asked once each, in their turn (n1 more often: after its odd row it seems due).
        assert [sum(i in a for a in asked) for i in (ids[0], ids[2])] == [1, 1]
    finally:
        poller.close()


def test_a_series_built_from_the_last_one_matches_its_samples_after_appends_corrections_and_late_rows():
    """series_of() builds an appended-to series from the last MetricSeries: any other change
    (a corrected value, a late row, a reload) must not leave that older history in it."""
    import random

    from omega_tui.data.metric_history import MetricHistory, to_datetime

    history = MetricHistory(points=8)
    held: dict[int, float] = {}
    rng = random.Random(7)
    s = 1_000_000
    newest = 0
    history.load([("a", "cpu_percent", None, [0], [0.0])])
    held[0] = 0.0
    for step in range(400):
        kind = rng.choice(["append", "append", "append", "appends", "correct", "late", "load"])
        if kind in ("append", "appends"):
            rows = []
            for _ in range(1 if kind == "append" else rng.randint(2, 10)):
                newest += 1
                rows.append(("a", "cpu_percent", newest * s, float(step * 100 + newest), None))
            history.merge(rows)
        elif kind == "correct":
            at = rng.choice(sorted(held)[-8:])
            history.merge([("a", "cpu_percent", at * s, float(-step), None)])
        elif kind == "late":
            kept = sorted(held)[-8:]
            gaps = [t for t in range(kept[0], kept[-1]) if t not in held]
            if not gaps:
                continue
            at = rng.choice(gaps)
            history.merge([("a", "cpu_percent", at * s, float(step), None)])
        else:   # a reload after a gap: the newest rows read again, one corrected
            kept = sorted(held)[-3:]
            values = [held[t] for t in kept]
            values[0] = float(step + 0.5)
            history.load([("a", "cpu_percent", None, [t * s for t in kept], values)])
        for row in (rows if kind in ("append", "appends") else []):
            held[row[2] // s] = row[3]
        if kind == "correct":
            held[at] = float(-step)
        elif kind == "late":
            held[at] = float(step)
        elif kind == "load":
            held[kept[0]] = values[0]
        expected_times = sorted(held)[-8:]
        held = {t: held[t] for t in expected_times}
        if rng.random() < 0.6:   # not every change is followed by a build: appends pile up
            (series,) = history.series_of("a")
            assert tuple(series.history) == tuple(held[t] for t in expected_times), (step, kind)
            assert series.latest == held[expected_times[-1]]
            assert series.latest_at == to_datetime(expected_times[-1] * s)
            assert tuple(series.history_us) == tuple(t * s for t in expected_times), (step, kind)


def test_the_series_of_a_node_sampled_at_the_same_times_share_one_copy_of_the_times():
    from omega_tui.data.metric_history import MetricHistory

    history = MetricHistory(points=4)
    history.merge([("a", metric, t * 10, float(t), None)
                   for t in range(1, 4) for metric in ("cpu_percent", "memory_percent", "load_1m")])
    history.merge([("a", "load_1m", 35, 9.0, None)])   # one series sampled once more
    cpu, memory, load = history.series_of("a")
    assert tuple(cpu.history_us) == tuple(memory.history_us) == (10, 20, 30)
    assert cpu.history_us is memory.history_us
    assert tuple(load.history_us) == (10, 20, 30, 35) and tuple(load.history) == (1.0, 2.0, 3.0, 9.0)

    history.merge([("a", "cpu_percent", 40, 4.0, None)])   # the copies handed out never change
    (cpu_after, *_) = history.series_of("a")
    assert tuple(cpu_after.history_us) == (10, 20, 30, 40) and tuple(memory.history_us) == (10, 20, 30)


def test_queue_positions_are_a_mapping_and_the_sessions_stay_the_same_objects():
    from omega_tui.data.held_sessions import HeldSessions
    from omega_tui.data.models import Session
    from omega_tui.data.redis_live import RedisReading

    def session(session_id):
        return Session(session_id=session_id, session_name=session_id, user_id=None, username=None,
                       session_type="batch", status="pending", priority=1, cpu_request=1.0,
                       memory_request_gb=1.0, gpu_request=0, node_id=None, node_hostname=None,
                       created_at=None, start_time=None, end_time=None)

    poller = Poller(Settings(dsn=None, redis_url=None))
    held = HeldSessions()
    held.replace_all([session("a"), session("b")])
    poller._sessions = view = held.view()

    def positions(queue):
        poller._redis_reading = RedisReading(heartbeats={}, discovered=(), queue=queue, problems=(), round_trips=1)
        notices = []
        return poller._queue_positions_of(notices), notices

    first, notices = positions(("a", "b", "a"))
    assert first == {"a": 0, "b": 1} and notices == []   # an id listed twice: its first position
    moved, _ = positions(("b", "a"))                     # the queue's head let "a" go first
    assert moved == {"b": 0, "a": 1}
    assert poller._queue_positions_of([]) is moved       # the same queue as read: not worked out again
    assert poller._sessions is view                      # the sessions are not touched by the queue
    _, notices = positions(("b", "x"))
    assert notices == ["1 id(s) in queue:pending_sessions are not pending sessions"]
    assert positions(None) == ({}, [])                   # no queue read


def test_node_text_columns_of_another_type_still_read_as_text(dsn, redis_url, db, clock):
    # Someone else's database may hold a contract column as another type (an enum here): node
    # rows are read in binary, so the statement casts them to text.
    db.execute("CREATE TYPE omega_node_kind AS ENUM ('control', 'compute', 'storage', 'gpu', 'hybrid')")
    db.execute("ALTER TABLE nodes ALTER COLUMN node_type TYPE omega_node_kind USING node_type::omega_node_kind")
    node = cd.add_node(db, "enumerated", node_type="gpu")
    poller = make_poller(dsn, redis_url, clock)
    try:
        assert poller.poll().node(node).node_type == "gpu"
        db.execute("UPDATE nodes SET status = 'draining' WHERE node_id = %s", (node,))
        clock.advance(2)
        snap = poller.poll()   # the changed row, read incrementally
        assert (snap.node(node).node_type, snap.node(node).status) == ("gpu", "draining")
    finally:
        poller.close()


def test_nodes_rebuilt_only_where_changed_match_nodes_rebuilt_in_full(dsn, redis_url, db, rd, clock):
    # NodeBuilder looks only at the nodes whose row, heartbeat or series changed, or whose heartbeat's
    # TTL ran out. A second poller on the same stores and clock looks at every node every poll: the
    # two must give equal nodes, poll after poll, whatever changed.
    from omega_tui.data.models import HEARTBEAT_TTL_SECONDS

    ids = [cd.add_node(db, f"n{k:02d}") for k in range(8)]
    for node in ids:
        cd.write_heartbeat(rd, node, clock.now - timedelta(seconds=1), ttl=600)
    cd.add_metric_rows(db, cd.series_rows(ids, ["cpu_percent", "memory_percent"], clock.now, timedelta(minutes=2),
                                          STEP, lambda node, metric, k: float(k)))
    changing, full = make_poller(dsn, redis_url, clock), make_poller(dsn, redis_url, clock)

    def both():
        full._node_builder._node_ids = None   # forget the node list: look at every node
        one, other = changing.poll(), full.poll()
        assert one.nodes == other.nodes
        assert [n for n in one.notices if "malformed" in n] == [n for n in other.notices if "malformed" in n]
        return one

    try:
        first = both()
        clock.advance(2)
        assert both().nodes == first.nodes   # nothing changed
        unchanged = both()
        assert all(a is b for a, b in zip(unchanged.nodes, both().nodes))

        cd.write_heartbeat(rd, ids[1], clock.now, load=9.0, ttl=600)                  # a new heartbeat
        cd.write_raw_heartbeat(rd, ids[2], b"{not json", ttl=600)                     # a malformed one
        rd.delete(f"node:heartbeat:{ids[3]}")                                        # a missing one
        db.execute("UPDATE nodes SET status = 'draining' WHERE node_id = %s", (ids[4],))   # a row changed
        cd.add_metric_rows(db, [(clock.now, ids[5], "cpu_percent", 99.0),              # samples (read when due)
                                (clock.now, ids[1], "memory_percent", 77.0)])
        clock.advance(2)
        changed = both()
        by_id = {n.node_id: n for n in changed.nodes}
        assert by_id[ids[2]].reachability is Reachability.MALFORMED
        assert by_id[ids[3]].reachability is Reachability.MISSING
        assert by_id[ids[4]].status == "draining"
        assert by_id[ids[0]] is {n.node_id: n for n in unchanged.nodes}[ids[0]]   # untouched: the same Node

        # Heartbeats at now - 5 s (ids[1]) and now - 2 s (the others): past the others' TTL, they
        # turn STALE with no write at all; then ids[1]'s runs out too.
        clock.advance(HEARTBEAT_TTL_SECONDS - 4)
        stale = both()
        states = {n.node_id: n.reachability for n in stale.nodes}
        assert states[ids[1]] is Reachability.LIVE and states[ids[0]] is Reachability.STALE
        assert stale.node(ids[5]).metric("cpu_percent").latest == 99.0
        assert stale.node(ids[1]).metric("memory_percent").latest == 77.0   # only its series changed
        clock.advance(4)
        states = {n.node_id: n.reachability for n in both().nodes}
        assert states[ids[1]] is Reachability.STALE and states[ids[6]] is Reachability.STALE
    finally:
        changing.close()
        full.close()


def test_a_closed_poller_is_freed_without_the_garbage_collector(dsn, redis_url, db, rd, clock):
    # A reference cycle through the poller (its metric reader kept a bound method of it) kept a closed
    # poller's data until a full collection: some 650,000 objects at 10,000 nodes, in a process that
    # makes several pollers (the bench), for the collector to walk while every thread waits.
    import gc
    import weakref

    node = cd.add_node(db, "a")
    cd.write_heartbeat(rd, node, clock.now)
    cd.add_metric_rows(db, cd.series_rows([node], ["cpu_percent"], clock.now, timedelta(minutes=1), STEP,
                                          lambda n, metric, k: float(k)))
    poller = make_poller(dsn, redis_url, clock)
    poller.poll()
    clock.advance(2)
    assert poller.poll().stats.sql_statements   # the second poll reads metrics on the reader's connection
    assert poller._metric_reader.connection is not None
    poller.close()
    gone = weakref.ref(poller)
    gc.collect()
    gc.disable()
    try:
        del poller
        assert gone() is None
    finally:
        gc.enable()


def test_deadlines_left_behind_by_newer_heartbeats_are_not_looked_at(monkeypatch):
    # Each new heartbeat of a node pushes its TTL's end and leaves the last one in the heap; when
    # those pass, only the nodes whose heartbeat really ran out are looked at again.
    from omega_tui.data import node_builder
    from omega_tui.data.metric_history import MetricHistory
    from omega_tui.data.models import HEARTBEAT_TTL_SECONDS, Heartbeat

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    ids = ["a", "b", "c"]
    rows = [pg_reads.pg_node((i, i, None, "cpu", "active", 8, 32.0, 100.0, 0, None, None, t0, t0, None, 0))
            for i in ids]
    beats = {i: Heartbeat(t0, "ok", 1.0) for i in ids}
    builder, history = node_builder.NodeBuilder(), MetricHistory()
    builder.build(rows, ids, beats, True, history, t0)
    beats = dict(beats, a=Heartbeat(t0 + timedelta(seconds=10), "ok", 1.0))   # a's next heartbeat
    builder.build(rows, ids, beats, True, history, t0 + timedelta(seconds=10))

    looked_at = []
    entry = node_builder._entry
    monkeypatch.setattr(node_builder, "_entry", lambda pg_node, *rest: looked_at.append(pg_node.node_id) or
                        entry(pg_node, *rest))
    nodes = builder.build(rows, ids, beats, True, history, t0 + timedelta(seconds=HEARTBEAT_TTL_SECONDS + 1))
    assert sorted(looked_at) == ["b", "c"]   # a's first deadline passed too, but a has heartbeat since
    assert [n.reachability for n in nodes] == [Reachability.LIVE, Reachability.STALE, Reachability.STALE]
