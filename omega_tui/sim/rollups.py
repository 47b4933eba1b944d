"""Keeping the plain-PostgreSQL rollups current: the writer of the metrics
calls `omega_console.refresh_node_metrics_rollups()` about once a minute of
simulated time (TimescaleDB refreshes its continuous aggregates itself).

In the live loop the refresh runs on its own connection in a background
thread so a slow refresh never delays a tick; a refresh still running when
the next one is due is simply not repeated.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

import psycopg

REFRESH_EVERY = timedelta(seconds=60)


class RollupRefresher:
    def __init__(self, connect, log=None, every: timedelta = REFRESH_EVERY):
        self._connect = connect          # () -> autocommit psycopg connection without statement timeout
        self._log = log or (lambda message: None)
        self.every = every
        self.last_at: datetime | None = None
        self.last_seconds: float | None = None
        self.enabled: bool | None = None  # None until we know whether the function exists
        self._thread: threading.Thread | None = None

    def due(self, now: datetime) -> bool:
        return self.enabled is not False and (self.last_at is None or now - self.last_at >= self.every)

    def refresh(self, now: datetime) -> float | None:
        """Refresh now, in this thread; returns the seconds it took (None if not possible)."""
        self.last_at = now
        started = time.perf_counter()
        try:
            with self._connect() as conn:
                if self.enabled is None:
                    found = conn.execute(
                        "SELECT to_regprocedure('omega_console.refresh_node_metrics_rollups(interval)')"
                    ).fetchone()[0]
                    self.enabled = found is not None
                if self.enabled:
                    conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        except psycopg.Error as exc:
            self._log(f"rollup refresh failed: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
            return None
        self.last_seconds = time.perf_counter() - started
        return self.last_seconds

    def refresh_in_background(self, now: datetime) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self.last_at = now
        self._thread = threading.Thread(target=self.refresh, args=(now,), name="omega-sim-rollups", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
