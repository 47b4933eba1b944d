"""Operator actions against real PostgreSQL and Redis: effects, audit, races, refusals."""

from __future__ import annotations

import json
import threading

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from omega_tui.data import actions
from omega_tui.data.actions import Actor

ACTOR = Actor(operator="ops2", os_user="alice", os_host="console-1")


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def rds(redis_url):
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def make_cluster(conn) -> dict:
    """One GPU node with a running and a pending session, allocations consistent."""
    ids = {}
    ids["user"] = conn.execute(
        "INSERT INTO users (username, email, password_hash, role) VALUES ('ops2', 'o@x', '-', 'operator'),"
        " ('carol', 'c@x', '-', 'user') RETURNING user_id"
    ).fetchall()[1][0]
    ids["node"] = conn.execute(
        "INSERT INTO nodes (hostname, ip_address, node_type, status, total_cpu_cores, total_memory_gb,"
        " total_storage_gb, gpu_count) VALUES ('gpu-a100-001', '10.0.0.7', 'gpu', 'active', 64, 512, 2000, 4)"
        " RETURNING node_id"
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO node_resources (node_id, resource_type, total_capacity, allocated_capacity, unit) VALUES"
        " (%(n)s, 'cpu', 64, 16, 'cores'), (%(n)s, 'memory', 512, 64, 'GB'), (%(n)s, 'gpu', 4, 2, 'count')",
        {"n": ids["node"]},
    )
    ids["running"] = conn.execute(
        "INSERT INTO sessions (user_id, session_name, session_type, status, priority, cpu_request,"
        " memory_request_gb, gpu_request, scheduled_node_id, start_time)"
        " VALUES (%s, 'train-llm', 'ai_training', 'running', 5, 16, 64, 2, %s, now() - interval '2 hours')"
        " RETURNING session_id",
        (ids["user"], ids["node"]),
    ).fetchone()[0]
    conn.execute(
        "INSERT INTO session_allocations (session_id, node_id, resource_type, allocated_amount, unit) VALUES"
        " (%(s)s, %(n)s, 'cpu', 16, 'cores'), (%(s)s, %(n)s, 'memory', 64, 'GB'), (%(s)s, %(n)s, 'gpu', 2, 'count')",
        {"s": ids["running"], "n": ids["node"]},
    )
    ids["pending"] = conn.execute(
        "INSERT INTO sessions (user_id, session_name, session_type, status, priority, cpu_request, memory_request_gb)"
        " VALUES (%s, 'render-1', 'rendering', 'pending', 3, 4, 8) RETURNING session_id",
        (ids["user"],),
    ).fetchone()[0]
    ids["event"] = conn.execute(
        "INSERT INTO system_events (event_type, severity, source_component, source_node_id, message)"
        " VALUES ('node_hot', 'warning', 'agent', %s, 'hot') RETURNING event_id",
        (ids["node"],),
    ).fetchone()[0]
    return {k: str(v) for k, v in ids.items()}


def allocated(conn, node_id) -> dict:
    rows = conn.execute(
        "SELECT resource_type, allocated_capacity FROM node_resources WHERE node_id = %s", (node_id,)
    ).fetchall()
    return {r: float(v) for r, v in rows}


def audit_rows(conn) -> list[tuple]:
    return conn.execute(
        "SELECT operator, os_user, os_host, db_user, action, target_kind, result FROM omega_console.audit_log ORDER BY audit_id"
    ).fetchall()


def test_drain_then_resume(conn, rds):
    ids = make_cluster(conn)
    pubsub = rds.pubsub()
    pubsub.subscribe(actions.CONTROL_CHANNEL)
    pubsub.get_message(timeout=1)

    result = actions.drain_node(conn, rds, ACTOR, "gpu-a100-001")
    assert (result.result, result.notified) == ("ok", True)
    assert "1 session(s) still on it" in result.message
    assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "draining"
    event = conn.execute(
        "SELECT event_type, severity, source_component, source_node_id::text, user_id IS NOT NULL, details->>'os_user'"
        " FROM system_events WHERE event_type = 'node_drain'"
    ).fetchone()
    assert event == ("node_drain", "info", "omega-tui", ids["node"], True, "alice")
    message = pubsub.get_message(timeout=2)
    assert json.loads(message["data"]) | {"at": None} == {"action": "drain", "target": ids["node"], "by": "ops2", "at": None}

    again = actions.drain_node(conn, rds, ACTOR, ids["node"])
    assert again.result == "already" and "already draining" in again.message

    assert actions.resume_node(conn, rds, ACTOR, "gpu-a100-001").result == "ok"
    assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "active"
    db_user = conn.execute("SELECT current_user").fetchone()[0]
    assert audit_rows(conn) == [
        ("ops2", "alice", "console-1", db_user, "drain", "node", "ok"),
        ("ops2", "alice", "console-1", db_user, "drain", "node", "already"),
        ("ops2", "alice", "console-1", db_user, "resume", "node", "ok"),
    ]
    before, after = conn.execute(
        "SELECT before_state, after_state FROM omega_console.audit_log ORDER BY audit_id LIMIT 1"
    ).fetchone()
    assert (before, after) == ({"status": "active"}, {"status": "draining"})


