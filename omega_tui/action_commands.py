"""CLI verbs for the operator actions: `node drain|resume`, `session cancel`, `alert ack|resolve`.

Confirmation is scaled to risk: draining a node with running sessions or
cancelling a running session asks for its name to be typed; other changes ask
y/N; acknowledging asks nothing. `--yes` skips the prompt; without a terminal
and without `--yes`, the command refuses.

Exit status: 0 done (or already so), 1 refused by the cluster's state (not
found, not allowed), 2 bad input, read-only mode, permission or store failure.
"""

from __future__ import annotations

import argparse
import sys

import psycopg

from omega_tui.data import actions
from omega_tui.data.connect import StoreError, describe_pg_error, pg_connect, redis_connect


def add_action_parsers(sub, add_store_options) -> None:
    node = sub.add_parser("node", help="drain or resume nodes")
    node_sub = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    for verb, text in (("drain", "stop new placements; running sessions finish"), ("resume", "set active again")):
        p = node_sub.add_parser(verb, help=text)
        p.add_argument("targets", nargs="+", metavar="HOST", help="hostname or node id")
        _common(p, add_store_options)
        p.set_defaults(handler=cmd_action, action_name=verb)

    session = sub.add_parser("session", help="cancel sessions")
    session_sub = session.add_subparsers(dest="session_command", metavar="ACTION", required=True)
    p = session_sub.add_parser("cancel", help="cancel and release resources")
    p.add_argument("targets", nargs="+", metavar="ID", help="session id")
    _common(p, add_store_options)
    p.set_defaults(handler=cmd_action, action_name="cancel")

    alert = sub.add_parser("alert", help="acknowledge or resolve alerts")
    alert_sub = alert.add_subparsers(dest="alert_command", metavar="ACTION", required=True)
    for verb, name, text in (("ack", "acknowledge", "mark as seen (held across polls)"),
                             ("resolve", "resolve", "set system_events.resolved_at")):
        p = alert_sub.add_parser(verb, help=text)
        p.add_argument("targets", nargs="+", metavar="ID", help="alert id, e.g. event:<uuid> or unreachable:<node id>")
        _common(p, add_store_options)
        p.set_defaults(handler=cmd_action, action_name=name)


def _common(parser: argparse.ArgumentParser, add_store_options) -> None:
    add_store_options(parser)
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    parser.add_argument("--operator", help="name recorded in the audit trail (default: config, then OS user)")


ACTIONS = {
    "drain": actions.drain_node,
    "resume": actions.resume_node,
    "cancel": actions.cancel_session,
    "acknowledge": actions.acknowledge_alert,
    "resolve": actions.resolve_alert,
}


def _confirm(conn, action: str, target: str, ask=input) -> bool:
    """Ask the operator, scaled to risk; True to go ahead."""
    if action == "acknowledge":
        return True
    typed_name = None
    if action == "drain":
        impact = actions.node_impact(conn, target)
        if impact is None:
            return True  # the action itself reports "not found"/"not unique"
        print(f"Drain {impact['hostname']}: {len(impact['sessions'])} session(s) on it "
              f"({impact['running']} running), {impact['gpu_count'] or 0} GPU(s).")
        if impact["running"]:
            typed_name = impact["hostname"]
    elif action == "cancel":
        impact = actions.session_impact(conn, target)
        if impact is None:
            return True
        runtime = str(impact["runtime"]).split(".")[0] if impact["runtime"] else "not started"
        print(f"Cancel {impact['session_name']} of {impact['username'] or '?'} ({impact['status']}, ran {runtime}).")
        if impact["status"] == "running":
            typed_name = impact["session_name"]
    else:
        print(f"{action.capitalize()} {target}.")
    try:
        if typed_name is not None:
            return ask(f"Type {typed_name!r} to confirm: ").strip() == typed_name
        return ask("Proceed? [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def cmd_action(args: argparse.Namespace) -> int:
    from omega_tui.cli import CommandError, settings_from

    settings = settings_from(args)
    action = args.action_name
    if settings.read_only:
        raise CommandError(f"read-only mode{f' (profile {settings.profile})' if settings.profile else ''}: {action} refused")
    if not settings.dsn:
        raise CommandError("PostgreSQL: no DSN given (use --dsn, OMEGA_DSN, POSTGRES_* variables, or a config profile)")
    if not args.yes and action != "acknowledge" and not sys.stdin.isatty():
        raise CommandError(f"{action}: no terminal to confirm on; pass --yes to act without confirmation")

    actor = actions.current_actor(args.operator or settings.operator)
    conn = pg_connect(settings.dsn, connect_timeout=settings.connect_timeout, autocommit=True)
    redis_client, redis_error = None, None
    if settings.redis_url:
        try:
            redis_client = redis_connect(settings.redis_url, connect_timeout=settings.connect_timeout)
        except StoreError as exc:
            redis_error = str(exc)
    worst = 0
    try:
        for target in args.targets:
            if conn.closed or conn.broken:
                raise StoreError("PostgreSQL", f"connection lost; {target} and the targets after it not tried")
            if not args.yes and not _confirm(conn, action, target):
                print(f"{target}: not confirmed, nothing changed")
                worst = max(worst, 1)
                continue
            result = ACTIONS[action](conn, redis_client, actor, target)
            line = result.message
            if result.result == actions.OK and redis_error and result.notified is False:
                line += f"; Redis not told ({redis_error}): the database is right"
            print(f"{result.result}: {line}", file=sys.stdout if result.ok else sys.stderr)
            if not result.ok:
                worst = max(worst, 2 if "permission denied" in result.message or result.result == actions.FAILED else 1)
    except psycopg.Error as exc:   # reading what to confirm: nothing was changed yet
        raise StoreError("PostgreSQL", describe_pg_error(exc, settings.dsn)) from None
    finally:
        conn.close()
        if redis_client is not None:
            redis_client.close()
    return worst
