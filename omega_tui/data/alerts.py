"""What needs an operator's attention: unresolved events plus conditions derived each poll.

Alert ids are stable across polls ("event:<event_id>", "unreachable:<node_id>",
"node_failed:<node_id>", "threshold:<node_id>:<metric>", "pending:<session_id>"),
so acknowledgements stored by id in omega_console.alert_acks hold across polls.

An acknowledgement covers the occurrence it was given for: when a derived
condition clears and comes back later (a node unreachable again next week),
the new occurrence starts after the acknowledgement and shows unacknowledged.
Acknowledging again (the acks row's acknowledged_at = now()) covers it.
When the start of an occurrence is not known (no heartbeat ever seen, a
threshold run older than the history kept), an acknowledgement holds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from operator import itemgetter

from omega_tui.data.metric_history import MetricHistory
from omega_tui.data.models import HEARTBEAT_TTL_SECONDS, Alert, AlertKind, Node, Reachability, Session
from omega_tui.data.node_builder import changed_positions
from omega_tui.key_priority import taking_turns

SEVERITY_ORDER = {"critical": 0, "error": 1, "warning": 2}
ACK_GRACE = timedelta(seconds=60)   # clocks of console, database and nodes differ a little
_UNREACHABLE = (Reachability.STALE, Reachability.MISSING, Reachability.MALFORMED)
_EXPECTED_UP = ("active", "draining")


@dataclass(frozen=True, slots=True)
class _Condition:
    alert: Alert
    start_known: bool   # `alert.since` is when the condition began, from the data


def _unreachable(node: Node, last_seen: datetime | None, now: datetime) -> _Condition:
    hostname = node.hostname or node.node_id
    severity = "critical" if node.status in _EXPECTED_UP else "warning"
    ttl = timedelta(seconds=HEARTBEAT_TTL_SECONDS)
    if node.reachability is Reachability.MALFORMED:
        problem = node.heartbeat.problem if node.heartbeat else "unreadable"
        return _Condition(Alert(
            alert_id=f"unreachable:{node.node_id}", kind=AlertKind.UNREACHABLE, severity="warning",
            title="heartbeat malformed", message=f"{hostname}: heartbeat malformed ({problem})",
            since=None, node_id=node.node_id, source="console"), False)
    if node.reachability is Reachability.STALE:
        message = f"{hostname}: last heartbeat {node.heartbeat_age_at(now):.0f}s ago, nodes.status {node.status or '?'}"
        since = node.heartbeat.at + ttl
    else:
        message = f"{hostname}: no heartbeat in Redis, nodes.status {node.status or '?'}"
        since = last_seen + ttl if last_seen is not None else None
    return _Condition(Alert(
        alert_id=f"unreachable:{node.node_id}", kind=AlertKind.UNREACHABLE, severity=severity,
        title="node unreachable", message=message, since=since, node_id=node.node_id, source="console"),
        since is not None)


def _failed(node: Node, changed_at: datetime | None) -> _Condition:
    return _Condition(Alert(
        alert_id=f"node_failed:{node.node_id}", kind=AlertKind.NODE_FAILED, severity="critical",
        title="node failed", message=f"{node.hostname or node.node_id}: nodes.status is failed",
        since=changed_at, node_id=node.node_id, source="console"), changed_at is not None)


def _pending_condition(session: Session, waited: float, queued: bool) -> _Condition:
    # Not the queue position: it moves every time the queue's head does, and every pending alert with
    # it (thousands on a big cluster). Enter on the alert opens the session, position included.
    where = "" if queued else ", not in the queue"
    who = f" ({session.username})" if session.username else ""
    return _Condition(Alert(
        alert_id=f"pending:{session.session_id}", kind=AlertKind.PENDING_TOO_LONG, severity="warning",
        title="session pending too long",
        message=f"{session.session_name}{who}: pending for {waited / 60:.0f} min{where}",
        since=session.created_at, session_id=session.session_id, source="console"), True)


class AlertBuilder:
    """Builds each poll's alerts. Remembers when derived conditions began, so
    `since` stays put across polls. Not thread-safe: used under the poller's lock."""

    def __init__(self, thresholds: dict, pending_alert_seconds: float):
        self.thresholds = thresholds
        self.pending_alert_seconds = pending_alert_seconds
        # alert id -> (condition, the alert made of it) at the last build: a condition keeps the
        # earliest start it was seen with while it lasts, and the same condition makes the same alert.
        self._made: dict[str, tuple[_Condition, Alert]] = {}
        self._start_unknown: set[str] = set()
        # The nodes of the last build, and what is known of them (see _follow): those unreachable
        # (their conditions are built every poll), the other conditions of each node that has any
        # (failed, thresholds), and node id -> (Node, its threshold conditions): a node with the same
        # series and hostname has the same ones.
        self._nodes: list[Node] = []
        self._unreachable: dict[str, Node] = {}
        self._of_node: dict[str, list[_Condition]] = {}
        self._over: dict[str, tuple[Node, list[_Condition]]] = {}
        # session id -> (what its message says of it, condition, until): a session pending too long
        # has the same condition until that or the message's minutes change (thousands of them on
        # a busy cluster: not built again every poll).
        self._waiting: dict[str, tuple[tuple, _Condition, datetime]] = {}
        # alert id -> (alert, its acknowledgement, sort key, the alert shown) at the last with_acks().
        self._shown: dict[str, tuple] = {}

    def build(
        self,
        *,
        nodes: list[Node],
        node_changed_at: Callable[[str], datetime | None],   # node id -> its row's updated_at
        last_heartbeat_seen: dict[str, datetime],
        sessions: list[Session],
        open_events: list[Alert],
        history: MetricHistory,
        queue_positions: Mapping[str, int] | None = None,   # session id -> position in the queue
        now: datetime,
    ) -> list[Alert]:
        """Current alerts, not yet acknowledged (see with_acks), unsorted."""
        self._follow(nodes, node_changed_at, history)
        conditions: list[_Condition] = []
        for node in self._unreachable.values():   # built every poll: their messages count the seconds
            seen = [t for t in (node.last_heartbeat, last_heartbeat_seen.get(node.node_id)) if t is not None]
            conditions.append(_unreachable(node, max(seen, default=None), now))
        for found in self._of_node.values():
            conditions.extend(found)
        conditions.extend(self._pending(sessions, now, queue_positions or {}))

        alerts = list(open_events)
        made_before, made = self._made, {}
        start_unknown: set[str] = set()
        for condition in conditions:
            alert = condition.alert
            before = made_before.get(alert.alert_id)
            if before is not None and before[0] is condition:
                alert = before[1]   # the same condition as last poll's (most): the same alert, since included
            else:
                since = alert.since
                if before is not None:
                    earlier = before[1].since
                    since = earlier if since is None else min(since, earlier)
                elif since is None:
                    since = now
                if since != alert.since:
                    alert = replace(alert, since=since)
            made[alert.alert_id] = (condition, alert)
            if not condition.start_known:
                start_unknown.add(alert.alert_id)
            alerts.append(alert)
        self._made = made       # conditions that cleared are forgotten: a return is a new occurrence
        self._start_unknown = start_unknown
        return alerts

    def _follow(self, nodes: list[Node], changed_at: Callable[[str], datetime | None], history: MetricHistory) -> None:
        """Bring the nodes' conditions up to date with `nodes`. Only the nodes that are not last poll's
        very objects (see node_builder.py: most are) are looked at; they are found in C."""
        last = self._nodes
        if len(nodes) == len(last):
            changed = changed_positions(nodes, last)
            gone = {last[i].node_id for i in changed} - {nodes[i].node_id for i in changed}
        else:
            changed = range(len(nodes))
            gone = {node.node_id for node in last} - {node.node_id for node in nodes}
        for node_id in gone:
            self._unreachable.pop(node_id, None)
            self._of_node.pop(node_id, None)
            self._over.pop(node_id, None)
        for i in taking_turns(changed, 256):
            node = nodes[i]
            node_id = node.node_id
            if node.reachability in _UNREACHABLE:
                self._unreachable[node_id] = node
            else:
                self._unreachable.pop(node_id, None)
            found = [_failed(node, changed_at(node_id))] if node.status == "failed" else []
            if node.reachability not in (Reachability.STALE, Reachability.MISSING):
                before = self._over.get(node_id)
                if before is not None and before[0].metrics is node.metrics and before[0].hostname == node.hostname:
                    over = before[1]   # the same series (a node rebuilt for a heartbeat, say): the same conditions
                else:
                    over = self._thresholds(node, history)
                self._over[node_id] = (node, over)
                found.extend(over)
            else:
                self._over.pop(node_id, None)
            if found:
                self._of_node[node_id] = found
            else:
                self._of_node.pop(node_id, None)
        self._nodes = list(nodes)

    def _pending(self, sessions: list[Session], now: datetime, queued: Mapping[str, int]) -> list[_Condition]:
        limit = self.pending_alert_seconds
        last, waiting, found = self._waiting, {}, []
        for session in sessions:
            if session.status != "pending" or session.created_at is None:
                continue
            in_queue = session.session_id in queued
            said = (session.session_name, session.username, session.created_at, in_queue)
            before = last.get(session.session_id)
            if before is not None and before[0] == said and now < before[2]:
                entry = before
            else:
                waited = (now - session.created_at).total_seconds()
                if waited <= limit:
                    continue
                # The message shows whole minutes: it changes when the wait reaches the next half minute.
                until = session.created_at + timedelta(minutes=int(waited / 60 + 0.5) + 0.5)
                entry = (said, _pending_condition(session, waited, in_queue), until)
            waiting[session.session_id] = entry
            found.append(entry[1])
        self._waiting = waiting
        return found

    def _thresholds(self, node: Node, history: MetricHistory) -> list[_Condition]:
        found = []
        for series in node.metrics:
            threshold = self.thresholds.get(series.metric_type)
            if threshold is None or series.latest is None or not series.latest > threshold.value:
                continue
            run = history.over_since(node.node_id, series.metric_type, threshold.value)
            if run is None:
                continue
            start, latest, start_known = run
            lasted = (latest - start).total_seconds()
            if lasted < threshold.seconds:
                continue
            metric = series.metric_type
            found.append(_Condition(Alert(
                alert_id=f"threshold:{node.node_id}:{metric}", kind=AlertKind.THRESHOLD, severity="warning",
                title=f"{metric} above {threshold.value:g}",
                message=(f"{node.hostname or node.node_id}: {metric} {series.latest:.1f} above {threshold.value:g} "
                         f"for {lasted:.0f}s (limit {threshold.seconds:g}s)"),
                since=start, node_id=node.node_id, source="console"), start_known))
        return found

    def with_acks(self, alerts: list[Alert], acks: dict[str, tuple[datetime | None, str | None]]) -> list[Alert]:
        """Alerts with their acknowledgements applied, sorted by severity, newest first. An alert that
        is last call's object with the same acknowledgement is last call's result, its sort key kept
        with it (thousands of alerts on a big cluster, most of them the same every poll)."""
        shown_before, shown = self._shown, {}
        ordered = []
        for alert in alerts:
            ack = acks.get(alert.alert_id)
            before = shown_before.get(alert.alert_id)
            if before is not None and before[0] is alert and before[1] == ack:
                entry = before
            else:
                shown_alert = alert
                if ack is not None and ack[0] is not None and self._covers(alert, ack[0]):
                    shown_alert = replace(alert, acknowledged_at=ack[0], acknowledged_by=ack[1])
                entry = (alert, ack, _alert_order(shown_alert), shown_alert)
            shown[alert.alert_id] = entry
            ordered.append(entry)
        self._shown = shown
        ordered.sort(key=_order_key)
        return [entry[3] for entry in ordered]

    def _covers(self, alert: Alert, acknowledged_at: datetime) -> bool:
        if alert.alert_id in self._start_unknown or alert.since is None:
            return True
        return acknowledged_at >= alert.since - ACK_GRACE


_LAST = float("inf")


def _alert_order(alert: Alert):
    return (SEVERITY_ORDER.get(alert.severity, len(SEVERITY_ORDER)),
            -alert.since.timestamp() if alert.since else _LAST, alert.alert_id)


_order_key = itemgetter(2)


def sort_alerts(alerts: list[Alert]) -> list[Alert]:
    """By severity (critical, error, warning, anything else), then newest first, then id."""
    return sorted(alerts, key=_alert_order)
