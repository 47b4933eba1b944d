"""Call a function every interval, on time, until stopped: the pacing shared by the writers."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Callable


def run_ticks(
    tick: Callable[[], object],
    interval: float,
    *,
    stopped: Callable[[], bool],
    wait: Callable[[float], None],
    duration: timedelta | None = None,
    on_tick: Callable[[object], None] | None = None,
) -> int:
    """Run `tick()` every `interval` seconds until `stopped()` or `duration` ends; return the count.

    A slow tick delays the next one instead of piling ticks up. `wait(seconds)`
    sleeps at most that long and may return early (on a stop or a wake-up);
    it is called in slices of at most 0.25 s so stopping is prompt.
    """
    deadline = time.monotonic() + duration.total_seconds() if duration is not None else None
    next_at = time.monotonic()
    ticks = 0
    while not stopped():
        if deadline is not None and time.monotonic() >= deadline:
            break
        report = tick()
        ticks += 1
        if on_tick is not None:
            on_tick(report)
        next_at = max(next_at + interval, time.monotonic())
        while not stopped():
            remaining = next_at - time.monotonic()
            if deadline is not None:
                remaining = min(remaining, deadline - time.monotonic())
            if remaining <= 0:
                break
            wait(min(remaining, 0.25))
    return ticks
