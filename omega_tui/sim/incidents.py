"""Things going wrong: nodes that die and come back, nodes that run hot, and
the system_events rows (source_component 'omega-simulator') they raise.

Conditions that clear by themselves (a node back, a node cooled down)
resolve their own event, as an alerting system would; a failed session's
error stays open for an operator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from omega_tui.sim.draws import new_id, poisson
from omega_tui.sim.inventory import SimNode
from omega_tui.sim.metrics import HOT_THRESHOLD_C, MetricModel
from omega_tui.sim.sessions import SimSession

SOURCE_COMPONENT = "omega-simulator"
COOL_THRESHOLD_C = 78.0
NODE_FAILURES_PER_NODE_HOUR = 0.015
HEAT_SPELLS_PER_NODE_HOUR = 0.04


@dataclass(slots=True, eq=False)
class SimEvent:
    event_id: str
    timestamp: datetime
    event_type: str
    severity: str
    message: str
    node_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    details: dict = field(default_factory=dict)
    resolved_at: datetime | None = None
    resolved_by: str | None = None


@dataclass(slots=True)
class IncidentStep:
    died: list[SimNode] = field(default_factory=list)
    recovered: list[SimNode] = field(default_factory=list)
    events: list[SimEvent] = field(default_factory=list)     # new events
    resolved: list[SimEvent] = field(default_factory=list)   # earlier events now resolved


class Incidents:
    def __init__(self, rng: random.Random, nodes: list[SimNode], metrics: MetricModel, *, enabled: bool = True):
        self.rng = rng
        self.nodes = nodes
        self.metrics = metrics
        self.enabled = enabled
        self.down_since: dict[str, datetime] = {}
        self.down_until: dict[str, datetime] = {}
        self.hot_until: dict[str, datetime] = {}
        self.open_failure: dict[str, SimEvent] = {}
        self.open_heat: dict[str, SimEvent] = {}
        self.planned_failures: dict[str, tuple[datetime, float]] = {}   # node -> (at, seconds down)
        self.planned_heat: dict[str, tuple[datetime, float, float]] = {}  # node -> (at, degrees, seconds)

    def fail_node_at(self, node_id: str, at: datetime, down_for: timedelta) -> None:
        """Make this node die at `at` (even with random incidents off) and come back `down_for` later."""
        self.planned_failures[node_id] = (at, down_for.total_seconds())

    def heat_node_at(self, node_id: str, at: datetime, degrees: float, lasting: timedelta) -> None:
        """Make this node's cooling fail at `at`: `degrees` more, for `lasting`."""
        self.planned_heat[node_id] = (at, degrees, lasting.total_seconds())

    def _event(self, at: datetime, event_type: str, severity: str, message: str, **kwargs) -> SimEvent:
        return SimEvent(new_id(), at, event_type, severity, message, **kwargs)

    def step(self, now: datetime, dt: float) -> IncidentStep:
        """Recoveries and ends of heat spells due by `now`, then new incidents of the last `dt` seconds."""
        result = IncidentStep()
        by_id = {n.node_id: n for n in self.nodes}
        for node_id, until in sorted(self.down_until.items()):
            if until <= now and node_id in by_id:
                self._recover(by_id[node_id], now, result)
        for node_id, until in sorted(self.hot_until.items()):
            if until <= now:
                del self.hot_until[node_id]
                if (walk := self.metrics.walk(node_id)) is not None:
                    walk.heat = 0.0
        for node_id, (at, seconds) in sorted(self.planned_failures.items()):
            node = by_id.get(node_id)
            if at <= now and node is not None:
                del self.planned_failures[node_id]
                if node.alive:
                    self._kill(node, now, seconds, result)
        for node_id, (at, degrees, seconds) in sorted(self.planned_heat.items()):
            if at <= now and node_id in by_id:
                del self.planned_heat[node_id]
                self._heat(node_id, now, degrees, seconds)
        if not self.enabled or dt <= 0:
            return result
        alive = [n for n in self.nodes if n.alive]
        for _ in range(poisson(self.rng, NODE_FAILURES_PER_NODE_HOUR * len(alive) * dt / 3600)):
            candidates = [n for n in alive if n.alive]
            if len(candidates) <= 1:
                break
            self._kill(self.rng.choice(candidates), now, self.rng.uniform(120, 900), result)
        for _ in range(poisson(self.rng, HEAT_SPELLS_PER_NODE_HOUR * len(alive) * dt / 3600)):
            node = self.rng.choice(alive)
            if node.node_id not in self.hot_until:
                self._heat(node.node_id, now, self.rng.uniform(50, 65), self.rng.uniform(180, 1200))
        return result

    def _kill(self, node: SimNode, now: datetime, seconds: float, result: IncidentStep) -> None:
        node.alive = False
        self.down_since[node.node_id] = now
        self.down_until[node.node_id] = now + timedelta(seconds=seconds)
        result.died.append(node)

    def _heat(self, node_id: str, now: datetime, degrees: float, seconds: float) -> None:
        walk = self.metrics.walk(node_id)
        if walk is not None:
            walk.heat = degrees
            self.hot_until[node_id] = now + timedelta(seconds=seconds)

    def node_died(self, node: SimNode, now: datetime, lost: list[SimSession]) -> SimEvent:
        event = self._event(
            now, "node_failure", "critical",
            f"node {node.hostname} stopped responding: heartbeat lost"
            + (f", {len(lost)} session(s) failed" if lost else ""),
            node_id=node.node_id,
            details={"hostname": node.hostname, "node_type": node.node_type, "sessions_failed": len(lost)},
        )
        self.open_failure[node.node_id] = event
        return event

    def _recover(self, node: SimNode, now: datetime, result: IncidentStep) -> None:
        since = self.down_since.pop(node.node_id, now)
        del self.down_until[node.node_id]
        node.alive = True
        result.recovered.append(node)
        minutes = (now - since).total_seconds() / 60
        result.events.append(self._event(
            now, "node_recovered", "info", f"node {node.hostname} is back after {minutes:.0f} min",
            node_id=node.node_id, details={"hostname": node.hostname, "down_seconds": round((now - since).total_seconds())},
        ))
        failure = self.open_failure.pop(node.node_id, None)
        if failure is not None:
            failure.resolved_at = now
            result.resolved.append(failure)

    def check_temperature(self, node: SimNode, temperature: float, now: datetime, result: IncidentStep) -> None:
        """Raise a warning when the node crosses the threshold; resolve it once it has cooled."""
        open_event = self.open_heat.get(node.node_id)
        if open_event is None and temperature >= HOT_THRESHOLD_C:
            event = self._event(
                now, "node_temperature_high", "warning",
                f"{node.hostname} temperature {temperature:.0f} °C (threshold {HOT_THRESHOLD_C:.0f} °C)",
                node_id=node.node_id,
                details={"metric": "temperature_c", "value": temperature, "threshold": HOT_THRESHOLD_C},
            )
            self.open_heat[node.node_id] = event
            result.events.append(event)
        elif open_event is not None and temperature < COOL_THRESHOLD_C:
            del self.open_heat[node.node_id]
            open_event.resolved_at = now
            result.resolved.append(open_event)

    def session_cancelled(self, session: SimSession, node: SimNode | None, now: datetime) -> SimEvent:
        """A user cancelled their own session: routine, recorded at debug level."""
        return self._event(
            now, "session_cancelled", "debug", f"session {session.name} cancelled by its user",
            node_id=node.node_id if node else None, session_id=session.session_id, user_id=session.user_id,
            details={"session_type": session.session_type, "by": "user"},
        )

    def session_failed(self, session: SimSession, node: SimNode | None, now: datetime) -> SimEvent:
        where = node.hostname if node else "an unknown node"
        reason = session.failure_reason or "failed"
        return self._event(
            now, "session_failed", "error", f"session {session.name} failed on {where}: {reason}",
            node_id=node.node_id if node else None, session_id=session.session_id, user_id=session.user_id,
            details={"reason": reason, "session_type": session.session_type,
                     "hostname": node.hostname if node else None},
        )
