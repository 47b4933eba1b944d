"""The console's ActionRunner: its own connection, a re-check when no name was typed, clear failures."""

from __future__ import annotations

from dataclasses import replace

import psycopg

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data.action_runner import ActionRunner
from omega_tui.data.actions import Actor

ACTOR = Actor("ops1", "ops1", "console-t")


def test_a_session_that_started_running_since_the_dialog_is_not_cancelled_without_its_name(dsn, redis_url):
    with cd.connect(dsn) as conn:
        user = cd.add_user(conn)
        node = cd.add_node(conn, "cmp-1")
        session = cd.add_session(conn, user, "job-1", status="pending")
    runner = ActionRunner(replace(Settings(), dsn=dsn, redis_url=redis_url), actor=ACTOR)
    try:
        with cd.connect(dsn) as conn:   # the scheduler starts it while the operator reads the dialog
            conn.execute("UPDATE sessions SET status = 'running', start_time = now(), scheduled_node_id = %s"
                         " WHERE session_id = %s", (node, session))
        refused = runner.run("cancel", session, typed_name=False)
        assert refused.result == "refused" and refused.message == "job-1 is running now: nothing changed, confirm again"
        drained = runner.run("drain", node, typed_name=False)
        assert drained.result == "refused" and "cmp-1 has 1 running session(s) now" in drained.message
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT status FROM sessions").fetchone()[0] == "running"
            assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "active"
        done = runner.run("cancel", session, typed_name=True)          # the name was typed
        assert done.result == "ok" and done.notified is True
    finally:
        runner.close()


def test_an_unreachable_database_is_a_result_not_an_exception():
    settings = replace(Settings(), dsn="postgresql://nobody:secret@127.0.0.1:1/omega", redis_url=None,
                       connect_timeout=1.0)
    runner = ActionRunner(settings, actor=ACTOR)
    result = runner.run("drain", "cmp-1")
    assert result.result == "failed" and result.message.startswith("drain not done: PostgreSQL: ")
    assert "secret" not in result.message
    read_only = ActionRunner(replace(settings, read_only=True), actor=ACTOR)
    assert read_only.run("drain", "cmp-1").message == "read-only mode: drain refused"
