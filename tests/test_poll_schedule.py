"""Poll pacing: interval, pause, poll-now, and a stop that never waits for a poll."""

import threading
import time

import pytest

from omega_tui.poll_schedule import PollSchedule, Stopped


def test_waits_the_interval_after_the_last_poll_finished():
    schedule = PollSchedule(0.5)
    started = time.monotonic()
    schedule.wait_until_due(started)
    assert 0.45 <= time.monotonic() - started < 1.0


def test_poll_now_and_stop_wake_a_waiting_poller_at_once():
    schedule = PollSchedule(60)
    threading.Timer(0.1, schedule.poll_now).start()
    started = time.monotonic()
    schedule.wait_until_due(time.monotonic())
    assert time.monotonic() - started < 1.0
    threading.Timer(0.1, schedule.stop).start()
    with pytest.raises(Stopped):
        schedule.wait_until_due(time.monotonic())


def test_paused_waits_until_resumed_or_asked():
    schedule = PollSchedule(0.5)
    schedule.set_paused(True)
    woke = threading.Event()

    def poller():
        schedule.wait_until_due(float("-inf"))
        woke.set()

    threading.Thread(target=poller, daemon=True).start()
    assert not woke.wait(0.8)
    schedule.set_paused(False)
    assert woke.wait(1.0)


def test_stop_does_not_wait_for_a_hanging_poll():
    schedule = PollSchedule(2)
    release = threading.Event()
    threading.Timer(0.1, schedule.stop).start()
    started = time.monotonic()
    with pytest.raises(Stopped):
        schedule.run_until_stopped(release.wait)
    assert time.monotonic() - started < 1.0
    release.set()


def test_run_until_stopped_returns_or_raises_what_the_work_did():
    schedule = PollSchedule(2)
    assert schedule.run_until_stopped(lambda: 42) == 42
    with pytest.raises(ValueError):
        schedule.run_until_stopped(lambda: int("x"))


def test_interval_is_kept_within_bounds():
    schedule = PollSchedule(0.01)
    assert schedule.interval == 0.5
    assert schedule.set_interval(10_000) == 300.0
