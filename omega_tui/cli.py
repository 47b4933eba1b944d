"""`omega-tui` command line: argument parsing, subcommands, exit codes.

Exit codes: 0 success, 1 the command ran but found a problem (e.g. `check`),
2 bad input or a store that cannot be reached/used. Expected failures print
one line, never a traceback, and never a password.
"""

from __future__ import annotations

import argparse
import sys

from omega_tui import __version__
from omega_tui.config import DEFAULT_THEME, ConfigError, Settings, resolve
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
    group.add_argument("--redis", dest="redis_url",
                       help="Redis URL, or redis+cluster://HOST:PORT,... for a Redis Cluster"
                            " (env OMEGA_REDIS_URL or REDIS_HOST/PORT/PASSWORD)")
    group.add_argument("--profile", help="profile from the config file; 'demo' = the servers of `omega-tui demo`")
    group.add_argument("--config", dest="config_path", help="config file (default: user config dir, env OMEGA_TUI_CONFIG)")
    group.add_argument("--connect-timeout", type=_positive_float, help="seconds to wait for a connection (default 5)")


def _add_replica_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("read replicas (polls and charts; actions always use --dsn)")
    group.add_argument("--read-dsn", dest="read_dsns", action="append", metavar="DSN",
                       help="a read replica; repeat for more, the first healthy one is read (env OMEGA_READ_DSN,"
                            " one per line; profile key read_dsn)")
    group.add_argument("--replica-max-lag", type=_positive_float, metavar="SECONDS",
                       help="mark the data stale when the replica is further behind (default 30)")
    group.add_argument("--replica-fallback", choices=("fallback", "stay-stale"),
                       help="when every replica is down: read the primary (fallback, the default) or show"
                            " the last data as stale (stay-stale)")


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
    _add_replica_options(st)
    st.set_defaults(handler=cmd_db_status)

    check = sub.add_parser("check", help="connect to both stores and report what is there")
    _add_store_options(check)
    _add_replica_options(check)
    check.set_defaults(handler=cmd_check)

    demo = sub.add_parser("demo", help="run embedded PostgreSQL + Redis with a simulated cluster")
    demo.add_argument("--fresh", action="store_true", help="start from an empty data directory")
    demo.add_argument("--nodes", type=int, default=60, help="simulated nodes (default 60)")
    demo.add_argument("--dir", help="data directory (default: user data dir/demo, env OMEGA_TUI_DEMO_DIR)")
    demo.add_argument("--stop", action="store_true", help="stop the demo servers left running and exit")
    demo.add_argument("--history", type=_duration, default="1h", help="past to backfill first (default 1h; 0 for none)")
    demo.add_argument("--seed", type=int, help="make the simulated cluster reproducible")
    demo.set_defaults(handler=cmd_demo)
    _add_writer_parsers(sub)

    from omega_tui.action_commands import add_action_parsers

    add_action_parsers(sub, _add_store_options)
    _add_console_parsers(sub)
    _add_bench_parser(sub)
    return parser


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.strip().replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(f"expected node counts like 100,1000,5000, not {text!r}")
    return sizes


def _add_bench_parser(sub) -> None:
    bench = sub.add_parser(
        "bench", help="measure the poller, the screens and the terminal output at several cluster sizes",
        description="Embedded servers by default (a simulated cluster per size); with --dsn/--redis, measure"
                    " a real cluster read-only, writing nothing.")
    _add_store_options(bench)
    bench.add_argument("--nodes", type=_sizes, default="100,1000,5000", metavar="N,N,...",
                       help="cluster sizes to simulate (default 100,1000,5000)")
    bench.add_argument("--history", type=_duration, default="1h", help="history to backfill first (default 1h)")
    bench.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    bench.add_argument("--polls", type=_positive_int, default=30, help="polls of our poller per size (default 30)")
    bench.add_argument("--naive-polls", type=_positive_int, default=5,
                       help="polls of the naive baseline per size (default 5)")
    bench.add_argument("--no-naive", action="store_true",
                       help="skip the naive baseline (it runs KEYS, which blocks a production Redis)")
    bench.add_argument("--seed", type=int, default=1, help="simulated cluster (default 1)")
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from omega_tui.bench.command import bench_command

    return bench_command(args)


def _duration(text: str):
    from omega_tui.sim.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _add_writer_parsers(sub) -> None:
    """`simulate` and `agent`: the programs that write a cluster's data as Omega does."""
    sim = sub.add_parser("simulate", help="run a simulated Omega cluster into PostgreSQL and Redis")
    _add_store_options(sim)
    sim.add_argument("--nodes", type=_positive_int, default=60, help="simulated nodes (default 60)")
    sim.add_argument("--users", type=_positive_int, default=24, help="simulated users (default 24)")
    sim.add_argument("--history", type=_duration, help="backfill this much past first, e.g. 6h")
    sim.add_argument("--interval", type=_positive_float, default=5.0, help="seconds between ticks (default 5)")
    sim.add_argument("--duration", type=_duration, help="stop after this long, e.g. 15m (default: until Ctrl-C)")
    sim.add_argument("--seed", type=int, help="make the run reproducible")
    sim.set_defaults(handler=cmd_simulate)

    agent = sub.add_parser("agent", help="make this host a node: psutil samples into PostgreSQL and Redis")
    _add_store_options(agent)
    agent.add_argument("--interval", type=_positive_float, default=5.0, help="seconds between samples (default 5)")
    agent.add_argument("--buffer", metavar="FILE", help="local SQLite buffer (default: user state dir)")
    agent.set_defaults(handler=cmd_agent)


