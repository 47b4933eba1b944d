"""`omega-tui check`: what is in each store, in a few lines."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from omega_tui.data.connect import (
    REDIS_ERRORS, StoreError, describe_pg_error, describe_redis_error, is_cluster, pg_connect, redis_connect,
)
from omega_tui.masking import mask_dsn

HEARTBEAT_PREFIX = "node:heartbeat:"
MGET_BATCH = 1000


@dataclass
class CheckReport:
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreachable: list[StoreError] = field(default_factory=list)


def check_stores(settings) -> CheckReport:
    report = CheckReport()
    node_ids: list[str] = []
    if not settings.dsn:
        report.unreachable.append(StoreError("PostgreSQL", "no DSN given (--dsn, OMEGA_DSN, POSTGRES_*, or a profile)"))
    else:
        try:
            node_ids = _check_postgres(settings, report)
        except StoreError as exc:
            report.unreachable.append(exc)
        _check_replicas(settings, report)
    if not settings.redis_url:
        report.unreachable.append(StoreError("Redis", "no URL given (--redis, OMEGA_REDIS_URL, REDIS_*, or a profile)"))
    else:
        try:
            _check_redis(settings, report, node_ids)
        except StoreError as exc:
            report.unreachable.append(exc)
    if report.unreachable:
        raise StoreError.combined(report.unreachable)
    return report


def _check_postgres(settings, report: CheckReport) -> list[str]:
    from omega_tui.data import migrate

    with pg_connect(settings.dsn, connect_timeout=settings.connect_timeout, autocommit=True) as conn:
        try:
            st = migrate.status(conn)
            report.lines.append(f"PostgreSQL {st.server_version} at {mask_dsn(settings.dsn)}")
            report.lines.append(
                "TimescaleDB: "
                + ("yes" if st.timescaledb_installed else "available, not enabled" if st.timescaledb_available else "no")
            )
            report.lines.append(f"console schema version: {st.version}" + (f" ({len(st.pending)} pending)" if st.pending else ""))
            if st.pending:
                report.problems.append(f"{len(st.pending)} migration(s) pending: run omega-tui db migrate")
            if len(st.omega_tables_present) < len(migrate.OMEGA_TABLES):
                report.problems.append("Omega tables missing: run omega-tui db migrate on an empty database")
                return []
            nodes = conn.execute("SELECT count(*) FROM nodes").fetchone()[0]
            sessions = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE status IN ('pending','scheduled','running','paused')) FROM sessions"
            ).fetchone()
            report.lines.append(f"nodes: {nodes}; sessions: {sessions[0]} ({sessions[1]} live)")
            return [str(r[0]) for r in conn.execute("SELECT node_id FROM nodes")]
        except psycopg.Error as exc:
            raise StoreError("PostgreSQL", describe_pg_error(exc, settings.dsn)) from None


def _check_replicas(settings, report: CheckReport) -> None:
    from omega_tui.data.read_replicas import replica_status

    for dsn in settings.read_dsns:
        try:
            report.lines.append(replica_status(dsn, connect_timeout=settings.connect_timeout))
        except StoreError as exc:
            report.problems.append(str(exc))


def _check_redis(settings, report: CheckReport, node_ids: list[str]) -> None:
    client = redis_connect(settings.redis_url, connect_timeout=settings.connect_timeout)
    try:
        cluster = is_cluster(client)
        # On a cluster INFO goes to one node; its version stands for all.
        info = client.info("server", target_nodes=client.get_default_node()) if cluster else client.info("server")
        report.lines.append(f"Redis {info.get('redis_version', '?')} at {mask_dsn(settings.redis_url)}")
        if cluster:
            report.lines.append(_cluster_line(client))
        mget = client.mget_nonatomic if cluster else client.mget   # a cluster's MGET takes one slot only
        live = 0
        for start in range(0, len(node_ids), MGET_BATCH):
            batch = node_ids[start:start + MGET_BATCH]
            live += sum(v is not None for v in mget([HEARTBEAT_PREFIX + i for i in batch]))
        known = set(node_ids)
        unknown = 0
        for key in client.scan_iter(match=HEARTBEAT_PREFIX + "*", count=1000):
            if key.decode(errors="replace")[len(HEARTBEAT_PREFIX):] not in known:
                unknown += 1
        report.lines.append(
            f"heartbeat keys: {live} of {len(node_ids)} known nodes"
            + (f", {unknown} from nodes not in PostgreSQL" if unknown else "")
        )
        queue = client.llen("queue:pending_sessions")
        report.lines.append(f"queue:pending_sessions: {queue} entries")
    except REDIS_ERRORS as exc:
        raise StoreError("Redis", describe_redis_error(exc, settings.redis_url)) from None
    finally:
        client.close()


def _cluster_line(client) -> str:
    nodes = client.get_nodes()
    masters = sum(n.server_type == "primary" for n in nodes)
    state = client.cluster_info(target_nodes=client.get_default_node()).get("cluster_state", "?")
    return f"Redis Cluster: {masters} master(s), {len(nodes) - masters} replica(s), cluster_state {state}"
