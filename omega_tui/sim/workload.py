"""The session lifecycle, in memory: arrivals, placement, and the transitions
pending -> scheduled -> running (<-> paused) -> completed | failed.

Pure Python, no database: the backfill runs it alone over a past window; the
live simulator re-reads PostgreSQL each tick (`sync`) and writes back what
`step` decided. Transitions due at some time sit in a heap, so a step costs
what changes, not the number of sessions.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from omega_tui.sim.draws import new_id, poisson
from omega_tui.sim.inventory import SimNode, SimUser
from omega_tui.sim.scheduler import CPU_NODE_TYPES, GPU_NODE_TYPES, Scheduler, eligible_nodes
from omega_tui.sim.sessions import (
    CPU_PROFILES,
    GPU_PROFILES,
    SimSession,
    draw_plan,
    draw_request,
    mean_cost,
    profile_for,
)

DEFAULT_DEMAND = 0.75   # long-run share of capacity the arrivals ask for


@dataclass(slots=True)
class StepChanges:
    arrived: list[SimSession] = field(default_factory=list)
    placed: list[SimSession] = field(default_factory=list)
    started: list[SimSession] = field(default_factory=list)
    paused: list[SimSession] = field(default_factory=list)
    resumed: list[SimSession] = field(default_factory=list)
    completed: list[SimSession] = field(default_factory=list)
    failed: list[SimSession] = field(default_factory=list)
    cancelled: list[SimSession] = field(default_factory=list)   # by their own users

    @property
    def ended(self) -> list[SimSession]:
        return self.completed + self.failed + self.cancelled


@dataclass(slots=True, frozen=True)
class SessionRow:
    """A live `sessions` row as read from PostgreSQL, already validated."""

    session_id: str
    user_id: str
    name: str
    session_type: str
    status: str
    priority: int
    cpu: float
    memory_gb: float
    gpus: int
    storage_gb: float
    node_id: str | None
    created_at: datetime
    start_time: datetime | None


def demand_wave(at: datetime) -> float:
    """Slow swings of demand around 1, so the queue fills and drains."""
    t = at.timestamp()
    return 1.0 + 0.35 * math.sin(2 * math.pi * t / 2700) + 0.15 * math.sin(2 * math.pi * t / 420 + 1.0)


class Workload:
    def __init__(self, rng: random.Random, users: list[SimUser], nodes: list[SimNode], *,
                 demand: float = DEFAULT_DEMAND, keep_history: bool = False):
        self.rng = rng
        self.nodes = nodes
        self.node_by_id = {n.node_id: n for n in nodes}
        submitters = [u for u in users if u.role != "readonly"] or list(users)
        self.submitters = submitters
        self.submitter_weights = [1 / math.sqrt(i + 1) for i in range(len(submitters))]
        self.free: dict[str, dict[str, float]] = {}
        self.live: dict[str, SimSession] = {}
        self.history: list[SimSession] = []
        self.keep_history = keep_history
        self.scheduler = Scheduler()
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        # Sessions left pending can only fit once capacity is freed or the set of
        # usable nodes changes; until then a step tries only the new arrivals.
        self._retry_pending = True
        self._eligible_seen: int | None = None
        cpu_cores = sum(n.cores for n in nodes if n.node_type in CPU_NODE_TYPES)
        gpus = sum(n.gpus for n in nodes if n.node_type in GPU_NODE_TYPES)
        self.cpu_rate = demand * cpu_cores / mean_cost(CPU_PROFILES, "cpu") if cpu_cores else 0.0
        self.gpu_rate = demand * gpus / mean_cost(GPU_PROFILES, "gpu") if gpus else 0.0

    # -- capacity ---------------------------------------------------------------

    def empty_cluster(self) -> None:
        """Free capacity = the nodes' totals (a cluster with nothing placed)."""
        self.free = {
            n.node_id: {"cpu": n.cores, "memory": n.memory_gb, "gpu": float(n.gpus), "storage": n.storage_gb}
            for n in self.nodes
        }

    def set_free(self, free: dict[str, dict[str, float]]) -> None:
        self.free = free
        self._retry_pending = True

    def used_fractions(self, node: SimNode) -> tuple[float, float, float]:
        """(cpu, memory, gpu) share of the node's capacity that sessions hold."""
        free = self.free.get(node.node_id)
        if free is None:
            return 0.0, 0.0, 0.0
        cpu = 1 - free.get("cpu", node.cores) / node.cores if node.cores else 0.0
        mem = 1 - free.get("memory", node.memory_gb) / node.memory_gb if node.memory_gb else 0.0
        gpu = 1 - free.get("gpu", node.gpus) / node.gpus if node.gpus else 0.0
        return min(max(cpu, 0.0), 1.0), min(max(mem, 0.0), 1.0), min(max(gpu, 0.0), 1.0)

    # -- one step -----------------------------------------------------------------

    def step(self, now: datetime, dt: float) -> StepChanges:
        """Everything due by `now`, the arrivals of the last `dt` seconds, then placement."""
        changes = StepChanges()
        self.advance(now, changes)
        changes.arrived = self.arrivals(now, dt)
        eligible = hash(tuple(n.node_id for n in eligible_nodes(self.nodes)))
        if self._retry_pending or eligible != self._eligible_seen:
            pending = [s for s in self.live.values() if s.status == "pending"]
        else:
            pending = changes.arrived
        self._retry_pending = False
        self._eligible_seen = eligible
        changes.placed = self.scheduler.place(pending, self.nodes, self.free, now)
        for session in changes.placed:
            self._schedule(session)
        return changes

    def arrivals(self, now: datetime, dt: float) -> list[SimSession]:
        if not self.submitters:
            return []
        wave = demand_wave(now)
        arrived = []
        for profiles, rate in ((CPU_PROFILES, self.cpu_rate), (GPU_PROFILES, self.gpu_rate)):
            for _ in range(poisson(self.rng, rate * wave * dt)):
                session = self._new_session(profiles, now - timedelta(seconds=self.rng.uniform(0, dt)))
                self.live[session.session_id] = session
                arrived.append(session)
        return arrived

    def _new_session(self, profiles, created_at: datetime) -> SimSession:
        rng = self.rng
        profile = rng.choices(profiles, [p.weight for p in profiles])[0]
        user = rng.choices(self.submitters, self.submitter_weights)[0]
        application, image = rng.choice(profile.applications)
        cpu, memory, gpus = draw_request(rng, profile)
        session = SimSession(
            session_id=new_id(),
            user_id=user.user_id,
            name=f"{application}-{user.username.split('.')[0]}-{rng.getrandbits(24):06x}",
            session_type=profile.session_type,
            application=application,
            image=image,
            priority=rng.randint(*profile.priority),
            cpu=cpu,
            memory_gb=memory,
            gpus=gpus,
            storage_gb=float(rng.randint(*profile.storage_gb)),
            created_at=created_at,
        )
        draw_plan(rng, session, profile)
        if profile.session_type in ("batch", "ai_training", "rendering"):
            session.max_runtime_minutes = math.ceil(session.runtime_s * 1.5 / 60)
        return session

    def advance(self, now: datetime, changes: StepChanges) -> None:
        horizon = now.timestamp()
        heap = self._heap
        while heap and heap[0][0] <= horizon:
            _, _, session_id, version = heapq.heappop(heap)
            session = self.live.get(session_id)
            if session is None or session.version != version:
                continue
            self._transition(session, now, changes)

    def _transition(self, session: SimSession, now: datetime, changes: StepChanges) -> None:
        session.version += 1
        if session.status == "scheduled":
            session.status = "running"
            session.start_time = now
            changes.started.append(session)
        elif session.status == "paused":
            session.paused_total_s += (now - (session.paused_at or now)).total_seconds()
            session.paused_at = None
            session.status = "running"
            changes.resumed.append(session)
        elif session.status == "running":
            # Each threshold is reached as _next_event schedules it, in the same float arithmetic: the
            # run worked out another way (in microseconds) could fall a hair short of the threshold
            # at the very moment its event fires, and the event came back for that moment forever.
            horizon = now.timestamp()
            if session.fail_after_s is not None and _run_reaches(session, session.fail_after_s) <= horizon:
                if session.cancel_by_user:
                    self._end(session, "cancelled", now)
                    changes.cancelled.append(session)
                else:
                    self._end(session, "failed", now)
                    changes.failed.append(session)
                return
            if (session.pause_after_s is not None and not session.has_paused
                    and _run_reaches(session, session.pause_after_s) <= horizon):
                session.status = "paused"
                session.paused_at = now
                session.has_paused = True
                changes.paused.append(session)
            elif _run_reaches(session, session.runtime_s) <= horizon:
                self._end(session, "completed", now)
                changes.completed.append(session)
                return
        self._schedule(session)

    def _end(self, session: SimSession, status: str, now: datetime, allocation_status: str = "released") -> None:
        session.status = status
        session.end_time = now
        session.version += 1
        if session.allocation_status == "active":
            free = self.free.get(session.node_id or "")
            if free is not None:
                for resource, amount in session.allocations.items():
                    free[resource] = free.get(resource, 0.0) + amount
            session.allocation_status = allocation_status
            session.released_at = now
            self._retry_pending = True
        self.live.pop(session.session_id, None)
        if self.keep_history:
            self.history.append(session)

    def _schedule(self, session: SimSession) -> None:
        when = self._next_event(session)
        if when is not None:
            heapq.heappush(self._heap, (when, next(self._seq), session.session_id, session.version))

    @staticmethod
    def _next_event(session: SimSession) -> float | None:
        if session.status == "scheduled" and session.scheduled_at is not None:
            return session.scheduled_at.timestamp() + session.startup_s
        if session.status == "paused" and session.paused_at is not None:
            return session.paused_at.timestamp() + session.pause_for_s
        if session.status == "running" and session.start_time is not None:
            due = [session.runtime_s]
            if session.fail_after_s is not None:
                due.append(session.fail_after_s)
            if session.pause_after_s is not None and not session.has_paused:
                due.append(session.pause_after_s)
            return _run_reaches(session, min(due))
        return None

    # -- outside events ---------------------------------------------------------------

    def fail_node(self, node_id: str, now: datetime) -> list[SimSession]:
        """The node died: every session placed on it fails."""
        node = self.node_by_id.get(node_id)
        lost = sorted((s for s in self.live.values() if s.node_id == node_id and s.status != "pending"),
                      key=lambda s: s.session_id)
        for session in lost:
            session.failure_reason = f"node {node.hostname if node else node_id} lost"
            self._end(session, "failed", now, allocation_status="failed")
        return lost

    def unplace(self, session: SimSession) -> None:
        """A placement PostgreSQL refused (the node was drained meanwhile): back to the queue."""
        free = self.free.get(session.node_id or "")
        if free is not None and session.allocation_status == "active":
            for resource, amount in session.allocations.items():
                free[resource] = free.get(resource, 0.0) + amount
        session.status = "pending"
        session.node_id = None
        session.scheduled_at = session.allocated_at = None
        session.allocation_status = None
        session.version += 1
        self._retry_pending = True

    def forget(self, session_id: str) -> SimSession | None:
        """A session someone else ended (cancelled): drop it from the live set."""
        return self.live.pop(session_id, None)

    def sync(self, rows: list[SessionRow], now: datetime) -> list[str]:
        """Take PostgreSQL's live sessions as the truth.

        Sessions we did not know (created by someone else, or live before
        this simulator started) are adopted with a fresh plan. Returns the ids
        of sessions we held as live that PostgreSQL no longer has live.
        """
        seen = set()
        # Adopted in a stable order (not by id: ids are random), so a seeded run draws the same plans.
        for row in sorted(rows, key=lambda r: (r.created_at, r.name, r.session_id)):
            if row.node_id is not None and row.node_id not in self.node_by_id:
                continue  # placed on a node this simulator does not run
            seen.add(row.session_id)
            session = self.live.get(row.session_id)
            if session is None:
                self.live[row.session_id] = session = self._adopt(row, now)
                self._schedule(session)
            elif session.status != row.status or session.node_id != row.node_id:
                self._take_status(session, row, now)
                self._schedule(session)
        vanished = [sid for sid in self.live if sid not in seen]
        for sid in vanished:
            del self.live[sid]
        return vanished

    def _adopt(self, row: SessionRow, now: datetime) -> SimSession:
        session = SimSession(
            session_id=row.session_id, user_id=row.user_id, name=row.name, session_type=row.session_type,
            application=None, image=None, priority=row.priority, cpu=row.cpu, memory_gb=row.memory_gb,
            gpus=row.gpus, storage_gb=row.storage_gb, created_at=row.created_at,
        )
        draw_plan(self.rng, session, profile_for(row.session_type, row.gpus))
        session.extra["adopted"] = True
        self._take_status(session, row, now)
        return session

    @staticmethod
    def _take_status(session: SimSession, row: SessionRow, now: datetime) -> None:
        session.version += 1
        session.status = row.status
        session.node_id = row.node_id
        session.allocation_status = "active" if row.node_id and row.status != "pending" else None
        if row.status == "pending":
            session.node_id = None
            session.scheduled_at = None
        elif row.status == "scheduled":
            session.scheduled_at = session.scheduled_at or now
        else:
            session.start_time = row.start_time or session.start_time or now
            if row.status == "paused":
                session.paused_at = session.paused_at or now
                session.has_paused = True


def _run_reaches(session: SimSession, seconds: float) -> float:
    """When (seconds since 1970) a running session has run `seconds`, its pauses left out."""
    return session.start_time.timestamp() + session.paused_total_s + seconds
