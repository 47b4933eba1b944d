"""Operator actions: drain, resume, cancel, acknowledge, resolve.

Each is one PostgreSQL transaction on the Omega tables with the target row
locked (SELECT ... FOR UPDATE), an audit row in omega_console.audit_log and a
system_events row, all committed together; then, after the commit, a JSON
message on the Redis channel `omega:control` (and the Redis keys the contract
names). If Redis fails after the commit, the database stays right and the
result says so. The key bindings and the CLI both call these functions.
"""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from omega_tui.data.connect import REDIS_ERRORS, describe_pg_error, describe_redis_error, is_cluster

CONTROL_CHANNEL = "omega:control"
QUEUE_KEY = "queue:pending_sessions"
SESSION_STATE_KEY = "session:state:{}"
SESSION_STATE_TTL = 3600
CANCELLABLE = ("pending", "scheduled", "running", "paused")
DERIVED_ALERT_KINDS = ("unreachable", "node_failed", "threshold", "pending")

OK, ALREADY, NOT_FOUND, REFUSED, FAILED = "ok", "already", "not_found", "refused", "failed"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the operator name the console knows, and where from."""

    operator: str
    os_user: str
    os_host: str


def current_actor(operator: str | None = None) -> Actor:
    os_user = getpass.getuser()
    return Actor(operator=operator or os_user, os_user=os_user, os_host=socket.gethostname())


@dataclass(frozen=True, slots=True)
class ActionResult:
    action: str
    target_kind: str
    target_id: str
    target_name: str | None
    result: str                    # ok, already, not_found, refused, failed
    message: str                   # one line for the operator
    before: dict | None = None
    after: dict | None = None
    notified: bool | None = None   # Redis told after commit (None: nothing to tell)
    notify_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.result in (OK, ALREADY)


class _Outcome(Exception):
    """Ends the transaction early with a result (rolled back unless `keep`)."""

    def __init__(self, result: ActionResult):
        self.result = result


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _audit(conn, actor: Actor, result: ActionResult) -> None:
    conn.execute(
        """INSERT INTO omega_console.audit_log
               (operator, os_user, os_host, action, target_kind, target_id, target_name,
                before_state, after_state, result, detail)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (actor.operator, actor.os_user, actor.os_host, result.action, result.target_kind,
         result.target_id, result.target_name, Jsonb(result.before) if result.before is not None else None,
         Jsonb(result.after) if result.after is not None else None, result.result, result.message),
    )


def _event(conn, actor: Actor, *, event_type: str, severity: str, message: str,
           node_id=None, session_id=None, details: dict | None = None) -> None:
    conn.execute(
        """INSERT INTO system_events (event_type, severity, source_component, source_node_id,
                                      session_id, user_id, message, details)
           VALUES (%s, %s, 'omega-tui', %s, %s, (SELECT user_id FROM users WHERE username = %s), %s, %s)""",
        (event_type, severity, node_id, session_id, actor.operator, message,
         Jsonb({"by": actor.operator, "os_user": actor.os_user, "host": actor.os_host, **(details or {})})),
    )


def _audit_failure(conn, actor: Actor, result: ActionResult) -> None:
    """Record a refused or failed action; best effort (the role may lack rights)."""
    try:
        with conn.transaction():
            _audit(conn, actor, result)
    except psycopg.Error:
        pass


def _run(conn, actor: Actor, action: str, kind: str, target: str, body) -> ActionResult:
    """Run `body(conn) -> ActionResult` in one transaction, audited."""
    committing = False
    try:
        with conn.transaction():
            result = body(conn)
            _audit(conn, actor, result)
            committing = True
        return result
    except _Outcome as outcome:
        _audit_failure(conn, actor, outcome.result)
        return outcome.result
    except psycopg.errors.InsufficientPrivilege:
        user = _db_user(conn)
        result = ActionResult(action, kind, target, None, REFUSED,
                              f"permission denied for {action} as {user}; nothing changed")
        _audit_failure(conn, actor, result)
        return result
    except psycopg.errors.LockNotAvailable:
        result = ActionResult(action, kind, target, None, REFUSED,
                              f"{kind} {target} is being changed by someone else; try again")
        _audit_failure(conn, actor, result)
        return result
    except psycopg.Error as exc:
        # The store failed (connection lost, statement timeout, a constraint of
        # someone else's schema). Before COMMIT the transaction is rolled back;
        # a connection lost during COMMIT leaves the outcome unknown.
        reason = describe_pg_error(exc)
        if committing:
            return ActionResult(action, kind, target, None, FAILED,
                                f"PostgreSQL failed while committing ({reason}): the {action} may or may not "
                                f"have been applied; check {kind} {target}")
        result = ActionResult(action, kind, target, None, FAILED, f"PostgreSQL: {reason}; nothing changed")
        if not conn.closed and not conn.broken:
            _audit_failure(conn, actor, result)
        return result


