"""Acknowledgements (omega_console.alert_acks), held between polls and read incrementally.

Asking for the acknowledgements of the current alerts by id sent every alert
id each poll: at 10,000 nodes some 7,700 of them (most are sessions pending
too long), 8 to 17 ms a read to send and look up. The table holds only what
operators acknowledged, so it is held whole instead, and each read fetches
only the rows written since the last read's snapshot (by xmin, as
live_tables.py reads nodes), with the table's row count: a count that
disagrees with what is held (a row deleted) makes it read every row again, as
do a new connection (another server's snapshot) and FULL_READ_SECONDS passing.
"""

from __future__ import annotations

import time
from datetime import datetime

from omega_tui.data.pg_reads import as_text, as_time

FULL_READ_SECONDS = 60.0

# One row per ack written since the snapshot xmin %(since)s (every ack when it is NULL), or one row of
# NULLs when there is none; each row also carries this read's snapshot xmin and the table's row count.
# See pg_reads.CHANGES_SQL for xmin and age().
ACKS_SQL = """
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8 & 4294967295,
       (SELECT count(*) FROM omega_console.alert_acks),
       a.alert_id, a.acknowledged_at, a.acknowledged_by
  FROM (SELECT 1) one
  LEFT JOIN omega_console.alert_acks a
    ON %(since)s::int8 IS NULL OR age(a.xmin) <= (SELECT age(%(since)s::text::xid))
"""


def _acks_of(rows) -> dict[str, tuple[datetime | None, str | None]]:
    """ACKS_SQL's rows as alert id -> (at, by); the row of NULLs (nothing written) left out."""
    return {alert_id: (as_time(at), as_text(by)) for _, _, alert_id, at, by in rows if alert_id is not None}


class AlertAcks:
    """Not thread-safe: owned by the poller, used under its lock."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.acks: dict[str, tuple[datetime | None, str | None]] = {}   # alert id -> (at, by)
        self.rows_read = 0                  # ack rows the last read() fetched
        self._since: int | None = None      # snapshot xmin of the last read; None: read every row
        self._conn = None                   # the connection that snapshot was taken on
        self._full_at = 0.0

    def read(self, db) -> dict[str, tuple[datetime | None, str | None]]:
        """Bring the held acknowledgements up to date (one statement, two when a row was deleted);
        returns them: a new dict when they changed, else the same one. Raises psycopg errors; then
        nothing changes."""
        conn = getattr(db, "conn", None)
        since = self._since
        if conn is not self._conn or self._clock() - self._full_at > FULL_READ_SECONDS:
            since = None
        rows = db.execute(ACKS_SQL, {"since": since}).fetchall()
        snapshot, total = rows[0][0], rows[0][1]
        written = _acks_of(rows)
        if since is None:
            acks = written
        else:
            acks = {**self.acks, **written} if written else self.acks
        if len(acks) != total and since is not None:   # a row was deleted: read them all
            rows = db.execute(ACKS_SQL, {"since": None}).fetchall()
            snapshot = rows[0][0]
            acks = _acks_of(rows)
            since = None
        if since is None:
            self._full_at = self._clock()
        self.rows_read = len(acks) if since is None else len(written)
        self.acks, self._since, self._conn = acks, snapshot, conn
        return acks
