"""The console's way to act: actions.py on a connection of its own.

An ActionRunner owns one read-write PostgreSQL connection to the primary
(`settings.dsn`, never a replica: polls may read elsewhere, actions may not)
and one Redis client, both opened on first use and reopened after a failure.
It is called from a worker thread, one action at a time (a lock); the UI
never waits on it. Textual is never imported here.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import redis

from omega_tui.data import actions
from omega_tui.data.actions import FAILED, REFUSED, ActionResult, Actor
from omega_tui.data.connect import StoreError, close_quietly, describe_pg_error, pg_connect, redis_connect

ACTIONS = {
    "drain": (actions.drain_node, "node"),
    "resume": (actions.resume_node, "node"),
    "cancel": (actions.cancel_session, "session"),
    "acknowledge": (actions.acknowledge_alert, "alert"),
    "resolve": (actions.resolve_alert, "alert"),
}


class ActionRunner:
    def __init__(self, settings, actor: Actor | None = None) -> None:
        self.settings = settings
        self.actor = actor or actions.current_actor(settings.operator)
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None
        self._redis: redis.Redis | None = None

    def run(self, action: str, target: str, *, typed_name: bool = True) -> ActionResult:
        """Run `action` on `target` (a node id, session id or alert id).

        `typed_name=False` says the operator confirmed without typing the
        target's name because the console's snapshot showed no running
        session: if the database now says otherwise, refuse and change nothing.
        """
        function, kind = ACTIONS[action]
        if self.settings.read_only:
            return ActionResult(action, kind, target, None, REFUSED, f"read-only mode: {action} refused")
        with self._lock:
            try:
                conn = self._connection()
            except StoreError as exc:
                return ActionResult(action, kind, target, None, FAILED, f"{action} not done: {exc}")
            try:
                if not typed_name:
                    changed = self._now_needs_typed_name(conn, action, target)
                    if changed:
                        return ActionResult(action, kind, target, None, REFUSED, changed)
                result = function(conn, self._redis_client(), self.actor, target)
            except psycopg.Error as exc:
                self._drop_pg()
                reason = describe_pg_error(exc, self.settings.dsn)
                return ActionResult(action, kind, target, None, FAILED,
                                    f"{action} failed: PostgreSQL: {reason} (the next poll shows what happened)")
        if result.notified is False and self._redis is None:
            result = replace(result, message=f"{result.message}; Redis not told (unavailable): the database is right")
        return result

    def close(self) -> None:
        with self._lock:
            self._drop_pg()
            if self._redis is not None:
                try:
                    self._redis.close()
                except Exception:  # noqa: BLE001 - closing anyway
                    pass
                self._redis = None

    # --- internals ----------------------------------------------------------------

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self._drop_pg()
        if self._conn is None:
            if not self.settings.dsn:
                raise StoreError("PostgreSQL", "no DSN configured")
            self._conn = pg_connect(
                self.settings.dsn, connect_timeout=self.settings.connect_timeout,
                statement_timeout=self.settings.statement_timeout, autocommit=True,
                application_name="omega-tui actions",
            )
        return self._conn

    def _redis_client(self) -> redis.Redis | None:
        if self._redis is None and self.settings.redis_url:
            try:
                self._redis = redis_connect(self.settings.redis_url, connect_timeout=self.settings.connect_timeout,
                                            socket_timeout=self.settings.statement_timeout)
            except StoreError:
                return None
        return self._redis

    def _drop_pg(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)

    @staticmethod
    def _now_needs_typed_name(conn, action: str, target: str) -> str | None:
        if action == "drain":
            impact = actions.node_impact(conn, target)
            if impact is not None and impact["running"]:
                return (f"{impact['hostname']} has {impact['running']} running session(s) now: "
                        "nothing changed, confirm again")
        elif action == "cancel":
            impact = actions.session_impact(conn, target)
            if impact is not None and impact["status"] == "running":
                return f"{impact['session_name']} is running now: nothing changed, confirm again"
        return None
