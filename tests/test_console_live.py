"""The console on real stores: the simulator writes, the Poller reads, the overview shows it."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import asyncio

import psycopg

from console_app import wait_for
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data.poller import Poller
from omega_tui.sim.simulator import Simulator
from omega_tui.widgets.node_table import NodeTable


def test_overview_lists_the_simulated_hosts(dsn, redis_url):
    sim = Simulator(dsn, redis_url, nodes=12, seed=3)
    try:
        sim.register()
        sim.backfill(timedelta(minutes=5))
        sim.tick()
    finally:
        sim.close()
    with psycopg.connect(dsn) as conn:
        hosts = {h for (h,) in conn.execute("SELECT hostname FROM nodes")}
    assert len(hosts) == 12

    settings = replace(Settings(), dsn=dsn, redis_url=redis_url, refresh=300.0)
    poller = Poller(settings)
    app = OmegaApp(poller, settings)
    try:
        asyncio.run(_check_overview(app, hosts))
    finally:
        poller.close()


async def _check_overview(app: OmegaApp, hosts: set[str]) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(NodeTable)
        await wait_for(pilot, lambda: len(table.keys) == 12, "the simulated nodes", timeout=20)
        shown = {str(table.get_row(key)[0]).strip() for key in table.keys}
        assert shown == hosts
        await pilot.pause()
        snapshot = app.snapshot
        assert snapshot.postgres.ok and snapshot.redis.ok
        # Heartbeats were just written: every node reads as reachable.
        assert all(node.reachable for node in snapshot.nodes)
