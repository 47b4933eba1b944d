"""Backfill: the cluster's past, written fast.

The workload, incidents and metric walks run in memory over the window, one
interval at a time, exactly as live ticks would; the node_metrics rows
stream into one binary COPY while the simulation runs, and sessions,
allocations and events follow in one transaction at the end. A window that
overlaps metrics already written (a re-run) starts after the newest row, and
sessions already live in PostgreSQL are adopted, not duplicated.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from omega_tui.data.connect import REDIS_ERRORS, StoreError, describe_pg_error
from omega_tui.sim import cluster_store as store
from omega_tui.sim.incidents import SimEvent
from omega_tui.sim.live_state import LiveState, session_state, write_live_state
from omega_tui.sim.metric_copy import COPY_NODE_METRICS, HEADER, TRAILER
from omega_tui.sim.metrics import TEMPERATURE
from omega_tui.sim.scheduler import queue_order

WARMUP = timedelta(hours=2)
WARMUP_STEP = 30.0
COPY_CHUNK_BYTES = 1 << 20
OPERATOR_RESOLVES = 0.8   # share of past session failures an operator has resolved


@dataclass(slots=True)
class BackfillReport:
    start: datetime | None = None
    end: datetime | None = None
    steps: int = 0
    metric_rows: int = 0
    sessions: int = 0
    allocations: int = 0
    events: int = 0
    seconds: float = 0.0          # simulation + all writes, rollups excluded
    rollup_seconds: float | None = None
    fk_checks_skipped: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.metric_rows / self.seconds if self.seconds > 0 else 0.0


def run_backfill(sim, history: timedelta, now: datetime) -> BackfillReport:
    report = BackfillReport()
    interval = timedelta(seconds=sim.interval)
    conn = sim._pg()
    ids = sim.node_ids
    try:
        # A re-run fills only what is missing: each node from after its newest row.
        latest = store.latest_metric_times(conn, ids)
        window_start = now - history
        node_start = {node_id: max(window_start, latest[node_id] + interval) if node_id in latest else window_start
                      for node_id in ids}
        steps = int((now - min(node_start.values())) / interval) if node_start else 0
        if steps <= 0:
            conn.commit()
            return report
        start = now - steps * interval
        report.start, report.end, report.steps = start, now, steps
        began = time.perf_counter()

        # Start from what PostgreSQL holds now (a re-run adopts the live sessions).
        statuses = store.read_node_statuses(conn, ids)
        free = store.read_free_capacity(conn, ids)
        rows = store.read_live_sessions(conn, start)
        conn.commit()
        for node in sim.nodes:
            node.status = statuses.get(node.node_id, node.status)
        workload = sim.workload
        workload.keep_history = True
        workload.set_free(free)
        workload.sync(rows, start)
        if not rows and not latest:
            _warm_up(workload, start)

        events: list[SimEvent] = []
        last_seen: dict[str, datetime] = {}
        report.fk_checks_skipped = _stream_metrics(sim, conn, start, steps, node_start, events, last_seen, report)
        _write_history(sim, conn, now, events, last_seen, report)
        report.seconds = time.perf_counter() - began
    except psycopg.Error as exc:
        sim._rollback()
        raise StoreError("PostgreSQL", describe_pg_error(exc, sim.dsn)) from None
    finally:
        sim.workload.keep_history = False
        sim.workload.history.clear()

    sim.last_tick = now - interval
    _write_redis(sim, now)
    report.rollup_seconds = sim.rollups.refresh(now)
    return report


def _warm_up(workload, start: datetime) -> None:
    """Run the workload alone for a while so the window begins with a busy cluster."""
    t = start - WARMUP
    while t < start:
        workload.step(t, WARMUP_STEP)
        t += timedelta(seconds=WARMUP_STEP)


def _skip_fk_checks(conn) -> bool:
    """Bulk-load without per-row foreign-key triggers, where we may (superuser, plain PostgreSQL).

    Every node id we write was just read from `nodes`; a pg_restore does the
    same. TimescaleDB or a role without the right keeps the checks.
    """
    if conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        return False
    try:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        return False
    # SET LOCAL inside the savepoint lasts until the enclosing transaction ends.
    return conn.execute("SELECT current_setting('session_replication_role')").fetchone()[0] == "replica"


def _stream_metrics(sim, conn, start: datetime, steps: int, node_start: dict[str, datetime],
                    events: list[SimEvent], last_seen: dict[str, datetime], report: BackfillReport) -> bool:
    workload, metrics, incidents, encoder = sim.workload, sim.metrics, sim.incidents, sim.encoder
    metrics.set_interval(sim.interval)
    interval = timedelta(seconds=sim.interval)
    by_id = workload.node_by_id
    rows = 0
    with conn.transaction():
        skipped = _skip_fk_checks(conn)
        # PostgreSQL ingests one chunk from the socket while this thread
        # simulates and encodes the next.
        with conn.cursor().copy(COPY_NODE_METRICS) as copy:
            copy.write(HEADER)
            buffer: list[bytes] = []
            buffered = 0
            for k in range(steps):
                t = start + k * interval
                step = incidents.step(t, sim.interval)
                for node in step.died:
                    lost = workload.fail_node(node.node_id, t)
                    step.events.append(incidents.node_died(node, t, lost))
                    step.events += [incidents.session_failed(s, node, t) for s in lost]
                changes = workload.step(t, sim.interval)
                step.events += [incidents.session_failed(s, by_id.get(s.node_id or ""), t) for s in changes.failed]
                step.events += [incidents.session_cancelled(s, by_id.get(s.node_id or ""), t) for s in changes.cancelled]
                samples = []
                for node in sim.nodes:
                    if node.alive and node_start[node.node_id] <= t:
                        values = metrics.sample(node, *workload.used_fractions(node))
                        incidents.check_temperature(node, values[TEMPERATURE], t, step)
                        samples.append((node, values))
                        last_seen[node.node_id] = t
                        rows += len(values)
                events += step.events
                chunk = encoder.encode(t, samples)
                buffer.append(chunk)
                buffered += len(chunk)
                if buffered >= COPY_CHUNK_BYTES:
                    copy.write(b"".join(buffer))
                    buffer, buffered = [], 0
            if buffer:
                copy.write(b"".join(buffer))
            copy.write(TRAILER)
    conn.commit()
    report.metric_rows = rows
    return skipped


def _write_history(sim, conn, now: datetime, events: list[SimEvent], last_seen: dict[str, datetime],
                   report: BackfillReport) -> None:
    workload = sim.workload
    every = workload.history + list(workload.live.values())
    new = [s for s in every if not s.extra.get("adopted")]
    adopted = [s for s in every if s.extra.get("adopted")]
    _operators_resolve(sim, events, now)
    with conn.transaction():
        cur = conn.cursor()
        store.copy_sessions(cur, new)
        store.update_sessions(cur, adopted)
        report.allocations = store.copy_allocations(cur, [s for s in every if s.allocated_at is not None])
        for session in adopted:
            if session.status in ("completed", "failed", "cancelled") and session.allocated_at is None:
                store.release_allocations(cur, [session.session_id], session.end_time or now,
                                          session.allocation_status or "released")
        store.reconcile_allocated_capacity(cur, sim.node_ids, now)
        store.copy_events(cur, events)
        dead = [n.node_id for n in sim.nodes if not n.alive]
        store.set_node_status(cur, dead, "failed", ("active", "draining", "maintenance", "inactive"), now)
        store.set_node_status(cur, [n.node_id for n in sim.nodes if n.alive], "active", ("failed",), now)
        store.set_last_heartbeats(cur, last_seen)
    conn.commit()
    report.sessions = len(new)
    report.events = len(events)


def _operators_resolve(sim, events: list[SimEvent], now: datetime) -> None:
    """Most past session failures were looked at and resolved by an operator."""
    operators = [u for u in sim.users if u.role in ("admin", "operator")]
    rng = sim.rng_incidents
    for event in events:
        if event.event_type != "session_failed" or event.resolved_at is not None:
            continue
        if operators and rng.random() < OPERATOR_RESOLVES:
            at = event.timestamp + timedelta(seconds=rng.uniform(180, 1800))
            if at < now:
                event.resolved_at = at
                event.resolved_by = rng.choice(operators).user_id


def _write_redis(sim, now: datetime) -> None:
    """Session states and the queue as the backfill leaves them (heartbeats come with the first tick)."""
    live = list(sim.workload.live.values())
    state = LiveState(now, queue=[s.session_id for s in queue_order(s for s in live if s.status == "pending")],
                      session_states=[session_state(s, now) for s in live])
    try:
        write_live_state(sim._client(), state)
    except (StoreError, *REDIS_ERRORS) as exc:
        sim.log(f"backfill: Redis not written ({exc}); the live ticks will fill it")

