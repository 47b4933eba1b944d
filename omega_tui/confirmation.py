"""What an action asks before it runs, from the snapshot the operator is looking at.

Confirmation is scaled to risk: acknowledging asks nothing; resuming,
resolving, draining an idle node and cancelling a session that is not
running ask yes/no; draining a node with running sessions or cancelling a
running session asks for its name to be typed. Several marked targets are
confirmed once, with the strictest confirmation any of them needs (typing
e.g. "drain 2 nodes"). Every string from the stores goes through clean().
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from omega_tui.data.models import Alert, ClusterSnapshot, Node, Session
from omega_tui.widgets.formatting import duration, seconds_between
from omega_tui.widgets.safe_text import clean

VERBS = {"drain": "Drain", "resume": "Resume", "cancel": "Cancel", "acknowledge": "Acknowledge",
         "resolve": "Resolve"}
KINDS = {"drain": "node", "resume": "node", "cancel": "session", "acknowledge": "alert", "resolve": "alert"}
LISTED = 6   # targets or sessions listed by name; the rest are counted


@dataclass(frozen=True, slots=True)
class Confirmation:
    action: str
    targets: tuple[tuple[str, str], ...]   # (id the action takes, name shown)
    title: str
    lines: tuple[str, ...]                 # the impact, one line each, cleaned
    typed_phrase: str | None = None        # must be typed exactly to enable the confirm button
    ask: bool = True                       # False: no modal at all (acknowledge)

    @property
    def confirm_label(self) -> str:
        if self.action == "cancel":   # not just "Cancel": that is the button that backs out
            return "Cancel session" if len(self.targets) == 1 else f"Cancel {len(self.targets)} sessions"
        return VERBS[self.action]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _sessions_on(node: Node, snapshot: ClusterSnapshot) -> list[Session]:
    return [s for s in snapshot.sessions if s.node_id == node.node_id]


def _node_impact(node: Node, snapshot: ClusterSnapshot) -> tuple[str, int]:
    sessions = _sessions_on(node, snapshot)
    running = sum(s.status == "running" for s in sessions)
    gpus = node.gpu_count or 0
    return (f"{_plural(len(sessions), 'session')} on it ({running} running), {_plural(gpus, 'GPU')}", running)


def _session_line(session: Session, now: datetime) -> str:
    ran = seconds_between(session.start_time, now) if session.start_time else None
    runtime = f"has run {duration(ran)}" if ran is not None else "not started"
    node = f" on {clean(session.node_hostname, 30)}" if session.node_hostname else ""
    return (f"{clean(session.session_name, 40)}: user {clean(session.username, 20) or '?'}, "
            f"{clean(session.status, 12)}{node}, {runtime}")


def _node_session_line(session: Session, now: datetime) -> str:
    """One of a node's sessions, in the drain dialog: name, user, status, how long it has run."""
    ran = seconds_between(session.start_time, now) if session.start_time else None
    return (f"  {clean(session.session_name, 28):<28} {clean(session.username, 14) or '?':<14} "
            f"{clean(session.status, 10):<10} {duration(ran) if ran is not None else 'not started'}")


def _listed(lines: list[str]) -> list[str]:
    if len(lines) <= LISTED:
        return lines
    return lines[:LISTED - 1] + [f"… and {len(lines) - LISTED + 1} more"]


def for_nodes(action: str, nodes: list[Node], snapshot: ClusterSnapshot, now: datetime) -> Confirmation:
    """drain or resume these nodes."""
    targets = tuple((n.node_id, clean(n.hostname, 60) or n.node_id) for n in nodes)
    if action == "resume":
        if len(nodes) == 1:
            title = f"Resume {targets[0][1]}?"
            lines = [f"{targets[0][1]} becomes active: new sessions may be placed on it."]
        else:
            title = f"Resume {_plural(len(nodes), 'node')}?"
            lines = ["They become active: new sessions may be placed on them."]
            lines += _listed([f"  {name}" for _, name in targets])
        return Confirmation(action, targets, title, tuple(lines))
    impacts = [_node_impact(n, snapshot) for n in nodes]
    running = sum(r for _, r in impacts)
    if len(nodes) == 1:
        name = targets[0][1]
        title = f"Drain {name}?"
        lines = [f"No new sessions will be placed on {name}; the sessions on it keep running.",
                 f"{name}: {impacts[0][0]}."]
        lines += _listed([_node_session_line(s, now) for s in _sessions_on(nodes[0], snapshot)])
        typed = name if running else None
    else:
        title = f"Drain {_plural(len(nodes), 'node')}?"
        lines = ["No new sessions will be placed on them; the sessions on them keep running."]
        lines += _listed([f"  {name}: {impact}" for (_, name), (impact, _) in zip(targets, impacts)])
        typed = f"drain {len(nodes)} nodes" if running else None
    return Confirmation(action, targets, title, tuple(lines), typed)


def for_sessions(sessions: list[Session], now: datetime) -> Confirmation:
    """cancel these sessions."""
    targets = tuple((s.session_id, clean(s.session_name, 60) or s.session_id) for s in sessions)
    running = [s for s in sessions if s.status == "running"]
    consequence = "Its allocations are released and its work stops." if len(sessions) == 1 else \
        "Their allocations are released and their work stops."
    if len(sessions) == 1:
        title = f"Cancel session {targets[0][1]}?"
        lines = [_session_line(sessions[0], now), consequence]
        typed = targets[0][1] if running else None
    else:
        title = f"Cancel {_plural(len(sessions), 'session')}?"
        lines = [consequence] + _listed([f"  {_session_line(s, now)}" for s in sessions])
        typed = f"cancel {len(sessions)} sessions" if running else None
    return Confirmation("cancel", targets, title, tuple(lines), typed)


def for_alert(action: str, alert: Alert) -> Confirmation:
    """acknowledge (asks nothing) or resolve one alert."""
    name = clean(alert.title, 60) or alert.alert_id
    if action == "acknowledge":
        return Confirmation(action, ((alert.alert_id, name),), f"Acknowledge {name}", (), ask=False)
    lines = [f"{clean(alert.severity, 12)}: {clean(alert.message, 70)}",
             "The event is marked resolved (system_events.resolved_at) for everyone."]
    return Confirmation(action, ((alert.alert_id, name),), f"Resolve {name}?", tuple(lines))
