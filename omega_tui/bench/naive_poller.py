"""THE BASELINE, not for use: a poller written the naive way, measured against ours.

It does what the seed 001 code and a typical dashboard do, in the two places
where the real poller (omega_tui.data.poller) is careful:

- heartbeats: `KEYS node:heartbeat:*` (which blocks Redis while it walks the
  whole keyspace), then one GET per key, one round trip each;
- sparklines: every poll re-aggregates the whole history window from raw
  node_metrics (HISTORY_POINTS buckets per node and metric) instead of
  keeping the history in memory and reading only new rows.

Everything else (nodes, sessions, events) is read with the same statements
as the real poller, so the comparison isolates those two choices. Nothing
here is used by the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from omega_tui.data import pg_reads
from omega_tui.data.connect import pg_connect, redis_connect
from omega_tui.data.models import HISTORY_POINTS, LIVE_SESSION_STATUSES, Heartbeat
from omega_tui.data.redis_live import HEARTBEAT_PREFIX, parse_heartbeat

WINDOW_SQL = """
SELECT node_id::text, metric_type, omega_console.time_bucket(%(width)s, time) AS bucket,
       avg(value), (extract(epoch FROM max(time)) * 1000000)::int8
  FROM node_metrics
 WHERE time > now() - %(window)s AND time <= now() + %(skew)s
 GROUP BY 1, 2, 3
 ORDER BY 1, 2, 3
"""


@dataclass
class NaiveReading:
    heartbeats: dict[str, Heartbeat]                  # node id -> heartbeat, for every key found
    sparklines: dict[tuple[str, str], list[float]]    # (node id, metric) -> bucket means, oldest first
    latest_at_us: dict[tuple[str, str], int]          # (node id, metric) -> newest sample time seen
    sql_statements: int = 0
    redis_round_trips: int = 0


class NaivePoller:
    """The baseline: see the module docstring. Read-only (its transaction is READ ONLY)."""

    def __init__(self, dsn: str, redis_url: str, window: timedelta):
        self.window = window
        self.conn = pg_connect(dsn, statement_timeout=None, application_name="omega-tui bench (naive baseline)")
        self.conn.read_only = True
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.conn.rollback()
        self.redis = redis_connect(redis_url, socket_timeout=60)

    def close(self) -> None:
        self.conn.close()
        self.redis.close()

    def poll(self) -> NaiveReading:
        statements = 0
        try:
            pg_reads.read_node_rows(self.conn)   # as our full reads (ours then read only the changes)
            pg_reads.read_live_sessions(self.conn, list(LIVE_SESSION_STATUSES))
            pg_reads.read_open_event_alerts(self.conn)
            pg_reads.read_resolved_event_alerts(self.conn)
            statements += 4
            width = self.window / HISTORY_POINTS
            rows = self.conn.execute(
                WINDOW_SQL, {"width": width, "window": self.window, "skew": pg_reads.CLOCK_SKEW}
            ).fetchall()
            statements += 1
        finally:
            self.conn.rollback()
        sparklines: dict[tuple[str, str], list[float]] = {}
        latest: dict[tuple[str, str], int] = {}
        for node_id, metric_type, _bucket, mean, newest_us in rows:
            sparklines.setdefault((node_id, metric_type), []).append(mean)
            latest[(node_id, metric_type)] = max(newest_us, latest.get((node_id, metric_type), 0))

        keys = self.redis.keys(HEARTBEAT_PREFIX + "*")
        heartbeats = {}
        for key in keys:
            raw = self.redis.get(key)
            if raw is not None:
                heartbeats[key.decode()[len(HEARTBEAT_PREFIX):]] = parse_heartbeat(raw)
        return NaiveReading(heartbeats, sparklines, latest, statements, 1 + len(keys))

