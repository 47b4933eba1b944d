"""The unresolved events, read incrementally by the poller.

Each poll reads the open events' keys (id and time, in order; the poller sends
that statement with its nodes' and sessions'); only events not already held
are read whole. An open event's row rarely changes (it is resolved, and then
leaves the open set), so a held one is kept as read; to catch such a change
all the same, everything is read again on a new connection and every
FULL_READ_SECONDS.
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

    def wants_keys(self, db) -> bool:
        """Whether the next read() on `db` begins with the open events' keys (it does unless it reads
        everything): the caller may send their statement ahead (pg_reads.send_open_event_keys)."""
        return not self._full_due(db)

    def read(self, db, keys=None) -> list[Alert]:
        """The open events now, in the caller's transaction. Raises psycopg errors; then nothing changes.
        `keys`: the cursor of the keys' statement, sent ahead by the caller (see wants_keys)."""
        conn = getattr(db, "conn", None)
        full = self._full_due(db)
        alerts = None if full else self._read_changes(db, keys)
        if alerts is None:
            alerts = pg_reads.read_open_event_alerts(db)
            self._full_at = self._clock()
        self.alerts, self._conn = alerts, conn
        self._by_id = {alert.alert_id: alert for alert in alerts}
        return alerts

    def _full_due(self, db) -> bool:
        return getattr(db, "conn", None) is not self._conn or self._clock() - self._full_at > FULL_READ_SECONDS

    def _read_changes(self, db, keys_sent) -> list[Alert] | None:
        keys = pg_reads.open_event_keys_of(keys_sent) if keys_sent is not None else pg_reads.read_open_event_keys(db)
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
