"""Schema migrations against a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from omega_tui.data.connect import StoreError
from omega_tui.data.migrate import OMEGA_TABLES, load_migrations, migrate

FIXTURES = Path(__file__).parent / "fixtures"


def _quiet(msg):
    pass


def _table_fingerprint(dsn: str) -> list[tuple]:
    """Every column, constraint, index and trigger of the Omega tables."""
    with psycopg.connect(dsn) as conn:
        columns = conn.execute(
            """SELECT table_name, column_name, data_type, is_nullable, column_default, is_generated
                 FROM information_schema.columns
                WHERE table_schema = 'public' AND table_name = ANY(%s)
                ORDER BY 1, 2""",
            (list(OMEGA_TABLES),),
        ).fetchall()
        constraints = conn.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                 FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s) ORDER BY 1, 2""",
            (list(OMEGA_TABLES),),
        ).fetchall()
        indexes = conn.execute(
            """SELECT tablename, indexname, indexdef FROM pg_indexes
                WHERE schemaname = 'public' AND tablename = ANY(%s) ORDER BY 1, 2""",
            (list(OMEGA_TABLES),),
        ).fetchall()
        triggers = conn.execute(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
        ).fetchall()
    return columns + constraints + indexes + triggers


def _applied(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT version, name, variant FROM omega_console.schema_migrations ORDER BY version"
        ).fetchall()


def test_migrate_empty_database_creates_every_omega_table_and_console_schema(empty_dsn):
    done = migrate(empty_dsn, log=_quiet)
    assert [v for v, _, _ in done] == [m.version for m in load_migrations()]
    with psycopg.connect(empty_dsn) as conn:
        for table in OMEGA_TABLES:
            assert conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None, table
        for obj in ("omega_console.audit_log", "omega_console.alert_acks",
                    "omega_console.node_metrics_1m", "omega_console.node_metrics_1h"):
            assert conn.execute("SELECT to_regclass(%s)", (obj,)).fetchone()[0] is not None, obj
        # The generated column of the seed survives as written.
        conn.execute(
            "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
            " VALUES ('n1', '10.0.0.1', 'compute', 8, 32, 100)"
        )
        conn.execute(
            "INSERT INTO node_resources (node_id, resource_type, total_capacity, allocated_capacity, unit)"
            " SELECT node_id, 'cpu', 8, 3, 'cores' FROM nodes"
        )
        assert conn.execute("SELECT available_capacity FROM node_resources").fetchone()[0] == 5
        # The seed's CHECK constraints hold.
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE nodes SET status = 'exploded'")


def test_second_migrate_changes_nothing(empty_dsn):
    migrate(empty_dsn, log=_quiet)
    before = (_table_fingerprint(empty_dsn), _applied(empty_dsn))
    assert migrate(empty_dsn, log=_quiet) == []
    assert (_table_fingerprint(empty_dsn), _applied(empty_dsn)) == before


def test_existing_seed_schema_is_never_altered(empty_dsn):
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute((FIXTURES / "seed000_schema.sql").read_text())
    before = _table_fingerprint(empty_dsn)
    done = migrate(empty_dsn, log=_quiet)
    assert _table_fingerprint(empty_dsn) == before
    variants = {name: variant for _, name, variant in done}
    assert variants["omega_tables"] == "skipped"
    assert variants["time_series"] == "skipped"
    assert variants["console_schema"] == "postgres"
    # The console's own objects exist and work on the cluster's tables.
    with psycopg.connect(empty_dsn) as conn:
        node = conn.execute(
            "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
            " VALUES ('n1', '10.0.0.1', 'gpu', 8, 32, 100) RETURNING node_id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO node_metrics (time, node_id, metric_type, value, unit)"
            " SELECT now() - make_interval(secs => s), %s, 'cpu_percent', s, 'percent'"
            " FROM generate_series(0, 119) AS s",
            (node,),
        )
        conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        buckets, samples = conn.execute(
            "SELECT count(*), sum(samples) FROM omega_console.node_metrics_1m WHERE node_id = %s", (node,)
        ).fetchone()
        assert samples == 120 and 2 <= buckets <= 3


def test_partial_omega_schema_is_refused(empty_dsn):
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE nodes (node_id uuid PRIMARY KEY)")
    with pytest.raises(StoreError, match="partial Omega schema"):
        migrate(empty_dsn, log=_quiet)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('users')").fetchone()[0] is None


