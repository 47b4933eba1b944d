"""`omega-tui demo`: embedded PostgreSQL + Redis, a simulated cluster with its
history, this host as a real node (the agent), and the console on top.

The servers stay up after the demo ends (`omega-tui demo --stop` stops them);
the simulator and the agent run only while the demo runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import signal
import threading
from datetime import datetime, timedelta
from pathlib import Path

from omega_tui.config import demo_dir
from omega_tui.demo.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError
from omega_tui.masking import mask_dsn


def start_servers(root: Path) -> tuple[EmbeddedPostgres, EmbeddedRedis]:
    """Start (or adopt) the demo servers in `root` and migrate the database."""
    import psycopg
    import psycopg.sql

    from omega_tui.data.migrate import migrate

    pg = EmbeddedPostgres(root).start()
    rd = EmbeddedRedis(root).start()
    with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg.database,)).fetchone():
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(pg.database)))
    migrate(pg.dsn, log=lambda msg: None)
    return pg, rd


def run_demo(args: argparse.Namespace) -> int:
    from omega_tui.cli import CommandError, check_theme

    root = Path(args.dir) if args.dir else demo_dir()
    if args.stop:
        EmbeddedPostgres(root).stop()
        EmbeddedRedis(root).stop()
        print(f"demo servers in {root} stopped")
        return 0
    check_theme(configured_theme())   # a theme that does not exist: said now, not after the backfill
    if args.fresh and root.exists():
        EmbeddedPostgres(root).stop()
        EmbeddedRedis(root).stop()
        shutil.rmtree(root)
    try:
        pg, rd = start_servers(root)
    except EmbeddedServerError as exc:
        raise CommandError(f"demo: {exc}") from None
    print(f"PostgreSQL {mask_dsn(pg.dsn)} and Redis {mask_dsn(rd.url)} are running, data in {root}")
    return run_live_cluster(args, root, pg, rd)


class DemoLog:
    """The simulator's and agent's lines: to a file always, to the terminal until the console opens."""

    def __init__(self, path: Path):
        self.path = path
        self.echo = True
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8")

    def write(self, message: str) -> None:
        line = f"{datetime.now():%H:%M:%S} {message}"
        with self._lock:
            if self._file.closed:  # a thread that outlived the demo's stop
                return
            self._file.write(line + "\n")
            self._file.flush()
            if self.echo:
                print(line, flush=True)

    def close(self) -> None:
        self._file.close()


class LiveCluster:
    """The simulator and the agent, each ticking in its own thread until stopped."""

    def __init__(self, sim, agent, log: DemoLog):
        self.sim = sim
        self.agent = agent
        self.log = log
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=("simulator", sim.run),
                                         name="omega-demo-simulator", daemon=True)]
        if agent is not None:
            self.threads.append(threading.Thread(target=self._run, args=("agent", agent.run),
                                                 name="omega-demo-agent", daemon=True))

    def _run(self, what: str, run) -> None:
        # A crash goes to the log file: a traceback printed over the console would garble it.
        try:
            run(stop=self.stop_event)
        except Exception:
            import traceback

            self.log.write(f"the {what} stopped:\n{traceback.format_exc()}")

    def start(self) -> "LiveCluster":
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stop_event.set()
        self.sim.stop()
        if self.agent is not None:
            self.agent.stop()
        for thread in self.threads:
            thread.join(timeout=15)


def run_live_cluster(args: argparse.Namespace, root: Path, pg, rd) -> int:
    from omega_tui.agent.node_agent import NodeAgent
    from omega_tui.agent.sample_buffer import BufferInUse
    from omega_tui.cli import CommandError
    from omega_tui.data.connect import StoreError
    from omega_tui.sim import Simulator
    from omega_tui.sim.durations import format_duration

    log = DemoLog(root / "demo.log")
    sim = Simulator(pg.dsn, rd.url, nodes=args.nodes, seed=args.seed, log=log.write)
    agent = live = None
    try:
        registered = sim.register()
        print(f"cluster: {registered.nodes} simulated nodes ({registered.new_nodes} new), {registered.users} users")
        history = args.history or timedelta(0)
        if history.total_seconds() > 0:
            done = sim.backfill(history)
            if done.steps:
                print(f"history: {format_duration(history)} backfilled, {done.metric_rows:,} metric rows in"
                      f" {done.seconds:.1f} s ({done.rows_per_second:,.0f} rows/s), {done.sessions:,} sessions,"
                      f" {done.events:,} events")
            else:
                print("history: already there from an earlier run")
        try:
            agent = NodeAgent(pg.dsn, rd.url, buffer_path=root / "agent" / "buffer.sqlite3", log=log.write)
        except BufferInUse:
            print("agent: another demo already reports this host; not starting a second agent")
        live = LiveCluster(sim, agent, log).start()
        host = f", and this host ({agent.inventory.hostname}) as a real node" if agent else ""
        print(f"live: {registered.nodes} simulated nodes ticking every {sim.interval:g} s{host}; log in {log.path}")
        return open_console(pg, rd, root, log, live.stop_event)
    except StoreError as exc:
        raise CommandError(f"demo: {exc}") from None
    finally:
        if live is not None:
            live.stop()
        sim.close()
        if agent is not None:
            agent.close()
        log.close()


def open_console(pg, rd, root: Path, log: DemoLog, stop: threading.Event) -> int:
    """THE place where the demo opens the console. Until `omega_tui.app.run_console`
    exists, the demo says how to look at the cluster and waits for Ctrl-C."""
    run_console = None
    if importlib.util.find_spec("omega_tui.app") is not None:
        try:
            from omega_tui.app import run_console
        except ImportError as exc:
            print(f"(the console cannot open yet: {exc})")
    if run_console is not None:
        log.echo = False  # the console owns the terminal now
        return run_console(demo_settings(pg, rd))
    return wait_for_ctrl_c(stop, root)


def configured_theme() -> str:
    from omega_tui.config import DEFAULT_THEME, ConfigError, resolve

    try:
        return resolve().theme
    except ConfigError:   # the config file is ignored (said when the console opens)
        return DEFAULT_THEME


def demo_settings(pg, rd):
    """The user's configuration (theme, thresholds, keys), pointed at the demo servers."""
    from omega_tui.config import ConfigError, Settings, resolve

    try:
        return resolve(dsn=pg.dsn, redis_url=rd.url)
    except ConfigError as exc:
        print(f"(config file ignored: {exc})")
        return Settings(dsn=pg.dsn, redis_url=rd.url)


def wait_for_ctrl_c(stop: threading.Event, root: Path) -> int:
    custom = "" if root == demo_dir() else f"OMEGA_TUI_DEMO_DIR={root} "
    print(f"Look at it with: {custom}omega-tui check --profile demo")
    print("Ctrl-C stops the simulator and the agent; the servers keep running (omega-tui demo --stop).")
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    print("stopping the simulator and the agent ...")
    return 0
