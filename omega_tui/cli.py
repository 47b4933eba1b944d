"""`omega-tui` command line: argument parsing, subcommands, exit codes.

Exit codes: 0 success, 1 the command ran but found a problem (e.g. `check`),
2 bad input or a store that cannot be reached/used. Expected failures print
one line, never a traceback, and never a password.
"""

from __future__ import annotations

import argparse
import sys

from omega_tui import __version__
from omega_tui.config import ConfigError, Settings, resolve
from omega_tui.data.connect import StoreError
from omega_tui.masking import mask_dsn

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """An expected failure: printed as one line, exit status 2."""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
    return value


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (flags > environment > config file)")
    group.add_argument("--dsn", help="PostgreSQL DSN (env OMEGA_DSN or POSTGRES_HOST/PORT/DB/USER/PASSWORD)")
    group.add_argument("--redis", dest="redis_url", help="Redis URL (env OMEGA_REDIS_URL or REDIS_HOST/PORT/PASSWORD)")
    group.add_argument("--profile", help="profile from the config file; 'demo' = the servers of `omega-tui demo`")
    group.add_argument("--config", dest="config_path", help="config file (default: user config dir, env OMEGA_TUI_CONFIG)")
    group.add_argument("--connect-timeout", type=_positive_float, help="seconds to wait for a connection (default 5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omega-tui",
        description="Terminal console for the operators of an Omega compute cluster.",
    )
    parser.add_argument("--version", action="version", version=f"omega-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = sub.add_parser("db", help="database schema: migrate, status")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    mig = db_sub.add_parser("migrate", help="create the Omega tables (empty database) and the console's schema")
    _add_store_options(mig)
    mig.add_argument("--no-timescaledb", action="store_true", help="plain PostgreSQL even if TimescaleDB is available")
    mig.add_argument("--retention-days", type=int, help="keep raw metrics this many days (TimescaleDB; default 30)")
    mig.set_defaults(handler=cmd_db_migrate)
    st = db_sub.add_parser("status", help="applied and pending migrations, TimescaleDB or not")
    _add_store_options(st)
    st.set_defaults(handler=cmd_db_status)

    check = sub.add_parser("check", help="connect to both stores and report what is there")
    _add_store_options(check)
    check.set_defaults(handler=cmd_check)

    demo = sub.add_parser("demo", help="run embedded PostgreSQL + Redis with a simulated cluster")
    demo.add_argument("--fresh", action="store_true", help="start from an empty data directory")
    demo.add_argument("--nodes", type=int, default=60, help="simulated nodes (default 60)")
    demo.add_argument("--dir", help="data directory (default: user data dir/demo, env OMEGA_TUI_DEMO_DIR)")
    demo.add_argument("--stop", action="store_true", help="stop the demo servers left running and exit")
    demo.set_defaults(handler=cmd_demo)

    from omega_tui.action_commands import add_action_parsers

    add_action_parsers(sub, _add_store_options)
    return parser


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "connect_timeout", None):
        overrides["connect_timeout"] = args.connect_timeout
    from pathlib import Path

    return resolve(
        dsn=getattr(args, "dsn", None),
        redis_url=getattr(args, "redis_url", None),
        profile=getattr(args, "profile", None),
        config_path=Path(args.config_path) if getattr(args, "config_path", None) else None,
        overrides=overrides,
    )


def _require_dsn(settings: Settings) -> str:
    if not settings.dsn:
        raise CommandError(
            "PostgreSQL: no DSN given (use --dsn, OMEGA_DSN, POSTGRES_* variables, or a config profile)"
        )
    return settings.dsn


def cmd_db_migrate(args: argparse.Namespace) -> int:
    from omega_tui.data.migrate import migrate

    settings = settings_from(args)
    dsn = _require_dsn(settings)
    if args.retention_days is not None and args.retention_days < 1:
        raise CommandError("--retention-days must be at least 1")
    done = migrate(
        dsn,
        use_timescaledb=not args.no_timescaledb,
        raw_retention_days=args.retention_days,
        connect=lambda d, **kw: _pg(d, settings, **kw),
    )
    print(f"migrated {mask_dsn(dsn)}: {len(done)} migration(s) applied" if done else "schema is up to date")
    return EXIT_OK


def _pg(dsn: str, settings: Settings, **kwargs):
    from omega_tui.data.connect import pg_connect

    kwargs.setdefault("connect_timeout", settings.connect_timeout)
    return pg_connect(dsn, **kwargs)


def cmd_db_status(args: argparse.Namespace) -> int:
    from omega_tui.data import migrate as mig

    settings = settings_from(args)
    with _pg(_require_dsn(settings), settings, autocommit=True) as conn:
        st = mig.status(conn)
    print(f"PostgreSQL {st.server_version}")
    print(f"TimescaleDB: {_timescale_word(st)}")
    for m in st.applied:
        print(f"  applied  {m.version:03d} {m.name} ({m.variant}, {m.applied_at:%Y-%m-%d %H:%M:%S})")
    for m in st.pending:
        print(f"  pending  {m.version:03d} {m.name}")
    print(f"schema version {st.version}, {len(st.pending)} pending")
    return EXIT_OK


def _timescale_word(st) -> str:
    if st.timescaledb_installed:
        return "active" + ("" if st.hypertables else " (node_metrics is not a hypertable)")
    return "available, not enabled" if st.timescaledb_available else "no"


def cmd_check(args: argparse.Namespace) -> int:
    from omega_tui.data.store_check import check_stores

    settings = settings_from(args)
    report = check_stores(settings)
    for line in report.lines:
        print(line)
    for problem in report.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return EXIT_PROBLEM if report.problems else EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from omega_tui.demo.run import run_demo

    return run_demo(args)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except (CommandError, ConfigError, StoreError) as exc:
        print(f"omega-tui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
