"""The simulated Omega cluster, usable as a library:

    sim = Simulator(dsn, redis_url, nodes=60, seed=1)
    sim.register()                   # nodes, node_resources, users (idempotent)
    sim.backfill(timedelta(hours=1)) # past metrics, sessions and events, by COPY
    sim.tick(now)                    # one interval of live cluster
    sim.run(duration)                # ticks every interval until stopped

It writes PostgreSQL and Redis exactly as the data contract says, obeys the
console (drained nodes get nothing new, cancelled sessions stop), and
re-reads PostgreSQL every tick so it stays right when a message is missed.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import redis

from omega_tui.data.connect import (
    REDIS_ERRORS, StoreError, describe_pg_error, describe_redis_error, pg_connect, redis_connect,
)
from omega_tui.sim import cluster_store as store
from omega_tui.sim.control import ControlListener, ControlMessage
from omega_tui.sim.incidents import IncidentStep, Incidents
from omega_tui.sim.inventory import SimNode, SimUser, plan_nodes, plan_users, register_nodes, register_users
from omega_tui.sim.live_state import ENDED_STATE_TTL, LiveState, session_state, write_live_state
from omega_tui.sim.metric_copy import MetricRowEncoder, copy_metric_chunks
from omega_tui.sim.metrics import TEMPERATURE, MetricModel
from omega_tui.sim.redis_keys import QUEUE_KEY
from omega_tui.sim.rollups import RollupRefresher
from omega_tui.sim.scheduler import queue_order
from omega_tui.sim.sessions import SimSession
from omega_tui.sim.workload import DEFAULT_DEMAND, StepChanges, Workload
from omega_tui.tick_loop import run_ticks

LOCK_TIMEOUT_MS = 2000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class RegisterReport:
    nodes: int
    new_nodes: int
    users: int


@dataclass(slots=True)
class TickReport:
    at: datetime
    seconds: float = 0.0
    metric_rows: int = 0
    redis_commands: int = 0
    live_nodes: int = 0
    changes: dict = field(default_factory=dict)     # arrived, placed, started, ... -> count applied
    sessions: dict = field(default_factory=dict)    # live status -> count
    problems: list[str] = field(default_factory=list)


class Simulator:
    def __init__(self, dsn: str, redis_url: str, *, nodes: int = 60, users: int = 24, interval: float = 5.0,
                 seed: int | None = None, demand: float = DEFAULT_DEMAND, incidents: bool = True,
                 connect_timeout: float = 5.0, log=None):
        if nodes < 1:
            raise ValueError("nodes must be at least 1")
        if interval <= 0:
            raise ValueError("interval must be greater than 0")
        self.dsn = dsn
        self.redis_url = redis_url
        self.node_count = nodes
        self.user_count = max(1, users)
        self.interval = float(interval)
        self.seed = seed
        self.demand = demand
        self.incidents_enabled = incidents
        self.connect_timeout = connect_timeout
        self.log = log or (lambda message: None)
        base = seed if seed is not None else random.SystemRandom().randrange(2**63)
        # One generator per concern, so e.g. more metric draws never change the workload.
        self.rng_workload = random.Random(f"{base}:workload")
        self.rng_metrics = random.Random(f"{base}:metrics")
        self.rng_incidents = random.Random(f"{base}:incidents")
        self.nodes: list[SimNode] = []
        self.users: list[SimUser] = []
        self.workload: Workload | None = None
        self.metrics: MetricModel | None = None
        self.incidents: Incidents | None = None
        self.encoder = MetricRowEncoder()
        self.rollups = RollupRefresher(self._maintenance_connection, log=self.log)
        self.background_rollups = False
        self.last_tick: datetime | None = None
        self.metric_groups = 1   # see spread_metrics()
        self._next_group = 0
        self._conn: psycopg.Connection | None = None
        self._redis: redis.Redis | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    # -- connections ---------------------------------------------------------------

    def _pg(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = pg_connect(self.dsn, connect_timeout=self.connect_timeout, statement_timeout=None,
                                    application_name="omega-simulator")
            self._conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{LOCK_TIMEOUT_MS}ms",))
            self._conn.commit()
        return self._conn

    def _maintenance_connection(self) -> psycopg.Connection:
        return pg_connect(self.dsn, connect_timeout=self.connect_timeout, statement_timeout=None,
                          autocommit=True, application_name="omega-simulator")

    def _client(self) -> redis.Redis:
        if self._redis is None:
            self._redis = redis_connect(self.redis_url, connect_timeout=self.connect_timeout,
                                        socket_timeout=max(10.0, self.interval))
        return self._redis

    def _drop_pg(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
        self._conn = None

    def close(self) -> None:
        self._stop.set()
        self.rollups.wait(30)
        self._drop_pg()
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def node_ids(self) -> list[str]:
        return [n.node_id for n in self.nodes]

    def connect(self) -> None:
        """Open both stores now; StoreError (one line, password masked) if either is unreachable."""
        errors = []
        for opener in (self._pg, self._client):
            try:
                opener()
            except StoreError as exc:
                errors.append(exc)
        if errors:
            raise StoreError.combined(errors)

    # -- registration ----------------------------------------------------------------

    def register(self) -> RegisterReport:
        """Nodes (by hostname), their node_resources rows and users (by username); idempotent."""
        conn = self._pg()
        try:
            missing = conn.execute(
                "SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL",
                (["nodes", "node_resources", "users", "sessions", "session_allocations", "node_metrics",
                  "system_events"],),
            ).fetchall()
            conn.rollback()
            if missing:
                raise StoreError("PostgreSQL", f"Omega tables missing ({', '.join(r[0] for r in missing)}):"
                                               " run omega-tui db migrate")
            with conn.transaction():
                self.users = register_users(conn, plan_users(self.user_count))
                self.nodes, new = register_nodes(conn, plan_nodes(self.node_count))
            conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            raise StoreError("PostgreSQL", describe_pg_error(exc, self.dsn)) from None
        self.workload = Workload(self.rng_workload, self.users, self.nodes, demand=self.demand)
        self.metrics = MetricModel(self.rng_metrics, self.nodes, self.interval)
        self.incidents = Incidents(self.rng_incidents, self.nodes, self.metrics, enabled=self.incidents_enabled)
        return RegisterReport(len(self.nodes), new, len(self.users))

    def spread_metrics(self, groups: int) -> None:
        """From now on tick `groups` times per interval, each tick sampling the next 1/groups of the nodes.

        Every node still reports once per interval, but not all in the same instant,
        as real agents whose clocks are not in step (the bench uses this).
        """
        if groups < 1:
            raise ValueError("groups must be at least 1")
        self.metric_groups = groups

    @property
    def tick_seconds(self) -> float:
        return self.interval / self.metric_groups

    def _require_registered(self) -> None:
        if self.workload is None:
            self.register()

    # -- backfill ------------------------------------------------------------------------

    def backfill(self, history: timedelta, now: datetime | None = None):
        """Past metrics, sessions and events over `history` before `now`, fast (COPY)."""
        from omega_tui.sim.backfill import run_backfill

        self._require_registered()
        return run_backfill(self, history, now or utc_now())

    # -- one live tick -----------------------------------------------------------------------

    def tick(self, now: datetime | None = None) -> TickReport:
        """Read PostgreSQL, move the cluster to `now`, write PostgreSQL and Redis."""
        self._require_registered()
        now = now or utc_now()
        started = time.perf_counter()
        report = TickReport(now)
        dt = self.tick_seconds if self.last_tick is None else (now - self.last_tick).total_seconds()
        dt = min(max(dt, 0.0), 10 * self.tick_seconds)
        self.last_tick = now
        # A node is sampled once every metric_groups ticks: its walk moves that far.
        self.metrics.set_interval((dt or self.tick_seconds) * self.metric_groups)

        live_state = LiveState(now)
        counts = None
        try:
            counts = self._sync(now, live_state)
            changes, incident_step, lost = self._decide(now, dt)
            self._write(now, changes, incident_step, lost, live_state, report)
        except (StoreError, psycopg.Error, store.CapacityExceeded) as exc:
            report.problems.append(self._pg_problem(exc))
            live_state.queue = None
            live_state.session_states.clear()

        heat = IncidentStep()
        samples = self._sample_metrics(now, heat)
        report.live_nodes = len(samples)
        report.metric_rows = sum(len(values) for _, values in samples)
        try:
            self._write_metrics(now, samples, heat)
        except (StoreError, psycopg.Error) as exc:
            report.problems.append(self._pg_problem(exc))

        live_state.heartbeats = [(node.node_id, node.status, _load(node, values)) for node, values in samples]
        live_state.metrics = [(node.node_id, node.metric_types, values) for node, values in samples]
        live_state.cluster_state = self._cluster_state(counts, samples)
        try:
            report.redis_commands = write_live_state(self._client(), live_state)
        except (StoreError, *REDIS_ERRORS) as exc:
            report.problems.append(f"Redis: {describe_redis_error(exc, self.redis_url)}"
                                   if isinstance(exc, REDIS_ERRORS) else str(exc))

        if self.rollups.due(now):
            if self.background_rollups:
                self.rollups.refresh_in_background(now)
            else:
                self.rollups.refresh(now)
        report.sessions = dict(Counter(s.status for s in self.workload.live.values()))
        report.seconds = time.perf_counter() - started
        return report

    def _pg_problem(self, exc: Exception) -> str:
        """One line for a failed PostgreSQL step; the connection is made usable again."""
        if isinstance(exc, StoreError):
            self._drop_pg()
            return str(exc)
        if isinstance(exc, psycopg.Error) and self._conn is not None and self._conn.broken:
            self._drop_pg()
        else:
            self._rollback()
        if isinstance(exc, psycopg.Error):
            return f"PostgreSQL: {describe_pg_error(exc, self.dsn)}"
        return f"PostgreSQL: {exc}"

    def _rollback(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rollback()
        except psycopg.Error:
            self._drop_pg()

    def _sync(self, now: datetime, live_state: LiveState) -> tuple[int, int]:
        """Take PostgreSQL's truth: node statuses, free capacity, live sessions."""
        conn = self._pg()
        ids = self.node_ids
        statuses = store.read_node_statuses(conn, ids)
        free = store.read_free_capacity(conn, ids)
        rows = store.read_live_sessions(conn, now)
        total_nodes, active_nodes = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status = 'active') FROM nodes").fetchone()
        conn.commit()
        for node in self.nodes:
            node.status = statuses.get(node.node_id, node.status)
        known = set(self.workload.live)
        self.workload.set_free(free)
        vanished = self.workload.sync(rows, now)
        adopted = [s for sid, s in self.workload.live.items() if sid not in known]
        live_state.session_states += [session_state(s, now) for s in adopted]
        if vanished:
            self._release_leftovers(vanished, now, live_state)
        return total_nodes, active_nodes

    def _release_leftovers(self, session_ids: list[str], now: datetime, live_state: LiveState | None) -> int:
        """Sessions someone else ended: give back what is still allocated (none if they did)."""
        conn = self._pg()
        with conn.transaction():
            cur = conn.cursor()
            released = store.release_allocations(cur, session_ids, now, only_ended=True)
            store.change_allocated_capacity(cur, [(n, r, -a) for n, r, a in released], now)
            found = store.read_session_statuses(conn, session_ids)
        conn.commit()
        for session_id in session_ids:
            status, start_time = found.get(session_id, (None, None))
            if status in ("completed", "failed", "cancelled"):
                self.workload.forget(session_id)
                if live_state is not None:
                    live_state.session_states.append((session_id, {
                        "status": status, "allocated_resources": {},
                        "start_time": start_time.isoformat() if start_time else None,
                    }, ENDED_STATE_TTL))
        if released:
            self.log(f"released {len(released)} allocation(s) left by {len(session_ids)} ended session(s)")
        return len(released)

    def _decide(self, now: datetime, dt: float) -> tuple[StepChanges, IncidentStep, list[SimSession]]:
        incident_step = self.incidents.step(now, dt)
        lost: list[SimSession] = []
        for node in incident_step.died:
            sessions = self.workload.fail_node(node.node_id, now)
            lost += sessions
            incident_step.events.append(self.incidents.node_died(node, now, sessions))
        changes = self.workload.step(now, dt)
        return changes, incident_step, lost

    def _write(self, now: datetime, changes: StepChanges, incident_step: IncidentStep, lost: list[SimSession],
               live_state: LiveState, report: TickReport) -> None:
        """Apply the tick's decisions in one transaction; what an operator changed first is left alone."""
        conn = self._pg()
        by_id = self.workload.node_by_id
        with conn.transaction():
            cur = conn.cursor()
            store.set_node_status(cur, [n.node_id for n in incident_step.died], "failed",
                                  ("active", "draining", "maintenance", "inactive"), now)
            store.set_node_status(cur, [n.node_id for n in incident_step.recovered], "active", ("failed",), now)
            active = store.lock_active_nodes(cur, [s.node_id for s in changes.placed])
            placeable = [s for s in changes.placed if s.node_id in active]

            store.copy_sessions(cur, changes.arrived, as_pending=True)
            ended = changes.ended + lost
            ended_ok = store.mark_ended(cur, ended, now)
            started_ok = store.mark_started(cur, changes.started, now)
            paused_ok = store.mark_status(cur, changes.paused, "paused", "running", now)
            resumed_ok = store.mark_status(cur, changes.resumed, "running", "paused", now)
            placed_ok = store.mark_placed(cur, placeable, now)

            lost_ids = {s.session_id for s in lost}
            given_back = store.release_allocations(
                cur, [s.session_id for s in ended if s.session_id in ended_ok and s.session_id not in lost_ids], now)
            given_back += store.release_allocations(cur, [s for s in lost_ids if s in ended_ok], now, "failed")
            placed = [s for s in placeable if s.session_id in placed_ok]
            taken = store.insert_allocations(cur, placed, now)
            store.change_allocated_capacity(cur, taken + [(n, r, -a) for n, r, a in given_back], now)

            events = list(incident_step.events)
            for session in ended:
                if session.session_id not in ended_ok:
                    continue
                node = by_id.get(session.node_id or "")
                if session.status == "failed":
                    events.append(self.incidents.session_failed(session, node, now))
                elif session.status == "cancelled":
                    events.append(self.incidents.session_cancelled(session, node, now))
            store.copy_events(cur, events)
            store.resolve_events(cur, incident_step.resolved)
        conn.commit()

        # Decisions PostgreSQL refused: placements on a node no longer active go back to
        # the queue; anything else means someone else changed the session, re-read next tick.
        for session in changes.placed:
            if session.session_id not in placed_ok:
                if session.session_id in self.workload.live and session.node_id not in active:
                    self.workload.unplace(session)
                else:
                    self.workload.forget(session.session_id)
        for group, applied in ((changes.started, started_ok), (changes.paused, paused_ok),
                               (changes.resumed, resumed_ok)):
            for session in group:
                if session.session_id not in applied:
                    self.workload.forget(session.session_id)

        applied_sessions = (changes.arrived + placed + [s for s in changes.started if s.session_id in started_ok]
                            + [s for s in changes.paused if s.session_id in paused_ok]
                            + [s for s in changes.resumed if s.session_id in resumed_ok]
                            + [s for s in ended if s.session_id in ended_ok])
        live_state.session_states += [session_state(s, now) for s in applied_sessions
                                      if s.session_id in self.workload.live or s.session_id in ended_ok]
        pending = [s for s in self.workload.live.values() if s.status == "pending"]
        live_state.queue = [s.session_id for s in queue_order(pending)]
        report.changes = {
            "arrived": len(changes.arrived), "placed": len(placed), "started": len(started_ok),
            "paused": len(paused_ok), "resumed": len(resumed_ok),
            "completed": sum(1 for s in changes.completed if s.session_id in ended_ok),
            "failed": sum(1 for s in changes.failed + lost if s.session_id in ended_ok),
            "nodes_died": len(incident_step.died), "nodes_recovered": len(incident_step.recovered),
            "events": len(events),
        }
        for node in incident_step.died:
            self.log(f"incident: node {node.hostname} died ({sum(1 for s in lost if s.node_id == node.node_id)}"
                     " session(s) failed)")
        for node in incident_step.recovered:
            self.log(f"incident: node {node.hostname} recovered")

    def _sample_metrics(self, now: datetime, heat: IncidentStep) -> list[tuple[SimNode, tuple[float, ...]]]:
        samples = []
        group, groups = self._next_group, self.metric_groups
        self._next_group = (group + 1) % groups
        for index, node in enumerate(self.nodes):
            if not node.alive or index % groups != group:
                continue
            values = self.metrics.sample(node, *self.workload.used_fractions(node))
            self.incidents.check_temperature(node, values[TEMPERATURE], now, heat)
            samples.append((node, values))
        return samples

    def _write_metrics(self, now: datetime, samples, heat: IncidentStep) -> None:
        conn = self._pg()
        with conn.transaction():
            cur = conn.cursor()
            copy_metric_chunks(cur, [self.encoder.encode(now, samples)])
            store.touch_heartbeats(cur, [node.node_id for node, _ in samples], now)
            store.copy_events(cur, heat.events)
            store.resolve_events(cur, heat.resolved)
        conn.commit()

    def _cluster_state(self, counts: tuple[int, int] | None, samples) -> dict:
        down_but_active = sum(1 for n in self.nodes if not n.alive and n.status == "active")
        total_nodes, active_nodes = counts if counts else (len(self.nodes), sum(n.alive for n in self.nodes))
        cpu = [values[0] for _, values in samples]
        return {
            "total_nodes": total_nodes,
            "active_nodes": max(active_nodes - down_but_active, 0),
            "total_sessions": len(self.workload.live),
            "cluster_load": round(sum(cpu) / len(cpu), 1) if cpu else 0.0,
        }

    # -- the console's messages ----------------------------------------------------------------

    def handle_control(self, messages: list[ControlMessage], now: datetime | None = None) -> None:
        """React at once to the console: a cancelled session stops and gives back its resources."""
        now = now or utc_now()
        cancelled = sorted({m.target for m in messages if m.action == "cancel" and _is_uuid(m.target)})
        touched_nodes = {m.target for m in messages if m.action in ("drain", "resume") and _is_uuid(m.target)}
        try:
            if touched_nodes:
                statuses = store.read_node_statuses(self._pg(), sorted(touched_nodes))
                self._pg().commit()
                for node in self.nodes:
                    node.status = statuses.get(node.node_id, node.status)
            if cancelled:
                self._release_leftovers(cancelled, now, None)
        except (StoreError, psycopg.Error, store.CapacityExceeded) as exc:
            self.log(self._pg_problem(exc))
            return
        if cancelled:
            try:
                pipe = self._client().pipeline(transaction=False)
                for session_id in cancelled:
                    pipe.lrem(QUEUE_KEY, 0, session_id)
                pipe.execute()
            except (StoreError, *REDIS_ERRORS) as exc:
                self.log(f"Redis: {exc}")

    # -- the live loop -----------------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self, duration: timedelta | None = None, stop: threading.Event | None = None, on_tick=None) -> int:
        """Tick every interval until `duration` has passed or `stop` is set; returns the tick count."""
        self._require_registered()
        stop = stop or self._stop
        self.background_rollups = True
        listener = ControlListener(self._listener_client, wake=self._wake).start()

        def wait(seconds: float) -> None:
            # Woken early by an omega:control message: obey it now, not at the next tick.
            if self._wake.wait(seconds):
                self._wake.clear()
                self.handle_control(listener.drain())

        try:
            ticks = run_ticks(self.tick, self.tick_seconds, stopped=lambda: stop.is_set() or self._stop.is_set(),
                              wait=wait, duration=duration, on_tick=on_tick)
        finally:
            listener.stop()
            self.background_rollups = False
        return ticks

    def _listener_client(self) -> redis.Redis:
        return redis_connect(self.redis_url, connect_timeout=self.connect_timeout, socket_timeout=None)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def _load(node: SimNode, values: tuple[float, ...]) -> float | None:
    try:
        return values[node.metric_types.index("load_1m")]
    except (ValueError, IndexError):
        return None
