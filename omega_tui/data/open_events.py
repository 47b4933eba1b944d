"""The unresolved events, read incrementally by the poller.

Each poll reads the open events' keys (id and time, in order); only events
not already held are read whole. An open event's row rarely changes (it is
resolved, and then leaves the open set), so a held one is kept as read; to
catch such a change all the same, everything is read again on a new
connection and every FULL_READ_SECONDS.
"""

from __future__ import annotations

import time

from omega_tui.data import pg_reads
from omega_tui.data.models import Alert

FULL_READ_SECONDS = 60.0


class OpenEvents:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.alerts: list[Alert] = []     # newest first, as read_open_event_alerts orders them
        self._by_id: dict[str, Alert] = {}
        self._conn = None
        self._full_at = 0.0

    def read(self, db) -> list[Alert]:
        """The open events now, in the caller's transaction. Raises psycopg errors; then nothing changes."""
        conn = getattr(db, "conn", None)
        full = conn is not self._conn or self._clock() - self._full_at > FULL_READ_SECONDS
        alerts = None if full else self._read_changes(db)
        if alerts is None:
            alerts = pg_reads.read_open_event_alerts(db)
            self._full_at = self._clock()
        self.alerts, self._conn = alerts, conn
        self._by_id = {alert.alert_id: alert for alert in alerts}
        return alerts

    def _read_changes(self, db) -> list[Alert] | None:
        keys = pg_reads.read_open_event_keys(db)
        held = self._by_id
        new = [key for key in keys if f"event:{key[0]}" not in held]
        fetched = {alert.alert_id: alert for alert in pg_reads.read_open_events_by_id(db, new)} if new else {}
        alerts = []
        for event_id, _ in keys:
            alert_id = f"event:{event_id}"
            alert = held.get(alert_id) or fetched.get(alert_id)
            if alert is None:
                return None   # not found by id (an odd id or time): read them all
            alerts.append(alert)
        return alerts
