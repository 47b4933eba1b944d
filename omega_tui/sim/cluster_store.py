"""The simulator's reads and writes of the Omega tables in PostgreSQL.

Set-based statements (arrays through unnest) so a tick costs a handful of
round trips whatever the cluster size. Every status change is guarded by the
status it expects (`... AND status = 'running'`): if an operator got there
first (cancelled the session, drained the node), the row is left alone and
the simulator learns the new truth on its next read. Allocations are given
back with `UPDATE ... WHERE status = 'active' RETURNING`, so capacity is
returned exactly once whoever releases first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime

from psycopg.types.json import Jsonb

from omega_tui.sim.draws import new_id
from omega_tui.sim.incidents import SOURCE_COMPONENT, SimEvent
from omega_tui.sim.inventory import RESOURCE_UNITS
from omega_tui.sim.sessions import LIVE_STATUSES, SimSession
from omega_tui.sim.workload import SessionRow


class CapacityExceeded(Exception):
    """A placement would take more than a node has: the tick is rolled back."""


# -- reads ----------------------------------------------------------------------

def read_node_statuses(conn, node_ids: list[str]) -> dict[str, str]:
    rows = conn.execute("SELECT node_id::text, status FROM nodes WHERE node_id = ANY(%s::uuid[])", (node_ids,))
    return {node_id: str(status) for node_id, status in rows}


def read_free_capacity(conn, node_ids: list[str]) -> dict[str, dict[str, float]]:
    """node_id -> resource_type -> total - allocated, from node_resources."""
    free: dict[str, dict[str, float]] = defaultdict(dict)
    rows = conn.execute(
        "SELECT node_id::text, resource_type, total_capacity::float8, coalesce(allocated_capacity, 0)::float8"
        "  FROM node_resources WHERE node_id = ANY(%s::uuid[])",
        (node_ids,),
    )
    for node_id, resource_type, total, allocated in rows:
        if total is not None:
            free[str(node_id)][str(resource_type)] = float(total) - float(allocated)
    return dict(free)


def read_live_sessions(conn, now: datetime) -> list[SessionRow]:
    rows = conn.execute(
        # float8 casts: turning thousands of numerics into Decimals each tick is slow.
        """SELECT session_id::text, user_id::text, session_name, session_type, status, priority,
                  cpu_request::float8, memory_request_gb::float8, gpu_request, storage_request_gb::float8,
                  scheduled_node_id::text, created_at, start_time
             FROM sessions WHERE status = ANY(%s)""",
        (list(LIVE_STATUSES),),
    ).fetchall()
    sessions = []
    for row in rows:
        session = _session_row(row, now)
        if session is not None:
            sessions.append(session)
    return sessions


def _amount(value) -> float | None:
    try:
        number = float(value if value is not None else 0)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _session_row(row, now: datetime) -> SessionRow | None:
    """A validated row, or None for one the simulator must not touch (unusable requests)."""
    (session_id, user_id, name, session_type, status, priority, cpu, memory, gpus, storage,
     node_id, created_at, start_time) = row
    cpu, memory, gpus, storage = _amount(cpu), _amount(memory), _amount(gpus), _amount(storage)
    if None in (cpu, memory, gpus, storage) or gpus != int(gpus):
        return None
    try:
        priority = min(max(int(priority), 1), 10)
    except (TypeError, ValueError):
        priority = 1
    return SessionRow(
        session_id=str(session_id), user_id=str(user_id), name=str(name), session_type=str(session_type),
        status=str(status), priority=priority, cpu=cpu, memory_gb=memory, gpus=int(gpus), storage_gb=storage,
        node_id=str(node_id) if node_id is not None else None,
        created_at=created_at or now, start_time=start_time,
    )


def read_session_statuses(conn, session_ids: list[str]) -> dict[str, tuple[str, datetime | None]]:
    """session_id -> (status, start_time)."""
    rows = conn.execute("SELECT session_id::text, status, start_time FROM sessions"
                        " WHERE session_id = ANY(%s::uuid[])", (session_ids,))
    return {sid: (str(status), start_time) for sid, status, start_time in rows}


def latest_metric_times(conn, node_ids: list[str]) -> dict[str, datetime]:
    """node_id -> time of its newest node_metrics row (nodes without any are absent)."""
    # One index probe per node: PostgreSQL has no loose index scan for max() per group.
    rows = conn.execute(
        """SELECT n.node_id, (SELECT m.time FROM node_metrics m WHERE m.node_id = n.node_id
                               ORDER BY m.time DESC LIMIT 1)
             FROM unnest(%s::uuid[]) AS n(node_id)""",
        (node_ids,),
    )
    return {str(node_id): at for node_id, at in rows if at is not None}


# -- bulk writes (COPY) -------------------------------------------------------------

def _last_change(session: SimSession) -> datetime:
    return session.end_time or session.start_time or session.scheduled_at or session.created_at


def copy_sessions(cur, sessions: list[SimSession], *, as_pending: bool = False) -> None:
    """Insert sessions in their current state, or (`as_pending`) as just submitted."""
    if not sessions:
        return
    with cur.copy(
        """COPY sessions (session_id, user_id, session_name, session_type, application, container_image,
                          status, priority, max_runtime_minutes, cpu_request, cpu_limit, memory_request_gb,
                          memory_limit_gb, gpu_request, storage_request_gb, scheduled_node_id, actual_node_ids,
                          start_time, end_time, created_at, updated_at) FROM STDIN"""
    ) as copy:
        for s in sessions:
            if as_pending:
                status, node_id, start, end, changed = "pending", None, None, None, s.created_at
            else:
                status, node_id, start, end, changed = s.status, s.node_id, s.start_time, s.end_time, _last_change(s)
            copy.write_row((
                s.session_id, s.user_id, s.name, s.session_type, s.application, s.image, status, s.priority,
                s.max_runtime_minutes, s.cpu, s.cpu, s.memory_gb, s.memory_gb, s.gpus, s.storage_gb, node_id,
                [node_id] if node_id else None, start, end, s.created_at, changed,
            ))


def copy_allocations(cur, sessions: list[SimSession]) -> int:
    """One session_allocations row per resource of each placed session, in its current state."""
    count = 0
    with cur.copy(
        """COPY session_allocations (allocation_id, session_id, node_id, resource_type, allocated_amount, unit,
                                     allocation_time, deallocation_time, status) FROM STDIN"""
    ) as copy:
        for s in sessions:
            if s.allocated_at is None or s.node_id is None:
                continue
            for resource, amount in s.allocations.items():
                copy.write_row((new_id(), s.session_id, s.node_id, resource, amount,
                                RESOURCE_UNITS[resource], s.allocated_at, s.released_at, s.allocation_status))
                count += 1
    return count


def copy_events(cur, events: list[SimEvent]) -> None:
    if not events:
        return
    with cur.copy(
        """COPY system_events (event_id, timestamp, event_type, severity, source_component, source_node_id,
                               session_id, user_id, message, details, resolved_at, resolved_by) FROM STDIN"""
    ) as copy:
        for e in events:
            copy.write_row((e.event_id, e.timestamp, e.event_type, e.severity, SOURCE_COMPONENT, e.node_id,
                            e.session_id, e.user_id, e.message, Jsonb(e.details), e.resolved_at, e.resolved_by))


# -- guarded status changes ------------------------------------------------------------

def _ids(sessions: list[SimSession]) -> list[str]:
    return [s.session_id for s in sessions]


def lock_active_nodes(cur, node_ids: list[str]) -> set[str]:
    """The nodes still `active`, share-locked until commit so a drain waits for our placements."""
    if not node_ids:
        return set()
    rows = cur.execute(
        "SELECT node_id FROM nodes WHERE node_id = ANY(%s::uuid[]) AND status = 'active'"
        " ORDER BY node_id FOR SHARE",
        (sorted(set(node_ids)),),
    )
    return {str(r[0]) for r in rows}


def mark_started(cur, sessions: list[SimSession], now: datetime) -> set[str]:
    if not sessions:
        return set()
    rows = cur.execute(
        "UPDATE sessions SET status = 'running', start_time = %s, updated_at = %s"
        " WHERE session_id = ANY(%s::uuid[]) AND status = 'scheduled' RETURNING session_id",
        (now, now, _ids(sessions)),
    )
    return {str(r[0]) for r in rows}


def mark_status(cur, sessions: list[SimSession], new_status: str, expected: str, now: datetime) -> set[str]:
    """running -> paused, paused -> running."""
    if not sessions:
        return set()
    rows = cur.execute(
        "UPDATE sessions SET status = %s, updated_at = %s"
        " WHERE session_id = ANY(%s::uuid[]) AND status = %s RETURNING session_id",
        (new_status, now, _ids(sessions), expected),
    )
    return {str(r[0]) for r in rows}


def mark_ended(cur, sessions: list[SimSession], now: datetime) -> set[str]:
    """-> completed / failed / cancelled (each session's own status), from any placed live status."""
    if not sessions:
        return set()
    rows = cur.execute(
        """UPDATE sessions s SET status = d.status, end_time = %s, updated_at = %s
             FROM unnest(%s::uuid[], %s::text[]) AS d(session_id, status)
            WHERE s.session_id = d.session_id AND s.status IN ('scheduled', 'running', 'paused')
        RETURNING s.session_id""",
        (now, now, _ids(sessions), [s.status for s in sessions]),
    )
    return {str(r[0]) for r in rows}


def mark_placed(cur, sessions: list[SimSession], now: datetime) -> set[str]:
    if not sessions:
        return set()
    rows = cur.execute(
        """UPDATE sessions s SET status = 'scheduled', scheduled_node_id = d.node_id,
                  actual_node_ids = ARRAY[d.node_id], updated_at = %s
             FROM unnest(%s::uuid[], %s::uuid[]) AS d(session_id, node_id)
            WHERE s.session_id = d.session_id AND s.status = 'pending'
        RETURNING s.session_id""",
        (now, _ids(sessions), [s.node_id for s in sessions]),
    )
    return {str(r[0]) for r in rows}


# -- allocations and capacity ----------------------------------------------------------

def release_allocations(cur, session_ids: list[str], at: datetime, status: str = "released", *,
                        only_ended: bool = False) -> list[tuple[str, str, float]]:
    """Active allocations of these sessions -> `status`; returns (node, resource, amount) given back.

    With `only_ended`, only sessions that PostgreSQL has as completed, failed
    or cancelled (someone else ended them and may have left allocations).
    """
    if not session_ids:
        return []
    rows = cur.execute(
        """UPDATE session_allocations sa SET status = %s, deallocation_time = %s
            WHERE sa.session_id = ANY(%s::uuid[]) AND sa.status = 'active'
              AND (NOT %s OR EXISTS (SELECT 1 FROM sessions s WHERE s.session_id = sa.session_id
                                        AND s.status IN ('completed', 'failed', 'cancelled')))
        RETURNING sa.node_id, sa.resource_type, sa.allocated_amount""",
        (status, at, session_ids, only_ended),
    )
    return [(str(node_id), str(rt), float(amount)) for node_id, rt, amount in rows]


def insert_allocations(cur, sessions: list[SimSession], now: datetime) -> list[tuple[str, str, float]]:
    """Active allocations for freshly placed sessions; returns (node, resource, amount) taken."""
    rows = [(new_id(), s.session_id, s.node_id, rt, amount, RESOURCE_UNITS[rt], now)
            for s in sessions for rt, amount in s.allocations.items()]
    if not rows:
        return []
    columns = list(zip(*rows))
    cur.execute(
        """INSERT INTO session_allocations (allocation_id, session_id, node_id, resource_type, allocated_amount,
                                            unit, allocation_time, status)
           SELECT a, s, n, r, amt, u, t, 'active'
             FROM unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::text[], %s::numeric[], %s::text[],
                         %s::timestamptz[]) AS x(a, s, n, r, amt, u, t)""",
        [list(c) for c in columns],
    )
    return [(r[2], r[3], r[4]) for r in rows]


def change_allocated_capacity(cur, changes: list[tuple[str, str, float]], now: datetime) -> None:
    """Add (or with negative amounts give back) capacity, one statement in (node, resource) order."""
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for node_id, resource, amount in changes:
        totals[(node_id, resource)] += amount
    keys = sorted(k for k, v in totals.items() if round(v, 4) != 0)
    if not keys:
        return
    rows = cur.execute(
        """UPDATE node_resources nr SET allocated_capacity = coalesce(nr.allocated_capacity, 0) + d.amount,
                  updated_at = %s
             FROM unnest(%s::uuid[], %s::text[], %s::numeric[]) AS d(node_id, resource_type, amount)
            WHERE nr.node_id = d.node_id AND nr.resource_type = d.resource_type
        RETURNING nr.node_id, nr.resource_type, nr.allocated_capacity <= nr.total_capacity""",
        (now, [k[0] for k in keys], [k[1] for k in keys], [round(totals[k], 4) for k in keys]),
    ).fetchall()
    over = [f"{r[1]} on {r[0]}" for r in rows if not r[2]]
    if over or len(rows) != len(keys):
        raise CapacityExceeded(", ".join(over) or "a node_resources row is missing")


def reconcile_allocated_capacity(cur, node_ids: list[str], now: datetime) -> None:
    """allocated_capacity := the sum of active allocations, for these nodes (after a backfill)."""
    cur.execute(
        """UPDATE node_resources nr SET allocated_capacity = coalesce(a.amount, 0), updated_at = %s
             FROM (SELECT r.node_id, r.resource_type, sum(sa.allocated_amount) AS amount
                     FROM node_resources r
                     LEFT JOIN session_allocations sa
                            ON sa.node_id = r.node_id AND sa.resource_type = r.resource_type AND sa.status = 'active'
                    WHERE r.node_id = ANY(%s::uuid[])
                    GROUP BY r.node_id, r.resource_type) a
            WHERE nr.node_id = a.node_id AND nr.resource_type = a.resource_type
              AND nr.allocated_capacity IS DISTINCT FROM coalesce(a.amount, 0)""",
        (now, node_ids),
    )


# -- nodes and events -------------------------------------------------------------------

def set_node_status(cur, node_ids: list[str], status: str, only_from: tuple[str, ...], now: datetime) -> set[str]:
    if not node_ids:
        return set()
    rows = cur.execute(
        "UPDATE nodes SET status = %s, updated_at = %s"
        " WHERE node_id = ANY(%s::uuid[]) AND status = ANY(%s) RETURNING node_id",
        (status, now, sorted(node_ids), list(only_from)),
    )
    return {str(r[0]) for r in rows}


def update_sessions(cur, sessions: list[SimSession]) -> set[str]:
    """Sessions that already existed take their state from the simulation (after a backfill)."""
    if not sessions:
        return set()
    rows = cur.execute(
        """UPDATE sessions s SET status = d.status, scheduled_node_id = d.node_id,
                  actual_node_ids = CASE WHEN d.node_id IS NULL THEN s.actual_node_ids ELSE ARRAY[d.node_id] END,
                  start_time = d.start_time, end_time = d.end_time, updated_at = d.changed
             FROM unnest(%s::uuid[], %s::text[], %s::uuid[], %s::timestamptz[], %s::timestamptz[],
                         %s::timestamptz[]) AS d(session_id, status, node_id, start_time, end_time, changed)
            WHERE s.session_id = d.session_id AND s.status IN ('pending', 'scheduled', 'running', 'paused')
        RETURNING s.session_id""",
        ([s.session_id for s in sessions], [s.status for s in sessions], [s.node_id for s in sessions],
         [s.start_time for s in sessions], [s.end_time for s in sessions], [_last_change(s) for s in sessions]),
    )
    return {str(r[0]) for r in rows}


def set_last_heartbeats(cur, last_seen: dict[str, datetime]) -> None:
    """nodes.last_heartbeat = when each node was last heard of, never moving it back."""
    if not last_seen:
        return
    node_ids = sorted(last_seen)
    cur.execute(
        """UPDATE nodes n SET last_heartbeat = d.at
             FROM unnest(%s::uuid[], %s::timestamptz[]) AS d(node_id, at)
            WHERE n.node_id = d.node_id AND (n.last_heartbeat IS NULL OR n.last_heartbeat < d.at)""",
        (node_ids, [last_seen[n] for n in node_ids]),
    )


def touch_heartbeats(cur, node_ids: list[str], at: datetime) -> None:
    """nodes.last_heartbeat for live nodes; rows an operator holds locked are skipped, never waited for."""
    if not node_ids:
        return
    cur.execute(
        """UPDATE nodes SET last_heartbeat = %s
            WHERE node_id IN (SELECT node_id FROM nodes WHERE node_id = ANY(%s::uuid[])
                               ORDER BY node_id FOR NO KEY UPDATE SKIP LOCKED)""",
        (at, node_ids),
    )


def resolve_events(cur, events: list[SimEvent]) -> None:
    if not events:
        return
    cur.execute(
        """UPDATE system_events e SET resolved_at = d.at
             FROM unnest(%s::uuid[], %s::timestamptz[]) AS d(event_id, at)
            WHERE e.event_id = d.event_id AND e.resolved_at IS NULL""",
        ([e.event_id for e in events], [e.resolved_at for e in events]),
    )
