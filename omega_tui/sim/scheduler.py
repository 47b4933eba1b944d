"""Placement: which node a pending session goes to.

Only nodes that are up, `active` in PostgreSQL and have room are candidates.
GPU sessions go to gpu and hybrid nodes, the others to compute and hybrid
nodes. The node with the most of the session's main resource free wins
(GPUs for GPU sessions, cores for the others), which spreads the load.

Candidates are kept sorted by that resource, so a placement looks at the
nodes with the most room first and stops as soon as no node can have enough:
a round costs about what it places, even on thousands of nodes.
"""

from __future__ import annotations

import bisect
from datetime import datetime

from omega_tui.sim.inventory import SimNode
from omega_tui.sim.sessions import SimSession

GPU_NODE_TYPES = ("gpu", "hybrid")
CPU_NODE_TYPES = ("compute", "hybrid")


def queue_order(sessions) -> list[SimSession]:
    """Pending sessions in queue order: highest priority first, then oldest."""
    return sorted(sessions, key=lambda s: (-s.priority, s.created_at, s.session_id))


def eligible_nodes(nodes: list[SimNode]) -> list[SimNode]:
    return [n for n in nodes if n.alive and n.status == "active" and n.schedulable]


def fits(free: dict[str, float], session: SimSession) -> bool:
    for resource, amount in session.allocations.items():
        if free.get(resource, 0.0) < amount:
            return False
    return True


class _Candidates:
    """Nodes of one kind, most free `resource` first (ties in inventory order)."""

    def __init__(self, nodes: list[SimNode], free: dict[str, dict[str, float]], resource: str):
        self.resource = resource
        self.free = free
        self.entries = sorted((-free[n.node_id].get(resource, 0.0), order, n)
                              for order, n in enumerate(nodes) if n.node_id in free)

    def take(self, session: SimSession) -> SimNode | None:
        """The node with the most room that fits the whole request, its capacity taken; None if none."""
        needed = session.allocations.get(self.resource, 0.0)
        for index, (negative_free, order, node) in enumerate(self.entries):
            if -negative_free < needed:
                break
            node_free = self.free[node.node_id]
            if fits(node_free, session):
                for resource, amount in session.allocations.items():
                    node_free[resource] -= amount
                del self.entries[index]
                bisect.insort(self.entries, (-node_free.get(self.resource, 0.0), order, node))
                return node
        return None


class Scheduler:
    def place(self, pending: list[SimSession], nodes: list[SimNode], free: dict[str, dict[str, float]],
              now: datetime) -> list[SimSession]:
        """Place what fits, in queue order; takes the capacity from `free` and updates the sessions."""
        if not pending:
            return []
        eligible = eligible_nodes(nodes)
        gpu_nodes = _Candidates([n for n in eligible if n.node_type in GPU_NODE_TYPES], free, "gpu")
        cpu_nodes = _Candidates([n for n in eligible if n.node_type in CPU_NODE_TYPES], free, "cpu")
        placed = []
        for session in queue_order(pending):
            node = (gpu_nodes if session.gpus > 0 else cpu_nodes).take(session)
            if node is None:
                continue
            # The other group may hold the same (hybrid) node: it re-reads `free` when it looks.
            session.status = "scheduled"
            session.node_id = node.node_id
            session.scheduled_at = now
            session.allocated_at = now
            session.allocation_status = "active"
            session.version += 1
            placed.append(session)
        return placed
