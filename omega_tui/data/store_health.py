"""The health of one store as the poller sees it, and when to try it again.

A store whose failure was slow (a connect or statement timeout) is retried
after 1 s, then 2 s, 4 s ... capped at 30 s, so a hanging store does not
cost a timeout on every poll. A failure that came back at once (connection
refused, an error reply) costs nothing to repeat, so it is retried on the
next poll: a restarted store is back within a poll interval. The first
success brings it back to OK without a restart.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from omega_tui.data.models import HealthState, StoreHealth

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0
QUICK_FAILURE_SECONDS = 0.5   # a failure that took less is retried on the next poll


class StoreHealthTracker:
    """Not thread-safe: owned by the poller, used under its lock."""

    def __init__(self, store: str):
        self.store = store
        self._state = HealthState.DOWN
        self._since: datetime | None = None
        self._reason: str | None = "not read yet"
        self._last_ok: datetime | None = None
        self._latency_ms: float | None = None
        self._failures = 0
        self._next_try: datetime | None = None

    def due(self, now: datetime) -> bool:
        """Whether to try the store on this poll (False while backing off)."""
        return self._next_try is None or now >= self._next_try

    def succeeded(self, now: datetime, latency_ms: float, *, behind: float | None = None,
                  behind_reason: str | None = None) -> None:
        """Read fine; with `behind_reason` the data read is `behind` seconds old (a lagging replica): STALE."""
        state = HealthState.STALE if behind_reason else HealthState.OK
        if self._state is not state:
            self._since = now
        self._state = state
        self._reason = behind_reason
        self._last_ok = now - timedelta(seconds=behind) if behind_reason and behind else now
        self._latency_ms = latency_ms
        self._failures = 0
        self._next_try = None

    def failed(self, now: datetime, reason: str, *, took: float | None = None) -> None:
        """Record a failure; `took` is how long the failed attempt took, in seconds (None: unknown, slow)."""
        if self._state is HealthState.OK or self._since is None:
            self._since = now
        # STALE: there is data from an earlier read; DOWN: nothing read this run.
        self._state = HealthState.STALE if self._last_ok is not None else HealthState.DOWN
        self._reason = reason
        self._latency_ms = None
        if took is not None and took < QUICK_FAILURE_SECONDS:
            self._next_try = None
            return
        self._failures += 1
        delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (self._failures - 1))
        self._next_try = now + timedelta(seconds=delay)

    @property
    def ever_ok(self) -> bool:
        return self._last_ok is not None

    def health(self) -> StoreHealth:
        return StoreHealth(
            store=self.store,
            state=self._state,
            since=self._since,
            reason=self._reason,
            last_ok=self._last_ok,
            latency_ms=self._latency_ms,
        )
