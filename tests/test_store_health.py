"""Store health: STALE vs DOWN, since the first failure, backoff 1 s doubling to 30 s."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omega_tui.data.models import HealthState
from omega_tui.data.store_health import StoreHealthTracker

T = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T + timedelta(seconds=seconds)


def test_never_reached_is_down_then_backs_off_doubling_up_to_30_s():
    health = StoreHealthTracker("Redis")
    assert health.due(T)
    waits = []
    now = T
    for _ in range(8):
        health.failed(now, "connection refused")
        wait = 0.0
        while not health.due(at((now - T).total_seconds() + wait)):
            wait += 0.5
        waits.append(wait)
        now = now + timedelta(seconds=wait)
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]
    h = health.health()
    assert h.state is HealthState.DOWN and h.since == T and h.last_ok is None and h.reason == "connection refused"


def test_failure_after_success_is_stale_since_the_first_failure_and_recovers():
    health = StoreHealthTracker("PostgreSQL")
    health.succeeded(T, 3.0)
    assert health.health().state is HealthState.OK and health.health().latency_ms == 3.0
    health.failed(at(10), "server closed the connection")
    health.failed(at(11), "connection refused")
    h = health.health()
    assert (h.state, h.since, h.last_ok, h.reason) == (HealthState.STALE, at(10), T, "connection refused")
    assert not health.due(at(12)) and health.due(at(13))
    health.succeeded(at(13), 2.0)
    h = health.health()
    assert (h.state, h.since, h.reason, h.last_ok) == (HealthState.OK, at(13), None, at(13))
    assert health.due(at(13))


def test_quick_failures_are_retried_on_the_next_poll_slow_ones_back_off():
    health = StoreHealthTracker("Redis")
    health.succeeded(T, 1.0)
    for second in range(1, 6):                        # refused at once, every poll: no backoff
        health.failed(at(second), "connection refused", took=0.002)
        assert health.due(at(second))
    assert health.health().since == at(1) and health.health().state is HealthState.STALE
    health.failed(at(6), "timeout connecting", took=5.0)   # a hang: back off 1 s, then 2 s
    assert not health.due(at(6.9)) and health.due(at(7))
    health.failed(at(7), "timeout connecting", took=5.0)
    assert not health.due(at(8.9)) and health.due(at(9))
    assert health.health().since == at(1)
