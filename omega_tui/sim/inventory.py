"""The simulated cluster's machines and people: node and user specs, and their
idempotent registration in PostgreSQL (nodes keyed by hostname, users by
username).

A node's hardware is a function of its hostname (a Random seeded with it),
so re-running with any seed reuses the same machines.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from psycopg.types.json import Jsonb

from omega_tui.data.models import CANONICAL_METRICS
from omega_tui.sim.draws import new_id

SCHEDULABLE_TYPES = ("compute", "gpu", "hybrid")
RESOURCE_UNITS = {"cpu": "cores", "memory": "GB", "storage": "GB", "gpu": "count", "network": "Mbps"}
_TYPE_OCTET = {"control": 0, "compute": 1, "gpu": 2, "storage": 3, "hybrid": 4}
_GPU_MODELS = ("a100", "a100", "h100", "l40s")
_GPU_MEMORY_GB = {"a100": 80, "h100": 80, "l40s": 48}
_OS = (("Ubuntu 22.04.4 LTS", "5.15.0-105-generic"), ("Rocky Linux 9.3", "5.14.0-362.18.1.el9_3.x86_64"))
_FIRST = ("ada", "alan", "barbara", "claude", "dennis", "edsger", "frances", "grace", "hedy", "ivan", "jean",
          "ken", "linus", "margaret", "niklaus", "ole", "radia", "sophie", "tim", "vint", "yukihiro", "leslie")
_LAST = ("lovelace", "turing", "liskov", "shannon", "ritchie", "dijkstra", "allen", "hopper", "lamarr",
         "sutherland", "sammet", "thompson", "torvalds", "hamilton", "wirth", "dahl", "perlman", "wilson",
         "berners-lee", "cerf", "matsumoto", "lamport")


@dataclass(slots=True, eq=False)
class SimNode:
    """One simulated machine: its inventory row and what the simulator knows of it now."""

    node_id: str
    hostname: str
    node_type: str
    cores: float
    memory_gb: float
    storage_gb: float
    gpus: int
    gpu_memory_gb: float
    network_mbps: float
    status: str = "active"      # nodes.status as last read from PostgreSQL
    alive: bool = True          # False while an incident has it down (no heartbeats, no metrics)
    metric_types: tuple[str, ...] = field(init=False)   # what this node reports, in canonical order

    def __post_init__(self) -> None:
        self.metric_types = CANONICAL_METRICS if self.gpus > 0 else tuple(
            m for m in CANONICAL_METRICS if not m.startswith("gpu_"))

    @property
    def schedulable(self) -> bool:
        return self.node_type in SCHEDULABLE_TYPES


@dataclass(slots=True)
class NodeSpec:
    hostname: str
    node_type: str
    ip_address: str
    cores: int
    memory_gb: int
    storage_gb: int
    gpus: int = 0
    gpu_memory_gb: int = 0
    network_mbps: int = 25_000
    os_version: str = ""
    kernel_version: str = ""
    labels: dict = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class SimUser:
    user_id: str
    username: str
    role: str


def type_counts(total: int) -> dict[str, int]:
    """How many nodes of each type: every type once there are five or more nodes."""
    if total < 1:
        raise ValueError("at least one node")
    order = ("compute", "gpu", "storage", "control", "hybrid")
    if total < len(order):
        return {t: (1 if i < total else 0) for i, t in enumerate(order)}
    counts = {
        "control": min(5, max(1, round(total * 0.03))),
        "storage": max(1, round(total * 0.08)),
        "gpu": max(1, round(total * 0.20)),
        "hybrid": max(1, round(total * 0.08)),
    }
    counts["compute"] = total - sum(counts.values())
    return {t: counts[t] for t in order}


def plan_nodes(total: int) -> list[NodeSpec]:
    """The specs of `total` nodes; the same list for the same count, whatever the seed."""
    specs: list[NodeSpec] = []
    rack_slot = 0
    for node_type, count in type_counts(total).items():
        for index in range(1, count + 1):
            specs.append(_node_spec(node_type, index, rack_slot))
            rack_slot += 1
    return specs


def _node_spec(node_type: str, index: int, rack_slot: int) -> NodeSpec:
    gpu_model = _GPU_MODELS[index % len(_GPU_MODELS)]
    hostname = {
        "control": f"ctl-{index:02d}",
        "compute": f"cpu-{index:04d}",
        "gpu": f"gpu-{gpu_model}-{index:03d}",
        "storage": f"stor-{index:02d}",
        "hybrid": f"hyb-{index:03d}",
    }[node_type]
    rng = random.Random(hostname)
    octet = _TYPE_OCTET[node_type]
    ip = f"10.{octet}.{(index - 1) // 254}.{(index - 1) % 254 + 1}"
    os_version, kernel = _OS[0] if rng.random() < 0.8 else _OS[1]
    labels = {"simulated": "true", "rack": f"r{rack_slot // 40 + 1:02d}", "zone": "abc"[rack_slot % 3]}
    spec = NodeSpec(hostname, node_type, ip, cores=16, memory_gb=64, storage_gb=960,
                    os_version=os_version, kernel_version=kernel, labels=labels)
    if node_type == "compute":
        spec.cores = rng.choice((32, 48, 64, 64, 96, 128))
        spec.memory_gb = spec.cores * rng.choice((4, 8))
        spec.storage_gb = rng.choice((1920, 3840))
    elif node_type == "gpu":
        spec.gpus = 4 if gpu_model == "l40s" else 8
        spec.gpu_memory_gb = spec.gpus * _GPU_MEMORY_GB[gpu_model]   # total over the node's GPUs
        spec.cores = {"a100": 64, "h100": 112, "l40s": 64}[gpu_model]
        spec.memory_gb = {"a100": 1024, "h100": 2048, "l40s": 512}[gpu_model]
        spec.storage_gb = 7680
        spec.network_mbps = 100_000
        labels["gpu_model"] = gpu_model
    elif node_type == "storage":
        spec.cores, spec.memory_gb = 32, 256
        spec.storage_gb = rng.choice((368_640, 737_280))
        spec.network_mbps = 100_000
    elif node_type == "hybrid":
        spec.cores, spec.memory_gb, spec.storage_gb = 64, 512, 3840
        spec.gpus = rng.choice((2, 4))
        spec.gpu_memory_gb = spec.gpus * _GPU_MEMORY_GB["l40s"]
        spec.network_mbps = 50_000
        labels["gpu_model"] = "l40s"
    return spec


def plan_users(total: int) -> list[tuple[str, str]]:
    """(username, role) of `total` users; the same list for the same count."""
    users: list[tuple[str, str]] = []
    seen: set[str] = set()
    index = 0
    while len(users) < total:
        rng = random.Random(f"user-{index}")
        name = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}"
        if name in seen:
            name = f"{name}{index}"
        seen.add(name)
        if index == 0:
            role = "admin"
        elif index % 9 == 1:
            role = "operator"
        elif index % 11 == 5:
            role = "readonly"
        else:
            role = "user"
        users.append((name, role))
        index += 1
    return users


def register_nodes(conn, specs: list[NodeSpec]) -> tuple[list[SimNode], int]:
    """Insert the nodes that are missing (by hostname) and their node_resources rows.

    Returns every node, as PostgreSQL has it, and how many were new. A node
    found `failed` or `inactive` rejoins as `active`; an operator's
    `draining` or `maintenance` is kept.
    """
    hostnames = [s.hostname for s in specs]
    existing = _nodes_by_hostname(conn, hostnames)
    new = [s for s in specs if s.hostname not in existing]
    if new:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO nodes (node_id, hostname, ip_address, node_type, status, total_cpu_cores,
                                      total_memory_gb, total_storage_gb, gpu_count, gpu_memory_gb,
                                      network_bandwidth_mbps, os_version, kernel_version, docker_version,
                                      labels, annotations, capabilities)
                   VALUES (%s, %s, %s, %s, 'active', %s, %s, %s, %s, %s, %s, %s, %s, '24.0.7', %s, %s, %s)""",
                [(new_id(), s.hostname, s.ip_address, s.node_type,
                  s.cores, s.memory_gb, s.storage_gb, s.gpus, s.gpu_memory_gb, s.network_mbps,
                  s.os_version, s.kernel_version, Jsonb(s.labels), Jsonb({"managed_by": "omega-simulator"}),
                  Jsonb({"gpu": s.gpus > 0, "docker": True})) for s in new],
            )
    conn.execute(
        "UPDATE nodes SET status = 'active', updated_at = now()"
        " WHERE hostname = ANY(%s) AND status IN ('failed', 'inactive')",
        (hostnames,),
    )
    found = _nodes_by_hostname(conn, hostnames)
    nodes = [found[h] for h in hostnames if h in found]
    _ensure_resources(conn, nodes)
    return nodes, len(new)


