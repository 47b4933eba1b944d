"""One Redis pipeline per tick: heartbeats, latest metrics, the pending queue,
session states and the cluster summary, written as MULTI/EXEC so a reader
never sees half a tick (and never an emptied queue being refilled)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from omega_tui.data.connect import is_cluster
from omega_tui.data.models import METRIC_UNITS
from omega_tui.sim import redis_keys as keys
from omega_tui.sim.sessions import SimSession

QUEUE_PUSH_BATCH = 1000
ENDED_STATE_TTL = 3600


@dataclass(slots=True)
class LiveState:
    at: datetime
    heartbeats: list[tuple[str, str, float | None]] = field(default_factory=list)   # node, status, load
    metrics: list[tuple[str, tuple[str, ...], tuple[float, ...]]] = field(default_factory=list)
    queue: list[str] | None = None                        # pending ids in order; None: leave the list alone
    session_states: list[tuple[str, dict, int]] = field(default_factory=list)  # id, state, ttl seconds
    cluster_state: dict | None = None


def session_state(session: SimSession, now: datetime) -> tuple[str, dict, int]:
    """(id, `session:state` value, TTL): kept for the session's remaining planned life, then an hour."""
    placed = session.status in ("scheduled", "running", "paused") and session.node_id
    value = {
        "status": session.status,
        "allocated_resources": {"node_id": session.node_id, **session.allocations} if placed else {},
        "start_time": session.start_time.isoformat() if session.start_time else None,
    }
    if session.status in ("completed", "failed", "cancelled"):
        return session.session_id, value, ENDED_STATE_TTL
    begun = session.start_time or now
    remaining = (begun - now).total_seconds() + session.planned_end_s + session.startup_s
    return session.session_id, value, int(max(remaining, 0) + ENDED_STATE_TTL)


def write_live_state(client, state: LiveState) -> int:
    """Send everything in one round trip (one per master on a Redis Cluster); returns the number of commands.

    A cluster cannot run MULTI across hash slots: there the keys go in a plain
    pipeline (grouped per master by redis-py) and only the queue, one key, is
    replaced inside MULTI/EXEC so a reader never sees it half refilled.
    """
    cluster = is_cluster(client)
    pipe = client.pipeline(transaction=not cluster)
    at_text = state.at.isoformat()
    for node_id, status, load in state.heartbeats:
        pipe.execute_command("SETEX", keys.heartbeat_key(node_id), keys.HEARTBEAT_TTL_SECONDS,
                             keys.heartbeat_value(state.at, status, load))
    # execute_command skips redis-py's per-call argument checks: this loop runs ~8 times per node.
    for node_id, metric_types, values in state.metrics:
        for metric_type, value in zip(metric_types, values):
            pipe.execute_command("SET", keys.metric_key(node_id, metric_type),
                                 keys.metric_value(value, at_text, METRIC_UNITS[metric_type]),
                                 "EX", keys.METRIC_TTL_SECONDS)
    queue_pipe = client.pipeline(transaction=True) if cluster else pipe
    if state.queue is not None:
        queue_pipe.delete(keys.QUEUE_KEY)
        for start in range(0, len(state.queue), QUEUE_PUSH_BATCH):
            queue_pipe.rpush(keys.QUEUE_KEY, *state.queue[start:start + QUEUE_PUSH_BATCH])
    for session_id, value, ttl in state.session_states:
        pipe.set(keys.session_state_key(session_id), json.dumps(value), ex=max(int(ttl), 1))
    if state.cluster_state is not None:
        pipe.hset(keys.CLUSTER_STATE_KEY, mapping=state.cluster_state)
    commands = len(pipe) + (len(queue_pipe) if queue_pipe is not pipe else 0)
    if len(pipe):
        pipe.execute()
    if queue_pipe is not pipe and len(queue_pipe):
        queue_pipe.execute()
    return commands
