"""`omega-tui demo`: embedded PostgreSQL + Redis, migrated, ready for the console."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from omega_tui.config import demo_dir
from omega_tui.demo.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError
from omega_tui.masking import mask_dsn


def start_servers(root: Path) -> tuple[EmbeddedPostgres, EmbeddedRedis]:
    """Start (or adopt) the demo servers in `root` and migrate the database."""
    import psycopg

    from omega_tui.data.migrate import migrate

    pg = EmbeddedPostgres(root).start()
    rd = EmbeddedRedis(root).start()
    with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (pg.database,)).fetchone():
            conn.execute(f"CREATE DATABASE {pg.database}")  # fixed name, not a value
    migrate(pg.dsn, log=lambda msg: None)
    return pg, rd


def run_demo(args: argparse.Namespace) -> int:
    from omega_tui.cli import CommandError

    root = Path(args.dir) if args.dir else demo_dir()
    if args.stop:
        EmbeddedPostgres(root).stop()
        EmbeddedRedis(root).stop()
        print(f"demo servers in {root} stopped")
        return 0
    if args.fresh and root.exists():
        EmbeddedPostgres(root).stop()
        EmbeddedRedis(root).stop()
        shutil.rmtree(root)
    try:
        pg, rd = start_servers(root)
    except EmbeddedServerError as exc:
        raise CommandError(f"demo: {exc}") from None
    print(f"PostgreSQL {mask_dsn(pg.dsn)} and Redis {mask_dsn(rd.url)} are running, data in {root}")
    print("The simulator and the console screens are not built yet: the demo will fill this")
    print(f"cluster with about {args.nodes} simulated nodes and open the console on it.")
    print("Meanwhile: omega-tui check --profile demo   |   stop with: omega-tui demo --stop")
    return 0
