"""One poller reads PostgreSQL and Redis and hands out frozen ClusterSnapshots.

A poll costs O(nodes), not O(history): the short history lives here in
memory and only node_metrics rows newer than each node's own watermark are
read (late rows of a node are found, no row is read twice), and only of the
nodes whose next sample is due, and of every node in turn (see
MetricHistory.nodes_to_read). A poll is a constant number of statements
(eight queries, four of them sent together in one round trip (see
pg_reads.read_changes_at_once); one more for new open events (see
open_events.py), one more when an open event left them or every
RESOLVED_READ_SECONDS for the resolved ones), in one read-only
REPEATABLE READ transaction so they agree with each other (the metric
rows, only ever added, excepted: see metric_reader.py); nodes and live
sessions are read incrementally too, see live_tables.py; the first poll
loads the short history of the first nodes shown, and so does the first
poll after a gap: that of the others loads in batches between polls) and
one Redis round trip
(one request per master on a Redis Cluster; one more when PostgreSQL brought
new nodes, see below). PollStats counts those queries and requests (a Redis
reconnect adds its PING); connecting to PostgreSQL (with its SET TIME ZONE)
and the transaction's BEGIN/ROLLBACK are not counted.

With read replicas (`settings.read_dsns`) the poll and the node-detail charts
read the first replica that answers, plus one statement for its lag; see
read_replicas.py for falling back to the primary and coming back.

Degrade, never die: when a store fails, its last data is kept and marked
STALE (DOWN if it never answered), it is retried with backoff, and it comes
back on its own. One store's failure never hides the other's data.

Threads: poll() and node_detail() run one at a time (a lock), typically in a
worker thread. A poll reads Redis in a thread of its own while it waits for
PostgreSQL, for the nodes of the last poll, then the heartbeats of any nodes
that PostgreSQL just listed; from its second poll on, it reads the new
metric rows in another thread, on a second connection, while its own
connection reads the rest (see metric_reader.py); that thread also loads the
batches of short history between polls. Both threads are kept from poll to
poll (see worker_thread.py). With read_ahead (the console's
poller), a thread of its own reads ahead of each poll, as a poll does
(_start_read_ahead). What a poll takes from between polls counts in its
PollStats. close() may be
called from any thread and cancels the running PostgreSQL statements. Textual
is never imported here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from omega_tui.data import lenient_times, pg_reads
from omega_tui.data.alert_acks import AlertAcks
from omega_tui.data.alerts import AlertBuilder
from omega_tui.data.audit_trail import AuditTrail
from omega_tui.data.connect import (
    REDIS_ERRORS, StoreError, cancel_statement, close_quietly, describe_pg_error, describe_redis_error, pg_connect,
    redis_connect,
)
from omega_tui.data.held_sessions import EMPTY as EMPTY_SESSIONS
from omega_tui.data.held_sessions import LiveSessions
from omega_tui.data.live_tables import LiveTables
from omega_tui.data.metric_history import MetricHistory, to_micros
from omega_tui.data.metric_reader import MetricReader
from omega_tui.data.models import (
    CANONICAL_METRICS, HISTORY_POINTS, Alert, ClusterSnapshot, Node, NodeDetail, PollStats, Reachability,
)
from omega_tui.data.node_builder import NodeBuilder
from omega_tui.data.node_detail import empty_detail, read_node_detail
from omega_tui.data.open_events import OpenEvents
from omega_tui.data.read_replicas import LAG_SQL, ReadSource, replica_lag
from omega_tui.data.redis_live import HeartbeatReader, RedisReading, reachability
from omega_tui.data.store_health import StoreHealthTracker
from omega_tui.data.totals import ClusterTotalsBuilder
from omega_tui.data.worker_thread import WorkerThread

RELOAD_AFTER_SECONDS = 300.0             # after a longer gap, reload the short history (in batches) instead of catching up
CLOSE_WAIT_SECONDS = 0.5                 # close() from another thread waits this long for a cancelled poll
FIRST_LOAD_ROWS_PER_NODE = HISTORY_POINTS * (len(CANONICAL_METRICS) + 1)   # room for a non-canonical metric
LATEST_ROWS_PER_NODE = len(CANONICAL_METRICS) + 1   # the first poll's newest samples of a node still without its history
FIRST_POLL_HISTORY_NODES = 200           # the first poll loads the short history of this many nodes (the first shown),
HISTORY_FILL_POLLS = 5                   # the next polls that of the others, in this many equal batches
HISTORY_BATCH_MIN = 100                  # (at least this many nodes each)
RESOLVED_READ_SECONDS = 30.0             # the resolved events are read again at least this often
READ_AHEAD_SHARE = 0.75                  # read_ahead: the stores are read ahead this share of the
                                         # gap between polls after one ends (see _start_read_ahead)
LATE_BATCH_SHARE = 0.5                   # a history batch still loading this share of the refresh after it began
                                         # when the next poll takes it did not fit between polls


class _CountingDb:
    """Counts the statements a poll runs (the figure PollStats reports)."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn
        self.statements = 0

    def execute(self, query, params=None, *, binary: bool = False):
        self.statements += 1
        return self.conn.cursor(binary=binary).execute(query, params)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _unexpected(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"unexpected {type(exc).__name__} while reading{': ' + text[:200] if text else ''}"


def _count_read(counts: dict, read: tuple[int, int, int]) -> None:
    """Count in the poll a read of the metric reader's between polls: (rows, rows new, statements)."""
    rows, new, statements = read
    counts["sql"] += statements
    counts["rows"] += rows
    counts["new"] += new


def open_poll_connection(settings, dsn: str | None, *, for_metrics: bool = False) -> psycopg.Connection:
    """A connection for the poller's reads (for_metrics: the metric reader's, see metric_reader.py).

    A function, not a Poller method: the metric reader keeps it, and a bound method would make a
    reference cycle (poller -> reader -> poller) that keeps a closed poller's snapshot data, hundreds
    of thousands of objects at 10,000 nodes, until a full garbage collection.
    """
    if not dsn:
        raise StoreError("PostgreSQL", "no DSN configured")
    conn = pg_connect(
        dsn,
        connect_timeout=settings.connect_timeout,
        statement_timeout=settings.statement_timeout,
        autocommit=for_metrics,
        application_name="omega-tui poller (metrics)" if for_metrics else "omega-tui poller",
        # Notice a silently dead server (no RST) within seconds, not hours.
        keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3,
    )
    try:
        conn.execute("SET TIME ZONE 'UTC'")   # times come back in UTC whatever the server's zone
        if for_metrics:   # one statement per read, no transaction to end: autocommit, read-only
            conn.execute("SET default_transaction_read_only = on")
        else:
            conn.commit()
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    except psycopg.Error as exc:
        conn.close()
        if for_metrics:
            raise StoreError("PostgreSQL", describe_pg_error(exc, dsn)) from None
        raise
    return conn


class Poller:
    def __init__(self, settings, *, clock=None, read_ahead: bool = False):
        self.settings = settings
        self._clock = clock or _utc_now
        self._read_ahead = read_ahead
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._poll_begins = threading.Event()   # a read-ahead still waiting is skipped (a poll began, close())
        self._poll_ended: float | None = None    # time.monotonic() when the last poll ended
        self._poll_gap = settings.refresh        # the last gap between polls: from one's end to the next's start
        self._read_ahead_thread: threading.Thread | None = None
        self._read_ahead_took = 0.0               # seconds the last read-ahead took
        self._taken_ahead: tuple[dict, list[str]] | None = None   # the read-ahead's counts and notices, for the next poll
        self._conn: psycopg.Connection | None = None
        self._redis: redis.Redis | None = None
        self._pg_health = StoreHealthTracker("PostgreSQL")
        self._source = ReadSource(settings)
        self._metric_reader = MetricReader(partial(open_poll_connection, settings, for_metrics=True))
        self._lag: float | None = None   # seconds the replica in use is behind
        self._redis_health = StoreHealthTracker("Redis")
        self._redis_reader = WorkerThread("omega-redis-read")
        self._history = MetricHistory()
        self._live_tables = LiveTables()
        self._queue_positions: tuple = (None, {})   # (queue as read, session id -> its first position)
        self._node_builder = NodeBuilder()
        self._heartbeats = HeartbeatReader()
        self._alerts = AlertBuilder(settings.thresholds, settings.pending_alert_seconds)
        self._audit = AuditTrail()
        self._alert_acks = AlertAcks()
        self._open_event_reader = OpenEvents()
        self._totals = ClusterTotalsBuilder()

        # The last data each store gave; kept while that store is unavailable.
        self._pg_nodes: list[pg_reads.PgNode] = []
        self._pg_node_ids: list[str] = []   # theirs, in order: the same list while they stay the same
        self._sessions: LiveSessions = EMPTY_SESSIONS
        self._open_events: list[Alert] = []
        self._resolved: list[Alert] = []
        self._open_event_ids: list[str] = []
        self._resolved_read_at: float | None = None   # time.monotonic() of the last read of the resolved events
        self._acks: dict = {}
        self._metrics_read_at: float | None = None   # time.monotonic() of the last metric read
        self._history_pending: list[str] = []        # nodes whose short history is still to load
        self._history_loading: list[str] = []        # those of them a read between polls is loading
        self._history_batch = HISTORY_BATCH_MIN
        self._history_batch_goal = HISTORY_BATCH_MIN   # the size the fill began with
        self._history_batch_began = 0.0                # time.monotonic() when the batch loading began
        self._redis_reading: RedisReading | None = None

    # --- public ---------------------------------------------------------------

    def poll(self) -> ClusterSnapshot:
        """Read both stores and build a snapshot. Never raises for store failures."""
        self._poll_begins.set()   # a read-ahead still waiting is skipped
        with self._lock:
            try:
                return self._poll()
            finally:
                self._end_transaction()
                self._poll_ended = time.monotonic()
                if self._closed.is_set():
                    self._close_stores()
                else:
                    self._start_history_batch()
                    self._start_read_ahead()

    def node_detail(self, node_id: str, window: timedelta) -> NodeDetail:
        """A node's history over `window` (rollups) and its recent events.

        Never raises for store failures: NodeDetail.problem says what went wrong.
        """
        with self._lock:
            now = self._clock()
            if self._closed.is_set():
                return empty_detail(node_id, window, now, "the poller is closed")
            if self._conn is None:
                if not self._pg_health.due(now):
                    reason = self._pg_health.health().reason
                    return empty_detail(node_id, window, now, f"PostgreSQL unavailable: {reason}")
                try:
                    self._conn = self._connect_pg()
                except StoreError as exc:
                    return empty_detail(node_id, window, now, str(exc))
            try:
                return read_node_detail(_CountingDb(self._conn), node_id, window, now)
            except psycopg.Error as exc:
                dsn = self._source.dsn
                self._drop_pg()
                return empty_detail(node_id, window, now, f"PostgreSQL: {describe_pg_error(exc, dsn)}")
            finally:
                self._end_transaction()

    @property
    def filling_history(self) -> bool:
        """Short histories are still to load, in batches between polls: the next poll (or the
        read-ahead before it) takes one."""
        return bool(self._history_pending or self._history_loading)

    def close(self) -> None:
        """Close the connections; from another thread, also cancel a running statement."""
        self._closed.set()
        self._poll_begins.set()
        if self._lock.acquire(blocking=False):
            try:
                self._close_stores()
            finally:
                self._lock.release()
            return
        # A poll is running in another thread: interrupt its statement, then
        # give it a moment to finish. If it is still busy (a Redis read or a
        # connection attempt ends only at its own timeout), it sees `_closed`
        # and closes the stores itself.
        cancel_statement(self._conn)
        self._metric_reader.cancel()
        if self._lock.acquire(timeout=CLOSE_WAIT_SECONDS):
            try:
                self._close_stores()
            finally:
                self._lock.release()

    # --- one poll -------------------------------------------------------------

    def _poll(self, ahead: bool = False) -> ClusterSnapshot:
        """`ahead`: a read-ahead (see _start_read_ahead): its counts and notices go to the next poll."""
        started = time.perf_counter()
        now = self._clock()
        counts = {"sql": 0, "redis": 0, "rows": 0, "new": 0, "full": False}
        notices: list[str] = []
        if self._taken_ahead is not None and not ahead:
            taken_counts, taken_notices = self._taken_ahead
            self._taken_ahead = None
            for name in ("sql", "redis", "rows", "new"):
                counts[name] += taken_counts[name]
            notices.extend(taken_notices)
        if self._poll_ended is not None and not ahead:
            self._poll_gap = time.monotonic() - self._poll_ended
        self._take_history_batch(counts)

        closed = self._closed.is_set()
        pg_due = not closed and self._pg_health.due(now)
        redis_due = not closed and self._redis_health.due(now)
        known = self._pg_node_ids
        if pg_due and redis_due and known:
            # Redis is read in a thread of its own while this one waits for PostgreSQL (its work
            # then costs the poll nothing), for the nodes of the last poll; nodes this poll's
            # PostgreSQL read brings (rare) are asked about after it, in one more round trip.
            redis_counts = {"redis": 0}
            redis_read = self._redis_reader.submit(self._read_redis, now, redis_counts, known)
            pg_fresh = self._read_postgres(now, counts, sweep=not ahead)
            redis_fresh = redis_read.result()
            if redis_fresh and pg_fresh and self._pg_node_ids is not known:   # the nodes changed
                redis_fresh = self._read_new_heartbeats(now, redis_counts)
            counts["redis"] += redis_counts["redis"]
        else:
            pg_fresh = pg_due and self._read_postgres(now, counts, sweep=not ahead)
            redis_fresh = redis_due and self._read_redis(now, counts, self._pg_node_ids)

        nodes = self._nodes(now, redis_fresh, notices)
        positions = self._queue_positions_of(notices)
        sessions, pending = self._sessions.ordered, self._sessions.pending
        alerts = self._alerts.build(
            nodes=nodes,
            node_changed_at=self._node_builder.updated_at,
            last_heartbeat_seen=self._redis_reading.last_seen if self._redis_reading is not None else {},
            sessions=pending,
            queue_positions=positions,
            open_events=self._open_events,
            history=self._history,
            now=now,
        )
        if pg_fresh:
            self._read_acks(now, counts, notices)
        alerts = self._alerts.with_acks(alerts, self._acks)
        if pg_fresh:
            self._read_audit(now, counts, notices)

        notices.extend(self._data_notices())
        notices = list(dict.fromkeys(notices))   # once each, those carried from the read-ahead too
        if ahead:
            self._taken_ahead = (counts, notices)
        return ClusterSnapshot(
            taken_at=now,
            nodes=tuple(nodes),
            sessions=tuple(sessions),
            queue_positions=positions,
            alerts=tuple(alerts),
            totals=self._totals.build(nodes, self._sessions.statuses, alerts),
            postgres=self._postgres_health(),
            redis=self._redis_health.health(),
            stats=PollStats(
                duration_ms=(time.perf_counter() - started) * 1000,
                sql_statements=counts["sql"],
                redis_round_trips=counts["redis"],
                metric_rows=counts["rows"],
                metric_rows_new=counts["new"],
                full_metric_load=counts["full"],
            ),
            resolved_alerts=tuple(self._resolved),
            notices=tuple(notices),
            audit=self._audit.entries,
        )

    # --- PostgreSQL -----------------------------------------------------------

    def _connect_pg(self) -> psycopg.Connection:
        if self._source.enabled:
            return self._source.connect(self._open_pg, self._clock())
        return self._open_pg(self.settings.dsn)

    def _open_pg(self, dsn: str | None) -> psycopg.Connection:
        return open_poll_connection(self.settings, dsn)

    def _end_transaction(self) -> None:
        """End the poll's read-only transaction, so the next poll sees new data."""
        conn = self._conn
        if conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            try:
                conn.rollback()
            except psycopg.Error:
                self._drop_pg()

    def _drop_pg(self) -> None:
        self._poll_begins.set()   # a read-ahead still waiting is skipped, not started on a closing connection
        self._metric_reader.close()
        conn, self._conn = self._conn, None
        close_quietly(conn)

    def _postgres_health(self):
        health = self._pg_health.health()
        if not self._source.enabled:
            return health
        on_replica = self._source.current is not None
        return replace(health, source=self._source.label(), lag_seconds=self._lag if on_replica else None)

    def _back_to_replica(self, now: datetime) -> None:
        """Reading the primary or a later replica: move to a preferred replica once it answers again."""
        if self._conn is None or not self._source.enabled or not self._source.better_due(now):
            return
        conn = self._source.try_replicas(self._open_pg, now, before=self._source.current)
        if conn is not None:
            self._drop_pg()
            self._conn = conn

    def _read_replica_lag(self, counts: dict) -> float | None:
        if self._source.current is None:
            return None
        db = _CountingDb(self._conn)
        try:
            return replica_lag(db.execute(LAG_SQL).fetchone())
        finally:
            counts["sql"] += db.statements

    def _read_postgres(self, now: datetime, counts: dict, sweep: bool = True) -> bool:
        started = time.perf_counter()
        self._back_to_replica(now)
        for attempt in (1, 2):
            reused = self._conn is not None
            try:
                if self._conn is None:
                    self._conn = self._connect_pg()
                self._read_pg_tables(now, counts, sweep)
                self._lag = self._read_replica_lag(counts)
            except StoreError as exc:
                self._pg_health.failed(now, exc.reason, took=time.perf_counter() - started)
                return False
            except psycopg.Error as exc:
                if attempt == 1 and lenient_times.retry_with_lenient_times(self._conn, exc):
                    continue   # a time Python cannot hold ('infinity'): read such times as None
                reason = describe_pg_error(exc, self._source.dsn)
                lost = self._conn is None or self._conn.broken or self._conn.closed or self._metric_reader.lost
                self._source.replica_failed(now, reason)
                self._drop_pg()
                # A connection that died between polls (a server restart) gets one
                # immediate retry on a new connection; anything else waits for backoff.
                if attempt == 1 and reused and lost and not self._closed.is_set():
                    continue
                self._pg_health.failed(now, reason, took=time.perf_counter() - started)
                return False
            except Exception as exc:  # noqa: BLE001 - data no reader expected: degrade, never die
                self._drop_pg()
                self._pg_health.failed(now, _unexpected(exc), took=time.perf_counter() - started)
                return False
            latency = (time.perf_counter() - started) * 1000
            limit = self.settings.replica_max_lag
            if self._lag is not None and self._lag > limit:
                self._pg_health.succeeded(now, latency, behind=self._lag, behind_reason=(
                    f"{self._source.label()} is {self._lag:.0f} s behind its primary (limit {limit:g} s)"))
            else:
                self._pg_health.succeeded(now, latency)
            return True
        return False

    def _read_pg_tables(self, now: datetime, counts: dict, sweep: bool = True) -> None:
        """`sweep`: see MetricHistory.nodes_to_read (False in a read-ahead: the sweep is the polls' own)."""
        full = (
            self._history.watermark is None
            or self._metrics_read_at is None
            or time.monotonic() - self._metrics_read_at > RELOAD_AFTER_SECONDS
        )
        # After the first poll, the new metric rows are read (and merged) on a connection of their
        # own, alongside this one's reads (see metric_reader.py); the rest of the short history is
        # loaded on it between polls (_start_history_batch).
        alongside = not full and bool(self._pg_node_ids) and self._metric_reader.available
        if alongside:
            asked = self._pg_node_ids
            self._metric_reader.start(self._source.dsn,
                                      lambda conn: self._merge_new_metrics(conn, asked, now, sweep=sweep))
        db = _CountingDb(self._conn)
        try:
            try:
                # The open events' keys ride along with the nodes' and sessions' statements: one round trip.
                events = self._open_event_reader
                keys = self._live_tables.read(db, pg_reads.send_open_event_keys if events.wants_keys(db) else None)
                nodes, sessions = self._live_tables.nodes, self._live_tables.sessions
                open_events = events.read(db, keys)
                # Events are resolved out of the open ones: while none of those leaves (new ones may
                # come), the resolved history is read only now and then (an event written already
                # resolved waits for that).
                open_ids = [a.alert_id for a in open_events]
                one_left = open_ids != self._open_event_ids and not set(self._open_event_ids) <= set(open_ids)
                if (one_left or self._resolved_read_at is None
                        or time.monotonic() - self._resolved_read_at > RESOLVED_READ_SECONDS):
                    resolved = pg_reads.read_resolved_event_alerts(db)
                    resolved_read_at = time.monotonic()
                else:
                    resolved, resolved_read_at = self._resolved, self._resolved_read_at
            except BaseException:
                if alongside:
                    self._metric_reader.wait()   # its rows are merged or not: either way nothing is lost
                raise
            merged = self._metric_reader.result() if alongside else None   # None: read them here
            node_ids = self._live_tables.node_ids
            loading, pending, recent, rows = [], self._history_pending, [], []
            if merged is None:
                # The first poll, or the first after a gap, reads the short history of a batch of nodes
                # (the first ones shown) and the newest samples of the others: the data comes fast, the
                # sparklines fill in over the next polls, and no statement reads every node's history
                # (at 5,000 nodes on a cold cache that takes longer than the statement timeout).
                known = set(node_ids)
                pending = node_ids if full else [i for i in self._history_pending if i in known]
                size = FIRST_POLL_HISTORY_NODES if full else self._history_batch
                loading, pending = pending[:size], pending[size:]
                recent = self._read_history_batch(db, loading)
                if recent is None:   # too slow: these nodes wait for a later, smaller batch
                    loading, pending, recent = [], loading + pending, []
                skip = set(loading)
                others = [i for i in node_ids if i not in skip]
                if full:   # every node's newest samples
                    asked, since = others, self._history.node_watermarks(others)
                else:      # the new rows of the nodes whose next sample is due, and of some others in turn
                    asked, since = self._history.nodes_to_read(others, to_micros(now), sweep=sweep)
                rows = pg_reads.read_new_metrics(
                    db, asked, since, LATEST_ROWS_PER_NODE if full else FIRST_LOAD_ROWS_PER_NODE) if asked else []
        finally:
            counts["sql"] += db.statements
        # Every read succeeded: take them all together.
        self._pg_nodes, self._pg_node_ids, self._sessions = nodes, self._live_tables.node_ids, sessions
        self._open_events, self._resolved = open_events, resolved
        self._open_event_ids, self._resolved_read_at = open_ids, resolved_read_at
        if merged is not None:
            samples, new, statements = merged
            counts["sql"] += statements
        else:
            samples, new = len(rows), self._history.merge(rows)
        if loading:
            # What is held of those nodes (their newest samples) is in `recent` too: forget it,
            # so that the batch is taken in whole (much faster than merged sample by sample).
            self._history.forget(loading)
            load_samples, load_new = self._history.load(recent)
            samples, new = samples + load_samples, new + load_new
        if full:
            self._history_batch_goal = max(HISTORY_BATCH_MIN, -(-len(pending) // HISTORY_FILL_POLLS))
            if loading:
                self._history_batch = self._history_batch_goal
        elif loading:
            self._history_batch_loaded()
        self._history_pending = pending
        counts["rows"] += samples
        counts["new"] += new
        counts["full"] = full
        self._metrics_read_at = time.monotonic()
        known = set(node_ids)
        if self._redis_reading is not None:
            known.update(self._redis_reading.discovered)
        self._history.keep_only(known)

    def _merge_new_metrics(self, conn: psycopg.Connection, node_ids: list[str], now: datetime, *,
                           sweep: bool = True) -> tuple[int, int, int]:
        """In the metric reader's thread: the new rows of those of the nodes due (see nodes_to_read),
        merged into the history; (rows read, rows new, statements). The history is this thread's
        until the poll has its result."""
        db = _CountingDb(conn)
        asked, since = self._history.nodes_to_read(node_ids, to_micros(now), sweep=sweep)
        rows = pg_reads.read_new_metrics(db, asked, since, FIRST_LOAD_ROWS_PER_NODE) if asked else []
        return len(rows), self._history.merge(rows), db.statements

    def _start_read_ahead(self) -> None:
        """With read_ahead, after a poll: ending READ_AHEAD_SHARE of the last gap between two polls
        (from one's end to the next's start: the refresh interval, whatever a poll's own duration)
        later, a thread of its own reads the stores and builds as a poll does, its snapshot unused,
        so that the next poll takes in only what changed since (at 5,000 nodes a poll's rows, heartbeats,
        series and nodes changed are about 1,000 each; a quarter of them remain). The next snapshot
        is as fresh: the poll still reads everything written up to it. What the read-ahead read
        counts in the next poll's PollStats, and its notices are that poll's too. While the short
        history fills, the read-ahead takes the batch loaded since the poll, as the poll would. A
        poll that begins before the read-ahead does not wait for it: the read-ahead is skipped."""
        if (not self._read_ahead or self._conn is None or not self._pg_node_ids
                or not self._metric_reader.available):
            return
        # It begins as much earlier as the last one took, so that it ends READ_AHEAD_SHARE of the
        # way (at 10,000 nodes it takes several hundred ms: begun at that moment, the next poll
        # may find it running and wait for it).
        delay = max(0.0, READ_AHEAD_SHARE * self._poll_gap - self._read_ahead_took)
        self._poll_begins.clear()
        self._read_ahead_thread = threading.Thread(target=self._read_ahead_after, args=(delay,),
                                                   name="omega-read-ahead", daemon=True)
        self._read_ahead_thread.start()

    def _read_ahead_after(self, delay: float) -> None:
        """In the read-ahead's thread: see _start_read_ahead."""
        if self._poll_begins.wait(delay):
            return
        with self._lock:   # (the poll that started it may still hold it, or a node detail being read)
            if self._poll_begins.is_set():
                return   # a poll began, or close() was called, while it waited
            started = time.monotonic()
            try:
                self._poll(ahead=True)
            except Exception:  # noqa: BLE001 - a poll never raises for store failures; the next reads anyway
                self._taken_ahead = None
            finally:
                self._read_ahead_took = time.monotonic() - started
                self._end_transaction()
                if self._closed.is_set():
                    self._close_stores()

    def _start_history_batch(self) -> bool:
        """After a poll, while short histories are still to load: the next batch of them, read and
        loaded on the metric reader's connection before the next poll, so that no poll waits for it
        (at 5,000 nodes a batch took 400 to 650 ms of the poll that read it). The next poll takes
        the result first thing (_take_history_batch); the history is the reader's thread's until then.
        Whether a batch was started."""
        if not self._history_pending or self._conn is None or not self._metric_reader.available:
            return False
        known = set(self._pg_node_ids)
        pending = [node_id for node_id in self._history_pending if node_id in known]
        loading, self._history_pending = pending[:self._history_batch], pending[self._history_batch:]
        if not loading:
            return False
        self._history_loading = loading
        self._history_batch_began = time.monotonic()
        self._metric_reader.start(self._source.dsn, lambda conn: self._load_history_batch(conn, loading))
        return True

    def _load_history_batch(self, conn: psycopg.Connection, node_ids: list[str]) -> tuple[int, int, int]:
        """In the metric reader's thread: (samples read, samples new, statements). Each statement's
        rows are loaded before the next is read: at 10,000 nodes a batch's rows, held all at once,
        are tens of MB."""
        db = _CountingDb(conn)
        samples = new = 0
        for start in range(0, len(node_ids), pg_reads.FIRST_LOAD_BATCH):
            part = node_ids[start:start + pg_reads.FIRST_LOAD_BATCH]
            recent = [row for rows in pg_reads.read_recent_metrics(db, part, FIRST_LOAD_ROWS_PER_NODE) for row in rows]
            self._history.forget(part)
            part_samples, part_new = self._history.load(recent)
            samples, new = samples + part_samples, new + part_new
        self._history.build_changed()   # between polls: the next poll's nodes find their series built
        return samples, new, db.statements

    def _take_history_batch(self, counts: dict) -> None:
        """The history batch read since the last poll, if any; when it failed, its nodes wait for a
        later batch (a smaller one when it took longer than the statement timeout)."""
        loading, self._history_loading = self._history_loading, []
        if not loading:
            return
        late = (self._metric_reader.running
                and time.monotonic() - self._history_batch_began >= LATE_BATCH_SHARE * self.settings.refresh)
        try:
            loaded = self._metric_reader.result()
        except psycopg.errors.QueryCanceled:
            if not self._metric_reader.cancelled:   # the statement timeout, not close()
                self._history_batch = max(1, len(loading) // 4)
            loaded = None
        except Exception:  # noqa: BLE001 - its connection broke, say: the next read opens another
            self._metric_reader.close()
            loaded = None
        if loaded is None:
            self._history_pending = loading + self._history_pending
            return
        _count_read(counts, loaded)
        if late:
            self._history_batch_late(len(loading))
        else:
            self._history_batch_loaded()

    def _history_batch_late(self, size: int) -> None:
        """A batch still loading when the next poll began made that poll wait for it (at 10,000 nodes
        on a slow day, 1,960 nodes took longer than the 2 s between polls): the next batches are half
        its size, and grow back no further (the size the fill began with did not fit)."""
        self._history_batch = self._history_batch_goal = max(1, size // 2)

    def _history_batch_loaded(self) -> None:
        """A batch loaded in time: the next may be twice the size, up to the size the fill began with
        (batches made smaller by a statement timeout grow back as the server's cache warms up)."""
        self._history_batch = min(self._history_batch_goal, 2 * self._history_batch)

    def _read_history_batch(self, db, node_ids: list[str]) -> list | None:
        """The short history of these nodes; None when it took longer than the statement timeout
        (a cold cache on a big cluster): then later batches are smaller and the poll goes on without
        it, instead of failing on the same batch every poll."""
        if not node_ids:
            return []
        try:
            with self._conn.transaction():   # a savepoint: the poll's other reads stand
                return [row for rows in pg_reads.read_recent_metrics(db, node_ids, FIRST_LOAD_ROWS_PER_NODE)
                        for row in rows]
        except psycopg.errors.QueryCanceled:
            if self._closed.is_set():
                raise   # cancelled by close(), not by the timeout
            self._history_batch = max(1, len(node_ids) // 4)
            return None

    def _read_acks(self, now: datetime, counts: dict, notices: list[str]) -> None:
        db = _CountingDb(self._conn)
        try:
            self._acks = self._alert_acks.read(db)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            # A cluster database where `omega-tui db migrate` has not run: everything
            # else works, only acknowledgements are unavailable.
            self._acks = {}
            notices.append("no omega_console.alert_acks (run: omega-tui db migrate): acknowledgements not shown")
        except psycopg.Error as exc:
            dsn = self._source.dsn
            self._drop_pg()
            self._pg_health.failed(now, describe_pg_error(exc, dsn))
        finally:
            counts["sql"] += db.statements

    def _read_audit(self, now: datetime, counts: dict, notices: list[str]) -> None:
        """New rows of the audit trail (everyone's actions), one statement on its primary key."""
        if self._conn is None or self._conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            return   # the acks' table is missing (not migrated): so is this one
        db = _CountingDb(self._conn)
        try:
            self._audit.read(db)
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName,
                psycopg.errors.InsufficientPrivilege):
            self._end_transaction()   # the poll's reads are all done; only the audit trail is missing
            notices.append("the audit trail (omega_console.audit_log) cannot be read")
        except psycopg.Error as exc:
            self._drop_pg()
            self._pg_health.failed(now, describe_pg_error(exc, self.settings.dsn))
        finally:
            counts["sql"] += db.statements

    # --- Redis ----------------------------------------------------------------

    def _connect_redis(self) -> redis.Redis:
        if not self.settings.redis_url:
            raise StoreError("Redis", "no URL configured")
        client = redis_connect(
            self.settings.redis_url,
            connect_timeout=self.settings.connect_timeout,
            socket_timeout=self.settings.statement_timeout,
            check=False,
        )
        # One quick retry (a pooled connection that died between polls), no
        # backoff inside a poll: the poller does its own.
        client.set_retry(Retry(NoBackoff(), 1))
        return client

    def _drop_redis(self) -> None:
        client, self._redis = self._redis, None
        close_quietly(client)

    def _read_redis(self, now: datetime, counts: dict, known: list[str]) -> bool:
        started = time.perf_counter()
        try:
            if self._redis is None:
                self._redis = self._connect_redis()
                counts["redis"] += 1
                self._redis.ping()
            counts["redis"] += 1
            reading = self._heartbeats.read(self._redis, known, now)
            counts["redis"] += reading.round_trips - 1   # a cluster: one per master
        except Exception as exc:  # noqa: BLE001 - see _redis_failed
            self._redis_failed(now, exc, started)
            return False
        self._redis_health.succeeded(now, (time.perf_counter() - started) * 1000)
        self._redis_reading = reading
        return True

    def _read_new_heartbeats(self, now: datetime, counts: dict) -> bool:
        """The heartbeats of nodes this poll's PostgreSQL read brought, added to the reading."""
        reading = self._redis_reading
        new = [node_id for node_id in self._pg_node_ids if node_id not in reading.heartbeats]
        if not new:
            return True
        started = time.perf_counter()
        try:
            counts["redis"] += 1
            self._redis_reading = self._heartbeats.read_more(self._redis, reading, new)
        except Exception as exc:  # noqa: BLE001 - see _redis_failed
            self._redis_failed(now, exc, started)
            return False
        return True

    def _redis_failed(self, now: datetime, exc: Exception, started: float) -> None:
        took = time.perf_counter() - started
        if isinstance(exc, StoreError):
            self._redis_health.failed(now, exc.reason, took=took)
            return
        self._drop_redis()
        if isinstance(exc, (*REDIS_ERRORS, OSError)):
            self._redis_health.failed(now, describe_redis_error(exc, self.settings.redis_url), took=took)
        else:   # data no reader expected: degrade, never die
            self._redis_health.failed(now, _unexpected(exc), took=took)

    # --- building the snapshot --------------------------------------------------

    def _heartbeat_state(self, node_id: str, now: datetime, redis_fresh: bool):
        reading = self._redis_reading
        heartbeat = reading.heartbeats.get(node_id) if reading is not None else None
        if redis_fresh and node_id in reading.heartbeats:
            return reachability(heartbeat, now)[0], heartbeat
        # Redis is unavailable (or has not been asked about this node yet):
        # show the last heartbeat we saw, but do not claim anything from it.
        return Reachability.UNKNOWN, heartbeat

    def _nodes(self, now: datetime, redis_fresh: bool, notices: list[str]) -> list[Node]:
        reading = self._redis_reading
        nodes = self._node_builder.build(self._pg_nodes, self._pg_node_ids,
                                         reading.heartbeats if reading is not None else {}, redis_fresh,
                                         self._history, now)
        malformed = self._node_builder.malformed
        # Heartbeating nodes PostgreSQL does not know; only meaningful once PostgreSQL answered.
        if reading is not None and self._pg_health.ever_ok:
            listed = set(self._pg_node_ids) if reading.discovered else ()
            unknown = [i for i in reading.discovered if i not in listed]
            for node_id in unknown:
                state, heartbeat = self._heartbeat_state(node_id, now, redis_fresh)
                malformed += state is Reachability.MALFORMED
                nodes.append(Node(
                    node_id=node_id, hostname="", ip_address=None, node_type="", status="",
                    total_cpu_cores=None, total_memory_gb=None, total_storage_gb=None, gpu_count=None,
                    gpu_memory_gb=None, labels=(), last_heartbeat=None, reachability=state,
                    heartbeat=heartbeat, metrics=self._history.series_of(node_id), in_postgres=False,
                ))
            if unknown:
                notices.append(f"{len(unknown)} node(s) heartbeating in Redis but not in PostgreSQL")
        if malformed:
            notices.append(f"{malformed} heartbeat(s) malformed")
        return nodes

    def _queue_positions_of(self, notices: list[str]) -> dict[str, int]:
        """Session id -> its first position in the queue, as last read."""
        queue = self._redis_reading.queue if self._redis_reading is not None else None
        if not queue:
            return {}
        if queue is not self._queue_positions[0]:   # the same tuple while the queue is unchanged
            positions: dict[str, int] = {}
            for position, session_id in enumerate(queue):
                positions.setdefault(session_id, position)
            self._queue_positions = (queue, positions)
        positions = self._queue_positions[1]
        by_id = self._sessions.by_id
        if len(self._sessions.ordered) < pg_reads.MAX_SESSIONS:   # else an unlisted pending session is no stray
            strays = sum(1 for session_id in positions
                         if (session := by_id.get(session_id)) is None or session.status != "pending")
            if strays:
                notices.append(f"{strays} id(s) in queue:pending_sessions are not pending sessions")
        return positions

    def _data_notices(self) -> list[str]:
        notices = []
        if self._source.enabled and self._source.current is None and self._conn is not None:
            notices.append(f"reading the primary: no read replica answers ({self._source.down_reason})")
        if self._redis_reading is not None:
            notices.extend(self._redis_reading.problems)
        if len(self._pg_nodes) >= pg_reads.MAX_NODES:
            notices.append(f"only the first {pg_reads.MAX_NODES} nodes are shown")
        if len(self._sessions.ordered) >= pg_reads.MAX_SESSIONS:
            notices.append(f"only the oldest {pg_reads.MAX_SESSIONS} live sessions are shown")
        if len(self._open_events) >= pg_reads.MAX_OPEN_EVENTS:
            notices.append(f"only the newest {pg_reads.MAX_OPEN_EVENTS} unresolved events are shown")
        if self._history.ignored_values:
            notices.append(f"{self._history.ignored_values} metric value(s) ignored (not finite, or too many metric types)")
            self._history.ignored_values = 0
        return notices

    # --- closing ------------------------------------------------------------------

    def _close_stores(self) -> None:
        self._drop_pg()
        self._drop_redis()
        self._redis_reader.stop()
