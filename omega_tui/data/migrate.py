"""Apply the numbered SQL files of `sql/` in order, once each.

Versions are recorded in `omega_console.schema_migrations`. A file whose
first lines say `-- omega: touches-omega-tables` creates or changes Omega
tables: it runs only on a database where this migrate created those tables
(an empty one), and is recorded as `skipped` on a database that already had
them, so a cluster's own schema is never altered. When TimescaleDB is in use,
`sql/timescaledb/NNN_*.sql` replaces the plain file of the same name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from omega_tui.data.connect import StoreError, describe_pg_error

OMEGA_TABLES = (
    "users", "nodes", "node_resources", "sessions", "session_allocations",
    "user_sessions", "node_metrics", "session_metrics", "system_events",
    "storage_pools", "storage_volumes", "network_topologies", "node_network_interfaces",
)
MIGRATION_LOCK_KEY = 0x0E6A_C0DE  # pg_advisory_lock key: one migrate at a time
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def sql_dir() -> Path:
    """The migrations: packaged inside omega_tui, or the repo's sql/ from a checkout."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "sql", here.parent / "sql"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("migration directory sql/ not found")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    plain_path: Path
    timescale_path: Path | None

    def path(self, timescale: bool) -> Path:
        return self.timescale_path if (timescale and self.timescale_path) else self.plain_path

    def flags(self, timescale: bool) -> set[str]:
        flags: set[str] = set()
        for line in self.path(timescale).read_text().splitlines():
            if not line.startswith("--"):
                break
            match = re.match(r"--\s*omega:\s*(.*)$", line)
            if match:
                flags.update(match.group(1).split())
        return flags


