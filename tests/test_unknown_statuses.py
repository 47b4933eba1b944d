"""A session whose status the console does not know is shown, as unknown, never hidden."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import psycopg

import cluster_data as cd
from console_app import wait_for
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.data import pg_reads
from omega_tui.data.models import FINISHED_SESSION_STATUSES
from omega_tui.data.poller import Poller


def test_unknown_session_status_is_read_and_shown_as_unknown(dsn, redis_url):
    with cd.connect(dsn) as conn:
        conn.execute("ALTER TABLE sessions DROP CONSTRAINT sessions_status_check")
        user = cd.add_user(conn, "alice")
        preempted = cd.add_session(conn, user, "odd-job", status="preempted")
        running = cd.add_session(conn, user, "train", status="running")
        for status in FINISHED_SESSION_STATUSES:
            cd.add_session(conn, user, f"done-{status}", status=status)

    settings = replace(Settings(), dsn=dsn, redis_url=redis_url, refresh=300.0)
    poller = Poller(settings)
    app = OmegaApp(poller, settings)

    async def scenario():
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: app.snapshot is not None, "a first poll")
            assert {s.session_id for s in app.snapshot.sessions} == {preempted, running}
            await pilot.press("2")
            await wait_for(pilot, lambda: preempted in app.screen.table.keys, "the session on screen")
            assert str(app.screen.table.get_cell(preempted, "status")).strip() == "? preempted"

    try:
        asyncio.run(scenario())
    finally:
        poller.close()


def test_the_sessions_query_can_use_the_status_index(dsn):
    """With sequential scans off, plans without one on sessions exist: finding the live statuses and reading
    their sessions stay indexable."""
    with psycopg.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + pg_reads.CHANGES_SQL,
            {"finished": list(FINISHED_SESSION_STATUSES)}))
        plan += "\n".join(row[0] for row in conn.execute(
            "EXPLAIN " + pg_reads.SESSIONS_SQL, {"live": ["pending", "preempted"], "limit": pg_reads.MAX_SESSIONS}))
    assert "idx_sessions_status" in plan
    assert "Seq Scan on sessions" not in plan, plan
