"""Key presses first: the poller's threads wait while the screen handles a key (key_priority.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import cluster_data as cd
from omega_tui import key_priority
from omega_tui.config import Settings
from omega_tui.data import pg_reads
from omega_tui.data.poller import Poller
from omega_tui.fixed_source import FixedSource
from omega_tui.key_priority import KEYS_FIRST, KeyPriority, taking_turns
from tests.console_app import make_app, wait_for, wait_for_snapshot


def give_way_in_a_thread(priority: KeyPriority) -> threading.Event:
    done = threading.Event()

    def work():
        priority.give_way()
        done.set()

    threading.Thread(target=work, daemon=True).start()
    return done


def test_a_held_key_stops_a_poller_thread_until_released():
    priority = KeyPriority(hold_seconds=60)
    assert give_way_in_a_thread(priority).wait(5)   # nothing held: on at once

    priority.hold()
    done = give_way_in_a_thread(priority)
    assert not done.wait(0.3)
    priority.release()
    assert done.wait(5)


def test_a_hold_never_released_ends_by_itself():
    priority = KeyPriority(hold_seconds=0.2)
    priority.hold()
    assert give_way_in_a_thread(priority).wait(5)


def test_taking_turns_gives_every_item_in_order_and_way_between_them(monkeypatch):
    calls = []
    monkeypatch.setattr(key_priority, "give_way", lambda: calls.append(1))
    items = list(range(10))
    assert list(taking_turns(items, every=4)) == items
    assert len(calls) == 4   # before 0-3, 4-7, 8-9, and before finding the end
    calls.clear()
    assert list(taking_turns((i for i in items), every=100)) == items   # any iterable
    assert list(taking_turns([], every=4)) == []
    assert sorted(taking_turns({3, 1, 2}, every=1)) == [1, 2, 3]


def test_a_key_press_holds_the_poller_until_the_screen_refreshed(monkeypatch):
    held, released = [], []
    monkeypatch.setattr(KEYS_FIRST, "hold", lambda: held.append(1))
    monkeypatch.setattr(KEYS_FIRST, "release", lambda: released.append(1))

    async def scenario():
        app = make_app(FixedSource())
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            pressed = len(held)
            await pilot.press("down")
            assert len(held) == pressed + 1
            await wait_for(pilot, lambda: len(released) == len(held), "the hold released")

    asyncio.run(scenario())


def test_a_poll_waits_while_a_key_is_held(dsn, redis_url, db, monkeypatch):
    cd.add_node(db, "gpu-01")
    monkeypatch.setattr(KEYS_FIRST, "hold_seconds", 60)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url))
    snapshots = []
    try:
        poller.poll()   # connected, the history loaded: the next poll only reads what changed
        KEYS_FIRST.hold()
        polling = threading.Thread(target=lambda: snapshots.append(poller.poll()), daemon=True)
        polling.start()
        polling.join(0.5)
        assert polling.is_alive() and not snapshots
        KEYS_FIRST.release()
        polling.join(10)
        assert [n.hostname for n in snapshots[0].nodes] == ["gpu-01"]
    finally:
        KEYS_FIRST.release()
        poller.close()


def test_row_fetches_give_way_between_chunks_and_histories_in_small_ones(db, monkeypatch):
    calls = []
    monkeypatch.setattr(pg_reads, "give_way", lambda: calls.append(1))
    rows = pg_reads.fetch_in_chunks(db.execute("SELECT generate_series(1, 250)"), 100)
    assert [row[0] for row in rows] == list(range(1, 251)) and len(calls) == 3

    # A history row holds a series' arrays: fetched RECENT_FETCH_CHUNK_ROWS at a time, not FETCH_CHUNK_ROWS.
    nodes = [cd.add_node(db, f"n-{i}") for i in range(3)]
    end = cd.utc_now()
    cd.add_metric_rows(db, cd.series_rows(nodes, ["cpu_percent", "memory_percent"], end, timedelta(minutes=1),
                                          timedelta(seconds=10), lambda n, metric, k: float(k)))
    monkeypatch.setattr(pg_reads, "RECENT_FETCH_CHUNK_ROWS", 2)
    calls.clear()
    [read] = pg_reads.read_recent_metrics(db, nodes, 60)
    assert len(read) == 6 and len(calls) == 3   # 6 series, 2 a chunk


def test_key_priority_knows_how_long_the_keys_have_been_quiet():
    keys = KeyPriority()
    assert keys.keys_quiet_for() == float("inf")
    keys.hold()
    keys.release()
    assert 0 <= keys.keys_quiet_for() < 1.0
