"""What the poller hands to the screens: frozen, slotted, safe to share across threads.

Every value came from a store and is untrusted: strings are kept as found
(the UI renders them literally), unknown enum values are kept as found and
flagged by the `known_*` helpers, missing numbers are None, and a problem
with a value (a malformed heartbeat, say) is a field of the model, never an
exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import Enum
from typing import NamedTuple

CANONICAL_METRICS = (
    "cpu_percent", "memory_percent", "gpu_percent", "gpu_memory_percent", "disk_percent",
    "net_rx_bytes", "net_tx_bytes", "load_1m", "temperature_c",
)
METRIC_UNITS = {
    "cpu_percent": "percent", "memory_percent": "percent", "gpu_percent": "percent",
    "gpu_memory_percent": "percent", "disk_percent": "percent", "net_rx_bytes": "bytes/s",
    "net_tx_bytes": "bytes/s", "load_1m": "load", "temperature_c": "celsius",
}
NODE_TYPES = ("control", "compute", "storage", "gpu", "hybrid")
NODE_STATUSES = ("active", "inactive", "draining", "failed", "maintenance")
SESSION_TYPES = ("interactive", "batch", "streaming", "ai_training", "rendering")
SESSION_STATUSES = ("pending", "scheduled", "running", "paused", "completed", "failed", "cancelled")
LIVE_SESSION_STATUSES = ("pending", "scheduled", "running", "paused")
FINISHED_SESSION_STATUSES = ("completed", "failed", "cancelled")
SEVERITIES = ("critical", "error", "warning", "info", "debug")
RESOURCE_TYPES = ("cpu", "memory", "storage", "gpu", "network")

HEARTBEAT_TTL_SECONDS = 30.0
HISTORY_POINTS = 60


class Reachability(str, Enum):
    """What Redis says about a node, whatever `nodes.status` says."""

    LIVE = "live"            # heartbeat key present and fresh
    STALE = "stale"          # key present but its timestamp is older than the TTL
    MISSING = "missing"      # no heartbeat key: unreachable
    MALFORMED = "malformed"  # key present but not the contract's JSON
    UNKNOWN = "unknown"      # Redis itself is unavailable: we cannot tell


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A parsed `node:heartbeat:{id}` value."""

    at: datetime | None
    status: str | None
    load: float | None
    problem: str | None = None  # why the raw value did not parse, shown to the operator


class MetricSeries(NamedTuple):
    """One metric of one node: latest value and the last HISTORY_POINTS values, oldest first.

    From the poller, `history` is an array('d') of the series' own (never changed after,
    a third of the memory of a tuple of floats); elsewhere it may be a tuple.
    `history_us` are the samples' times (microseconds since the epoch), one per value of
    `history`; from the poller an array('q') shared by the node's series sampled at the same
    times; empty when not known.

    A NamedTuple, not a frozen dataclass like the others: one is built for every new sample
    of every series (9,000 a poll at 5,000 nodes), in half the time.
    """

    metric_type: str
    unit: str | None
    latest: float | None
    latest_at: datetime | None
    history: Sequence[float] = ()
    history_us: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class Allocation:
    """A `node_resources` row: allocated vs total of one resource type."""

    resource_type: str
    allocated: float | None
    total: float | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class Node:
    node_id: str
    hostname: str
    ip_address: str | None
    node_type: str
    status: str                      # nodes.status as found (may be unknown)
    total_cpu_cores: int | None
    total_memory_gb: float | None
    total_storage_gb: float | None
    gpu_count: int | None
    gpu_memory_gb: float | None
    labels: tuple[tuple[str, str], ...]
    last_heartbeat: datetime | None  # nodes.last_heartbeat (PostgreSQL)
    reachability: Reachability
    heartbeat: Heartbeat | None
    metrics: tuple[MetricSeries, ...] = ()   # canonical ones first, then any others
    sessions_running: int = 0
    sessions_total: int = 0          # live sessions (pending..paused) placed on this node
    allocations: tuple[Allocation, ...] = ()
    in_postgres: bool = True         # False: heartbeating in Redis, unknown to PostgreSQL

    @property
    def reachable(self) -> bool:
        return self.reachability is Reachability.LIVE

    def heartbeat_age_at(self, now: datetime) -> float | None:
        """Seconds from the Redis heartbeat's timestamp to `now` (None: no timestamp).

        Worked out when shown rather than stored, so that a node whose data did not
        change is the same object from one snapshot to the next.
        """
        at = self.heartbeat.at if self.heartbeat is not None else None
        return (now - at).total_seconds() if at is not None else None

    def metric(self, metric_type: str) -> MetricSeries | None:
        for series in self.metrics:
            if series.metric_type == metric_type:
                return series
        return None

    def allocation(self, resource_type: str) -> Allocation | None:
        for alloc in self.allocations:
            if alloc.resource_type == resource_type:
                return alloc
        return None

    @property
    def known_status(self) -> bool:
        return self.status in NODE_STATUSES


