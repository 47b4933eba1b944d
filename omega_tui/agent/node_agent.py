"""The node agent: makes the host it runs on a node of the cluster.

Each interval it samples the host, stores the sample in the local SQLite
buffer, then sends every unsent sample to PostgreSQL in order (node_metrics
rows and nodes.last_heartbeat) and the latest one to Redis (heartbeat and
metrics keys). Store and forward:

- PostgreSQL away: samples wait in the buffer (which survives restarts) and
  are replayed in order when it returns. A sample whose timestamp PostgreSQL
  already has for this node is not inserted again, so a replay interrupted
  between the commit and the local "sent" mark never duplicates rows.
- Redis away: PostgreSQL still gets everything; Redis is retried each tick
  (a heartbeat is only worth sending fresh, so it is never replayed).
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import redis
from psycopg.types.json import Jsonb

from omega_tui.agent.host_sample import HostCollector, HostInventory, HostSample, host_inventory
from omega_tui.agent.sample_buffer import SampleBuffer
from omega_tui.data.connect import (
    REDIS_ERRORS, StoreError, describe_pg_error, describe_redis_error, pg_connect, redis_connect,
)
from omega_tui.data.models import METRIC_UNITS
from omega_tui.sim import redis_keys as keys
from omega_tui.tick_loop import run_ticks

SOURCE_COMPONENT = "omega-agent"
REPLAY_BATCH = 500
RESOURCE_UNITS = {"cpu": "cores", "memory": "GB", "storage": "GB", "network": "Mbps"}


def default_buffer_path() -> Path:
    from omega_tui.config import user_state_dir

    return user_state_dir() / "agent-buffer.sqlite3"


@dataclass(slots=True)
class AgentTick:
    at: datetime
    sample_id: int
    node_id: str | None = None
    postgres_ok: bool = False
    redis_ok: bool = False
    replayed: int = 0          # samples sent to PostgreSQL this tick (1 when nothing was waiting)
    unsent: int = 0            # samples still waiting in the buffer
    problems: list[str] = field(default_factory=list)


class NodeAgent:
    def __init__(self, dsn: str, redis_url: str, *, buffer_path: Path | None = None, interval: float = 5.0,
                 hostname: str | None = None, connect_timeout: float = 2.0, log=None):
        if interval <= 0:
            raise ValueError("interval must be greater than 0")
        self.dsn = dsn
        self.redis_url = redis_url
        self.interval = float(interval)
        self.connect_timeout = connect_timeout
        self.log = log or (lambda message: None)
        self.inventory: HostInventory = host_inventory(hostname)
        self.buffer = SampleBuffer(buffer_path or default_buffer_path())
        self.collector = HostCollector()
        cached = self.buffer.get_config("node_id")
        self.node_id: str | None = cached if cached and _is_uuid(cached) else None
        self.node_status = "active"
        self._verified = False            # node_id confirmed in this PostgreSQL since we connected
        self._conn: psycopg.Connection | None = None
        self._redis: redis.Redis | None = None
        self._pg_down_since: datetime | None = None
        self._redis_down_since: datetime | None = None
        self._stop = threading.Event()

    # -- one tick ------------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> AgentTick:
        now = now or datetime.now(UTC)
        sample = self.collector.collect(now)
        result = AgentTick(now, self.buffer.add(sample))
        try:
            result.replayed = self._forward(now)
            result.postgres_ok = True
            self._pg_back(now, result.replayed)
        except StoreError as exc:
            result.problems.append(str(exc))
            self._pg_lost(now, str(exc))
        result.node_id = self.node_id
        result.unsent = self.buffer.unsent_count()
        if self.node_id is not None:
            try:
                self._send_live(sample)
                result.redis_ok = True
                self._redis_back(now)
            except StoreError as exc:
                result.problems.append(str(exc))
                self._redis_lost(now, str(exc))
        if result.postgres_ok and self.buffer.unsent_events(limit=1):
            try:  # an outage that just ended is told now, not a tick later
                self._replay_events(self._pg(), now)
            except (psycopg.Error, StoreError):
                self._drop_pg()
        return result

    # -- PostgreSQL ------------------------------------------------------------------------------

    def _pg(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = pg_connect(self.dsn, connect_timeout=self.connect_timeout, statement_timeout=30,
                                    application_name="omega-agent")
            self._verified = False
        return self._conn

    def _drop_pg(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def _forward(self, now: datetime) -> int:
        """Register if needed, then replay every unsent sample and event; raises StoreError."""
        for attempt in (1, 2):
            fresh = self._conn is None or self._conn.closed or self._conn.broken
            try:
                conn = self._pg()
                if not self._verified:
                    self._register(conn)
                sent = self._replay_samples(conn, now)
                self._replay_events(conn, now)
                self.buffer.prune(now)
                return sent
            except psycopg.Error as exc:
                reason = describe_pg_error(exc, self.dsn)
                self._drop_pg()
                # A connection that worked before may just be stale (the server restarted):
                # one retry on a new connection before calling PostgreSQL unreachable.
                if fresh or attempt == 2 or not isinstance(exc, psycopg.OperationalError):
                    raise StoreError("PostgreSQL", reason) from None
        raise AssertionError("unreachable")

    def _register(self, conn) -> None:
        """This host as a node: found by id (cached) or hostname, else inserted. Idempotent."""
        inv = self.inventory
        with conn.transaction():
            row = None
            if self.node_id:
                row = conn.execute("SELECT node_id, status FROM nodes WHERE node_id = %s", (self.node_id,)).fetchone()
            if row is None:
                row = conn.execute(
                    "SELECT node_id, status FROM nodes WHERE hostname = %s ORDER BY created_at, node_id LIMIT 1",
                    (inv.hostname,),
                ).fetchone()
            if row is None:
                row = conn.execute(
                    """INSERT INTO nodes (hostname, ip_address, node_type, status, total_cpu_cores, total_memory_gb,
                                          total_storage_gb, gpu_count, network_bandwidth_mbps, architecture,
                                          os_version, kernel_version, labels, annotations)
                       VALUES (%s, %s, 'compute', 'active', %s, %s, %s, 0, %s, %s, %s, %s, %s, %s)
                       RETURNING node_id, status""",
                    (inv.hostname, inv.ip_address, inv.cores, inv.memory_gb, inv.storage_gb, inv.network_mbps,
                     inv.architecture, inv.os_version, inv.kernel_version, Jsonb({"agent": "omega-agent"}),
                     Jsonb({"managed_by": "omega-agent"})),
                ).fetchone()
                self._log_event(datetime.now(UTC), "node_registered", "info",
                                f"node {inv.hostname} registered by its agent", {"hostname": inv.hostname})
            node_id, status = str(row[0]), str(row[1])
            if status in ("inactive", "failed"):
                conn.execute("UPDATE nodes SET status = 'active', updated_at = now() WHERE node_id = %s", (node_id,))
                status = "active"
            totals = {"cpu": inv.cores, "memory": inv.memory_gb, "storage": inv.storage_gb,
                      "network": inv.network_mbps}
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO node_resources (node_id, resource_type, total_capacity, unit) VALUES (%s, %s, %s, %s)"
                    " ON CONFLICT (node_id, resource_type) DO NOTHING",
                    [(node_id, rt, total, RESOURCE_UNITS[rt]) for rt, total in totals.items()],
                )
        conn.commit()
        if node_id != self.node_id:
            self.log(f"agent: this host is node {inv.hostname} ({node_id})")
        self.node_id, self.node_status, self._verified = node_id, status, True
        self.buffer.set_config("node_id", node_id)

    def _replay_samples(self, conn, now: datetime) -> int:
        sent = 0
        while batch := self.buffer.unsent(REPLAY_BATCH):
            times = [b.sample.at for b in batch]
            with conn.transaction():
                present = {row[0] for row in conn.execute(
                    "SELECT DISTINCT time FROM node_metrics WHERE node_id = %s AND time = ANY(%s)",
                    (self.node_id, times))}
                rows = [(b.sample.at, self.node_id, metric_type, value, METRIC_UNITS[metric_type])
                        for b in batch if b.sample.at not in present for metric_type, value in b.sample.metrics()]
                if rows:
                    with conn.cursor().copy(
                        "COPY node_metrics (time, node_id, metric_type, value, unit) FROM STDIN"
                    ) as copy:
                        for row in rows:
                            copy.write_row(row)
                status = conn.execute(
                    "UPDATE nodes SET last_heartbeat = greatest(coalesce(last_heartbeat, '-infinity'), %s)"
                    " WHERE node_id = %s RETURNING status",
                    (max(times), self.node_id),
                ).fetchone()
            conn.commit()
            # Marked after the commit: a crash in between re-sends, and `present` drops the repeats.
            self.buffer.mark_sent([b.sample_id for b in batch], now)
            if status is not None:
                self.node_status = str(status[0])
            sent += len(batch)
        return sent

    def _replay_events(self, conn, now: datetime) -> None:
        while events := self.buffer.unsent_events():
            with conn.transaction():
                with conn.cursor() as cur:
                    cur.executemany(
                        """INSERT INTO system_events (event_id, timestamp, event_type, severity, source_component,
                                                      source_node_id, message, details)
                           VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING""",
                        [(e.event_uuid, e.at, e.event_type, e.severity, SOURCE_COMPONENT, self.node_id, e.message,
                          Jsonb(e.details)) for e in events],
                    )
            conn.commit()
            self.buffer.mark_events_sent([e.local_id for e in events], now)

    def _log_event(self, at: datetime, event_type: str, severity: str, message: str, details: dict) -> None:
        self.buffer.log_event(at, event_type, severity, message, details, str(uuid.uuid4()))

    def _pg_lost(self, now: datetime, reason: str) -> None:
        if self._pg_down_since is None:
            self._pg_down_since = now
            self.log(f"agent: {reason}; buffering samples in {self.buffer.path}")

    def _pg_back(self, now: datetime, replayed: int) -> None:
        if self._pg_down_since is None:
            return
        seconds = (now - self._pg_down_since).total_seconds()
        self._pg_down_since = None
        message = f"agent on {self.inventory.hostname} could not reach PostgreSQL for {seconds:.0f} s;" \
                  f" {replayed} buffered sample(s) replayed"
        self.log(f"agent: PostgreSQL is back; {replayed} sample(s) replayed")
        self._log_event(now, "agent_store_outage", "warning", message,
                        {"store": "PostgreSQL", "seconds": round(seconds), "replayed": replayed})

    # -- Redis ------------------------------------------------------------------------------------

    def _send_live(self, sample: HostSample) -> None:
        try:
            if self._redis is None:
                self._redis = redis_connect(self.redis_url, connect_timeout=self.connect_timeout,
                                            socket_timeout=self.connect_timeout, check=False)
            at_text = sample.at.isoformat()
            pipe = self._redis.pipeline(transaction=False)
            pipe.execute_command("SETEX", keys.heartbeat_key(self.node_id), keys.HEARTBEAT_TTL_SECONDS,
                                 keys.heartbeat_value(sample.at, self.node_status, sample.load_1m))
            for metric_type, value in sample.metrics():
                pipe.set(keys.metric_key(self.node_id, metric_type),
                         keys.metric_value(value, at_text, METRIC_UNITS[metric_type]), ex=keys.METRIC_TTL_SECONDS)
            pipe.execute()
        except REDIS_ERRORS as exc:
            # A new client next time: it finds the cluster's slot map (or the cluster) afresh.
            self._drop_redis()
            raise StoreError("Redis", describe_redis_error(exc, self.redis_url)) from None

    def _drop_redis(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            try:
                client.close()
            except (*REDIS_ERRORS, OSError):
                pass

    def _redis_lost(self, now: datetime, reason: str) -> None:
        if self._redis_down_since is None:
            self._redis_down_since = now
            self.log(f"agent: {reason}; heartbeats paused, PostgreSQL still written")

    def _redis_back(self, now: datetime) -> None:
        if self._redis_down_since is None:
            return
        seconds = (now - self._redis_down_since).total_seconds()
        self._redis_down_since = None
        self.log("agent: Redis is back")
        self._log_event(now, "agent_store_outage", "warning",
                        f"agent on {self.inventory.hostname} could not reach Redis for {seconds:.0f} s;"
                        " heartbeats were missed", {"store": "Redis", "seconds": round(seconds)})

    # -- the loop -----------------------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def run(self, duration: timedelta | None = None, stop: threading.Event | None = None, on_tick=None) -> int:
        """Tick every interval until `duration` has passed or `stop` (or `self.stop()`) is set."""
        stop = stop or self._stop
        return run_ticks(self.tick, self.interval, stopped=lambda: stop.is_set() or self._stop.is_set(),
                         wait=self._stop.wait, duration=duration, on_tick=on_tick)

    def close(self) -> None:
        self._stop.set()
        self._drop_pg()
        if self._redis is not None:
            self._redis.close()
            self._redis = None
        self.buffer.close()

    def __enter__(self) -> "NodeAgent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False
