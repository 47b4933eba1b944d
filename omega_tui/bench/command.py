"""`omega-tui bench`: runs every measurement for each cluster size and prints one table.

Embedded mode (the default) starts its own PostgreSQL and Redis in a
temporary directory; for each size it creates a database, backfills it with
the simulator (10 s interval, canonical metrics), vacuums and analyzes it (see
settle()) and keeps the simulator live while measuring, in a process of its
own (as the cluster's writers are), its nodes reporting in five staggered
groups (every node every 10 s, a fifth of them every 2 s, as agents not in
step do).

With --dsn/--redis it measures a real cluster as it is: no backfill, no
simulator, nothing written; the pollers' connections are read-only.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from omega_tui.bench import live_simulator, report
from omega_tui.bench.poll_bench import BenchError, measure_naive_apart, measure_ours
from omega_tui.config import Settings
from omega_tui.sim.durations import format_duration

SIM_INTERVAL = 10.0    # seconds between two samples of a node
SIM_GROUPS = 5         # nodes report in this many groups, one group per 2 s
REFRESH = 2.0          # the console's default refresh, used for the pollers and the terminal


@dataclass
class BenchOptions:
    sizes: list[int]
    history: timedelta
    polls: int = 30
    naive_polls: int = 5
    updates: int = 20
    key_presses: int = 100   # the p95 is the 6th slowest press (of 40 it was the 3rd: two unlucky presses decided it)
    refreshes: int = 20
    seed: int = 1
    naive: bool = True
    refresh: float = REFRESH   # seconds between polls, for both pollers and the console


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure_stores(dsn: str, redis_url: str, options: BenchOptions, *, nodes: int | None,
                   stop: threading.Event | None = None, read_dsns: tuple[str, ...] = ()) -> dict:
    """Every figure against stores that hold a cluster already (nothing is written).

    With read replicas the pollers and the console read them, as the console would.
    """
    from omega_tui.bench.key_latency import key_latency_ms
    from omega_tui.bench.overview_bench import overview_update_ms
    from omega_tui.bench.pty_console import run_in_pty

    settings = Settings(dsn=dsn, redis_url=redis_url, refresh=options.refresh, read_dsns=tuple(read_dsns))
    say(f"  our poller: {options.polls} polls, one every {options.refresh:g} s ...")
    ours, snapshot = measure_ours(settings, options.polls, options.refresh, stop)
    result: dict = {"nodes": nodes if nodes is not None else len(snapshot.nodes), "ours": ours.as_json()}
    if options.naive:
        say(f"  naive baseline: {options.naive_polls} polls ...")
        naive_dsn = read_dsns[0] if read_dsns else dsn
        naive = measure_naive_apart(naive_dsn, redis_url, options.history, options.naive_polls, options.refresh)
        result["naive"] = naive.as_json()
        result["naive_ratio"] = naive.median_ms / ours.median_ms if ours.median_ms else None
    say(f"  overview update: {options.updates} snapshots with 10 % of the nodes changed ...")
    result["overview_update"] = overview_update_ms(snapshot, options.updates)
    say(f"  key press to screen: {options.key_presses} presses while the real poller polls ...")
    result["key_latency"] = key_latency_ms(settings, options.key_presses, options.seed)
    say(f"  the console in a 120x40 pseudo-terminal: {options.refreshes} refreshes ...")
    hostnames = {n.hostname for n in snapshot.nodes if n.hostname}
    with tempfile.TemporaryDirectory(prefix="omega-bench-") as scratch:
        terminal = run_in_pty(dsn, redis_url, hostnames, str(Path(scratch) / "marks"),
                              refreshes=options.refreshes, refresh=options.refresh, read_dsns=read_dsns)
    result["terminal"] = terminal.as_json()
    return result


def settle(dsn: str) -> None:
    """VACUUM (ANALYZE) the backfilled database, as autovacuum has on a cluster that has been running.

    Right after the backfill's hour of rows (13.6 million at 5,000 nodes), autovacuum would
    vacuum and analyze them during the measurements, on the same two cores.
    """
    import psycopg

    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    say(f"  settled (VACUUM ANALYZE) in {time.monotonic() - started:.1f} s")


def _embedded_size(pg, rd, size: int, options: BenchOptions) -> dict:
    import psycopg
    import redis

    from omega_tui.data.migrate import migrate

    database = f"omega_bench_{size}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(database)))
    dsn = pg.dsn_for(database)
    client = redis.Redis.from_url(rd.url)
    client.flushdb()
    client.close()
    live = None
    try:
        migrate(dsn, log=lambda message: None)
        metric_rows, seconds = live_simulator.backfill(dsn, rd.url, nodes=size, interval=SIM_INTERVAL,
                                                       seed=options.seed, history=options.history)
        say(f"  backfill: {metric_rows:,} metric rows in {seconds:.1f} s"
            f" ({metric_rows / seconds if seconds > 0 else 0:,.0f} rows/s)")
        settle(dsn)
        live = live_simulator.start(dsn, rd.url, nodes=size, interval=SIM_INTERVAL, groups=SIM_GROUPS,
                                    seed=options.seed)
        time.sleep(SIM_INTERVAL)   # every node has a live heartbeat before the first poll
        result = measure_stores(dsn, rd.url, options, nodes=size)
        result["metric_rows"] = metric_rows
        return result
    finally:
        if live is not None:
            live_simulator.stop(live)
        with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
            conn.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(database)))


def run_embedded(options: BenchOptions) -> list[dict]:
    from omega_tui.demo.embedded import EmbeddedPostgres, EmbeddedRedis

    root = Path(tempfile.mkdtemp(prefix="omega-bench-servers-"))
    pg = rd = None
    try:
        pg = EmbeddedPostgres(root).start()
        rd = EmbeddedRedis(root).start()
        results = []
        for size in options.sizes:
            say(f"{size:,} nodes, {format_duration(options.history)} of history:")
            results.append(_embedded_size(pg, rd, size, options))
        return results
    finally:
        if pg is not None:
            pg.stop(mode="immediate")
        if rd is not None:
            rd.stop()
        shutil.rmtree(root, ignore_errors=True)


def bench_command(args: argparse.Namespace) -> int:
    from omega_tui.cli import CommandError, _require_dsn, settings_from
    from omega_tui.demo.embedded import EmbeddedServerError

    from omega_tui.garbage_collection import tune_garbage_collector

    options = BenchOptions(sizes=args.nodes, history=args.history, polls=args.polls, naive_polls=args.naive_polls,
                           seed=args.seed, naive=not args.no_naive)
    tune_garbage_collector()   # the pollers measured as the console runs them (the naive one too: same process)
    external = bool(args.dsn or args.redis_url or args.profile)
    started = time.monotonic()
    try:
        if external:
            settings = settings_from(args)
            dsn = _require_dsn(settings)
            if not settings.redis_url:
                raise CommandError("Redis: no URL given (use --redis, OMEGA_REDIS_URL or a config profile)")
            say("measuring the cluster as it is (read-only: no backfill, no simulator):")
            results = [measure_stores(dsn, settings.redis_url, options, nodes=None, read_dsns=settings.read_dsns)]
        else:
            results = run_embedded(options)
    except (BenchError, EmbeddedServerError) as exc:
        raise CommandError(f"bench: {exc}") from None
    print(report.table(results))
    document = {"mode": "external" if external else "embedded", "history": format_duration(args.history),
                "machine": report.machine(), "seconds": round(time.monotonic() - started, 1), "sizes": results}
    if args.json:
        try:
            report.write_json(args.json, document)
        except OSError as exc:
            raise CommandError(f"cannot write {args.json}: {exc.strerror}") from None
        say(f"written to {args.json}")
    return 0

