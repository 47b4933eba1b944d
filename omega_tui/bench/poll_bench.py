"""Poll latency, statements, round trips and bytes: the real poller and the naive baseline."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from omega_tui.bench.child_process import child_main, run_child, stores
from omega_tui.bench.naive_poller import NaivePoller
from omega_tui.bench.socket_bytes import pg_fds, redis_fds, total_received
from omega_tui.config import Settings
from omega_tui.data.models import ClusterSnapshot
from omega_tui.data.poller import Poller


@dataclass(frozen=True, slots=True)
class PollFigures:
    polls: int
    median_ms: float
    p95_ms: float
    sql_per_poll: float
    redis_per_poll: float
    bytes_per_poll: float          # median over the measured polls
    first_ms: float | None = None  # ours: the first poll, which loads the short history
    times_ms: tuple[float, ...] = ()   # each poll's, in order (the first ones take in the history's batches)
    # The process's CPU time, all its threads, from the end of one poll to the end of the next: what
    # a poll cost, with what the poller did for it between polls (the read-ahead, history batches),
    # apart from its waits for the servers and for the cores (the machine is shared with the servers).
    cpu_median_ms: float | None = None
    # Ours: the polls after the short history's fill (that took in none of its batches), and their median.
    after_fill_polls: int | None = None
    after_fill_median_ms: float | None = None

    def as_json(self) -> dict:
        return {k: list(value) if isinstance(value := getattr(self, k), tuple) else value for k in self.__slots__}


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (p95 of 30 values is the 29th smallest)."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[min(rank, len(ordered)) - 1]


def _figures(times: list[float], sql: list[int], redis: list[int], received: list[int], first: float | None,
             cpu: list[float], filling: list[bool] | None = None):
    after_fill = None if filling is None else [t for t, fill in zip(times, filling) if not fill]
    return PollFigures(
        polls=len(times),
        median_ms=statistics.median(times),
        p95_ms=percentile(times, 0.95),
        sql_per_poll=statistics.mean(sql),
        redis_per_poll=statistics.mean(redis),
        bytes_per_poll=statistics.median(received),
        first_ms=first,
        times_ms=tuple(round(t, 1) for t in times),
        cpu_median_ms=statistics.median(cpu),
        after_fill_polls=None if after_fill is None else len(after_fill),
        after_fill_median_ms=statistics.median(after_fill) if after_fill else None,
    )


def _pause(seconds: float, stop: threading.Event | None) -> None:
    if stop is not None:
        stop.wait(seconds)
    else:
        time.sleep(seconds)


def measure_ours(settings: Settings, polls: int, every: float, stop: threading.Event | None = None,
                 read_ahead: bool = True) -> tuple[PollFigures, ClusterSnapshot]:
    """`polls` incremental polls of the real poller, one every `every` seconds, after its first poll.

    With `read_ahead` (the console's own setting) a poll's counts include what was read ahead of
    it, which depends on timing; without it they are the same on every run."""
    poller = Poller(settings, read_ahead=read_ahead)
    try:
        started = time.perf_counter()
        snapshot = poller.poll()
        first = (time.perf_counter() - started) * 1000
        _require_healthy(snapshot)
        times, sql, redis, received, cpu, filling = [], [], [], [], [], []
        cpu_mark = time.process_time()
        for _ in range(polls):
            # Bytes from the end of the last poll: what the poller reads between polls (history
            # batches, the read-ahead) counts in the poll that takes it.
            before = total_received(_our_fds(poller))
            _pause(every, stop)
            filling.append(poller.filling_history)
            started = time.perf_counter()
            snapshot = poller.poll()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_mark) * 1000)
            cpu_mark = time.process_time()
            received.append(total_received(_our_fds(poller)) - before)
            sql.append(snapshot.stats.sql_statements)
            redis.append(snapshot.stats.redis_round_trips)
            _require_healthy(snapshot)
        return _figures(times, sql, redis, received, first, cpu, filling), snapshot
    finally:
        poller.close()


def _our_fds(poller: Poller) -> list[int]:
    return pg_fds(poller._conn) + pg_fds(poller._metric_reader.connection) + redis_fds(poller._redis)


def measure_naive(dsn: str, redis_url: str, window: timedelta, polls: int, every: float) -> PollFigures:
    """In the child process of measure_naive_apart()."""
    naive = NaivePoller(dsn, redis_url, window)
    try:
        times, sql, redis, received, cpu = [], [], [], [], []
        for index in range(polls):
            if index:
                time.sleep(every)
            before = total_received(pg_fds(naive.conn) + redis_fds(naive.redis))
            started, cpu_started = time.perf_counter(), time.process_time()
            reading = naive.poll()
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - cpu_started) * 1000)
            received.append(total_received(pg_fds(naive.conn) + redis_fds(naive.redis)) - before)
            sql.append(reading.sql_statements)
            redis.append(reading.redis_round_trips)
        return _figures(times, sql, redis, received, None, cpu)
    finally:
        naive.close()


def measure_naive_apart(dsn: str, redis_url: str, window: timedelta, polls: int, every: float) -> PollFigures:
    """measure_naive() in a process of its own (see child_process.py)."""
    figures = run_child("omega_tui.bench.poll_bench", ["naive", str(window.total_seconds()), str(polls), str(every)],
                        dsn, redis_url, "the naive baseline")
    return PollFigures(**{name: tuple(value) if isinstance(value, list) else value for name, value in figures.items()})


class BenchError(Exception):
    """The bench cannot go on (a store down, a poll failing): one line."""


def _require_healthy(snapshot: ClusterSnapshot) -> None:
    for health in (snapshot.postgres, snapshot.redis):
        if not health.ok:
            raise BenchError(f"the poller could not read {health.store}: {health.reason or health.state.value}")


if __name__ == "__main__" and sys.argv[1] == "naive":
    window_seconds, naive_polls, naive_every = sys.argv[2:5]
    child_main(lambda: measure_naive(*stores(), timedelta(seconds=float(window_seconds)), int(naive_polls),
                                     float(naive_every)).as_json())
