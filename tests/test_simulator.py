"""The simulator against real PostgreSQL and Redis: what it writes is the data
contract, and the cluster stays consistent while the console intervenes.

Ticks use a fake clock (explicit `now`), so a few hours of cluster life take
a second or two.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis

from omega_tui.data.models import CANONICAL_METRICS, METRIC_UNITS, NODE_STATUSES, NODE_TYPES, SESSION_TYPES
from omega_tui.sim import Simulator
from omega_tui.sim.durations import format_duration, parse_duration
from omega_tui.sim.inventory import SimNode, SimUser, plan_nodes
from omega_tui.sim.live_state import LiveState
from omega_tui.sim.metrics import MetricModel
from omega_tui.sim.workload import Workload

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
QUEUE = "queue:pending_sessions"


def make_sim(dsn, redis_url, **kwargs) -> Simulator:
    options = {"nodes": 8, "seed": 7, "incidents": False, "demand": 2.0}
    options.update(kwargs)
    sim = Simulator(dsn, redis_url, **options)
    sim.register()
    return sim


def query(dsn, sql, params=()):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def check_invariants(dsn, client) -> None:
    """Capacity is never exceeded, allocations and capacity agree, the queue mirrors PostgreSQL."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        def rows(sql):
            return conn.execute(sql).fetchall()

        assert rows("SELECT node_id, resource_type FROM node_resources"
                    " WHERE allocated_capacity > total_capacity OR allocated_capacity < 0") == []
        assert rows("""
            SELECT nr.node_id, nr.resource_type, nr.allocated_capacity, coalesce(sum(sa.allocated_amount), 0)
              FROM node_resources nr
              LEFT JOIN session_allocations sa
                     ON sa.node_id = nr.node_id AND sa.resource_type = nr.resource_type AND sa.status = 'active'
             GROUP BY nr.node_id, nr.resource_type, nr.allocated_capacity
            HAVING nr.allocated_capacity <> coalesce(sum(sa.allocated_amount), 0)""") == []
        assert rows("""
            SELECT sa.session_id, s.status FROM session_allocations sa JOIN sessions s USING (session_id)
             WHERE sa.status = 'active' AND s.status NOT IN ('scheduled', 'running', 'paused')""") == []
        assert rows("""
            SELECT s.session_id FROM sessions s
             WHERE s.status IN ('scheduled', 'running', 'paused')
               AND NOT EXISTS (SELECT 1 FROM session_allocations sa
                                WHERE sa.session_id = s.session_id AND sa.status = 'active')""") == []
        pending = [str(r[0]) for r in rows("SELECT session_id FROM sessions WHERE status = 'pending'"
                                           " ORDER BY priority DESC, created_at, session_id")]
    assert [v.decode() for v in client.lrange(QUEUE, 0, -1)] == pending


