"""When the next poll runs: interval, pause, "poll now", stop. No Textual import.

The app's poller worker loops on `wait_until_due()` and runs each poll through
`run_until_stopped()`. Everything waits on one Condition, so `stop()` wakes the
worker at once, between polls or in the middle of one: the poll itself runs in
a daemon thread that is simply abandoned on stop (a poll blocked on a dead
server must not hold up quitting; the process exits without joining it).
Polls never overlap: the next wait starts only when the last poll returned.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

MIN_INTERVAL = 0.5
MAX_INTERVAL = 300.0


class Stopped(Exception):
    """`stop()` was called while waiting or while the poll was running."""


class PollSchedule:
    def __init__(self, interval: float) -> None:
        self._condition = threading.Condition()
        self._interval = self.clamp(interval)
        self._paused = False
        self._stopped = False
        self._poll_now = False

    @staticmethod
    def clamp(interval: float) -> float:
        return min(MAX_INTERVAL, max(MIN_INTERVAL, interval))

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def stopped(self) -> bool:
        return self._stopped

    def set_interval(self, seconds: float) -> float:
        with self._condition:
            self._interval = self.clamp(seconds)
            self._condition.notify_all()
            return self._interval

    def set_paused(self, paused: bool) -> None:
        with self._condition:
            self._paused = paused
            self._condition.notify_all()

    def poll_now(self) -> None:
        """Run the next poll as soon as the current one (if any) is done, even when paused."""
        with self._condition:
            self._poll_now = True
            self._condition.notify_all()

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def wait_until_due(self, last_finished: float) -> None:
        """Block until a poll is due: `interval` after `last_finished` (monotonic), or asked for.

        Raises Stopped when stop() is called.
        """
        with self._condition:
            while True:
                if self._stopped:
                    raise Stopped
                if self._poll_now:
                    self._poll_now = False
                    return
                if self._paused:
                    self._condition.wait()
                    continue
                remaining = last_finished + self._interval - time.monotonic()
                if remaining <= 0:
                    return
                self._condition.wait(remaining)

    def run_until_stopped(self, work: Callable[[], T], name: str = "omega-poll") -> T:
        """Run `work()` in a daemon thread and return its result, or raise what it raised.

        Raises Stopped as soon as stop() is called, without waiting for `work`.
        """
        outcome: dict[str, object] = {}

        def target() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # handed to the waiting thread
                outcome["error"] = exc
            with self._condition:
                outcome["done"] = True
                self._condition.notify_all()

        threading.Thread(target=target, name=name, daemon=True).start()
        with self._condition:
            while "done" not in outcome:
                if self._stopped:
                    raise Stopped
                self._condition.wait()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]