# Node's own fields, set by node_from_postgres(); the others come from PostgreSQL (PgNode.fields).
_LIVE_FIELDS = ("reachability", "heartbeat", "metrics", "in_postgres")
_SET_POSTGRES_FIELDS = tuple((f.name, getattr(Node, f.name).__set__)
                             for f in fields(Node) if f.name not in _LIVE_FIELDS)
_SET_LIVE_FIELDS = tuple(getattr(Node, name).__set__ for name in _LIVE_FIELDS)
_new_object = object.__new__


def node_from_postgres(postgres_fields: dict, reachability: Reachability, heartbeat: Heartbeat | None,
                       metrics: tuple[MetricSeries, ...]) -> Node:
    """Node(**postgres_fields, reachability=..., heartbeat=..., metrics=...), for a node PostgreSQL
    lists (`postgres_fields` holds every other field), in half the time: its slots are set one by one,
    without the frozen dataclass's __init__ (object.__setattr__ per field). One is built for every
    changed node of every poll (about 1,000 a poll at 5,000 nodes)."""
    node = _new_object(Node)
    for name, set_field in _SET_POSTGRES_FIELDS:
        set_field(node, postgres_fields[name])
    set_reachability, set_heartbeat, set_metrics, set_in_postgres = _SET_LIVE_FIELDS
    set_reachability(node, reachability)
    set_heartbeat(node, heartbeat)
    set_metrics(node, metrics)
    set_in_postgres(node, True)
    return node


@dataclass(frozen=True, slots=True)
class Session:
    session_id: str
    session_name: str
    user_id: str | None
    username: str | None
    session_type: str
    status: str
    priority: int | None
    cpu_request: float | None
    memory_request_gb: float | None
    gpu_request: int | None
    node_id: str | None
    node_hostname: str | None
    created_at: datetime | None
    start_time: datetime | None
    end_time: datetime | None

    @property
    def known_status(self) -> bool:
        return self.status in SESSION_STATUSES


class AlertKind(str, Enum):
    EVENT = "event"                  # an unresolved system_events row
    UNREACHABLE = "unreachable"      # heartbeat missing/stale
    NODE_FAILED = "node_failed"      # nodes.status = failed
    THRESHOLD = "threshold"          # metric over a threshold for a duration
    PENDING_TOO_LONG = "pending"     # session pending longer than the limit


@dataclass(frozen=True, slots=True)
class Alert:
    alert_id: str                    # stable across polls: "event:<uuid>", "unreachable:<node_id>", ...
    kind: AlertKind
    severity: str                    # critical, error, warning (as found for events)
    title: str
    message: str
    since: datetime | None
    node_id: str | None = None
    session_id: str | None = None
    source: str | None = None        # system_events.source_component, or "console"
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None   # username, when system_events.resolved_by maps to a user

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def time_to_resolve(self) -> timedelta | None:
        """For resolved alerts (the history): how long it was open."""
        if self.resolved_at is None or self.since is None:
            return None
        return self.resolved_at - self.since