def _nodes_by_hostname(conn, hostnames: list[str]) -> dict[str, SimNode]:
    # Hostnames are not unique in the schema: the oldest node of a name is ours.
    rows = conn.execute(
        """SELECT DISTINCT ON (hostname) node_id, hostname, node_type, status, total_cpu_cores, total_memory_gb,
                  total_storage_gb, coalesce(gpu_count, 0), coalesce(gpu_memory_gb, 0),
                  coalesce(network_bandwidth_mbps, 1000)
             FROM nodes WHERE hostname = ANY(%s)
            ORDER BY hostname, created_at, node_id""",
        (hostnames,),
    ).fetchall()
    return {
        row[1]: SimNode(str(row[0]), row[1], row[2], float(row[4]), float(row[5]), float(row[6]),
                        max(0, int(row[7])), float(row[8]), float(row[9]), status=row[3])
        for row in rows
    }


def _ensure_resources(conn, nodes: list[SimNode]) -> None:
    rows = []
    for node in nodes:
        totals = {"cpu": node.cores, "memory": node.memory_gb, "storage": node.storage_gb,
                  "network": node.network_mbps}
        if node.gpus:
            totals["gpu"] = node.gpus
        rows += [(node.node_id, rt, total, RESOURCE_UNITS[rt]) for rt, total in totals.items()]
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO node_resources (node_id, resource_type, total_capacity, unit)
               VALUES (%s, %s, %s, %s) ON CONFLICT (node_id, resource_type) DO NOTHING""",
            rows,
        )


def register_users(conn, planned: list[tuple[str, str]]) -> list[SimUser]:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO users (username, email, password_hash, full_name, role)
               VALUES (%s, %s, '!simulated-no-login', %s, %s) ON CONFLICT DO NOTHING""",
            [(name, f"{name}@omega.example", name.replace(".", " ").title(), role) for name, role in planned],
        )
    rows = conn.execute(
        "SELECT user_id, username, role FROM users WHERE username = ANY(%s)", ([n for n, _ in planned],)
    ).fetchall()
    by_name = {r[1]: SimUser(str(r[0]), r[1], r[2]) for r in rows}
    return [by_name[n] for n, _ in planned if n in by_name]
