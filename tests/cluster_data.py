"""Writing a small cluster into real PostgreSQL and Redis for the data-layer tests.

Plain SQL and plain Redis commands, as the Omega services would write them;
no dependency on the simulator.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import redis

from omega_tui.data.models import METRIC_UNITS


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True)


def add_user(conn, username: str = "alice") -> str:
    return str(conn.execute(
        "INSERT INTO users (username, email, password_hash, role) VALUES (%s, %s, 'x', 'user') RETURNING user_id",
        (username, f"{username}@example.org"),
    ).fetchone()[0])


def add_node(conn, hostname: str, *, status: str = "active", node_type: str = "compute", cores: int = 32,
             memory_gb: float = 128, storage_gb: float = 1000, gpus: int = 0, gpu_memory_gb: float = 0,
             labels: dict | None = None, ip: str = "10.0.0.1", updated_at: datetime | None = None) -> str:
    return str(conn.execute(
        """INSERT INTO nodes (hostname, ip_address, node_type, status, total_cpu_cores, total_memory_gb,
                              total_storage_gb, gpu_count, gpu_memory_gb, labels, updated_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now())) RETURNING node_id""",
        (hostname, ip, node_type, status, cores, memory_gb, storage_gb, gpus, gpu_memory_gb,
         json.dumps(labels or {}), updated_at),
    ).fetchone()[0])


def add_resource(conn, node_id: str, resource_type: str, total: float, allocated: float, unit: str) -> None:
    conn.execute(
        """INSERT INTO node_resources (node_id, resource_type, total_capacity, allocated_capacity, unit)
           VALUES (%s, %s, %s, %s, %s)""",
        (node_id, resource_type, total, allocated, unit),
    )


def add_session(conn, user_id: str, name: str, *, status: str = "pending", node_id: str | None = None,
                created_at: datetime | None = None, priority: int = 5, cpu: float = 4, memory_gb: float = 16,
                gpus: int = 0, session_type: str = "batch") -> str:
    return str(conn.execute(
        """INSERT INTO sessions (user_id, session_name, session_type, status, priority, cpu_request,
                                 memory_request_gb, gpu_request, scheduled_node_id, created_at, start_time)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, coalesce(%s, now()),
                   CASE WHEN %s = 'running' THEN now() END) RETURNING session_id""",
        (user_id, name, session_type, status, priority, cpu, memory_gb, gpus, node_id, created_at, status),
    ).fetchone()[0])


def add_metric_rows(conn, rows) -> int:
    """rows: (time, node_id, metric_type, value); written with COPY. Returns the count."""
    count = 0
    with conn.cursor() as cur:
        with cur.copy("COPY node_metrics (time, node_id, metric_type, value, unit) FROM STDIN") as copy:
            for at, node_id, metric_type, value in rows:
                copy.write_row((at, node_id, metric_type, value, METRIC_UNITS.get(metric_type)))
                count += 1
    return count


def series_rows(node_ids, metrics, end: datetime, span: timedelta, step: timedelta, value):
    """Rows every `step` from end - span to end (inclusive); value(node_index, metric, k) with k = 0 oldest."""
    steps = int(span / step)
    for k in range(steps + 1):
        at = end - span + k * step
        for n, node_id in enumerate(node_ids):
            for metric in metrics:
                yield at, node_id, metric, value(n, metric, k)


def add_event(conn, *, severity: str, event_type: str = "disk_error", message: str = "something happened",
              node_id: str | None = None, session_id: str | None = None, at: datetime | None = None,
              resolved_at: datetime | None = None, source: str = "scheduler") -> str:
    return str(conn.execute(
        """INSERT INTO system_events (timestamp, event_type, severity, source_component, source_node_id,
                                      session_id, message, resolved_at)
           VALUES (coalesce(%s, now()), %s, %s, %s, %s, %s, %s, %s) RETURNING event_id""",
        (at, event_type, severity, source, node_id, session_id, message, resolved_at),
    ).fetchone()[0])


def acknowledge(conn, alert_id: str, by: str = "operator", at: datetime | None = None) -> None:
    conn.execute(
        """INSERT INTO omega_console.alert_acks (alert_id, acknowledged_at, acknowledged_by)
           VALUES (%s, coalesce(%s, now()), %s)
           ON CONFLICT (alert_id) DO UPDATE SET acknowledged_at = EXCLUDED.acknowledged_at,
                                                acknowledged_by = EXCLUDED.acknowledged_by""",
        (alert_id, at, by),
    )


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def write_heartbeat(client, node_id: str, at, *, status: str = "active", load: float = 0.5, ttl: int = 30) -> None:
    """`at`: a datetime (written as ISO-8601), or a number (epoch seconds), as agents do."""
    timestamp = at.isoformat() if isinstance(at, datetime) else at
    client.set(f"node:heartbeat:{node_id}", json.dumps({"timestamp": timestamp, "status": status, "load": load}), ex=ttl)


def write_raw_heartbeat(client, node_id: str, raw: bytes | str, ttl: int = 30) -> None:
    client.set(f"node:heartbeat:{node_id}", raw, ex=ttl)


def set_queue(client, session_ids) -> None:
    client.delete("queue:pending_sessions")
    if session_ids:
        client.rpush("queue:pending_sessions", *session_ids)


def new_id() -> str:
    return str(uuid.uuid4())


class Clock:
    """An injectable clock: aware UTC, moved by the test."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now