def _db_user(conn) -> str:
    try:
        return conn.execute("SELECT current_user").fetchone()[0]
    except psycopg.Error:
        return conn.info.user or "?"


def _publish(redis_client, result: ActionResult, actor: Actor, extra=None) -> ActionResult:
    """Tell Redis after the commit; the database is already right whatever happens."""
    if result.result != OK:
        return result
    from dataclasses import replace

    if redis_client is None:
        return replace(result, notified=False, notify_error="Redis unavailable")
    message = json.dumps({"action": result.action, "target": result.target_id,
                          "by": actor.operator, "at": _now().isoformat()})
    try:
        pipe = redis_client.pipeline(transaction=False)
        if extra:
            extra(pipe)
        if is_cluster(redis_client):
            # A cluster pipeline refuses PUBLISH; the cluster bus carries it to every node.
            if len(pipe):
                pipe.execute()
            redis_client.publish(CONTROL_CHANNEL, message)
        else:
            pipe.publish(CONTROL_CHANNEL, message)
            pipe.execute()
    except REDIS_ERRORS as exc:
        reason = describe_redis_error(exc)
        return replace(result, notified=False,
                       notify_error=reason,
                       message=f"{result.message}; Redis not told ({reason}): the database is right")
    return replace(result, notified=True)


# -- nodes -------------------------------------------------------------------

def find_node(conn, ref: str) -> list[dict]:
    """Nodes whose id or hostname is `ref` (hostnames are not unique in the schema)."""
    with conn.cursor(row_factory=dict_row) as cur:
        if _is_uuid(ref):
            return cur.execute("SELECT node_id, hostname, status FROM nodes WHERE node_id = %s", (ref,)).fetchall()
        return cur.execute("SELECT node_id, hostname, status FROM nodes WHERE hostname = %s", (ref,)).fetchall()


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(str(text))
        return True
    except ValueError:
        return False


def _node_status_change(conn, redis_client, actor: Actor, ref: str, action: str, new_status: str) -> ActionResult:
    def body(conn) -> ActionResult:
        matches = find_node(conn, ref)
        if len(matches) != 1:
            why = f"no node {ref!r}" if not matches else f"hostname {ref!r} is not unique: use the node id"
            raise _Outcome(ActionResult(action, "node", ref, None, NOT_FOUND, why))
        node_id = matches[0]["node_id"]
        with conn.cursor(row_factory=dict_row) as cur:
            node = cur.execute(
                "SELECT node_id, hostname, status FROM nodes WHERE node_id = %s FOR UPDATE NOWAIT", (node_id,)
            ).fetchone()
            running = cur.execute(
                "SELECT count(*) AS n FROM sessions WHERE scheduled_node_id = %s"
                " AND status IN ('scheduled', 'running', 'paused')",
                (node_id,),
            ).fetchone()["n"]
        before = {"status": node["status"]}
        name = node["hostname"]
        if node["status"] == new_status:
            return ActionResult(action, "node", str(node_id), name, ALREADY,
                                f"{name} is already {new_status}", before, before)
        conn.execute("UPDATE nodes SET status = %s, updated_at = now() WHERE node_id = %s", (new_status, node_id))
        verb = "draining" if action == "drain" else "resumed (active)"
        message = f"{name} {verb}" + (f"; {running} session(s) still on it" if action == "drain" and running else "")
        _event(conn, actor, event_type=f"node_{action}", severity="info", node_id=node_id,
               message=f"node {name} {verb} by {actor.operator}", details={"before": node["status"]})
        return ActionResult(action, "node", str(node_id), name, OK, message, before, {"status": new_status})

    result = _run(conn, actor, action, "node", ref, body)
    return _publish(redis_client, result, actor)


