"""The node agent against real PostgreSQL and Redis: registration, the contract's
keys and rows, and store-and-forward across a real PostgreSQL outage."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import psutil
import psycopg
import pytest
import redis

from omega_tui.agent import NodeAgent
from omega_tui.agent.sample_buffer import BufferInUse, SampleBuffer

T0 = datetime(2030, 1, 7, 9, 0, 0, 250_000, tzinfo=UTC)
BASIC_METRICS = {"cpu_percent", "memory_percent", "disk_percent", "net_rx_bytes", "net_tx_bytes", "load_1m"}


def query(dsn, sql, params=()):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def new_agent(dsn, redis_url, buffer, hostname) -> NodeAgent:
    return NodeAgent(dsn, redis_url, buffer_path=buffer, hostname=hostname, connect_timeout=1)


@pytest.fixture
def hostname():
    return f"agent-test-{uuid.uuid4().hex[:8]}"


def test_agent_registers_once_and_writes_the_contract(dsn, redis_url, tmp_path, hostname):
    client = redis.Redis.from_url(redis_url)
    with new_agent(dsn, redis_url, tmp_path / "buffer.sqlite3", hostname) as agent:
        first = agent.tick(T0)
        second = agent.tick(T0 + timedelta(seconds=5))
    assert first.postgres_ok and first.redis_ok and first.problems == []
    assert second.replayed == 1 and second.unsent == 0
    node_id = first.node_id
    node = query(dsn, "SELECT hostname, node_type, status, total_cpu_cores, total_memory_gb, last_heartbeat"
                      " FROM nodes WHERE node_id = %s", (node_id,))[0]
    assert node[:4] == (hostname, "compute", "active", psutil.cpu_count(logical=True))
    assert float(node[4]) == pytest.approx(psutil.virtual_memory().total / 1024**3, rel=0.01)
    assert node[5] == T0 + timedelta(seconds=5)
    resources = dict(query(dsn, "SELECT resource_type, unit FROM node_resources WHERE node_id = %s", (node_id,)))
    assert resources == {"cpu": "cores", "memory": "GB", "storage": "GB", "network": "Mbps"}

    rows = query(dsn, "SELECT time, metric_type, value, unit FROM node_metrics WHERE node_id = %s", (node_id,))
    at_first = {metric: (value, unit) for at, metric, value, unit in rows if at == T0}
    assert BASIC_METRICS <= set(at_first)
    assert 0 <= at_first["cpu_percent"][0] <= 100 and at_first["cpu_percent"][1] == "percent"
    assert 0 < at_first["memory_percent"][0] <= 100 and at_first["net_rx_bytes"][1] == "bytes/s"
    assert at_first["load_1m"][0] == pytest.approx(os.getloadavg()[0], abs=5)

    heartbeat = json.loads(client.get(f"node:heartbeat:{node_id}"))
    assert datetime.fromisoformat(heartbeat["timestamp"]) == T0 + timedelta(seconds=5)
    assert heartbeat["status"] == "active" and isinstance(heartbeat["load"], float)
    assert 0 < client.ttl(f"node:heartbeat:{node_id}") <= 30
    value = json.loads(client.get(f"metrics:node:{node_id}:memory_percent"))
    assert set(value) == {"value", "timestamp", "unit"} and value["unit"] == "percent"
    assert 0 < client.ttl(f"metrics:node:{node_id}:memory_percent") <= 300
    assert client.get(f"metrics:node:{node_id}:gpu_percent") is None

    # Idempotent: the same buffer, or a new one on the same host, finds the same node.
    with new_agent(dsn, redis_url, tmp_path / "buffer.sqlite3", hostname) as again:
        assert again.tick(T0 + timedelta(seconds=10)).node_id == node_id
    with new_agent(dsn, redis_url, tmp_path / "other.sqlite3", hostname) as elsewhere:
        assert elsewhere.tick(T0 + timedelta(seconds=15)).node_id == node_id
    assert query(dsn, "SELECT count(*) FROM nodes WHERE hostname = %s", (hostname,))[0][0] == 1
    assert query(dsn, "SELECT count(*) FROM system_events WHERE source_component = 'omega-agent'"
                      " AND event_type = 'node_registered' AND source_node_id = %s", (node_id,))[0][0] == 1


def test_agent_writes_events_whatever_key_system_events_has(dsn, redis_url, tmp_path, hostname):
    # On TimescaleDB, migrate makes the key (event_id, timestamp) (a hypertable's keys hold its time
    # column); an insert naming (event_id) as its conflict target fails there, every tick.
    with psycopg.connect(dsn) as conn:
        conn.execute("ALTER TABLE system_events DROP CONSTRAINT system_events_pkey")
        conn.execute("ALTER TABLE system_events ADD PRIMARY KEY (event_id, timestamp)")
    with new_agent(dsn, redis_url, tmp_path / "buffer.sqlite3", hostname) as agent:
        first = agent.tick(T0)
        assert first.postgres_ok and first.problems == []
        assert agent.tick(T0 + timedelta(seconds=5)).postgres_ok
    assert query(dsn, "SELECT count(*) FROM system_events WHERE event_type = 'node_registered'"
                      " AND source_node_id = %s", (first.node_id,))[0][0] == 1


def test_buffer_tables_are_the_seed_tables_plus_named_columns(tmp_path):
    path = tmp_path / "buffer.sqlite3"
    buffer = SampleBuffer(path)
    try:
        with pytest.raises(BufferInUse):
            SampleBuffer(path)
    finally:
        buffer.close()
    with sqlite3.connect(path) as db:
        resources = [r[1] for r in db.execute("PRAGMA table_info(local_resources)")]
        events = [r[1] for r in db.execute("PRAGMA table_info(local_events)")]
    assert resources == ["timestamp", "cpu_usage", "memory_usage", "disk_usage", "network_rx_bytes",
                         "network_tx_bytes", "gpu_usage", "temperature", "sample_id", "load_1m", "sent_at"]
    assert events == ["event_id", "timestamp", "event_type", "severity", "message", "details",
                      "event_uuid", "sent_at"]
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)


def test_samples_taken_while_postgres_is_down_arrive_exactly_once(dsn, redis_url, servers, tmp_path, hostname):
    if servers.pg is None:
        pytest.skip("needs the embedded PostgreSQL (it is stopped and started)")
    client = redis.Redis.from_url(redis_url)
    buffer = tmp_path / "buffer.sqlite3"
    times = [T0 + timedelta(seconds=5 * k) for k in range(6)]
    port = servers.pg.port

    agent = new_agent(dsn, redis_url, buffer, hostname)
    assert agent.tick(times[0]).postgres_ok
    node_id = agent.node_id
    servers.pg.stop()
    try:
        for at in times[1:4]:
            result = agent.tick(at)
            assert not result.postgres_ok and result.redis_ok
            assert result.problems and result.problems[0].startswith("PostgreSQL")
        assert result.unsent == 3
        # Redis still hears the node while PostgreSQL is away.
        heartbeat = json.loads(client.get(f"node:heartbeat:{node_id}"))
        assert datetime.fromisoformat(heartbeat["timestamp"]) == times[3]
    finally:
        agent.close()  # the agent stops too: the buffer must survive the restart
        servers.pg.start()
    assert servers.pg.port == port, "the embedded PostgreSQL must come back on the same port"

    with new_agent(dsn, redis_url, buffer, hostname) as restarted:
        result = restarted.tick(times[4])
        assert result.postgres_ok and result.node_id == node_id
        assert result.replayed == 4 and result.unsent == 0
        # A crash between PostgreSQL's commit and the local "sent" mark: everything is sent again.
        with sqlite3.connect(buffer) as db:
            db.execute("UPDATE local_resources SET sent_at = NULL")
        assert restarted.tick(times[5]).replayed == 6

    rows = query(dsn, "SELECT time, metric_type, count(*) FROM node_metrics WHERE node_id = %s"
                      " GROUP BY time, metric_type", (node_id,))
    assert {at for at, _, _ in rows} == set(times)
    assert {n for _, _, n in rows} == {1}
    for at in times:
        assert BASIC_METRICS <= {metric for when, metric, _ in rows if when == at}
    assert query(dsn, "SELECT last_heartbeat FROM nodes WHERE node_id = %s", (node_id,))[0][0] == times[5]


def test_agent_keeps_writing_postgres_while_redis_is_down(dsn, redis_url, servers, tmp_path, hostname):
    if servers.redis is None:
        pytest.skip("needs the embedded Redis (it is stopped and started)")
    with new_agent(dsn, redis_url, tmp_path / "buffer.sqlite3", hostname) as agent:
        assert agent.tick(T0).redis_ok
        servers.redis.stop()
        try:
            for k in (1, 2):
                result = agent.tick(T0 + timedelta(seconds=5 * k))
                assert result.postgres_ok and not result.redis_ok
                assert any(p.startswith("Redis") for p in result.problems)
        finally:
            servers.redis.start()
        result = agent.tick(T0 + timedelta(seconds=15))
        assert result.redis_ok and result.postgres_ok
        node_id = agent.node_id
    client = redis.Redis.from_url(redis_url)
    assert json.loads(client.get(f"node:heartbeat:{node_id}"))["status"] == "active"
    times = {r[0] for r in query(dsn, "SELECT DISTINCT time FROM node_metrics WHERE node_id = %s", (node_id,))}
    assert len(times) == 4
    outage = query(dsn, "SELECT severity, details->>'store' FROM system_events WHERE event_type = 'agent_store_outage'"
                        " AND source_node_id = %s", (node_id,))
    assert outage == [("warning", "Redis")]


def _env(tmp_path):
    env = dict(os.environ)
    env["OMEGA_TUI_CONFIG"] = str(tmp_path / "none.toml")
    env["XDG_STATE_HOME"] = str(tmp_path / "state")
    for name in ("OMEGA_DSN", "OMEGA_REDIS_URL", "OMEGA_PROFILE"):
        env.pop(name, None)
    return env


def test_agent_command_runs_until_sigterm(dsn, redis_url, tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "omega_tui", "agent", "--dsn", dsn, "--redis", redis_url, "--interval", "0.2",
         "--buffer", str(tmp_path / "buffer.sqlite3")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
    )
    try:
        deadline = time.monotonic() + 30
        line = ""
        while "first sample" not in line:
            assert time.monotonic() < deadline
            line = process.stdout.readline()
            assert line, process.stderr.read()
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stopped after" in out and "Traceback" not in err
    assert query(dsn, "SELECT count(DISTINCT time) FROM node_metrics")[0][0] >= 2


def test_agent_command_bad_input_is_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "omega_tui", "agent", "--dsn", "password=s3cretpw host",
         "--redis", "redis://127.0.0.1:6379/0", "--buffer", str(tmp_path / "b.sqlite3")],
        capture_output=True, text=True, env=_env(tmp_path), timeout=30,
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "s3cretpw" not in result.stderr
