"""`omega-tui simulate`: the simulator from the command line."""

from __future__ import annotations

import argparse
import signal
import threading
from collections import Counter
from datetime import datetime

from omega_tui.masking import mask_dsn
from omega_tui.sim.durations import format_duration
from omega_tui.sim.simulator import Simulator, TickReport

STATUS_EVERY_SECONDS = 60.0


def say(message: str) -> None:
    print(f"{datetime.now():%H:%M:%S} {message}", flush=True)


class TickStats:
    """Counts ticks and prints a status line about once a minute."""

    def __init__(self, sim: Simulator):
        self.sim = sim
        self.every = max(1, round(STATUS_EVERY_SECONDS / sim.interval))
        self.ticks = 0
        self.seconds: list[float] = []
        self.changes: Counter = Counter()
        self.problems: set[str] = set()

    def add(self, report: TickReport) -> None:
        self.ticks += 1
        self.seconds.append(report.seconds)
        self.changes.update(report.changes)
        # Each problem once when it starts, and a word when the tick is clean again.
        problems = set(report.problems)
        for problem in sorted(problems - self.problems):
            say(f"problem: {problem}")
        if self.problems and not problems:
            say("problems cleared: both stores written again")
        self.problems = problems
        if self.ticks == 1 or self.ticks % self.every == 0:
            sessions = ", ".join(f"{report.sessions.get(s, 0)} {s}"
                                 for s in ("pending", "scheduled", "running", "paused"))
            recent = self.seconds[-self.every:]
            say(f"{report.live_nodes}/{len(self.sim.nodes)} nodes up; sessions: {sessions};"
                f" tick {report.seconds * 1000:.0f} ms (max {max(recent) * 1000:.0f} ms),"
                f" {report.metric_rows} metric rows")

    def summary(self) -> str:
        if not self.seconds:
            return "stopped before the first tick"
        mean = sum(self.seconds) / len(self.seconds)
        done = ", ".join(f"{self.changes[k]} {k}" for k in ("arrived", "completed", "failed") if k in self.changes)
        return (f"stopped after {self.ticks} tick(s): mean {mean * 1000:.0f} ms, max {max(self.seconds) * 1000:.0f} ms"
                + (f"; sessions {done}" if done else ""))


def install_stop_signals(stop) -> dict:
    """SIGINT and SIGTERM call `stop()` (a clean exit) instead of raising; returns what to restore."""
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, lambda *_: stop())
    return previous


def restore_signals(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def simulate_command(args: argparse.Namespace) -> int:
    from omega_tui.cli import CommandError, _require_dsn, settings_from

    settings = settings_from(args)
    dsn = _require_dsn(settings)
    if not settings.redis_url:
        raise CommandError("Redis: no URL given (use --redis, OMEGA_REDIS_URL, REDIS_* variables, or a config profile)")
    sim = Simulator(dsn, settings.redis_url, nodes=args.nodes, users=args.users, interval=args.interval,
                    seed=args.seed, connect_timeout=settings.connect_timeout, log=say)
    previous = {}
    try:
        sim.connect()
        registered = sim.register()
        say(f"cluster: {registered.nodes} nodes ({registered.new_nodes} new), {registered.users} users"
            f" in {mask_dsn(dsn)}")
        if args.history and args.history.total_seconds() > 0:
            say(f"backfilling {format_duration(args.history)} of history ...")
            done = sim.backfill(args.history)
            if done.steps == 0:
                say("backfill: nothing to do (metrics already cover the window)")
            else:
                rollups = f"; rollups refreshed in {done.rollup_seconds:.1f} s" if done.rollup_seconds else ""
                say(f"backfill: {done.metric_rows:,} node_metrics rows in {done.seconds:.1f} s"
                    f" ({done.rows_per_second:,.0f} rows/s), {done.sessions:,} sessions,"
                    f" {done.allocations:,} allocations, {done.events:,} events{rollups}")
        stats = TickStats(sim)
        until = f"for {format_duration(args.duration)}" if args.duration else "until Ctrl-C"
        say(f"live: a tick every {args.interval:g} s {until}; listening on omega:control")
        previous = install_stop_signals(sim.stop)
        sim.run(args.duration, on_tick=stats.add)
        say(stats.summary())
    finally:
        restore_signals(previous)
        sim.close()
    return 0