def load_migrations(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            continue
        ts_path = directory / "timescaledb" / path.name
        found.append(Migration(int(match.group(1)), match.group(2), path, ts_path if ts_path.exists() else None))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return found


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    variant: str  # postgres, timescaledb, skipped
    applied_at: object


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    server_version: str
    timescaledb_available: bool
    timescaledb_installed: bool
    hypertables: bool
    applied: tuple[AppliedMigration, ...]
    pending: tuple[Migration, ...]
    omega_tables_present: tuple[str, ...]

    @property
    def version(self) -> int:
        return max((m.version for m in self.applied), default=0)


def _bootstrap(conn: psycopg.Connection) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS omega_console")
    conn.execute(
        """CREATE TABLE IF NOT EXISTS omega_console.schema_migrations (
               version INTEGER PRIMARY KEY,
               name TEXT NOT NULL,
               variant TEXT NOT NULL,
               applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
    )


def _applied(conn: psycopg.Connection) -> list[AppliedMigration]:
    exists = conn.execute("SELECT to_regclass('omega_console.schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return []
    rows = conn.execute(
        "SELECT version, name, variant, applied_at FROM omega_console.schema_migrations ORDER BY version"
    ).fetchall()
    return [AppliedMigration(*row) for row in rows]


def _present_omega_tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regclass(name) IS NOT NULL",
        (list(OMEGA_TABLES),),
    ).fetchall()
    return [row[0] for row in rows]


def _timescale(conn: psycopg.Connection) -> tuple[bool, bool, bool]:
    """(available, installed, node_metrics is a hypertable)."""
    available = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
    ).fetchone()[0]
    installed = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
    ).fetchone()[0]
    hyper = False
    if installed:
        hyper = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables h"
            " JOIN pg_class c ON c.oid = to_regclass('node_metrics')"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE h.hypertable_name = 'node_metrics' AND h.hypertable_schema = n.nspname)"
        ).fetchone()[0]
    return available, installed, hyper


def status(conn: psycopg.Connection) -> SchemaStatus:
    available, installed, hyper = _timescale(conn)
    applied = _applied(conn)
    done = {m.version for m in applied}
    pending = tuple(m for m in load_migrations() if m.version not in done)
    return SchemaStatus(
        server_version=conn.execute("SHOW server_version").fetchone()[0],
        timescaledb_available=available,
        timescaledb_installed=installed,
        hypertables=hyper,
        applied=tuple(applied),
        pending=pending,
        omega_tables_present=tuple(_present_omega_tables(conn)),
    )


def _try_enable_timescaledb(conn: psycopg.Connection, log) -> bool:
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        return True
    except psycopg.Error as exc:
        log(f"TimescaleDB is available but could not be enabled ({describe_pg_error(exc)}); "
            "using plain PostgreSQL")
        return False


def migrate(
    dsn: str,
    *,
    use_timescaledb: bool = True,
    raw_retention_days: int | None = None,
    log=print,
    connect=None,
) -> list[tuple[int, str, str]]:
    """Apply pending migrations; return [(version, name, variant)] applied now."""
    from omega_tui.data.connect import pg_connect

    conn = (connect or pg_connect)(dsn, statement_timeout=None, autocommit=True)
    try:
        return _migrate(conn, use_timescaledb, raw_retention_days, log)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError("PostgreSQL", f"permission denied while migrating ({describe_pg_error(exc, dsn)})") from None
    except psycopg.Error as exc:
        raise StoreError("PostgreSQL", f"migration failed: {describe_pg_error(exc, dsn)}") from None
    finally:
        conn.close()


def _migrate(conn: psycopg.Connection, use_timescaledb: bool, raw_retention_days: int | None, log):
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        _bootstrap(conn)
        applied_versions = {m.version for m in _applied(conn)}
        migrations = load_migrations()
        pending = [m for m in migrations if m.version not in applied_versions]

        available, installed, _ = _timescale(conn)
        present = _present_omega_tables(conn)
        # Did this migrate (now or earlier) create the Omega tables?
        creates_tables = next((m for m in migrations if "touches-omega-tables" in m.flags(False)), None)
        we_own_tables = not present
        if creates_tables is not None and creates_tables.version in applied_versions:
            we_own_tables = _applied_variant(conn, creates_tables.version) != "skipped"
        elif present and len(present) < len(OMEGA_TABLES):
            missing = sorted(set(OMEGA_TABLES) - set(present))
            raise StoreError(
                "PostgreSQL",
                f"partial Omega schema (missing: {', '.join(missing)}); refusing to add tables to "
                "a schema the cluster owns",
            )

        # Enable the extension only for a pending migration that would make hypertables.
        makes_hypertables = any(
            m.timescale_path is not None and "touches-omega-tables" in m.flags(True) for m in pending
        )
        timescale = False
        if use_timescaledb and (installed or (available and we_own_tables and makes_hypertables)):
            timescale = installed or _try_enable_timescaledb(conn, log)

        done = []
        for migration in pending:
            ts_here = timescale and migration.timescale_path is not None
            if ts_here and "touches-omega-tables" not in migration.flags(True):
                # Continuous aggregates need node_metrics to be a hypertable.
                ts_here = _timescale(conn)[2]
            flags = migration.flags(ts_here)
            if "touches-omega-tables" in flags and not we_own_tables:
                variant = "skipped"
            else:
                variant = "timescaledb" if ts_here else "postgres"
            text = migration.path(ts_here).read_text()
            record = sql.SQL(
                "INSERT INTO omega_console.schema_migrations (version, name, variant) VALUES ({}, {}, {})"
            ).format(sql.Literal(migration.version), sql.Literal(migration.name), sql.Literal(variant))
            with conn.transaction():
                if variant != "skipped":
                    conn.execute(text)
                conn.execute(record)
            if migration.version == 1 and raw_retention_days is not None:
                set_setting(conn, "raw_retention_days", str(raw_retention_days))
            log(f"{migration.version:03d} {migration.name}: {variant}")
            done.append((migration.version, migration.name, variant))
        if raw_retention_days is not None and 1 in applied_versions:
            set_setting(conn, "raw_retention_days", str(raw_retention_days))
            if we_own_tables and _timescale(conn)[2]:
                _reset_raw_retention_policies(conn)
                log(f"retention of node_metrics, session_metrics: {raw_retention_days} days")
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))


def _reset_raw_retention_policies(conn: psycopg.Connection) -> None:
    """Make the retention policies that 003 (TimescaleDB) added follow raw_retention_days again."""
    with conn.transaction():
        for table in ("node_metrics", "session_metrics"):
            conn.execute("SELECT remove_retention_policy(%s, if_exists => true)", (table,))
            conn.execute(
                "SELECT add_retention_policy(%s,"
                " make_interval(days => omega_console.setting_int('raw_retention_days')))",
                (table,),
            )


def _applied_variant(conn: psycopg.Connection, version: int) -> str | None:
    row = conn.execute(
        "SELECT variant FROM omega_console.schema_migrations WHERE version = %s", (version,)
    ).fetchone()
    return row[0] if row else None


def set_setting(conn: psycopg.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO omega_console.settings (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
        (key, value),
    )