def test_unknown_and_ambiguous_nodes_change_nothing(conn, rds):
    make_cluster(conn)
    conn.execute(
        "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
        " VALUES ('twin', '10.0.0.8', 'compute', 8, 8, 8), ('twin', '10.0.0.9', 'compute', 8, 8, 8)"
    )
    assert actions.drain_node(conn, rds, ACTOR, "nope").result == "not_found"
    ambiguous = actions.drain_node(conn, rds, ACTOR, "twin")
    assert ambiguous.result == "not_found" and "not unique" in ambiguous.message
    assert conn.execute("SELECT count(*) FROM nodes WHERE status = 'draining'").fetchone()[0] == 0
    assert [r[-1] for r in audit_rows(conn)] == ["not_found", "not_found"]


def test_cancel_running_session_releases_everything(conn, rds):
    ids = make_cluster(conn)
    rds.rpush(actions.QUEUE_KEY, ids["pending"], ids["running"])
    result = actions.cancel_session(conn, rds, ACTOR, ids["running"])
    assert result.result == "ok", result.message
    status, end_time = conn.execute("SELECT status, end_time FROM sessions WHERE session_id = %s", (ids["running"],)).fetchone()
    assert status == "cancelled" and end_time is not None
    assert conn.execute(
        "SELECT count(*) FROM session_allocations WHERE session_id = %s AND status = 'released'"
        " AND deallocation_time IS NOT NULL", (ids["running"],)
    ).fetchone()[0] == 3
    assert allocated(conn, ids["node"]) == {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}
    assert [x.decode() for x in rds.lrange(actions.QUEUE_KEY, 0, -1)] == [ids["pending"]]
    state = json.loads(rds.get(f"session:state:{ids['running']}"))
    assert state["status"] == "cancelled" and 0 < rds.ttl(f"session:state:{ids['running']}") <= 3600
    assert result.after == {"status": "cancelled", "released": {"cpu": 16.0, "memory": 64.0, "gpu": 2.0}}

    again = actions.cancel_session(conn, rds, ACTOR, ids["running"])
    assert again.result == "already" and "already cancelled" in again.message
    assert allocated(conn, ids["node"]) == {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}


def test_two_concurrent_cancels_release_exactly_once(dsn, conn, redis_url):
    ids = make_cluster(conn)
    # Another session on the same node, so a double release would show.
    conn.execute("UPDATE node_resources SET allocated_capacity = allocated_capacity + 10 WHERE node_id = %s", (ids["node"],))
    results, barrier = [], threading.Barrier(2)

    def cancel():
        with psycopg.connect(dsn, autocommit=True) as c:
            client = redis.Redis.from_url(redis_url)
            barrier.wait()
            for _ in range(50):  # NOWAIT: retry while the other holds the row
                r = actions.cancel_session(c, client, ACTOR, ids["running"])
                if "someone else" not in r.message:
                    break
            results.append(r.result)

    threads = [threading.Thread(target=cancel) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already", "ok"]
    assert allocated(conn, ids["node"]) == {"cpu": 10.0, "memory": 10.0, "gpu": 10.0}


def test_acknowledge_and_resolve(conn, rds):
    ids = make_cluster(conn)
    alert = f"event:{ids['event']}"
    assert actions.acknowledge_alert(conn, rds, ACTOR, alert).result == "ok"
    assert actions.acknowledge_alert(conn, rds, ACTOR, alert).result == "already"
    assert conn.execute("SELECT acknowledged_by FROM omega_console.alert_acks").fetchall() == [("ops2",)]

    assert actions.resolve_alert(conn, rds, ACTOR, alert).result == "ok"
    resolved_at, resolved_by = conn.execute(
        "SELECT resolved_at, (SELECT username FROM users WHERE user_id = resolved_by) FROM system_events"
        " WHERE event_id = %s", (ids["event"],)
    ).fetchone()
    assert resolved_at is not None and resolved_by == "ops2"
    assert actions.resolve_alert(conn, rds, ACTOR, alert).result == "already"

    derived = f"unreachable:{ids['node']}"
    assert actions.acknowledge_alert(conn, rds, ACTOR, derived).result == "ok"
    refused = actions.resolve_alert(conn, rds, ACTOR, derived)
    assert refused.result == "refused" and "acknowledge it instead" in refused.message
    assert actions.acknowledge_alert(conn, rds, ACTOR, "bogus").result == "not_found"


def test_permission_denied_changes_nothing(dsn, conn, rds):
    ids = make_cluster(conn)
    role = "omega_t_readonly"
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'ro-pw'").format(sql.Identifier(role)))
    try:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA omega_console TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA omega_console TO {}").format(sql.Identifier(role)))
        params = conninfo_to_dict(dsn)
        params.update(user=role, password="ro-pw")
        with psycopg.connect(make_conninfo(**params), autocommit=True) as ro:
            result = actions.drain_node(ro, rds, ACTOR, "gpu-a100-001")
            assert result.result == "refused"
            assert result.message == f"permission denied for drain as {role}; nothing changed"
            cancel = actions.cancel_session(ro, rds, ACTOR, ids["running"])
            assert cancel.result == "refused" and "permission denied for cancel" in cancel.message
        assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "active"
        assert conn.execute("SELECT status FROM sessions WHERE session_id = %s", (ids["running"],)).fetchone()[0] == "running"
        assert allocated(conn, ids["node"])["gpu"] == 2.0
    finally:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_redis_down_after_commit_keeps_the_database_right(conn):
    ids = make_cluster(conn)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    result = actions.cancel_session(conn, dead, ACTOR, ids["pending"])
    assert result.result == "ok" and result.notified is False
    assert "Redis not told" in result.message and "the database is right" in result.message
    assert conn.execute("SELECT status FROM sessions WHERE session_id = %s", (ids["pending"],)).fetchone()[0] == "cancelled"
    assert actions.drain_node(conn, None, ACTOR, ids["node"]).notified is False
