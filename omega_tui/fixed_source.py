"""A data source with fixed, made-up data: for tests, snapshot tests and trying the screens.

It has the poller's interface (`poll()`, `node_detail()`, `close()`) and
returns the same ClusterSnapshot for the same step, whatever the wall clock:
`taken_at` is fixed and every value is a function of the node and the step.
`advance()` moves one poll forward (about 10 % of the nodes get a new metric
sample); `set_store_health()`, `add_node()` and `remove_node()` make the other
changes tests need. No Textual import.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from omega_tui.data.models import (
    HISTORY_POINTS,
    METRIC_UNITS,
    Alert,
    AlertKind,
    Allocation,
    AuditEntry,
    ClusterSnapshot,
    ClusterTotals,
    Event,
    HealthState,
    Heartbeat,
    MetricSeries,
    Node,
    NodeDetail,
    PollStats,
    Reachability,
    SeriesPoint,
    Session,
    StoreHealth,
)

FIXED_TAKEN_AT = datetime(2025, 3, 14, 9, 26, 40, tzinfo=timezone.utc)
STEP_SECONDS = 2.0

LIVE, STALE, MISSING, MALFORMED = (
    Reachability.LIVE, Reachability.STALE, Reachability.MISSING, Reachability.MALFORMED,
)

# hostname, node_type, nodes.status, reachability, cores, memory GB, GPUs
_NODE_SPECS: tuple[tuple[str, str, str, Reachability, int, float, int], ...] = (
    ("ctl-01", "control", "active", LIVE, 16, 64, 0),
    ("ctl-02", "control", "active", LIVE, 16, 64, 0),
    ("cmp-01", "compute", "active", LIVE, 64, 256, 0),
    ("cmp-02", "compute", "active", LIVE, 64, 256, 0),
    ("cmp-03", "compute", "active", LIVE, 64, 256, 0),
    ("cmp-04", "compute", "draining", LIVE, 64, 256, 0),
    ("cmp-05", "compute", "active", LIVE, 64, 256, 0),
    ("cmp-06", "compute", "active", LIVE, 64, 256, 0),
    ("cmp-07", "compute", "failed", MISSING, 64, 256, 0),
    ("cmp-08", "compute", "active", LIVE, 128, 512, 0),
    ("cmp-09", "compute", "active", STALE, 128, 512, 0),
    ("cmp-10.rack-b.very-long-datacenter-domain.example.org", "compute", "active", LIVE, 128, 512, 0),
    ("sto-01", "storage", "active", LIVE, 32, 128, 0),
    ("sto-02", "storage", "active", LIVE, 32, 128, 0),
    ("sto-03", "storage", "maintenance", LIVE, 32, 128, 0),
    ("gpu-01", "gpu", "active", LIVE, 96, 1024, 8),
    ("gpu-02", "gpu", "active", LIVE, 96, 1024, 8),
    ("gpu-03", "gpu", "active", MISSING, 96, 1024, 8),
    ("gpu-04", "gpu", "active", LIVE, 96, 1024, 4),
    ("gpu-05", "gpu", "draining", LIVE, 96, 1024, 4),
    ("hyb-01", "hybrid", "active", LIVE, 48, 384, 2),
    ("hyb-02", "hybrid", "inactive", MISSING, 48, 384, 2),
    ("hyb-03", "hybrid", "active", MALFORMED, 48, 384, 2),
    ("old-01", "compute", "retired", MISSING, 32, 128, 0),  # a status the contract does not know
)
REDIS_ONLY_HOSTNAME = "edge-77"

# session name, user, type, status, priority, cpu, memory GB, GPUs, node hostname, queue position, minutes ago
_SESSION_SPECS = (
    ("train-llm-7b", "alice", "ai_training", "pending", 9, 32, 256, 8, None, 0, 26),
    ("render-shot-042", "carol", "rendering", "pending", 5, 16, 64, 1, None, 1, 12),
    ("nightly-etl", "bob", "batch", "pending", 3, 8, 32, 0, None, 2, 7),
    ("notebook-dmitri", "dmitri", "interactive", "pending", 5, 4, 16, 0, None, None, 3),
    ("[red]not markup[/red] \x1b[2Jclear", "eve", "batch", "pending", 1, 2, 8, 0, None, 3, 1),
    ("stream-ingest", "bob", "streaming", "scheduled", 7, 8, 32, 0, "cmp-05", None, 2),
    ("finetune-vision", "alice", "ai_training", "scheduled", 8, 24, 192, 4, "gpu-04", None, 1),
    ("sim-cfd-large", "carol", "batch", "running", 6, 60, 240, 0, "cmp-01", None, 190),
    ("sim-cfd-small", "carol", "batch", "running", 6, 30, 120, 0, "cmp-02", None, 75),
    ("desk-alice", "alice", "interactive", "running", 5, 4, 16, 0, "hyb-01", None, 300),
    ("train-diffusion", "alice", "ai_training", "running", 9, 90, 900, 8, "gpu-01", None, 1500),
    ("train-rl-agent", "dmitri", "ai_training", "running", 7, 48, 512, 4, "gpu-02", None, 44),
    ("render-shot-041", "carol", "rendering", "running", 5, 32, 128, 2, "hyb-01", None, 18),
    ("kafka-bridge", "bob", "streaming", "running", 4, 8, 32, 0, "sto-01", None, 5000),
    ("long-batch-on-draining-node", "bob", "batch", "running", 4, 48, 128, 0, "cmp-04", None, 600),
    ("lost-on-gpu-03", "dmitri", "ai_training", "running", 8, 48, 512, 4, "gpu-03", None, 95),
    ("debug-shell", None, "interactive", "paused", 2, 2, 4, 0, "cmp-03", None, 40),
    ("param-sweep-17", "alice", "batch", "paused", 3, 16, 64, 0, "cmp-06", None, 130),
)


def _wave(seed: int, seconds: float, base: float, amplitude: float, period: float = 300.0) -> float:
    """A deterministic, smooth-looking value for one node and metric at a time offset."""
    phase = seed * 1.618
    value = base + amplitude * math.sin(2 * math.pi * seconds / period + phase)
    value += amplitude * 0.3 * math.sin(2 * math.pi * seconds / (period / 7.3) + phase * 2)
    return round(value, 1)


def _node_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def _session_id(index: int) -> str:
    return f"10000000-0000-4000-8000-{index:012d}"


def _event_id(index: int) -> str:
    return f"20000000-0000-4000-8000-{index:012d}"


class FixedSource:
    """Deterministic cluster data with the Poller's interface."""

    def __init__(self, *, taken_at: datetime = FIXED_TAKEN_AT, follow_clock: bool = False,
                 extra_hostnames: tuple[str, ...] = ()) -> None:
        self._start = taken_at
        self._follow_clock = follow_clock
        self._lock = threading.Lock()
        self.step = 0
        self.polls = 0
        self.detail_requests: list[tuple[str, timedelta]] = []
        self.closed = False
        self._health: dict[str, StoreHealth] = {}
        self._extra_hostnames: list[str] = list(extra_hostnames)   # plain compute nodes: big clusters
        self._series: dict[tuple[str, str], MetricSeries] = {}
        self._removed_hostnames: set[str] = set()
        self._snapshot = self._build()

    # -- the Poller interface --------------------------------------------------

    @classmethod
    def live(cls) -> "FixedSource":
        """Made-up data that moves with the wall clock: for trying the console without a cluster."""
        return cls(taken_at=datetime.now(timezone.utc).replace(microsecond=0), follow_clock=True)

    def poll(self) -> ClusterSnapshot:
        with self._lock:
            self.polls += 1
            if self._follow_clock:
                elapsed = (datetime.now(timezone.utc) - self._start).total_seconds()
                step = max(self.step, int(elapsed // STEP_SECONDS))
                if step != self.step:
                    self.step = step
                    self._snapshot = self._build()
            return self._snapshot

    def node_detail(self, node_id: str, window: timedelta) -> NodeDetail:
        with self._lock:
            self.detail_requests.append((node_id, window))
            taken_at = self._snapshot.taken_at
        return fixed_node_detail(node_id, window, taken_at)

    def close(self) -> None:
        self.closed = True

    # -- changes for tests -----------------------------------------------------

    @property
    def snapshot(self) -> ClusterSnapshot:
        with self._lock:
            return self._snapshot

    @property
    def taken_at(self) -> datetime:
        return self._start + timedelta(seconds=self.step * STEP_SECONDS)

    def advance(self, steps: int = 1) -> ClusterSnapshot:
        """Move `steps` polls forward: new `taken_at`, new samples on some nodes."""
        with self._lock:
            self.step += steps
            self._snapshot = self._build()
            return self._snapshot

    def set_store_health(
        self, store: str, state: HealthState, reason: str | None = None, since: datetime | None = None
    ) -> ClusterSnapshot:
        """Mark "PostgreSQL" or "Redis" stale/down (or OK again) from now on."""
        with self._lock:
            if state is HealthState.OK:
                self._health.pop(store, None)
            else:
                self._health[store] = StoreHealth(
                    store=store,
                    state=state,
                    since=since or self.taken_at - timedelta(seconds=20),
                    reason=reason,
                    last_ok=(since or self.taken_at - timedelta(seconds=20)) - timedelta(seconds=2)
                    if state is HealthState.STALE else None,
                )
            self._snapshot = self._build()
            return self._snapshot

    def add_node(self, hostname: str) -> ClusterSnapshot:
        with self._lock:
            self._extra_hostnames.append(hostname)
            self._snapshot = self._build()
            return self._snapshot

    def remove_node(self, hostname: str) -> ClusterSnapshot:
        with self._lock:
            self._removed_hostnames.add(hostname)
            self._snapshot = self._build()
            return self._snapshot

    def node_id_of(self, hostname: str) -> str:
        for node in self.snapshot.nodes:
            if node.hostname == hostname:
                return node.node_id
        raise KeyError(hostname)

    # -- building ----------------------------------------------------------------

    def _reuse_series(self, node: Node) -> Node:
        """Hand over the same MetricSeries object while a series has no new sample, as the Poller does."""
        metrics = []
        for series in node.metrics:
            key = (node.node_id, series.metric_type)
            held = self._series.get(key)
            if held is not None and held == series:
                series = held
            self._series[key] = series
            metrics.append(series)
        return replace(node, metrics=tuple(metrics))

    def _build(self) -> ClusterSnapshot:
        taken_at = self.taken_at
        specs = list(_NODE_SPECS) + [
            (name, "compute", "active", LIVE, 32, 128, 0) for name in self._extra_hostnames
        ]
        nodes = []
        for index, spec in enumerate(specs):
            if spec[0] in self._removed_hostnames:
                continue
            nodes.append(self._reuse_series(_fixed_node(index, spec, self._start, self.step)))
        nodes.append(_redis_only_node(len(specs), taken_at, self.step))
        host_ids = {node.hostname: node.node_id for node in nodes}
        sessions = tuple(_fixed_sessions(taken_at, host_ids))
        positions = {_session_id(index): spec[9] for index, spec in enumerate(_SESSION_SPECS) if spec[9] is not None}
        nodes = [_with_session_counts(node, sessions) for node in nodes]
        alerts = _fixed_alerts(taken_at, host_ids, sessions)
        redis = self._health.get("Redis")
        if redis is not None:
            nodes = [replace(n, reachability=Reachability.UNKNOWN) for n in nodes]
        postgres = self._health.get("PostgreSQL") or StoreHealth(
            "PostgreSQL", HealthState.OK, since=self._start - timedelta(hours=3),
            last_ok=taken_at, latency_ms=4.2,
        )
        redis = redis or StoreHealth(
            "Redis", HealthState.OK, since=self._start - timedelta(hours=3), last_ok=taken_at, latency_ms=0.8,
        )
        return ClusterSnapshot(
            taken_at=taken_at,
            nodes=tuple(nodes),
            sessions=sessions,
            alerts=alerts,
            totals=_totals(nodes, sessions, alerts),
            postgres=postgres,
            redis=redis,
            stats=PollStats(duration_ms=38.5, sql_statements=6, redis_round_trips=2, metric_rows=len(nodes) * 9),
            resolved_alerts=_fixed_resolved_alerts(taken_at, host_ids),
            notices=("1 heartbeat malformed (hyb-03)",),
            audit=_fixed_audit(taken_at, host_ids),
            queue_positions=positions,
        )


def _sample_age(index: int, step: int) -> float:
    """Seconds since this node's latest metric sample: about 10 % of nodes sample each step."""
    return float(((step + index) % 10) * STEP_SECONDS)


def _fixed_node(index: int, spec, start: datetime, step: int) -> Node:
    hostname, node_type, status, reach, cores, memory_gb, gpus = spec
    taken_at = start + timedelta(seconds=step * STEP_SECONDS)
    node_id = _node_id(index)
    if reach is LIVE:
        heartbeat_age = float((index * 3 + step * STEP_SECONDS) % 10)
        heartbeat = Heartbeat(at=taken_at - timedelta(seconds=heartbeat_age), status=status, load=None)
    elif reach is STALE:
        heartbeat_age = 47.0 + step * STEP_SECONDS
        heartbeat = Heartbeat(at=taken_at - timedelta(seconds=heartbeat_age), status=status, load=None)
    elif reach is MALFORMED:
        heartbeat_age = None
        heartbeat = Heartbeat(at=None, status=None, load=None, problem="not JSON: b'\\x00\\xffok'")
    else:
        heartbeat_age = None
        heartbeat = None
    silent_for = {MISSING: 340.0 + index * 60, STALE: 47.0}.get(reach, 0.0)
    if status == "failed" or status == "retired":
        silent_for = 7200.0 + index * 60
    last_heartbeat = taken_at - timedelta(seconds=silent_for + (heartbeat_age or 0) + step * STEP_SECONDS * (reach is not LIVE))
    if status == "retired":
        last_heartbeat = None
    metrics = _fixed_metrics(index, node_type, status, gpus, start, step, silent_for)
    labels = [("rack", f"r{index % 4 + 1}"), ("zone", "eu-west-1a" if index % 2 else "eu-west-1b")]
    if node_type == "gpu":
        labels.append(("gpu-model", "H100" if gpus == 8 else "L40S"))
    if hostname == "hyb-03":
        labels.append(("owner", "[bold red]ops[/] \x1b]0;pwned\x07team"))
    cpu_alloc = min(cores, (index * 7) % cores + (8 if status == "active" else 0))
    allocations = (
        Allocation("cpu", float(cpu_alloc), float(cores), "cores"),
        Allocation("memory", float(min(memory_gb, cpu_alloc * 4)), float(memory_gb), "GB"),
        Allocation("storage", 380.0 + index * 11, 1920.0, "GB"),
        Allocation("network", 2.5, 25.0, "Gbps"),
    ) + ((Allocation("gpu", float(min(gpus, index % (gpus + 1))), float(gpus), "gpus"),) if gpus else ())
    return Node(
        node_id=node_id,
        hostname=hostname,
        ip_address=f"10.20.{index // 200}.{index % 200 + 10}",
        node_type=node_type,
        status=status,
        total_cpu_cores=cores,
        total_memory_gb=float(memory_gb),
        total_storage_gb=1920.0,
        gpu_count=gpus,
        gpu_memory_gb=float(gpus * 80) if gpus else None,
        labels=tuple(labels),
        last_heartbeat=last_heartbeat,
        reachability=reach,
        heartbeat=heartbeat,
        metrics=metrics,
        allocations=allocations,
    )


def _fixed_metrics(index, node_type, status, gpus, start, step, silent_for) -> tuple[MetricSeries, ...]:
    if status in ("failed", "retired"):
        return (MetricSeries("cpu_percent", "percent", None, None, ()),)
    quiet = status in ("maintenance", "inactive")
    taken_at = start + timedelta(seconds=step * STEP_SECONDS)
    if silent_for:  # no sample since the node went silent
        latest_at = start - timedelta(seconds=silent_for)
    else:  # the sample clock only moves when the node samples: most nodes keep their values a few steps
        latest_at = taken_at - timedelta(seconds=_sample_age(index, step))
    sample_time = (latest_at - start).total_seconds()
    shapes = {
        "cpu_percent": (35 + index * 7 % 50, 25, "percent"),
        "memory_percent": (45 + index * 5 % 40, 12, "percent"),
        "disk_percent": (40 + index * 3 % 45, 2, "percent"),
        "net_rx_bytes": (4e7 + index * 3e6, 3e7, "bytes/s"),
        "net_tx_bytes": (2e7 + index * 2e6, 1.5e7, "bytes/s"),
        "load_1m": (6 + index % 9, 4, "load"),
        "temperature_c": (55 + index % 20, 8, "celsius"),
    }
    if gpus:
        shapes["gpu_percent"] = (55 + index * 11 % 40, 35, "percent")
        shapes["gpu_memory_percent"] = (60 + index % 30, 10, "percent")
    series = []
    for metric_number, (metric_type, (base, amplitude, unit)) in enumerate(sorted(shapes.items())):
        if quiet:
            base, amplitude = base * 0.1, amplitude * 0.05
        seed = index * 13 + metric_number
        history = tuple(
            _clamp(metric_type, _wave(seed, sample_time - (HISTORY_POINTS - 1 - i) * STEP_SECONDS, base, amplitude))
            for i in range(HISTORY_POINTS)
        )
        series.append(MetricSeries(metric_type, unit, history[-1], latest_at, history))
    if node_type == "storage":
        series.append(MetricSeries("raid_rebuild_percent", "percent", 37.5, latest_at, (30.0, 33.0, 37.5)))
    order = {name: n for n, name in enumerate(METRIC_UNITS)}
    return tuple(sorted(series, key=lambda s: order.get(s.metric_type, len(order))))


def _clamp(metric_type: str, value: float) -> float:
    if metric_type.endswith("_percent"):
        return min(100.0, max(0.0, value))
    return max(0.0, value)


def _redis_only_node(index: int, taken_at: datetime, step: int) -> Node:
    age = float((step * STEP_SECONDS) % 10)
    return Node(
        node_id=_node_id(index),
        hostname=REDIS_ONLY_HOSTNAME,
        ip_address=None,
        node_type="unknown",
        status="unknown",
        total_cpu_cores=None,
        total_memory_gb=None,
        total_storage_gb=None,
        gpu_count=None,
        gpu_memory_gb=None,
        labels=(),
        last_heartbeat=None,
        reachability=LIVE,
        heartbeat=Heartbeat(at=taken_at - timedelta(seconds=age), status="active", load=3.2),
        in_postgres=False,
    )


def _fixed_sessions(taken_at: datetime, host_ids: dict[str, str]):
    for index, spec in enumerate(_SESSION_SPECS):
        name, user, session_type, status, priority, cpu, memory, gpus, host, _position, minutes = spec
        created = taken_at - timedelta(minutes=minutes + (2 if status != "pending" else 0))
        started = taken_at - timedelta(minutes=minutes) if status in ("running", "paused") else None
        yield Session(
            session_id=_session_id(index),
            session_name=name,
            user_id=f"30000000-0000-4000-8000-{index:012d}" if user else None,
            username=user,
            session_type=session_type,
            status=status,
            priority=priority,
            cpu_request=float(cpu),
            memory_request_gb=float(memory),
            gpu_request=gpus,
            node_id=host_ids.get(host) if host else None,
            node_hostname=host,
            created_at=created,
            start_time=started,
            end_time=None,
        )


def _with_session_counts(node: Node, sessions) -> Node:
    mine = [s for s in sessions if s.node_id == node.node_id]
    return replace(
        node,
        sessions_running=sum(1 for s in mine if s.status == "running"),
        sessions_total=len(mine),
    )


def _fixed_alerts(taken_at: datetime, host_ids: dict[str, str], sessions) -> tuple[Alert, ...]:
    def ago(**kw) -> datetime:
        return taken_at - timedelta(**kw)

    pending_long = sessions[0]
    alerts = [
        Alert(f"event:{_event_id(1)}", AlertKind.EVENT, "critical", "RAID array degraded",
              "md0: disk sdc failed, rebuilding on spare", ago(minutes=45),
              node_id=host_ids.get("sto-02"), source="storage-agent"),
        Alert(f"node_failed:{host_ids['cmp-07']}", AlertKind.NODE_FAILED, "critical", "Node failed",
              "cmp-07 status is failed", ago(hours=2, minutes=3), node_id=host_ids["cmp-07"], source="console"),
        Alert(f"unreachable:{host_ids['gpu-03']}", AlertKind.UNREACHABLE, "error", "No heartbeat",
              "gpu-03: heartbeat key missing; nodes.status says active", ago(minutes=5, seconds=40),
              node_id=host_ids["gpu-03"], source="console"),
        Alert(f"unreachable:{host_ids['cmp-09']}", AlertKind.UNREACHABLE, "warning", "Heartbeat stale",
              "cmp-09: last heartbeat 47s ago (TTL 30s)", ago(seconds=47),
              node_id=host_ids["cmp-09"], source="console"),
        Alert(f"threshold:{host_ids['cmp-02']}:cpu_percent", AlertKind.THRESHOLD, "warning", "CPU over 95%",
              "cpu_percent above 95 for 120s (now 97%)", ago(minutes=3), node_id=host_ids["cmp-02"],
              source="console"),
        Alert(f"pending:{pending_long.session_id}", AlertKind.PENDING_TOO_LONG, "warning", "Session pending too long",
              "train-llm-7b pending for 26m (limit 15m)", ago(minutes=11),
              session_id=pending_long.session_id, source="console"),
        Alert(f"event:{_event_id(2)}", AlertKind.EVENT, "error", "Scheduler retry storm",
              "placement retried 120 times in 60s", ago(minutes=22), source="scheduler",
              acknowledged_at=ago(minutes=10), acknowledged_by="bob"),
        Alert(f"event:{_event_id(3)}", AlertKind.EVENT, "warning", "ECC errors on GPU 2",
              "correctable ECC errors: 1432 [bold]in[/bold] 1h", ago(hours=1, minutes=10),
              node_id=host_ids.get("gpu-02"), source="gpu-agent",
              acknowledged_at=ago(minutes=50), acknowledged_by="alice"),
        Alert(f"event:{_event_id(4)}", AlertKind.EVENT, "info", "Firmware update available",
              "BMC firmware 2.14 available for hyb-01", ago(hours=6), node_id=host_ids.get("hyb-01"),
              source="inventory"),
        Alert(f"event:{_event_id(5)}", AlertKind.EVENT, "notice", "Unusual severity",
              "an event with a severity the contract does not define\x07", ago(minutes=30),
              source="legacy-tool"),
    ]
    return tuple(alerts)


def _fixed_resolved_alerts(taken_at: datetime, host_ids: dict[str, str]) -> tuple[Alert, ...]:
    def ago(**kw) -> datetime:
        return taken_at - timedelta(**kw)

    return (
        Alert(f"event:{_event_id(6)}", AlertKind.EVENT, "error", "NFS mount timeout",
              "/shared timed out on cmp-03", ago(hours=1, minutes=20), node_id=host_ids.get("cmp-03"),
              source="node-agent", resolved_at=ago(hours=1, minutes=8)),
        Alert(f"unreachable:{host_ids['cmp-05']}", AlertKind.UNREACHABLE, "error", "No heartbeat",
              "cmp-05: heartbeat key missing", ago(hours=5), node_id=host_ids["cmp-05"], source="console",
              acknowledged_at=ago(hours=4, minutes=55), acknowledged_by="carol", resolved_at=ago(hours=4, minutes=59, seconds=20)),
        Alert(f"threshold:{host_ids['gpu-01']}:temperature_c", AlertKind.THRESHOLD, "critical", "Temperature over 85°C",
              "temperature_c above 85 for 60s", ago(days=1, hours=2), node_id=host_ids["gpu-01"],
              source="console", resolved_at=ago(days=1, hours=1, minutes=10)),
    )


def _fixed_audit(taken_at: datetime, host_ids: dict[str, str]) -> tuple[AuditEntry, ...]:
    """The audit trail, newest first: drains of the draining nodes, a cancel, acks, refusals."""
    def entry(audit_id, minutes, operator, action, kind, target, name, before, after, result, detail):
        return AuditEntry(audit_id, taken_at - timedelta(minutes=minutes), operator, operator, "console-1",
                          "omega_operator" if result != "refused" else "dashboard", action, kind, target, name,
                          before, after, result, detail)

    return (
        entry(9, 2, "ops2", "drain", "node", host_ids.get("gpu-05", "?"), "gpu-05", "status=active",
              "status=draining", "ok", "gpu-05 draining"),
        entry(8, 6, "dashboard", "drain", "node", host_ids.get("cmp-02", "?"), None, "", "", "refused",
              "permission denied for drain as dashboard; nothing changed"),
        entry(7, 10, "bob", "acknowledge", "alert", f"event:{_event_id(2)}", None, "acknowledged=False",
              "acknowledged=True", "ok", f"event:{_event_id(2)} acknowledged"),
        entry(6, 14, "alice", "cancel", "session", _session_id(40), "[red]not markup[/red] \x1b[2J",
              "status=running", "status=cancelled, released cpu=16 memory=64 gpu=2", "ok",
              "[red]not markup[/red] cancelled (was running)"),
        entry(5, 25, "ops2", "cancel", "session", _session_id(41), "etl-old", "status=completed",
              "status=completed", "already", "etl-old is already completed"),
        entry(4, 50, "alice", "acknowledge", "alert", f"event:{_event_id(3)}", None, "acknowledged=False",
              "acknowledged=True", "ok", f"event:{_event_id(3)} acknowledged"),
        entry(3, 70, "ops1", "resolve", "alert", f"event:{_event_id(6)}", None, "resolved=False",
              "resolved=True", "ok", f"event:{_event_id(6)} resolved"),
        entry(2, 600, "ops1", "drain", "node", host_ids.get("cmp-04", "?"), "cmp-04", "status=active",
              "status=draining", "ok", "cmp-04 draining; 1 session(s) still on it"),
        entry(1, 900, "ops1", "resume", "node", "cmp-99", None, "", "", "not_found", "no node 'cmp-99'"),
    )


def _totals(nodes, sessions, alerts) -> ClusterTotals:
    by_status: dict[str, int] = {}
    for node in nodes:
        by_status[node.status] = by_status.get(node.status, 0) + 1
    unreachable = (MISSING, STALE, MALFORMED)
    reachable = [n for n in nodes if n.reachability not in unreachable and n.status != "failed"]

    def mean_of(metric_type: str) -> float | None:
        values = [s.latest for n in reachable if (s := n.metric(metric_type)) and s.latest is not None]
        return round(sum(values) / len(values), 1) if values else None

    cpu, memory, gpu = mean_of("cpu_percent"), mean_of("memory_percent"), mean_of("gpu_percent")
    sessions_by_status: dict[str, int] = {}
    for session in sessions:
        sessions_by_status[session.status] = sessions_by_status.get(session.status, 0) + 1
    alerts_by_severity: dict[str, int] = {}
    for alert in alerts:
        alerts_by_severity[alert.severity] = alerts_by_severity.get(alert.severity, 0) + 1
    return ClusterTotals(
        nodes_by_status=tuple(sorted(by_status.items())),
        nodes_unreachable=sum(1 for n in nodes if n.reachability in unreachable),
        cpu_percent=cpu,
        memory_percent=memory,
        gpu_percent=gpu,
        sessions_by_status=tuple(sorted(sessions_by_status.items())),
        alerts_by_severity=tuple(sorted(alerts_by_severity.items())),
    )


_WINDOW_BUCKETS = 60


def fixed_node_detail(node_id: str, window: timedelta, taken_at: datetime) -> NodeDetail:
    """History over `window` and recent events for one node, a function of its id and the window."""
    seed = sum(ord(c) for c in node_id)
    window_seconds = window.total_seconds()
    bucket_seconds = window_seconds / _WINDOW_BUCKETS
    shapes = {
        "cpu_percent": (50, 30), "memory_percent": (60, 10), "gpu_percent": (70, 25),
        "net_rx_bytes": (6e7, 4e7), "net_tx_bytes": (3e7, 2e7), "temperature_c": (62, 9),
        "fan_rpm": (3200, 400),
    }
    series = []
    for number, (metric_type, (base, amplitude)) in enumerate(shapes.items()):
        points = []
        for i in range(_WINDOW_BUCKETS):
            at = taken_at - timedelta(seconds=(_WINDOW_BUCKETS - 1 - i) * bucket_seconds)
            offset = (at - FIXED_TAKEN_AT).total_seconds()
            avg = _clamp(metric_type, _wave(seed + number, offset, base, amplitude, window_seconds / 3))
            spread = amplitude * 0.2
            points.append(SeriesPoint(at, avg, _clamp(metric_type, avg - spread), _clamp(metric_type, avg + spread)))
        series.append((metric_type, tuple(points)))
    events = (
        Event(_event_id(101), taken_at - timedelta(minutes=3), "threshold", "warning", "console",
              "cpu_percent above 95 for 120s", node_id=node_id),
        Event(_event_id(102), taken_at - timedelta(minutes=41), "session_started", "info", "scheduler",
              "session sim-cfd-large started", node_id=node_id),
        Event(_event_id(103), taken_at - timedelta(hours=2), "agent_restart", "warning", "node-agent",
              "agent restarted after OOM \x1b[31m(kill -9)\x1b[0m", node_id=node_id,
              resolved_at=taken_at - timedelta(hours=1, minutes=58)),
        Event(_event_id(104), taken_at - timedelta(hours=9), "disk_error", "error", "node-agent",
              "I/O error on /dev/nvme1n1 sector 88112", node_id=node_id),
        Event(_event_id(105), taken_at - timedelta(days=2), "maintenance", "info", "console",
              "[link=http://x]maintenance window[/link] closed", node_id=node_id),
    )
    return NodeDetail(
        node_id=node_id,
        window_seconds=window_seconds,
        bucket_seconds=bucket_seconds,
        series=tuple(series),
        events=events,
        fetched_at=taken_at,
    )