def drain_node(conn, redis_client, actor: Actor, ref: str) -> ActionResult:
    """nodes.status -> draining: no new placements, running sessions finish."""
    return _node_status_change(conn, redis_client, actor, ref, "drain", "draining")


def resume_node(conn, redis_client, actor: Actor, ref: str) -> ActionResult:
    """nodes.status -> active."""
    return _node_status_change(conn, redis_client, actor, ref, "resume", "active")


# -- sessions ----------------------------------------------------------------

def cancel_session(conn, redis_client, actor: Actor, session_ref: str) -> ActionResult:
    """sessions.status -> cancelled, allocations released and capacity given back, exactly once."""
    state_after: dict = {}

    def body(conn) -> ActionResult:
        if not _is_uuid(session_ref):
            raise _Outcome(ActionResult("cancel", "session", session_ref, None, NOT_FOUND,
                                        f"{session_ref!r} is not a session id"))
        with conn.cursor(row_factory=dict_row) as cur:
            session = cur.execute(
                "SELECT session_id, session_name, status, start_time FROM sessions"
                " WHERE session_id = %s FOR UPDATE NOWAIT",
                (session_ref,),
            ).fetchone()
            if session is None:
                raise _Outcome(ActionResult("cancel", "session", session_ref, None, NOT_FOUND,
                                            f"no session {session_ref}"))
            name, status = session["session_name"], session["status"]
            before = {"status": status}
            if status not in CANCELLABLE:
                return ActionResult("cancel", "session", session_ref, name, ALREADY,
                                    f"{name} is already {status}", before, before)
            cur.execute(
                "UPDATE sessions SET status = 'cancelled', end_time = now(), updated_at = now()"
                " WHERE session_id = %s",
                (session_ref,),
            )
            released = cur.execute(
                """WITH released AS (
                       UPDATE session_allocations
                          SET status = 'released', deallocation_time = now()
                        WHERE session_id = %s AND status = 'active'
                    RETURNING node_id, resource_type, allocated_amount),
                   per_resource AS (
                       SELECT node_id, resource_type, sum(allocated_amount) AS amount
                         FROM released GROUP BY node_id, resource_type),
                   given_back AS (
                       UPDATE node_resources nr
                          SET allocated_capacity = greatest(nr.allocated_capacity - p.amount, 0),
                              updated_at = now()
                         FROM per_resource p
                        WHERE nr.node_id = p.node_id AND nr.resource_type = p.resource_type
                    RETURNING nr.resource_type, p.amount)
                   SELECT resource_type, amount FROM given_back""",
                (session_ref,),
            ).fetchall()
        resources = {row["resource_type"]: float(row["amount"]) for row in released}
        _event(conn, actor, event_type="session_cancelled", severity="info", session_id=session_ref,
               message=f"session {name} cancelled by {actor.operator} (was {status})",
               details={"before": status, "released": resources})
        state_after.update(status="cancelled", allocated_resources={}, start_time=(
            session["start_time"].isoformat() if session["start_time"] else None))
        return ActionResult("cancel", "session", session_ref, name, OK,
                            f"{name} cancelled (was {status})", before,
                            {"status": "cancelled", "released": resources})

    result = _run(conn, actor, "cancel", "session", session_ref, body)

    def extra(pipe):
        pipe.lrem(QUEUE_KEY, 0, session_ref)
        pipe.set(SESSION_STATE_KEY.format(session_ref), json.dumps(state_after), ex=SESSION_STATE_TTL)

    return _publish(redis_client, result, actor, extra)


# -- alerts ------------------------------------------------------------------

def _alert_target(conn, alert_id: str) -> tuple[str, dict | None]:
    """(kind, the row the alert is about) for an alert id, or raise _Outcome."""
    kind, _, rest = alert_id.partition(":")
    if kind == "event" and _is_uuid(rest):
        with conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute(
                "SELECT event_id, message, resolved_at FROM system_events WHERE event_id = %s", (rest,)
            ).fetchone()
        return kind, row
    if kind in DERIVED_ALERT_KINDS and rest:
        return kind, {"id": rest}
    return kind, None


