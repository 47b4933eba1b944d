"""Actions while their store fails: refused with a reason, nothing half-done, nothing told to Redis."""

from __future__ import annotations

import time

import psycopg
import pytest
import redis

from omega_tui.data import actions
from omega_tui.data.actions import Actor
from test_actions import audit_rows, make_cluster
from test_cli import assert_one_line_failure, closed_port, run_cli

ACTOR = Actor(operator="ops2", os_user="alice", os_host="console-1")
SECRET = "hunter2-Secret-pw"


@pytest.fixture
def conn(dsn):
    with psycopg.connect(dsn, autocommit=True) as c:
        yield c


@pytest.fixture
def control(redis_url):
    """A subscriber on omega:control: what the actions told the cluster."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(actions.CONTROL_CHANNEL)
    pubsub.get_message(timeout=1)   # the subscribe confirmation

    def messages(wait: float = 0.3) -> list:
        got, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.05)
            if message:
                got.append(message["data"])
        return got

    yield messages
    pubsub.close()
    client.close()


def node_status(dsn: str) -> str:
    with psycopg.connect(dsn) as c:
        return c.execute("SELECT status FROM nodes WHERE hostname = 'gpu-a100-001'").fetchone()[0]


def test_cli_drain_with_postgres_down_is_one_line_exit_2_and_tells_nobody(dsn, conn, redis_url, control):
    make_cluster(conn)
    dead = f"postgresql://omega:{SECRET}@127.0.0.1:{closed_port()}/omega"
    result = run_cli("node", "drain", "gpu-a100-001", "--yes", "--dsn", dead, "--redis", redis_url)
    assert_one_line_failure(result, "PostgreSQL", "refused", secret=SECRET)
    assert node_status(dsn) == "active"
    assert control() == []


def test_connection_lost_before_the_action_changes_nothing(dsn, conn, redis_url, control):
    make_cluster(conn)
    action_conn = psycopg.connect(dsn, autocommit=True)
    rds = redis.Redis.from_url(redis_url)
    try:
        pid = action_conn.info.backend_pid
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        result = actions.drain_node(action_conn, rds, ACTOR, "gpu-a100-001")
    finally:
        action_conn.close()
        rds.close()
    assert result.result == actions.FAILED and not result.ok
    assert result.message.startswith("PostgreSQL: ") and result.message.endswith("nothing changed")
    assert "\n" not in result.message
    assert node_status(dsn) == "active"
    assert audit_rows(conn) == []
    assert control() == []


def test_statement_timeout_in_the_middle_of_an_action_rolls_all_of_it_back(dsn, conn, redis_url, control):
    """The node row is updated, then writing the audit row hangs on a lock until the timeout."""
    make_cluster(conn)
    locker = psycopg.connect(dsn)
    locker.execute("LOCK TABLE omega_console.audit_log IN ACCESS EXCLUSIVE MODE")
    action_conn = psycopg.connect(dsn, autocommit=True, options="-c statement_timeout=300")
    rds = redis.Redis.from_url(redis_url)
    try:
        result = actions.drain_node(action_conn, rds, ACTOR, "gpu-a100-001")
    finally:
        locker.rollback()
        locker.close()
        action_conn.close()
        rds.close()
    assert result.result == actions.FAILED
    assert "statement timeout" in result.message and "nothing changed" in result.message
    assert node_status(dsn) == "active"
    with psycopg.connect(dsn) as c:
        assert c.execute("SELECT count(*) FROM system_events WHERE event_type = 'node_drain'").fetchone()[0] == 0
    assert control() == []


def test_cli_reports_a_failed_action_with_exit_2(dsn, conn, redis_url):
    """A failure inside the action (here: the CLI's 2 s statement timeout) is one line on stderr, exit 2."""
    make_cluster(conn)
    locker = psycopg.connect(dsn)
    locker.execute("LOCK TABLE omega_console.audit_log IN ACCESS EXCLUSIVE MODE")
    try:
        result = run_cli("node", "drain", "gpu-a100-001", "--yes", "--redis", redis_url,
                         env={"OMEGA_DSN": dsn})
    finally:
        locker.rollback()
        locker.close()
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("failed: PostgreSQL: ") and "nothing changed" in result.stderr
    assert node_status(dsn) == "active"