def test_rollup_refresh_is_incremental_and_handles_late_rows(dsn):
    with psycopg.connect(dsn) as conn:
        node = conn.execute(
            "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
            " VALUES ('n1', '10.0.0.1', 'compute', 8, 32, 100) RETURNING node_id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO node_metrics (time, node_id, metric_type, value) VALUES"
            " (date_trunc('minute', now()) - interval '90 seconds', %s, 'cpu_percent', 10),"
            " (date_trunc('minute', now()) - interval '80 seconds', %s, 'cpu_percent', 30)",
            (node, node),
        )
        conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        # A late row for the same minute arrives after the refresh.
        conn.execute(
            "INSERT INTO node_metrics (time, node_id, metric_type, value) VALUES"
            " (date_trunc('minute', now()) - interval '70 seconds', %s, 'cpu_percent', 50)",
            (node,),
        )
        conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        row = conn.execute(
            "SELECT avg_value, min_value, max_value, samples FROM omega_console.node_metrics_1m"
        ).fetchall()
        assert row == [(30.0, 10.0, 50.0, 3)]
        hourly = conn.execute("SELECT avg_value, samples FROM omega_console.node_metrics_1h").fetchall()
        assert hourly == [(30.0, 3)]


def test_time_bucket_matches_timescaledb_origin(dsn):
    with psycopg.connect(dsn) as conn:
        got = conn.execute(
            "SELECT omega_console.time_bucket(interval '15 minutes', timestamptz '2026-01-05 10:07:13+00'),"
            "       omega_console.time_bucket(interval '1 day', timestamptz '2026-01-05 10:07:13+00')"
        ).fetchone()
    assert [t.isoformat() for t in got] == ["2026-01-05T10:00:00+00:00", "2026-01-05T00:00:00+00:00"]


def test_retention_setting_is_recorded(empty_dsn):
    migrate(empty_dsn, raw_retention_days=14, log=_quiet)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT omega_console.setting_int('raw_retention_days')").fetchone()[0] == 14


def test_plain_migrate_never_enables_timescaledb_later(empty_dsn):
    migrate(empty_dsn, use_timescaledb=False, log=_quiet)
    assert migrate(empty_dsn, log=_quiet) == []
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0] == 0
        assert {v for (v,) in conn.execute("SELECT variant FROM omega_console.schema_migrations")} == {"postgres"}


def test_rollup_refresh_keeps_the_hour_whole_after_raw_rows_are_gone(dsn):
    """After the first refresh, a later one rebuilds the watermark's hour from the 1-minute table."""
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'").fetchone()[0]:
            pytest.skip("the plain rollups' refresh: TimescaleDB keeps continuous aggregates instead")
        node = conn.execute(
            "INSERT INTO nodes (hostname, ip_address, node_type, total_cpu_cores, total_memory_gb, total_storage_gb)"
            " VALUES ('n1', '10.0.0.1', 'compute', 8, 32, 100) RETURNING node_id"
        ).fetchone()[0]
        # The previous hour, so every sample is in the past whatever minute the test runs in.
        hour = conn.execute("SELECT date_trunc('hour', now()) - INTERVAL '1 hour'").fetchone()[0]
        # Ten minutes of samples at the start of that hour, refreshed up to just after them...
        conn.execute(
            "INSERT INTO node_metrics (time, node_id, metric_type, value)"
            " SELECT %s + make_interval(secs => s * 60), %s, 'cpu_percent', 10 FROM generate_series(0, 9) s",
            (hour, node),
        )
        conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        conn.execute(
            "UPDATE omega_console.rollup_watermarks SET refreshed_to = %s + INTERVAL '10 minutes'", (hour,)
        )
        # ...then the old raw rows disappear (retention, say) and a new one arrives in the same hour.
        conn.execute("DELETE FROM node_metrics")
        conn.execute(
            "INSERT INTO node_metrics (time, node_id, metric_type, value)"
            " VALUES (%s + INTERVAL '30 minutes', %s, 'cpu_percent', 40)",
            (hour, node),
        )
        conn.execute("SELECT omega_console.refresh_node_metrics_rollups()")
        minutes = conn.execute("SELECT count(*) FROM omega_console.node_metrics_1m").fetchone()[0]
        hourly = conn.execute(
            "SELECT avg_value, samples FROM omega_console.node_metrics_1h WHERE bucket = %s", (hour,)
        ).fetchone()
    # The early minutes survive from the first refresh, and the hour counts all eleven samples.
    assert minutes >= 10
    assert hourly[1] == 11 and abs(hourly[0] - (10 * 10 + 40) / 11) < 1e-9


def test_a_server_error_is_not_called_a_malformed_dsn(dsn):
    """A query the server rejects (class 42, like a missing function) names the server's reason."""
    from omega_tui.data.connect import describe_pg_error

    with psycopg.connect(dsn) as conn:
        with pytest.raises(psycopg.ProgrammingError) as raised:
            conn.execute("SELECT no_such_function()")
    reason = describe_pg_error(raised.value, dsn)
    assert "no_such_function" in reason and "malformed DSN" not in reason
    with pytest.raises(psycopg.ProgrammingError) as raised:
        psycopg.connect("host=127.0.0.1 port")
    assert describe_pg_error(raised.value).startswith("malformed DSN")