def acknowledge_alert(conn, redis_client, actor: Actor, alert_id: str, note: str | None = None) -> ActionResult:
    """Record an acknowledgement (the Omega tables have no column for it)."""

    def body(conn) -> ActionResult:
        kind, row = _alert_target(conn, alert_id)
        if row is None:
            raise _Outcome(ActionResult("acknowledge", "alert", alert_id, None, NOT_FOUND, f"no alert {alert_id!r}"))
        inserted = conn.execute(
            "INSERT INTO omega_console.alert_acks (alert_id, acknowledged_by, note) VALUES (%s, %s, %s)"
            " ON CONFLICT (alert_id) DO NOTHING RETURNING acknowledged_at",
            (alert_id, actor.operator, note),
        ).fetchone()
        if inserted is None:
            by = conn.execute(
                "SELECT acknowledged_by FROM omega_console.alert_acks WHERE alert_id = %s", (alert_id,)
            ).fetchone()[0]
            return ActionResult("acknowledge", "alert", alert_id, None, ALREADY,
                                f"{alert_id} is already acknowledged (by {by})")
        return ActionResult("acknowledge", "alert", alert_id, None, OK, f"{alert_id} acknowledged",
                            {"acknowledged": False}, {"acknowledged": True})

    return _publish(redis_client, _run(conn, actor, "acknowledge", "alert", alert_id, body), actor)


def resolve_alert(conn, redis_client, actor: Actor, alert_id: str) -> ActionResult:
    """system_events.resolved_at = now() (resolved_by when the operator is a user)."""

    def body(conn) -> ActionResult:
        kind, row = _alert_target(conn, alert_id)
        if kind in DERIVED_ALERT_KINDS and row is not None:
            raise _Outcome(ActionResult("resolve", "alert", alert_id, None, REFUSED,
                                        f"{alert_id} clears by itself when its condition ends; acknowledge it instead"))
        if row is None:
            raise _Outcome(ActionResult("resolve", "alert", alert_id, None, NOT_FOUND, f"no alert {alert_id!r}"))
        with conn.cursor(row_factory=dict_row) as cur:
            event = cur.execute(
                "SELECT event_id, resolved_at FROM system_events WHERE event_id = %s FOR UPDATE NOWAIT",
                (row["event_id"],),
            ).fetchone()
            if event["resolved_at"] is not None:
                return ActionResult("resolve", "alert", alert_id, None, ALREADY,
                                    f"{alert_id} is already resolved ({event['resolved_at']:%Y-%m-%d %H:%M:%S})")
            cur.execute(
                "UPDATE system_events SET resolved_at = now(),"
                " resolved_by = (SELECT user_id FROM users WHERE username = %s) WHERE event_id = %s",
                (actor.operator, row["event_id"]),
            )
        return ActionResult("resolve", "alert", alert_id, None, OK, f"{alert_id} resolved",
                            {"resolved": False}, {"resolved": True})

    return _publish(redis_client, _run(conn, actor, "resolve", "alert", alert_id, body), actor)


# -- impact, for confirmation prompts ------------------------------------------

def node_impact(conn, ref: str) -> dict | None:
    """What draining `ref` touches: its sessions and GPUs (None if not exactly one node)."""
    matches = find_node(conn, ref)
    if len(matches) != 1:
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        node = cur.execute(
            "SELECT node_id, hostname, status, gpu_count FROM nodes WHERE node_id = %s", (matches[0]["node_id"],)
        ).fetchone()
        sessions = cur.execute(
            "SELECT session_name, status FROM sessions WHERE scheduled_node_id = %s"
            " AND status IN ('scheduled', 'running', 'paused') ORDER BY start_time NULLS LAST",
            (node["node_id"],),
        ).fetchall()
    return {**node, "sessions": sessions, "running": sum(s["status"] == "running" for s in sessions)}


def session_impact(conn, session_id: str) -> dict | None:
    """The session, its user and how long it has run (None if unknown)."""
    if not _is_uuid(session_id):
        return None
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT s.session_id, s.session_name, s.status, s.start_time, u.username,"
            "       now() - s.start_time AS runtime"
            "  FROM sessions s LEFT JOIN users u ON u.user_id = s.user_id WHERE s.session_id = %s",
            (session_id,),
        ).fetchone()