def test_durations_parse_and_print():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("42") == timedelta(seconds=42)
    for bad in ("", "5x", "h", "-3m", "1h 2x"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(timedelta(minutes=90)) == "1h30m"


def test_same_seed_same_cluster_in_memory():
    def run(seed):
        rng = random.Random(seed)
        nodes = [SimNode(f"00000000-0000-4000-8000-{i:012d}", s.hostname, s.node_type, s.cores, s.memory_gb,
                         s.storage_gb, s.gpus, s.gpu_memory_gb, s.network_mbps)
                 for i, s in enumerate(plan_nodes(12))]
        users = [SimUser(f"00000000-0000-4000-9000-{i:012d}", f"user.{i}", "user") for i in range(5)]
        workload = Workload(rng, users, nodes, demand=1.5)
        workload.empty_cluster()
        metrics = MetricModel(random.Random(seed), nodes, 5.0)
        trace = []
        for k in range(200):
            changes = workload.step(T0 + timedelta(seconds=30 * k), 30)
            # Everything but the ids (fresh UUIDs, so runs never collide in one database).
            trace.append([(s.name[-6:], s.status, s.node_id, s.cpu, s.created_at)
                          for s in changes.placed + changes.ended])
            trace.append([metrics.sample(n, *workload.used_fractions(n)) for n in nodes])
        return trace

    first, again, other = run(11), run(11), run(12)
    assert first == again
    assert first != other
    assert any(step for step in first[::2])  # sessions did come and go


def test_register_every_node_type_idempotently(dsn, redis_url):
    first = Simulator(dsn, redis_url, nodes=10, users=6, seed=1)
    report = first.register()
    first.close()
    assert (report.nodes, report.new_nodes, report.users) == (10, 10, 6)

    again = Simulator(dsn, redis_url, nodes=10, users=6, seed=99)
    report = again.register()
    again.close()
    assert (report.nodes, report.new_nodes) == (10, 0)
    assert sorted(first.node_ids) == sorted(again.node_ids)

    rows = query(dsn, "SELECT node_type, count(*) FROM nodes GROUP BY 1")
    assert {t for t, _ in rows} == set(NODE_TYPES)
    assert sum(n for _, n in rows) == 10
    assert query(dsn, "SELECT count(DISTINCT hostname) FROM nodes")[0][0] == 10
    assert query(dsn, "SELECT count(*) FROM nodes WHERE status <> 'active' OR ip_address IS NULL")[0][0] == 0

    # node_resources match the inventory: cpu in cores, memory and storage in GB, GPUs where there are some.
    resources = query(dsn, """
        SELECT n.hostname, n.total_cpu_cores, n.total_memory_gb, n.total_storage_gb, n.gpu_count,
               n.network_bandwidth_mbps, jsonb_object_agg(r.resource_type, r.total_capacity),
               jsonb_object_agg(r.resource_type, r.unit)
          FROM nodes n JOIN node_resources r USING (node_id) GROUP BY n.node_id""")
    for host, cores, memory, storage, gpus, mbps, totals, units in resources:
        assert totals["cpu"] == cores and totals["memory"] == float(memory)
        assert totals["storage"] == float(storage) and totals["network"] == mbps
        assert totals.get("gpu", 0) == gpus, host
        assert units["cpu"] == "cores" and units["memory"] == "GB" and units["network"] == "Mbps"
    hostnames = {r[0] for r in resources}
    assert any(h.startswith("gpu-") for h in hostnames) and any(h.startswith("cpu-") for h in hostnames)
    roles = {r[0] for r in query(dsn, "SELECT role FROM users")}
    assert {"admin", "operator", "user"} <= roles


def test_ticks_keep_capacity_allocations_and_queue_consistent(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    client.config_resetstat()
    sim = make_sim(dsn, redis_url, demand=3.0)
    seen_statuses = set()
    queue_lengths = []
    try:
        for k in range(40):
            now = T0 + timedelta(seconds=30 * k)
            report = sim.tick(now)
            assert report.problems == []
            check_invariants(dsn, client)
            queue_lengths.append(client.llen(QUEUE))
            seen_statuses |= {r[0] for r in query(dsn, "SELECT DISTINCT status FROM sessions")}
    finally:
        sim.close()
    assert {"pending", "scheduled", "running", "completed"} <= seen_statuses
    assert max(queue_lengths) > 0
    types = {r[0] for r in query(dsn, "SELECT DISTINCT session_type FROM sessions")}
    assert types <= set(SESSION_TYPES) and len(types) >= 3
    priorities = query(dsn, "SELECT min(priority), max(priority) FROM sessions")[0]
    assert 1 <= priorities[0] <= priorities[1] <= 10
    # Placements only on schedulable node types, GPU sessions only where there are GPUs.
    misplaced = query(dsn, """
        SELECT s.session_id FROM sessions s JOIN nodes n ON n.node_id = s.scheduled_node_id
         WHERE n.node_type NOT IN ('compute', 'gpu', 'hybrid') OR (s.gpu_request > 0 AND n.gpu_count = 0)""")
    assert misplaced == []
    assert "cmdstat_keys" not in client.info("commandstats")  # never KEYS


def test_redis_keys_follow_the_contract(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    sim = make_sim(dsn, redis_url, nodes=6)
    now = T0
    try:
        for k in range(8):
            now = T0 + timedelta(seconds=60 * k)
            assert sim.tick(now).problems == []
    finally:
        sim.close()
    for node in sim.nodes:
        raw = client.get(f"node:heartbeat:{node.node_id}")
        heartbeat = json.loads(raw)
        assert datetime.fromisoformat(heartbeat["timestamp"]) == now
        assert heartbeat["status"] in NODE_STATUSES
        assert isinstance(heartbeat["load"], float) and heartbeat["load"] >= 0
        assert 0 < client.ttl(f"node:heartbeat:{node.node_id}") <= 30
        expected = set(CANONICAL_METRICS) if node.gpus else {m for m in CANONICAL_METRICS if "gpu" not in m}
        for metric in CANONICAL_METRICS:
            key = f"metrics:node:{node.node_id}:{metric}"
            if metric not in expected:
                assert client.get(key) is None
                continue
            value = json.loads(client.get(key))
            assert set(value) == {"value", "timestamp", "unit"}
            assert value["unit"] == METRIC_UNITS[metric]
            assert datetime.fromisoformat(value["timestamp"]) == now
            assert isinstance(value["value"], float)
            assert 0 < client.ttl(key) <= 300
        db_heartbeat = query(dsn, "SELECT last_heartbeat FROM nodes WHERE node_id = %s", (node.node_id,))[0][0]
        assert db_heartbeat == now
    state = {k.decode(): v.decode() for k, v in client.hgetall("cluster:state").items()}
    assert set(state) == {"total_nodes", "active_nodes", "total_sessions", "cluster_load"}
    assert int(state["total_nodes"]) == 6 and int(state["active_nodes"]) == 6
    assert 0 <= float(state["cluster_load"]) <= 100
    live = query(dsn, "SELECT session_id, status FROM sessions WHERE status IN ('pending','scheduled','running','paused')")
    assert live
    for session_id, status in live:
        value = json.loads(client.get(f"session:state:{session_id}"))
        assert set(value) == {"status", "allocated_resources", "start_time"}
        assert value["status"] == status
        assert client.ttl(f"session:state:{session_id}") > 0
    # Metric rows: every live node, every metric of its kind, at the tick time.
    rows = query(dsn, "SELECT node_id, metric_type, unit FROM node_metrics WHERE time = %s", (now,))
    assert len(rows) == sum(len(n.metric_types) for n in sim.nodes)
    assert all(unit == METRIC_UNITS[metric] for _, metric, unit in rows)


def test_drained_node_gets_nothing_new_and_empties(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    sim = make_sim(dsn, redis_url, interval=60.0, demand=3.0)
    try:
        for k in range(3):
            sim.tick(T0 + timedelta(minutes=k))
        busy = query(dsn, """
            SELECT n.node_id FROM nodes n JOIN sessions s ON s.scheduled_node_id = n.node_id
             WHERE s.status IN ('scheduled','running','paused') AND n.node_type = 'compute'
             GROUP BY n.node_id ORDER BY count(*) DESC LIMIT 1""")
        assert busy, "no busy compute node to drain"
        node_id = busy[0][0]
        drained_at = T0 + timedelta(minutes=2, seconds=30)
        query(dsn, "UPDATE nodes SET status = 'draining' WHERE node_id = %s RETURNING 1", (node_id,))
        for k in range(3, 3 + 26):  # a bit over four hours, in ten-minute steps
            assert sim.tick(T0 + timedelta(minutes=10 * k)).problems == []
            check_invariants(dsn, client)
    finally:
        sim.close()
    late = query(dsn, "SELECT count(*) FROM session_allocations WHERE node_id = %s AND allocation_time > %s",
                 (node_id, drained_at))
    assert late[0][0] == 0
    assert query(dsn, "SELECT status FROM nodes WHERE node_id = %s", (node_id,))[0][0] == "draining"
    still = query(dsn, "SELECT count(*) FROM sessions WHERE scheduled_node_id = %s"
                       " AND status IN ('scheduled','running','paused')", (node_id,))
    assert still[0][0] == 0
    allocated = query(dsn, "SELECT sum(allocated_capacity) FROM node_resources WHERE node_id = %s", (node_id,))
    assert allocated[0][0] == 0
    # The machine is still up: it keeps heartbeating, as draining.
    heartbeat = json.loads(client.get(f"node:heartbeat:{node_id}"))
    assert heartbeat["status"] == "draining"
    # ... while the rest of the cluster kept placing sessions.
    assert query(dsn, "SELECT count(*) FROM session_allocations WHERE allocation_time > %s", (drained_at,))[0][0] > 0


def test_placement_is_refused_on_a_node_drained_during_the_tick(dsn, redis_url):
    sim = make_sim(dsn, redis_url, demand=3.0)
    try:
        sim.tick(T0)
        placed = []
        now = T0
        for k in range(1, 20):  # find a tick that wants to place something
            now = T0 + timedelta(seconds=30 * k)
            live_state = LiveState(now)
            sim._sync(now, live_state)
            changes, incidents, lost = sim._decide(now, 30.0)
            if changes.placed:
                placed = list(changes.placed)
                break
            sim._write(now, changes, incidents, lost, live_state, _report(now))
        assert placed, "nothing to place"
        targets = sorted({s.node_id for s in placed})
        with psycopg.connect(dsn) as conn:  # the operator drains between our decision and our write
            conn.execute("UPDATE nodes SET status = 'draining' WHERE node_id = ANY(%s::uuid[])", (targets,))
        sim._write(now, changes, incidents, lost, LiveState(now), _report(now))
        ids = [s.session_id for s in placed]
        assert query(dsn, "SELECT count(*) FROM session_allocations WHERE session_id = ANY(%s::uuid[])",
                     (ids,))[0][0] == 0
        assert {r[0] for r in query(dsn, "SELECT status FROM sessions WHERE session_id = ANY(%s::uuid[])",
                                    (ids,))} == {"pending"}
        assert all(sim.workload.live[i].status == "pending" for i in ids)
        for k in range(3):
            assert sim.tick(now + timedelta(seconds=30 * (k + 1))).problems == []
        later = query(dsn, "SELECT count(*) FROM session_allocations WHERE node_id = ANY(%s::uuid[])"
                           " AND allocation_time > %s", (targets, now))
        assert later[0][0] == 0
    finally:
        sim.close()


def _report(now):
    from omega_tui.sim.simulator import TickReport

    return TickReport(now)


def _running_sessions(dsn):
    return query(dsn, """
        SELECT s.session_id, s.scheduled_node_id FROM sessions s
         WHERE s.status = 'running' ORDER BY s.cpu_request DESC, s.session_id LIMIT 2""")


def _running_session(dsn):
    rows = _running_sessions(dsn)
    assert len(rows) == 2
    return rows


def _allocated(dsn, node_id) -> dict[str, float]:
    return {rt: float(v) for rt, v in query(
        dsn, "SELECT resource_type, allocated_capacity FROM node_resources WHERE node_id = %s", (node_id,))}


def _moved_at(dsn, node_id, at) -> dict[str, float]:
    """Capacity taken minus given back on the node by the tick at `at`, from the allocation rows."""
    rows = query(dsn, """
        SELECT resource_type,
               coalesce(sum(allocated_amount) FILTER (WHERE allocation_time = %(at)s), 0)
             - coalesce(sum(allocated_amount) FILTER (WHERE deallocation_time = %(at)s), 0)
          FROM session_allocations WHERE node_id = %(node)s GROUP BY 1""", {"at": at, "node": node_id})
    return {rt: float(v or 0) for rt, v in rows}


def test_cancelled_session_gives_back_its_resources_exactly_once(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    sim = make_sim(dsn, redis_url, demand=1.0)
    try:
        k = 0
        while k < 6 or (len(_running_sessions(dsn)) < 2 and k < 40):
            sim.tick(T0 + timedelta(seconds=30 * k))
            k += 1
        (bare_id, bare_node), (console_id, console_node) = _running_session(dsn)

        # A canceller that only flips the status: the simulator must give the resources back.
        query(dsn, "UPDATE sessions SET status = 'cancelled', end_time = now() WHERE session_id = %s RETURNING 1",
              (bare_id,))
        # A canceller that releases too, as the console does: nothing may be given back twice.
        with psycopg.connect(dsn) as conn:
            conn.execute("UPDATE sessions SET status = 'cancelled', end_time = now() WHERE session_id = %s",
                         (console_id,))
            conn.execute("""
                WITH released AS (
                    UPDATE session_allocations SET status = 'released', deallocation_time = now()
                     WHERE session_id = %s AND status = 'active' RETURNING node_id, resource_type, allocated_amount)
                UPDATE node_resources nr SET allocated_capacity = nr.allocated_capacity - r.allocated_amount
                  FROM released r WHERE nr.node_id = r.node_id AND nr.resource_type = r.resource_type""",
                         (console_id,))
        before = {node: _allocated(dsn, node) for node in (bare_node, console_node)}
        at = T0 + timedelta(seconds=30 * k)
        assert sim.tick(at).problems == []
        check_invariants(dsn, client)
        for node, capacity in before.items():
            moved = _moved_at(dsn, node, at)
            after = _allocated(dsn, node)
            assert after == {rt: capacity[rt] + moved.get(rt, 0.0) for rt in capacity}, node
        assert sim.tick(at + timedelta(seconds=30)).problems == []
        check_invariants(dsn, client)
    finally:
        sim.close()
    bare = query(dsn, "SELECT status, deallocation_time FROM session_allocations WHERE session_id = %s", (bare_id,))
    assert bare and all(status == "released" and when == at for status, when in bare)
    console = query(dsn, "SELECT status, deallocation_time FROM session_allocations WHERE session_id = %s",
                    (console_id,))
    assert console and all(status == "released" and when != at for status, when in console)
    assert {r[0] for r in query(dsn, "SELECT status FROM sessions WHERE session_id = ANY(%s::uuid[])",
                                ([bare_id, console_id],))} == {"cancelled"}
    assert json.loads(client.get(f"session:state:{bare_id}"))["status"] == "cancelled"
    assert str(bare_id).encode() not in client.lrange(QUEUE, 0, -1)


def test_cancel_message_on_omega_control_releases_at_once(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    sim = make_sim(dsn, redis_url, interval=3600.0, demand=1.0)
    start = datetime.now(UTC) - timedelta(minutes=5)
    for k in range(6):
        sim.tick(start + timedelta(seconds=30 * k))
    (session_id, _node_id), _ = _running_session(dsn)
    runner = threading.Thread(target=sim.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while client.pubsub_numsub("omega:control")[0][1] < 1:
            assert time.monotonic() < deadline, "simulator did not subscribe"
            time.sleep(0.02)
        query(dsn, "UPDATE sessions SET status = 'cancelled', end_time = now() WHERE session_id = %s RETURNING 1",
              (session_id,))
        client.publish("omega:control", b"not json")  # ignored
        client.publish("omega:control", json.dumps({"action": "cancel", "target": str(session_id),
                                                    "by": "alice", "at": datetime.now(UTC).isoformat()}))
        while query(dsn, "SELECT count(*) FROM session_allocations WHERE session_id = %s AND status = 'active'",
                    (session_id,))[0][0]:
            assert time.monotonic() < deadline, "the cancel message was not acted on"
            time.sleep(0.02)
    finally:
        sim.stop()
        runner.join(10)
        sim.close()
    assert not runner.is_alive()
    check_invariants(dsn, client)


def test_backfill_writes_every_node_metric_and_step_once(dsn, redis_url):
    sim = make_sim(dsn, redis_url, nodes=10, demand=0.75)
    now = T0
    try:
        report = sim.backfill(timedelta(minutes=10), now=now)
    finally:
        sim.close()
    steps = 10 * 60 // 5
    expected = sum(len(n.metric_types) for n in sim.nodes) * steps
    assert report.steps == steps
    assert report.metric_rows == expected
    assert query(dsn, "SELECT count(*) FROM node_metrics")[0][0] == expected
    per_series = query(dsn, "SELECT count(*), count(DISTINCT time), min(time), max(time) FROM node_metrics"
                            " GROUP BY node_id, metric_type")
    assert len(per_series) == sum(len(n.metric_types) for n in sim.nodes)
    assert {r[:2] for r in per_series} == {(steps, steps)}
    assert {r[2:] for r in per_series} == {(now - timedelta(minutes=10), now - timedelta(seconds=5))}
    units = query(dsn, "SELECT DISTINCT metric_type, unit FROM node_metrics")
    assert all(METRIC_UNITS[m] == u for m, u in units)
    assert report.sessions > 0 and query(dsn, "SELECT count(*) FROM sessions")[0][0] == report.sessions
    assert query(dsn, "SELECT count(*) FROM sessions WHERE status IN ('completed', 'failed')")[0][0] > 0
    assert query(dsn, "SELECT count(*) FROM sessions WHERE end_time > %s", (now,))[0][0] == 0
    check_invariants(dsn, redis.Redis.from_url(redis_url))
    # The rollups were refreshed once after the backfill and hold every sample.
    assert query(dsn, "SELECT sum(samples) FROM omega_console.node_metrics_1m")[0][0] == expected

    # A re-run over the same window writes nothing twice; a later one fills only the gap.
    again = make_sim(dsn, redis_url, nodes=10, demand=0.75)
    try:
        assert again.backfill(timedelta(minutes=10), now=now).metric_rows == 0
        later = again.backfill(timedelta(minutes=10), now=now + timedelta(minutes=2))
    finally:
        again.close()
    assert later.metric_rows == expected // steps * 24
    duplicates = query(dsn, "SELECT count(*) FROM (SELECT 1 FROM node_metrics GROUP BY node_id, metric_type, time"
                            " HAVING count(*) > 1) d")
    assert duplicates[0][0] == 0


def test_node_death_and_heat_raise_and_resolve_events(dsn, redis_url):
    client = redis.Redis.from_url(redis_url)
    sim = make_sim(dsn, redis_url, demand=1.5)
    try:
        for k in range(4):
            sim.tick(T0 + timedelta(seconds=30 * k))
        victim = query(dsn, """
            SELECT s.scheduled_node_id FROM sessions s JOIN nodes n ON n.node_id = s.scheduled_node_id
             WHERE s.status = 'running' AND n.node_type = 'compute' LIMIT 1""")[0][0]
        victim = str(victim)
        hot = next(n for n in sim.nodes if n.node_type == "storage")
        died_at = T0 + timedelta(seconds=120)
        sim.incidents.fail_node_at(victim, died_at, timedelta(seconds=90))
        sim.incidents.heat_node_at(hot.node_id, died_at, 70.0, timedelta(seconds=300))
        on_victim = [r[0] for r in query(dsn, "SELECT session_id FROM sessions WHERE scheduled_node_id = %s"
                                              " AND status IN ('scheduled','running','paused')", (victim,))]
        assert on_victim
        report = sim.tick(died_at)
        assert report.problems == [] and report.changes["nodes_died"] == 1
        assert query(dsn, "SELECT status FROM nodes WHERE node_id = %s", (victim,))[0][0] == "failed"
        assert query(dsn, "SELECT count(*) FROM node_metrics WHERE node_id = %s AND time = %s",
                     (victim, died_at))[0][0] == 0
        heartbeat = json.loads(client.get(f"node:heartbeat:{victim}"))
        assert datetime.fromisoformat(heartbeat["timestamp"]) < died_at  # no longer refreshed
        failed = query(dsn, "SELECT status FROM sessions WHERE session_id = ANY(%s::uuid[])", (on_victim,))
        assert {r[0] for r in failed} == {"failed"}
        check_invariants(dsn, client)

        for k in range(1, 12):
            sim.tick(died_at + timedelta(seconds=30 * k))
        assert query(dsn, "SELECT status FROM nodes WHERE node_id = %s", (victim,))[0][0] == "active"
        for k in range(12, 40):
            sim.tick(died_at + timedelta(seconds=30 * k))
    finally:
        sim.close()
    events = query(dsn, """SELECT event_type, severity, source_component, source_node_id::text, session_id,
                                  resolved_at IS NOT NULL FROM system_events ORDER BY timestamp""")
    assert {e[2] for e in events} == {"omega-simulator"}
    kinds = {(e[0], e[1]) for e in events}
    assert {("node_failure", "critical"), ("node_recovered", "info"), ("session_failed", "error"),
            ("node_temperature_high", "warning")} <= kinds
    assert [e[5] for e in events if e[0] == "node_failure" and e[3] == victim] == [True]
    assert [e[5] for e in events if e[0] == "node_temperature_high" and e[3] == hot.node_id] == [True]
    assert {e[4] for e in events if e[0] == "session_failed"} >= set(on_victim)
    failed_allocations = query(dsn, "SELECT DISTINCT status FROM session_allocations WHERE session_id = ANY(%s::uuid[])",
                               (on_victim,))
    assert failed_allocations == [("failed",)]


def _demo_env(tmp_path):
    env = dict(os.environ)
    env["OMEGA_TUI_CONFIG"] = str(tmp_path / "none.toml")
    for name in ("OMEGA_DSN", "OMEGA_REDIS_URL", "OMEGA_PROFILE"):
        env.pop(name, None)
    return env


def test_simulate_command_backfills_runs_and_stops_cleanly(dsn, redis_url, tmp_path):
    password = psycopg.conninfo.conninfo_to_dict(dsn).get("password")
    process = subprocess.Popen(
        [sys.executable, "-m", "omega_tui", "simulate", "--dsn", dsn, "--redis", redis_url, "--nodes", "6",
         "--history", "2m", "--interval", "0.5", "--seed", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_demo_env(tmp_path),
    )
    lines = []
    try:
        deadline = time.monotonic() + 30
        while not any("nodes up" in line for line in lines):
            assert time.monotonic() < deadline, lines
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    lines += out.splitlines()
    text = "".join(lines)
    assert process.returncode == 0, err
    assert "backfill:" in text and "rows/s" in text and "stopped after" in text
    assert "Traceback" not in err
    if password:
        assert password not in text + err
    assert query(dsn, "SELECT count(*) FROM nodes")[0][0] == 6


def test_simulate_command_unreachable_store_is_one_line(tmp_path):
    from omega_tui.demo.embedded import free_port

    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "omega_tui", "simulate", "--dsn", f"postgresql://sim:s3cretpw@127.0.0.1:{port}/x",
         "--redis", f"redis://:s3cretpw@127.0.0.1:{port}/0", "--connect-timeout", "1"],
        capture_output=True, text=True, env=_demo_env(tmp_path), timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "PostgreSQL" in result.stderr and "s3cretpw" not in result.stderr + result.stdout


def test_simulator_and_agent_do_not_import_textual():
    code = ("import sys, omega_tui.sim, omega_tui.sim.backfill, omega_tui.sim.command, omega_tui.agent,"
            " omega_tui.agent.command\n"
            "assert not [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_backfill_gives_sessions_in_every_state_and_events_of_every_severity(dsn, redis_url):
    sim = Simulator(dsn, redis_url, nodes=40, seed=5, demand=2.0)  # more work than room: a queue forms
    statuses: set[str] = set()
    try:
        sim.register()
        sim.backfill(timedelta(hours=1))
        now = datetime.now(UTC)
        for k in range(12):  # `scheduled` lasts seconds: collect what a live run shows over a minute
            sim.tick(now + timedelta(seconds=5 * k))
            statuses |= {row[0] for row in query(dsn, "SELECT DISTINCT status FROM sessions")}
    finally:
        sim.close()
    assert {"pending", "scheduled", "running", "paused", "completed", "failed", "cancelled"} <= statuses
    severities = {row[0] for row in query(dsn, "SELECT DISTINCT severity FROM system_events")}
    assert {"critical", "error", "warning", "info", "debug"} <= severities
    # A user's cancel releases what the session held, like any other end.
    leaked = query(
        dsn,
        "SELECT count(*) FROM session_allocations a JOIN sessions s USING (session_id)"
        " WHERE s.status = 'cancelled' AND a.status = 'active'",
    )
    assert leaked == [(0,)]


def test_a_session_ends_when_its_end_falls_between_two_representable_timestamps():
    # when = start + runtime rounds, in float seconds since 1970, to the very `now` of a step, while
    # the run measured in microseconds falls short of runtime_s: it must end, not be due again forever.
    from omega_tui.sim.sessions import SimSession
    from omega_tui.sim.workload import StepChanges, Workload

    start = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    session = SimSession(session_id="s", user_id="u", name="n", session_type="batch", application=None, image=None,
                         priority=1, cpu=1.0, memory_gb=1.0, gpus=0, storage_gb=1.0, created_at=start,
                         status="running", start_time=start, runtime_s=100.0000001)
    workload = Workload(random.Random(1), [], [])
    workload.live[session.session_id] = session
    workload._schedule(session)
    now = start + timedelta(seconds=100)
    assert workload._heap[0][0] <= now.timestamp()   # due at this step, as float seconds have it
    changes = StepChanges()
    workload.advance(now, changes)
    assert session.status == "completed" and changes.completed == [session] and not workload._heap
