"""The CLI against real servers: success output, and one-line failures with exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from omega_tui.cli import main


def run_cli(*args: str, env: dict | None = None, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `python -m omega_tui` as a user would, with no config file around."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OMEGA_", "POSTGRES_", "REDIS_"))}
    full_env["OMEGA_TUI_CONFIG"] = "/nonexistent/omega-tui.toml"
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "omega_tui", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def with_password(dsn: str, password: str) -> str:
    params = conninfo_to_dict(dsn)
    params["password"] = password
    return make_conninfo(**params)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_one_line_failure(result: subprocess.CompletedProcess, *needles: str, secret: str | None = None):
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    if secret:
        assert secret not in result.stderr and secret not in result.stdout


def test_migrate_status_and_check_report_both_stores(empty_dsn, redis_url):
    result = run_cli("db", "migrate", "--dsn", empty_dsn)
    assert result.returncode == 0, result.stderr
    assert "4 migration(s) applied" in result.stdout

    status = run_cli("db", "status", "--dsn", empty_dsn)
    assert status.returncode == 0, status.stderr
    with psycopg.connect(empty_dsn) as conn:   # (OMEGA_TEST_DSN may be a TimescaleDB server)
        timescaledb = conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]
    assert ("TimescaleDB: active" if timescaledb else "TimescaleDB: no") in status.stdout
    assert "applied  002 omega_tables (postgres" in status.stdout
    assert "0 pending" in status.stdout

    with psycopg.connect(empty_dsn) as conn:
        node_id = conn.execute(
            "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
            " VALUES ('n1', '10.0.0.1', 'compute', 8, 32, 100) RETURNING node_id"
        ).fetchone()[0]
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set(f"node:heartbeat:{node_id}", '{"timestamp": 0, "status": "active", "load": 0.1}', ex=30)
    client.set("node:heartbeat:not-in-postgres", "{}", ex=30)

    check = run_cli("check", "--dsn", empty_dsn, "--redis", redis_url)
    assert check.returncode == 0, check.stderr
    assert "PostgreSQL 1" in check.stdout and "Redis " in check.stdout
    assert "nodes: 1; sessions: 0" in check.stdout
    assert "heartbeat keys: 1 of 1 known nodes, 1 from nodes not in PostgreSQL" in check.stdout
    pg_password = conninfo_to_dict(empty_dsn).get("password")
    if pg_password:
        assert pg_password not in check.stdout + check.stderr
        assert "***" in check.stdout


def test_check_with_pending_migrations_exits_1(empty_dsn, redis_url):
    result = run_cli("check", "--dsn", empty_dsn, "--redis", redis_url)
    assert result.returncode == 1
    assert "migration(s) pending" in result.stderr


def test_wrong_password_is_one_line_naming_postgres(empty_dsn, redis_url):
    dsn = with_password(empty_dsn, "definitely-wrong-pw")
    if conninfo_to_dict(empty_dsn).get("password") is None:
        pytest.skip("external test server without password auth")
    result = run_cli("db", "status", "--dsn", dsn)
    assert_one_line_failure(result, "PostgreSQL", "password authentication failed", secret="definitely-wrong-pw")


def test_unreachable_host_fails_fast_with_exit_2():
    port = closed_port()
    result = run_cli("check", "--dsn", f"postgresql://u:s3cretpw@127.0.0.1:{port}/x", "--redis", f"redis://:r3dispw@127.0.0.1:{port}/0")
    assert_one_line_failure(result, "PostgreSQL: Connection refused", "Redis:", secret="s3cretpw")
    assert "r3dispw" not in result.stderr


def test_silent_server_hits_the_connect_timeout():
    """A host that accepts TCP but never answers: the connect timeout fires."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        result = run_cli("db", "status", "--dsn", f"postgresql://u@127.0.0.1:{port}/x", "--connect-timeout", "1")
        elapsed = time.monotonic() - started
    finally:
        listener.close()
    assert_one_line_failure(result, "PostgreSQL", "timeout")
    assert elapsed < 15  # bounded by the timeout, not hanging


def test_malformed_dsn_and_redis_url(redis_url):
    result = run_cli("db", "status", "--dsn", "host=localhost password=hunter22 nonsense")
    assert_one_line_failure(result, "PostgreSQL: malformed DSN", secret="hunter22")
    result = run_cli("check", "--dsn", "postgresql://127.0.0.1:1/x", "--redis", "http://:pw123456@x")
    assert_one_line_failure(result, "Redis: malformed URL", secret="pw123456")


def test_database_without_create_permission(empty_dsn, servers):
    role = "omega_t_nocreate"
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'nocreate-pw'").format(sql.Identifier(role)))
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("REVOKE CREATE ON DATABASE {} FROM PUBLIC").format(sql.Identifier(conn.info.dbname)))
    params = conninfo_to_dict(empty_dsn)
    params.update(user=role, password="nocreate-pw")
    try:
        result = run_cli("db", "migrate", "--dsn", make_conninfo(**params))
        assert_one_line_failure(result, "PostgreSQL", "permission denied", secret="nocreate-pw")
        with psycopg.connect(empty_dsn) as conn:
            assert conn.execute("SELECT to_regclass('users')").fetchone()[0] is None
    finally:
        with psycopg.connect(empty_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_no_dsn_anywhere_says_how_to_give_one():
    result = run_cli("db", "status")
    assert_one_line_failure(result, "PostgreSQL: no DSN given")


def test_environment_variables_of_seed_001_are_used(empty_dsn):
    params = conninfo_to_dict(empty_dsn)
    env = {
        "POSTGRES_HOST": params.get("host", "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port", 5432)),
        "POSTGRES_DB": params["dbname"],
        "POSTGRES_USER": params.get("user", ""),
        "POSTGRES_PASSWORD": params.get("password", ""),
    }
    result = run_cli("db", "migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "applied" in result.stdout


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("db", "check", "demo"):
        assert command in out
