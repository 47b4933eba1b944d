#!/usr/bin/env python3
"""Soak test (not part of CI): the console for a long time on a big simulated cluster, through restarts.

Starts its own embedded PostgreSQL and Redis, a simulator of --nodes nodes in a
separate process, and the console headless in this process (the real Poller at
--refresh seconds, cycling through its screens). PostgreSQL and Redis are each
killed and restarted --restarts times, spread over the run. At the end it
reports the console's RSS after warm-up and at the end, the polls, how long each
store took to come back after its restarts, and every unexpected error.

    python scripts/soak.py                      # 30 minutes, 0.5 s refresh, 1000 nodes, 2 restarts each
    python scripts/soak.py --duration 5m --report soak.json

Exit status 0 when RSS grew less than --max-growth (10 %) and nothing unexpected happened.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import psutil
import psycopg

from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data.migrate import migrate
from omega_tui.data.poller import Poller
from omega_tui.demo.embedded import EmbeddedPostgres, EmbeddedRedis
from omega_tui.sim.durations import parse_duration

DOWNTIME_SECONDS = 5.0
SCREEN_SECONDS = 10.0   # the soak switches screens this often, as an operator might


class SoakPoller(Poller):
    """The real Poller, keeping a little about every poll (time, duration, store health)."""

    def __init__(self, settings):
        super().__init__(settings)
        self.polls: list[tuple[float, float, bool, bool, str | None, str | None]] = []

    def poll(self):
        started = time.monotonic()
        snapshot = super().poll()
        self.polls.append((started, time.monotonic() - started, snapshot.postgres.ok, snapshot.redis.ok,
                           snapshot.postgres.reason, snapshot.redis.reason))
        return snapshot


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def restart_plan(duration: float, restarts: int) -> list[tuple[float, str]]:
    """When to restart which store: alternating, evenly spread, away from the ends."""
    events = []
    count = 2 * restarts
    for n in range(count):
        events.append((duration * (n + 1) / (count + 1), "postgres" if n % 2 == 0 else "redis"))
    return events


def start_simulator(dsn: str, redis_url: str, nodes: int, interval: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMEGA_TUI_CONFIG": "/nonexistent/omega-tui.toml"}
    return subprocess.Popen(
        [sys.executable, "-m", "omega_tui", "simulate", "--nodes", str(nodes), "--interval", str(interval),
         "--history", "10m", "--dsn", dsn, "--redis", redis_url],
        stdout=log.open("a"), stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )


async def drive(app: OmegaApp, poller: SoakPoller, args, pg: EmbeddedPostgres, rd: EmbeddedRedis,
                sim_restart, report: dict) -> None:
    duration = args.duration
    plan = restart_plan(duration, args.restarts)
    # RSS "at start" is taken after a warm-up: the same use as the rest of the run (a screen
    # switch every SCREEN_SECONDS, so that each screen's bounded render caches fill as they will),
    # the short history loaded and the overview's sparkline buckets filled (22 buckets of 15 s,
    # 5.5 min). Growth after that is what leaks; a run shorter than ~12 min cannot tell.
    warmup = max(duration * 0.2, min(duration * 0.5, 360.0))
    # ... and after the collector's first full collection: the console makes them rare
    # (garbage_collection.py), so until then cyclic garbage piles up once, to a level it then
    # keeps. Not later than half the run, so that there is a run left to measure.
    full_collections = []
    gc.callbacks.append(lambda phase, info: phase == "stop" and info["generation"] == 2
                        and full_collections.append(time.monotonic()))
    next_sample = 0.0
    async with app.run_test(size=(160, 50)) as pilot:
        started = report["_started_mono"] = time.monotonic()
        screens = ["1", "2", "3", "1"]
        next_key = started + SCREEN_SECONDS
        while True:
            now = time.monotonic() - started
            if now >= duration:
                break
            if now >= next_sample:
                report["rss_samples_mb"].append((round(now), round(rss_mb(), 1)))
                next_sample = now + 30
            if report["rss_start_mb"] is None and now >= warmup and (full_collections or now >= duration * 0.5):
                report["rss_start_mb"] = rss_mb()
                report["rss_start_at_s"] = round(now, 1)
                if args.trace_memory:
                    report["_trace_start"] = tracemalloc.take_snapshot()
            if plan and now >= plan[0][0]:
                _, store = plan.pop(0)
                server = pg if store == "postgres" else rd
                print(f"[{now:7.1f}s] kill {store}", flush=True)
                server.kill()
                await pilot.pause(DOWNTIME_SECONDS)
                server.start()
                back = time.monotonic()
                print(f"[{time.monotonic() - started:7.1f}s] {store} restarted", flush=True)
                report["restarts"].append({"store": store, "at_s": round(now, 1),
                                           "restarted_s": round(back - started, 1), "restarted_mono": back})
                sim_restart()
            if time.monotonic() >= next_key:    # use the console as an operator would
                await pilot.press(screens[0])
                screens.append(screens.pop(0))
                next_key = time.monotonic() + SCREEN_SECONDS
            if not app.is_running:
                report["errors"].append("the console stopped")
                break
            await pilot.pause(0.5)
        report["rss_end_mb"] = rss_mb()
        report["full_collections_at_s"] = [round(t - started) for t in full_collections]
        from omega_tui.widgets.safe_text import _clean
        report["clean_cache_entries"] = _clean.cache_info().currsize   # a bounded cache that fills over hours
        if args.trace_memory and "_trace_start" in report:
            growth = tracemalloc.take_snapshot().compare_to(report.pop("_trace_start"), "lineno")
            report["memory_growth_top"] = [str(stat) for stat in growth[:15]]
        report["errors_seen_by_console"] = app.errors_seen
        report["console_running_at_end"] = app.is_running


def summarise(poller: SoakPoller, report: dict) -> None:
    polls = poller.polls
    durations = sorted(d for _, d, *_ in polls)
    report["polls"] = len(polls)
    if durations:
        report["poll_ms"] = {
            "median": round(statistics.median(durations) * 1000, 1),
            "p95": round(durations[int(len(durations) * 0.95) - 1] * 1000, 1),
            "max": round(durations[-1] * 1000, 1),
        }
    for restart in report["restarts"]:
        back = restart.pop("restarted_mono")
        column = 2 if restart["store"] == "postgres" else 3
        ok = next((started for started, *rest in polls if started >= back and rest[column - 1]), None)
        restart["recovered_after_s"] = round(ok - back, 2) if ok is not None else None
        if ok is None:
            report["errors"].append(f"{restart['store']} never recovered after its restart at {restart['at_s']} s")
    # Store failures outside the outage windows (kill to restart done, plus 2 s to come back) are errors.
    windows = [(r["at_s"], r["restarted_s"] + 2 + (r["recovered_after_s"] or 0)) for r in report["restarts"]]
    first = report.pop("_started_mono", polls[0][0] if polls else 0)   # the time base of at_s and restarted_s
    unexplained = [
        (round(t - first, 1), pg_reason if not pg_ok else redis_reason)
        for t, _, pg_ok, redis_ok, pg_reason, redis_reason in polls
        if (not pg_ok or not redis_ok) and not any(a - 1 <= t - first <= b for a, b in windows)
        and t - first < report["duration_s"] - 1    # the last poll is cancelled by the shutdown
    ]
    if unexplained:
        report["errors"].append(f"{len(unexplained)} poll(s) with a store not OK outside the restarts, "
                                f"first: {unexplained[:3]}")
    if report["errors_seen_by_console"]:
        report["errors"].append(f"{report['errors_seen_by_console']} unexpected error(s) in the console (see its log)")
    start, end = report["rss_start_mb"], report["rss_end_mb"]
    report["rss_growth_percent"] = round((end - start) / start * 100, 1) if start else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="30m", type=lambda v: parse_duration(v).total_seconds(),
                        help="how long (e.g. 30m, 5m, 90s); default 30m")
    parser.add_argument("--refresh", type=float, default=0.5, help="console refresh interval, seconds (0.5)")
    parser.add_argument("--nodes", type=int, default=1000, help="simulated nodes (1000)")
    parser.add_argument("--restarts", type=int, default=2, help="restarts of each store (2)")
    parser.add_argument("--sim-interval", type=float, default=10.0, help="simulator tick, seconds (10)")
    parser.add_argument("--max-growth", type=float, default=10.0, help="allowed RSS growth, percent (10)")
    parser.add_argument("--dir", type=Path, help="where the servers live (default: a temporary directory)")
    parser.add_argument("--report", type=Path, help="also write the report as JSON here")
    parser.add_argument("--trace-memory", action="store_true",
                        help="trace Python allocations (slower) and report where memory grew after warm-up")
    args = parser.parse_args()
    if args.trace_memory:
        tracemalloc.start(5)

    root = args.dir or Path(tempfile.mkdtemp(prefix="omega-soak-"))
    pg = EmbeddedPostgres(root / "pg").start()
    rd = EmbeddedRedis(root / "redis").start()
    sim_log = root / "simulator.log"
    sim = None
    report: dict = {"duration_s": args.duration, "refresh_s": args.refresh, "nodes": args.nodes,
                    "rss_start_mb": None, "rss_samples_mb": [], "restarts": [], "errors": []}
    try:
        with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'omega'").fetchone():
                conn.execute("CREATE DATABASE omega")
        migrate(pg.dsn, log=lambda msg: None)
        print(f"servers in {root}; starting the simulator ({args.nodes} nodes, backfilling 10 min)", flush=True)
        sim = start_simulator(pg.dsn, rd.url, args.nodes, args.sim_interval, sim_log)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:   # wait for the nodes and some live data
            try:
                with psycopg.connect(pg.dsn) as conn:
                    if conn.execute("SELECT count(*) FROM nodes").fetchone()[0] >= args.nodes and \
                            "live:" in sim_log.read_text():
                        break
            except psycopg.Error:
                pass
            time.sleep(1)

        def sim_restart():   # the simulator rides out outages; if it died, start it again
            nonlocal sim
            if sim.poll() is not None:
                report["errors"].append(f"the simulator exited ({sim.returncode}); restarted")
                sim = start_simulator(pg.dsn, rd.url, args.nodes, args.sim_interval, sim_log)

        settings = replace(Settings(), dsn=pg.dsn, redis_url=rd.url, refresh=args.refresh)
        poller = SoakPoller(settings)
        app = OmegaApp(poller, settings)
        app.survive_errors = True
        print(f"console: refresh {args.refresh} s for {args.duration:.0f} s", flush=True)
        try:
            asyncio.run(drive(app, poller, args, pg, rd, sim_restart, report))
        finally:
            poller.close()
        summarise(poller, report)
    finally:
        if sim is not None and sim.poll() is None:
            os.killpg(sim.pid, signal.SIGTERM)
            try:
                sim.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(sim.pid, signal.SIGKILL)
        pg.stop(mode="immediate")
        rd.stop()

    growth = report.get("rss_growth_percent")
    report["pass"] = not report["errors"] and growth is not None and growth < args.max_growth
    text = json.dumps(report, indent=2)
    print(text)
    if args.report:
        args.report.write_text(text + "\n")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