def cmd_simulate(args: argparse.Namespace) -> int:
    from omega_tui.sim.command import simulate_command

    return simulate_command(args)


def cmd_agent(args: argparse.Namespace) -> int:
    from omega_tui.agent.command import agent_command

    return agent_command(args)


def _terminal_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit() and int(width) >= 20 and int(height) >= 5):
        raise argparse.ArgumentTypeError(f"expected COLUMNSxLINES, e.g. 120x40, not {text!r}")
    return int(width), int(height)


def _add_console_parsers(sub) -> None:
    console = sub.add_parser("console", help="open the console (the default command)")
    _add_store_options(console)
    _add_replica_options(console)
    console.add_argument("--refresh", type=_positive_float, metavar="SECONDS", help="seconds between polls (default 2)")
    console.add_argument("--theme", help="omega-dark (default), omega-light, omega-high-contrast, or a user theme")
    console.add_argument("--fixed-data", action="store_true", help="made-up data instead of the stores, to try the screens")
    console.add_argument("--read-only", action="store_true",
                         help="no action keys (drain, cancel, acknowledge...); also profile key read_only")
    console.set_defaults(handler=cmd_console)

    shot = sub.add_parser("snapshot", help="render one console screen to an SVG file, headless, and exit")
    _add_store_options(shot)
    _add_replica_options(shot)
    shot.add_argument("--screen", default="overview", metavar="SCREEN",
                      help="overview (default), sessions, alerts, audit, or node:HOSTNAME")
    shot.add_argument("--out", required=True, metavar="FILE.svg", help="where to write the SVG")
    shot.add_argument("--size", type=_terminal_size, default=(120, 40), metavar="COLSxLINES",
                      help="terminal size (default 120x40)")
    shot.add_argument("--theme", help="theme name (default: the configured one)")
    shot.add_argument("--fixed-data", action="store_true", help="made-up data instead of the stores")
    shot.set_defaults(handler=cmd_snapshot)


def settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "connect_timeout", None):
        overrides["connect_timeout"] = args.connect_timeout
    for name in ("read_dsns", "replica_max_lag", "replica_fallback"):
        if getattr(args, name, None):
            overrides[name] = getattr(args, name)
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
    if settings.read_dsns:
        from omega_tui.data.read_replicas import replica_status

        for dsn in settings.read_dsns:
            try:
                print(replica_status(dsn, connect_timeout=settings.connect_timeout))
            except StoreError as exc:
                print(f"problem: {exc}", file=sys.stderr)
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


def _console_source(args: argparse.Namespace, settings: Settings):
    """FixedSource with --fixed-data, else the real Poller (imported only now)."""
    if getattr(args, "fixed_data", False):
        from omega_tui.fixed_source import FixedSource

        return FixedSource.live()
    _require_dsn(settings)
    try:
        from omega_tui.data.poller import Poller
    except ImportError as exc:
        raise CommandError(f"the console's data poller is not available ({exc})") from None
    return Poller(settings, read_ahead=True)


def check_theme(theme: str) -> None:
    """A theme other than the bundled default is checked before anything is polled."""
    if theme != DEFAULT_THEME:
        from omega_tui.theme_files import ThemeError, check_theme_name

        try:
            check_theme_name(theme)
        except ThemeError as exc:
            raise CommandError(str(exc)) from None


def cmd_console(args: argparse.Namespace) -> int:
    from dataclasses import replace

    settings = settings_from(args)
    if args.refresh:
        settings = replace(settings, refresh=args.refresh)
    if args.read_only:
        settings = replace(settings, read_only=True)
    check_theme(args.theme or settings.theme)
    source = _console_source(args, settings)
    if not args.fixed_data:
        from omega_tui.first_poll import FirstPollAhead
        from omega_tui.garbage_collection import tune_garbage_collector

        tune_garbage_collector()   # before the first poll, which builds most of the heap
        source = FirstPollAhead(source)   # polls while Textual is imported and the first screen built
    actions = None
    if not args.fixed_data and not settings.read_only:
        from omega_tui.data.action_runner import ActionRunner

        actions = ActionRunner(settings)
    from omega_tui.app import run_console
    from omega_tui.theme_files import ThemeError

    try:
        return run_console(settings, theme=args.theme, source=source, actions=actions)
    except ThemeError as exc:
        raise CommandError(str(exc)) from None


def cmd_snapshot(args: argparse.Namespace) -> int:
    from pathlib import Path

    settings = settings_from(args)
    check_theme(args.theme or settings.theme)
    source = _console_source(args, settings)
    from omega_tui.app import ScreenshotError, screenshot
    from omega_tui.theme_files import ThemeError

    try:
        svg = screenshot(source, settings, args.screen, args.size, theme=args.theme)
    except (ThemeError, ScreenshotError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        source.close()
    try:
        Path(args.out).write_text(svg, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {args.out}: {exc.strerror}") from None
    print(f"{args.screen} ({args.size[0]}x{args.size[1]}) written to {args.out}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "console")  # no command: open the console (with the options given)
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
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error worth a traceback.
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
