"""`omega-tui agent`: the node agent from the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import psycopg

from omega_tui.masking import mask_dsn


def agent_command(args: argparse.Namespace) -> int:
    from omega_tui.agent.node_agent import NodeAgent, default_buffer_path
    from omega_tui.agent.sample_buffer import BufferInUse
    from omega_tui.cli import CommandError, _require_dsn, settings_from
    from omega_tui.data.connect import parse_redis_url
    from omega_tui.sim.command import install_stop_signals, restore_signals, say

    settings = settings_from(args)
    dsn = _require_dsn(settings)
    if not settings.redis_url:
        raise CommandError("Redis: no URL given (use --redis, OMEGA_REDIS_URL, REDIS_* variables, or a config profile)")
    try:
        psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        raise CommandError(f"PostgreSQL: malformed DSN {mask_dsn(dsn)}") from None
    parse_redis_url(settings.redis_url)  # a malformed URL is a StoreError: exit 2
    buffer = Path(args.buffer).expanduser() if args.buffer else default_buffer_path()
    try:
        agent = NodeAgent(dsn, settings.redis_url, buffer_path=buffer, interval=args.interval,
                          connect_timeout=min(settings.connect_timeout, args.interval), log=say)
    except BufferInUse as exc:
        raise CommandError(f"agent: {exc}") from None
    except OSError as exc:
        raise CommandError(f"agent: cannot open buffer {buffer}: {exc.strerror or exc}") from None
    say(f"agent: {agent.inventory.hostname} -> {mask_dsn(dsn)} and {mask_dsn(settings.redis_url)},"
        f" every {args.interval:g} s; buffer {buffer}")
    previous = install_stop_signals(agent.stop)
    first = []

    def on_tick(report) -> None:
        if not first:
            first.append(report)
            where = f"node {report.node_id}" if report.node_id else "not registered yet (PostgreSQL unreachable)"
            say(f"agent: first sample taken; {where}")

    try:
        ticks = agent.run(on_tick=on_tick)
        say(f"agent: stopped after {ticks} sample(s); {agent.buffer.unsent_count()} waiting in the buffer")
    finally:
        restore_signals(previous)
        agent.close()
    return 0
