"""Which PostgreSQL the poller reads: the first healthy read replica, else the primary.

Polls and node-detail charts read the first of `settings.read_dsns` that
answers; actions never come here (they always use the primary `dsn`). When
no replica answers, the poller reads the primary (`replica_fallback =
"fallback"`) or keeps its last data marked stale ("stay-stale"). A replica
that failed is tried again with the same backoff as a store (1 s, 2 s ...
30 s), and the poller moves back to it as soon as it answers.

Replica lag: `pg_last_xact_replay_timestamp()` is the commit time of the last
replayed transaction, which grows old on an idle primary although the
replica is current. So a replica whose WAL receiver is running and which has
replayed everything it received counts as 0 s behind; otherwise its lag is
the age of the last replayed transaction.
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.conninfo import conninfo_to_dict

from omega_tui.data.connect import StoreError
from omega_tui.data.store_health import StoreHealthTracker
from omega_tui.masking import mask_dsn

LAG_SQL = """
SELECT pg_is_in_recovery(),
       pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
       EXISTS (SELECT 1 FROM pg_stat_wal_receiver),
       EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
"""


def replica_lag(row) -> float | None:
    """Seconds behind the primary from a LAG_SQL row; None when the replica cannot tell yet."""
    in_recovery, caught_up, receiving, replay_age = row
    if not in_recovery:
        return 0.0   # not a standby (promoted, or a primary named as a read DSN): nothing to lag behind
    if caught_up and receiving:
        return 0.0
    return max(0.0, float(replay_age)) if replay_age is not None else None


def dsn_label(dsn: str) -> str:
    """host:port/dbname of a DSN, for messages (never its password)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return mask_dsn(dsn)
    host = params.get("host") or params.get("hostaddr") or "localhost"
    port = params.get("port") or "5432"
    return f"{host}:{port}/{params.get('dbname') or params.get('user') or ''}"


class ReadSource:
    """The read replicas' health and which source is in use. Not thread-safe: owned by the poller."""

    def __init__(self, settings):
        self.settings = settings
        self.replicas = [(dsn, StoreHealthTracker(f"replica {dsn_label(dsn)}")) for dsn in settings.read_dsns]
        self.current: int | None = None   # index of the replica in use; None: the primary (or nothing)
        self.down_reason: str | None = None   # why no replica is in use

    @property
    def enabled(self) -> bool:
        return bool(self.replicas)

    @property
    def dsn(self) -> str | None:
        """The DSN being read."""
        return self.settings.dsn if self.current is None else self.replicas[self.current][0]

    def label(self) -> str:
        if self.current is None:
            return "primary (fallback: no read replica answers)"
        return self.replicas[self.current][1].store

    def better_due(self, now: datetime) -> bool:
        """Whether a replica preferred to the one in use is due for another try."""
        limit = len(self.replicas) if self.current is None else self.current
        return any(tracker.due(now) for _, tracker in self.replicas[:limit])

    def try_replicas(self, open_dsn, now: datetime, *, before: int | None = None, force: bool = False):
        """A connection to the first replica (of those before `before`) that answers, or None."""
        reasons = []
        for index, (dsn, tracker) in enumerate(self.replicas[:before]):
            if not (force or tracker.due(now)):
                reasons.append(f"{tracker.store}: {tracker.health().reason}")
                continue
            try:
                conn = open_dsn(dsn)
            except StoreError as exc:
                tracker.failed(now, exc.reason)
                reasons.append(f"{tracker.store}: {exc.reason}")
                continue
            tracker.succeeded(now, 0.0)
            self.current, self.down_reason = index, None
            return conn
        if before is None:
            self.down_reason = "; ".join(reasons)
        return None

    def connect(self, open_dsn, now: datetime) -> psycopg.Connection:
        """The first replica that answers; else the primary, or StoreError with stay-stale."""
        stay = self.settings.replica_fallback == "stay-stale"
        # With stay-stale the poller's own backoff already spaces the attempts: try them all.
        conn = self.try_replicas(open_dsn, now, force=stay)
        if conn is not None:
            return conn
        self.current = None
        if stay:
            raise StoreError("PostgreSQL", f"no read replica answers ({self.down_reason});"
                                           " not reading the primary (replica_fallback = stay-stale)")
        return open_dsn(self.settings.dsn)

    def replica_failed(self, now: datetime, reason: str) -> None:
        """The replica in use broke mid-poll: back off from it before trying it again."""
        if self.current is not None:
            self.replicas[self.current][1].failed(now, reason)
            self.current = None


def replica_status(dsn: str, *, connect_timeout: float) -> str:
    """One line for `check` and `db status`: the replica's version, role and lag. Raises StoreError."""
    from omega_tui.data.connect import describe_pg_error, pg_connect

    label = dsn_label(dsn)
    try:
        with pg_connect(dsn, connect_timeout=connect_timeout, autocommit=True,
                        application_name="omega-tui check") as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            row = conn.execute(LAG_SQL).fetchone()
    except StoreError as exc:
        raise StoreError(f"read replica {label}", exc.reason) from None
    except psycopg.Error as exc:
        raise StoreError(f"read replica {label}", describe_pg_error(exc, dsn)) from None
    if not row[0]:
        return f"read replica {label}: PostgreSQL {version}, NOT in recovery (a primary?)"
    lag = replica_lag(row)
    behind = "lag unknown (nothing replayed yet)" if lag is None else f"{lag:.1f} s behind its primary"
    return f"read replica {label}: PostgreSQL {version}, in recovery, {behind}"
