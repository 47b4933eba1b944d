"""`omega-tui node|session|alert ...`: confirmation rules and exit codes."""

from __future__ import annotations

import psycopg

from test_actions import make_cluster  # noqa: E402
from test_cli import run_cli


def test_without_terminal_or_yes_the_cli_refuses(dsn, redis_url):
    with psycopg.connect(dsn, autocommit=True) as conn:
        make_cluster(conn)
    result = run_cli("node", "drain", "gpu-a100-001", "--dsn", dsn, "--redis", redis_url)
    assert result.returncode == 2 and "pass --yes" in result.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "active"


def test_yes_acts_and_reports_per_target(dsn, redis_url):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = make_cluster(conn)
    result = run_cli("session", "cancel", ids["pending"], ids["running"], "--yes",
                     "--operator", "ops9", "--dsn", dsn, "--redis", redis_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ok: ") == 2
    again = run_cli("session", "cancel", ids["pending"], "--yes", "--dsn", dsn, "--redis", redis_url)
    assert again.returncode == 0 and "already cancelled" in again.stdout
    missing = run_cli("node", "resume", "no-such-host", "--yes", "--dsn", dsn, "--redis", redis_url)
    assert missing.returncode == 1 and "no node 'no-such-host'" in missing.stderr
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM omega_console.audit_log WHERE operator = 'ops9' AND result = 'ok'"
        ).fetchone()[0] == 2


def test_acknowledge_needs_no_confirmation(dsn, redis_url):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = make_cluster(conn)
    result = run_cli("alert", "ack", f"event:{ids['event']}", "--dsn", dsn, "--redis", redis_url)
    assert result.returncode == 0 and "acknowledged" in result.stdout


def test_read_only_profile_refuses_actions(dsn, redis_url, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.watch]\ndsn = "{dsn}"\nredis = "{redis_url}"\nread_only = true\n')
    config.chmod(0o600)
    result = run_cli("node", "drain", "x", "--yes", "--profile", "watch", "--config", str(config))
    assert result.returncode == 2 and "read-only mode (profile watch): drain refused" in result.stderr


def test_redis_down_still_acts_and_says_so(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = make_cluster(conn)
    result = run_cli("node", "drain", ids["node"], "--yes", "--dsn", dsn, "--redis", "redis://127.0.0.1:1/0")
    assert result.returncode == 0, result.stderr
    assert "Redis not told" in result.stdout
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT status FROM nodes").fetchone()[0] == "draining"
