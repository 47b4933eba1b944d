"""sql/roles.sql: the operator role can act, the read-only role can read and is refused."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from omega_tui.data import actions
from test_actions import ACTOR, allocated, make_cluster  # noqa: E402

ROLES_SQL = Path(__file__).parent.parent / "sql" / "roles.sql"


@pytest.fixture
def logins(dsn):
    """Two login roles, one granted each omega role; dropped afterwards."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(ROLES_SQL.read_text())
        conn.execute(ROLES_SQL.read_text())  # idempotent
        made = {}
        for login, role in (("omega_t_op", "omega_operator"), ("omega_t_ro", "omega_readonly")):
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'pw-t'").format(sql.Identifier(login)))
            conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(login)))
            params = conninfo_to_dict(dsn)
            params.update(user=login, password="pw-t")
            made[role] = make_conninfo(**params)
    yield made
    with psycopg.connect(dsn, autocommit=True) as conn:
        for login in ("omega_t_op", "omega_t_ro"):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def test_operator_role_runs_every_action(dsn, logins, redis_url):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = make_cluster(conn)
    rds = redis.Redis.from_url(redis_url)
    with psycopg.connect(logins["omega_operator"], autocommit=True) as op:
        assert actions.drain_node(op, rds, ACTOR, ids["node"]).result == "ok"
        assert actions.resume_node(op, rds, ACTOR, ids["node"]).result == "ok"
        assert actions.cancel_session(op, rds, ACTOR, ids["running"]).result == "ok"
        assert actions.acknowledge_alert(op, rds, ACTOR, f"event:{ids['event']}").result == "ok"
        assert actions.resolve_alert(op, rds, ACTOR, f"event:{ids['event']}").result == "ok"
        # ...and nothing more: it cannot delete or rewrite inventory.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            op.execute("UPDATE nodes SET hostname = 'x'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            op.execute("DELETE FROM sessions")
    with psycopg.connect(dsn) as conn:
        assert allocated(conn, ids["node"]) == {"cpu": 0.0, "memory": 0.0, "gpu": 0.0}
        assert conn.execute("SELECT count(*) FROM omega_console.audit_log WHERE db_user = 'omega_t_op'").fetchone()[0] == 5


def test_readonly_role_reads_but_cannot_act(dsn, logins, redis_url):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = make_cluster(conn)
    rds = redis.Redis.from_url(redis_url)
    with psycopg.connect(logins["omega_readonly"], autocommit=True) as ro:
        assert ro.execute("SELECT count(*) FROM nodes").fetchone()[0] == 1
        assert ro.execute("SELECT count(*) FROM omega_console.node_metrics_1m").fetchone()[0] == 0
        result = actions.drain_node(ro, rds, ACTOR, ids["node"])
        assert result.result == "refused"
        assert result.message == "permission denied for drain as omega_t_ro; nothing changed"
        assert actions.acknowledge_alert(ro, rds, ACTOR, f"event:{ids['event']}").result == "refused"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "active"
        assert conn.execute("SELECT count(*) FROM omega_console.alert_acks").fetchone()[0] == 0