class HealthState(str, Enum):
    OK = "ok"
    STALE = "stale"   # last read failed; showing data from `last_ok`
    DOWN = "down"     # never read successfully in this run


@dataclass(frozen=True, slots=True)
class StoreHealth:
    store: str                       # "PostgreSQL" or "Redis"
    state: HealthState
    since: datetime | None = None    # when the current state began
    reason: str | None = None        # one line, passwords masked
    last_ok: datetime | None = None
    latency_ms: float | None = None
    source: str | None = None        # PostgreSQL with read replicas: "replica HOST:PORT/DB" or "primary (...)"
    lag_seconds: float | None = None   # how far that replica is behind its primary

    @property
    def ok(self) -> bool:
        return self.state is HealthState.OK


@dataclass(frozen=True, slots=True)
class ClusterTotals:
    nodes_by_status: tuple[tuple[str, int], ...]   # nodes.status -> count (as found)
    nodes_unreachable: int
    cpu_percent: float | None                      # mean over reachable nodes
    memory_percent: float | None
    gpu_percent: float | None
    sessions_by_status: tuple[tuple[str, int], ...] = ()
    alerts_by_severity: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class PollStats:
    duration_ms: float
    sql_statements: int
    redis_round_trips: int
    metric_rows: int                 # node_metrics rows fetched this poll (and read for it since the last)
    metric_rows_new: int = 0         # of those, rows not already held (the rest is the overlap)
    full_metric_load: bool = False   # this poll (re)loaded the short history instead of new rows only


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An omega_console.audit_log row: one action someone took, and how it went."""

    audit_id: int
    at: datetime
    operator: str
    os_user: str
    os_host: str
    db_user: str
    action: str                      # drain, resume, cancel, acknowledge, resolve (as found)
    target_kind: str                 # node, session, alert
    target_id: str
    target_name: str | None
    before: str                      # short summary of before_state, e.g. "status=active"
    after: str
    result: str                      # ok, already, not_found, refused, failed (as found)
    detail: str | None


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    taken_at: datetime
    nodes: tuple[Node, ...]
    sessions: tuple[Session, ...]
    alerts: tuple[Alert, ...]
    totals: ClusterTotals
    postgres: StoreHealth
    redis: StoreHealth
    stats: PollStats | None = None
    resolved_alerts: tuple[Alert, ...] = ()        # recent history, newest first
    notices: tuple[str, ...] = field(default=())   # e.g. "3 heartbeats malformed"
    audit: tuple["AuditEntry", ...] = ()           # the audit trail, newest first (bounded)
    # Session id -> its 0-based position in queue:pending_sessions (the first, if listed twice). Not a
    # field of Session: when the queue's head moves every queued session moves, thousands a poll on
    # a big cluster, and the sessions themselves stay the same objects. Never changed once handed out.
    queue_positions: Mapping[str, int] = field(default_factory=dict)

    def node(self, node_id: str) -> Node | None:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        return None


@dataclass(frozen=True, slots=True)
class Event:
    """A system_events row, for a node's recent events."""

    event_id: str
    timestamp: datetime | None
    event_type: str
    severity: str
    source_component: str | None
    message: str
    node_id: str | None = None
    session_id: str | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    at: datetime
    avg: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class NodeDetail:
    """What the node detail screen needs beyond the snapshot: a longer window
    of history (from the rollups) and recent events. Fetched on demand."""

    node_id: str
    window_seconds: float
    bucket_seconds: float
    series: tuple[tuple[str, tuple[SeriesPoint, ...]], ...]   # metric_type -> points, oldest first
    events: tuple[Event, ...]                                  # newest first
    fetched_at: datetime
    problem: str | None = None       # why the history could not be read (store down, unknown node)
