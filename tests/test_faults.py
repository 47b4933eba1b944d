"""The console through store outages and a hanging query, on its own PostgreSQL and Redis.

These tests kill and restart servers, so they get a private server pair (started
once per worker for this module) and never touch the shared `servers` fixture.
The console runs with a real Poller at a 0.5 s interval, driven by Pilot.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, replace

import psycopg
import pytest

import cluster_data as cd
from console_app import wait_for
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data.migrate import migrate
from omega_tui.data.poller import Poller
from omega_tui.demo.embedded import EmbeddedPostgres, EmbeddedRedis
from omega_tui.widgets.health_banner import HealthBanner

INTERVAL = 0.5
# A poll against a dead store ends at once (connection refused), but the machine is
# shared and noisy: wall-clock bounds get this much on top of the poll counts asserted.
SLACK = 2.0


@dataclass
class OwnServers:
    pg: EmbeddedPostgres
    redis: EmbeddedRedis
    dsn: str

    def ensure_running(self) -> None:
        if not self.pg.is_running():
            self.pg.start()
        if not self.redis.is_running():
            self.redis.start()


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory) -> OwnServers:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("fault-pg")).start()
    rd = EmbeddedRedis(tmp_path_factory.mktemp("fault-redis")).start()
    with psycopg.connect(pg.dsn_for("postgres"), autocommit=True) as conn:
        conn.execute("CREATE DATABASE omega")
    migrate(pg.dsn, log=lambda msg: None)
    yield OwnServers(pg, rd, pg.dsn)
    pg.stop(mode="immediate")
    rd.stop()


@pytest.fixture
def cluster(own_servers):
    """One node, one user, a heartbeat; everything from earlier tests removed."""
    own_servers.ensure_running()
    with cd.connect(own_servers.dsn) as conn:
        conn.execute("TRUNCATE nodes, users, sessions, node_metrics, system_events CASCADE")
        node = cd.add_node(conn, "fault-01")
    client = cd.redis_client(own_servers.redis.url)
    client.flushdb()
    cd.write_heartbeat(client, node, cd.utc_now())
    client.close()
    return node


class RecordingPoller(Poller):
    """The real Poller, recording when each poll started and what it returned."""

    def __init__(self, settings):
        super().__init__(settings)
        self.polls: list[tuple[float, object]] = []
        self.polling = threading.Event()

    def poll(self):
        started = time.monotonic()
        self.polling.set()
        try:
            snapshot = super().poll()
        finally:
            self.polling.clear()
        self.polls.append((started, snapshot))
        return snapshot

    def polls_started_after(self, moment: float) -> list:
        return [snap for started, snap in self.polls if started >= moment]


def run_console(own: OwnServers, scenario, **overrides) -> None:
    settings = replace(Settings(), dsn=own.dsn, redis_url=own.redis.url, refresh=INTERVAL,
                       **{"connect_timeout": 2.0, "statement_timeout": 1.0, **overrides})
    poller = RecordingPoller(settings)
    app = OmegaApp(poller, settings)

    async def main():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None and app.snapshot.postgres.ok
                           and app.snapshot.redis.ok, "a first good poll")
            await scenario(app, pilot, poller)
            assert app.is_running and app.return_code is None          # no crash, still ours

    try:
        asyncio.run(main())
    finally:
        poller.close()


def banner(app) -> str:
    return app.screen.query_one(HealthBanner).text


async def shows_store_trouble(app, pilot, poller, store: str, since: float) -> None:
    """The first poll started after `since` reports `store` not OK, and the banner says so at once."""
    await wait_for(pilot, lambda: poller.polls_started_after(since), "a poll after the failure",
                   timeout=INTERVAL + SLACK)
    first = poller.polls_started_after(since)[0]
    health = first.postgres if store == "PostgreSQL" else first.redis
    assert not health.ok and health.reason, health
    await wait_for(pilot, lambda: f"{store} STALE" in banner(app), f"the {store} banner",
                   timeout=INTERVAL + SLACK - (time.monotonic() - since))


async def recovers(app, pilot, poller, since: float) -> None:
    """At most the second poll started after `since` has both stores OK, and the banner clears."""
    await wait_for(pilot, lambda: len(poller.polls_started_after(since)) >= 2, "two polls after the restart",
                   timeout=2 * INTERVAL + SLACK)
    first_two = poller.polls_started_after(since)[:2]
    assert any(s.postgres.ok and s.redis.ok for s in first_two), [(s.postgres, s.redis) for s in first_two]
    await wait_for(pilot, lambda: "STALE" not in banner(app) and "DOWN" not in banner(app),
                   "the banner cleared", timeout=SLACK)


async def switch_screens(app, pilot) -> None:
    """Keys still work: to the sessions screen and back."""
    await pilot.press("2")
    await wait_for(pilot, lambda: app.current_mode == "sessions", "the sessions screen", timeout=2)
    await pilot.press("1")
    await wait_for(pilot, lambda: app.current_mode == "overview", "the nodes screen", timeout=2)


def test_redis_killed_and_restarted_while_the_console_runs(own_servers, cluster):
    async def scenario(app, pilot, poller):
        killed = time.monotonic()
        own_servers.redis.kill()
        await shows_store_trouble(app, pilot, poller, "Redis", killed)
        await switch_screens(app, pilot)

        # PostgreSQL data keeps refreshing meanwhile.
        with cd.connect(own_servers.dsn) as conn:
            conn.execute("UPDATE nodes SET status = 'maintenance' WHERE node_id = %s", (cluster,))
        changed = time.monotonic()
        # A poll begun just before the UPDATE committed may read it: wait for one begun after, too.
        await wait_for(pilot, lambda: app.snapshot.node(cluster).status == "maintenance"
                       and poller.polls_started_after(changed),
                       "the new status from PostgreSQL, and a poll after it", timeout=2 * INTERVAL + SLACK)
        assert poller.polls_started_after(changed)[0].postgres.ok
        assert "Redis STALE" in banner(app)

        own_servers.redis.start()
        restarted = time.monotonic()
        client = cd.redis_client(own_servers.redis.url)
        cd.write_heartbeat(client, cluster, cd.utc_now())    # the embedded Redis keeps nothing
        client.close()
        await recovers(app, pilot, poller, restarted)
        await wait_for(pilot, lambda: app.snapshot.node(cluster).reachable, "the heartbeat again", timeout=2)

    run_console(own_servers, scenario)


def test_postgres_killed_and_restarted_while_the_console_runs(own_servers, cluster):
    async def scenario(app, pilot, poller):
        killed = time.monotonic()
        own_servers.pg.kill()
        await shows_store_trouble(app, pilot, poller, "PostgreSQL", killed)
        await switch_screens(app, pilot)
        assert app.snapshot.node(cluster).hostname == "fault-01"       # the last data is kept

        # Redis data keeps refreshing meanwhile: the node stops heartbeating.
        client = cd.redis_client(own_servers.redis.url)
        client.delete(f"node:heartbeat:{cluster}")
        client.close()
        await wait_for(pilot, lambda: not app.snapshot.node(cluster).reachable,
                       "the missing heartbeat", timeout=2 * INTERVAL + SLACK)
        assert "PostgreSQL STALE" in banner(app)

        own_servers.pg.start()
        restarted = time.monotonic()
        await recovers(app, pilot, poller, restarted)

    run_console(own_servers, scenario)


def test_both_stores_down_at_once_then_back(own_servers, cluster):
    async def scenario(app, pilot, poller):
        killed = time.monotonic()
        own_servers.redis.kill()
        own_servers.pg.kill()
        await wait_for(pilot, lambda: "PostgreSQL STALE" in banner(app) and "Redis STALE" in banner(app),
                       "both stores in the banner", timeout=2 * INTERVAL + 2 * SLACK)
        assert any(not s.postgres.ok and not s.redis.ok for s in poller.polls_started_after(killed)[:2])
        await switch_screens(app, pilot)
        assert app.snapshot.node(cluster).hostname == "fault-01"

        own_servers.pg.start()
        own_servers.redis.start()
        restarted = time.monotonic()
        client = cd.redis_client(own_servers.redis.url)
        cd.write_heartbeat(client, cluster, cd.utc_now())
        client.close()
        await recovers(app, pilot, poller, restarted)

    run_console(own_servers, scenario)


def test_a_hanging_query_times_out_and_the_console_keeps_answering(own_servers, cluster):
    TIMEOUT = 2.0   # the statement timeout: long enough to press a key during the hang on a busy machine
    locker = psycopg.connect(own_servers.dsn)
    try:
        async def scenario(app, pilot, poller):
            locker.execute("LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")   # held until rollback

            def poller_waits_on_the_lock() -> bool:
                with cd.connect(own_servers.dsn) as conn:
                    return bool(conn.execute(
                        "SELECT 1 FROM pg_stat_activity WHERE application_name = 'omega-tui poller' "
                        "AND wait_event_type = 'Lock'").fetchone())

            await wait_for(pilot, poller_waits_on_the_lock, "the poller blocked on the lock", timeout=3)
            await pilot.press("2")
            await wait_for(pilot, lambda: app.current_mode == "sessions", "the sessions screen", timeout=TIMEOUT)
            assert poller.polling.is_set() and poller_waits_on_the_lock()    # answered while the poll hangs

            await wait_for(pilot, lambda: "statement timeout" in banner(app), "the reason in the banner",
                           timeout=TIMEOUT + SLACK + INTERVAL)
            assert "PostgreSQL STALE" in banner(app)
            assert app.snapshot.node(cluster).hostname == "fault-01"
            await pilot.press("1")
            await wait_for(pilot, lambda: app.current_mode == "overview", "the nodes screen", timeout=SLACK)

            locker.rollback()
            released = time.monotonic()
            # A timeout is slow, so it backs off 1 s before the next try.
            await wait_for(pilot, lambda: app.snapshot.postgres.ok, "PostgreSQL back",
                           timeout=1.0 + 2 * INTERVAL + SLACK)
            assert time.monotonic() - released < 1.0 + 2 * INTERVAL + SLACK
            await wait_for(pilot, lambda: "STALE" not in banner(app), "the banner cleared", timeout=SLACK)

        run_console(own_servers, scenario, statement_timeout=TIMEOUT)
    finally:
        locker.close()
