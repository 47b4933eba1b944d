"""`omega-tui bench`'s pieces: the naive baseline reads what the poller reads (the hard way),
the byte counter counts, the figures and the table have their fields, the console runs in a
pseudo-terminal. Timings are never asserted: the bench measures, tests check it measures right."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import cluster_data as cd
from omega_tui.bench import report
from omega_tui.bench.naive_poller import NaivePoller
from omega_tui.bench.overview_bench import _measure, changed_snapshots
from omega_tui.bench.poll_bench import measure_ours, percentile
from omega_tui.bench.pty_console import run_in_pty
from omega_tui.bench.socket_bytes import bytes_received, pg_fds, redis_fds, total_received
from omega_tui.config import Settings
from omega_tui.data import poller as poller_module
from omega_tui.data.poller import Poller
from omega_tui.fixed_source import FixedSource
from omega_tui.sim import Simulator

STEP = timedelta(seconds=10)
METRICS = ["cpu_percent", "memory_percent", "load_1m"]


@pytest.fixture
def cluster(dsn, redis_url):
    """Four nodes with 20 minutes of three metrics, three of them heartbeating."""
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    now = cd.utc_now()
    ids = [cd.add_node(db, f"n{i}") for i in range(4)]
    cd.add_metric_rows(db, cd.series_rows(ids, METRICS, now - STEP, timedelta(minutes=20), STEP,
                                          lambda n, m, k: float(n * 10 + k % 7)))
    for node_id in ids[:3]:
        cd.write_heartbeat(rd, node_id, now)
    yield ids, db, rd
    db.close()
    rd.close()


def test_the_naive_baseline_reads_the_same_cluster_the_hard_way(dsn, redis_url, cluster):
    ids, db, rd = cluster
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url))
    naive = NaivePoller(dsn, redis_url, timedelta(hours=1))
    try:
        snapshot = poller.poll()
        rd.config_resetstat()
        reading = naive.poll()
    finally:
        poller.close()
        naive.close()

    # The same heartbeats, found with KEYS and one GET each.
    ours = {n.node_id: n.heartbeat for n in snapshot.nodes if n.heartbeat is not None}
    assert reading.heartbeats == ours and len(ours) == 3
    stats = rd.info("commandstats")
    assert stats["cmdstat_keys"]["calls"] == 1 and stats["cmdstat_get"]["calls"] == 3
    assert reading.redis_round_trips == 1 + 3
    # The same series with the same newest sample, re-aggregated from the raw rows.
    newest = {(n.node_id, s.metric_type): int(s.latest_at.timestamp() * 1_000_000)
              for n in snapshot.nodes for s in n.metrics}
    assert reading.latest_at_us == newest and len(newest) == 4 * len(METRICS)
    assert all(1 < len(points) <= 60 for points in reading.sparklines.values())
    # Its transaction is read-only: the baseline never writes, even against a real cluster.
    naive = NaivePoller(dsn, redis_url, timedelta(hours=1))
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            naive.conn.execute("DELETE FROM node_metrics")
    finally:
        naive.close()


def test_socket_byte_counter_counts_what_arrives(dsn, redis_url):
    with psycopg.connect(dsn) as conn:
        [fd] = pg_fds(conn)
        before = bytes_received(fd)
        conn.execute("SELECT repeat('x', 200000)").fetchone()
        received = bytes_received(fd) - before
    assert 200_000 <= received < 201_000          # the value plus a few protocol bytes
    client = cd.redis_client(redis_url)
    client.set("bench:big", b"y" * 50_000)
    before = total_received(redis_fds(client))
    client.get("bench:big")
    assert 50_000 <= total_received(redis_fds(client)) - before < 50_100
    client.close()


def test_our_poll_figures_come_from_the_real_poller(dsn, redis_url, cluster):
    # No read-ahead: whether it finishes before the next poll (adding its statement) is timing.
    figures, snapshot = measure_ours(Settings(dsn=dsn, redis_url=redis_url), polls=3, every=0.0,
                                     read_ahead=False)
    assert figures.polls == 3 and figures.first_ms > 0
    assert figures.sql_per_poll == 8 and figures.redis_per_poll == 1   # the poller's own counts (resolved events unchanged: not read again)
    assert figures.bytes_per_poll > 0
    assert figures.median_ms <= figures.p95_ms
    assert len(figures.times_ms) == 3 and sorted(figures.times_ms)[1] == round(figures.median_ms, 1)
    assert len(snapshot.nodes) == 4
    assert 0 < figures.cpu_median_ms
    # Four nodes: the first poll loads every short history, so no poll measured takes a batch.
    assert figures.after_fill_polls == 3 and figures.after_fill_median_ms == figures.median_ms
    assert set(figures.as_json()) == {"polls", "median_ms", "p95_ms", "sql_per_poll", "redis_per_poll",
                                      "bytes_per_poll", "first_ms", "times_ms", "cpu_median_ms",
                                      "after_fill_polls", "after_fill_median_ms"}
    assert isinstance(figures.as_json()["times_ms"], list)   # JSON


def test_polls_that_take_a_history_batch_are_told_apart(dsn, redis_url, cluster, monkeypatch):
    # The first poll loads the short history of two of the four nodes; the other two load in a
    # batch between it and the next poll, which takes it in: the first poll measured.
    monkeypatch.setattr(poller_module, "FIRST_POLL_HISTORY_NODES", 2)
    figures, _ = measure_ours(Settings(dsn=dsn, redis_url=redis_url), polls=3, every=0.0, read_ahead=False)
    assert figures.after_fill_polls == 2
    assert figures.after_fill_median_ms == pytest.approx(statistics.median(figures.times_ms[1:]), abs=0.1)


def test_percentile_is_nearest_rank():
    values = list(range(1, 31))
    assert percentile(values, 0.95) == 29 and percentile(values, 0.5) == 15 and percentile([4.0], 0.95) == 4.0


def test_each_changed_snapshot_gives_a_tenth_of_the_nodes_new_samples():
    base = FixedSource().poll()
    previous = base
    for snapshot in changed_snapshots(base, 3):
        assert snapshot.taken_at == previous.taken_at + timedelta(seconds=2)
        changed = [new for old, new in zip(previous.nodes, snapshot.nodes) if new is not old]
        assert len(changed) == round(0.1 * len(base.nodes))
        for node in changed:
            assert all(s.latest_at == snapshot.taken_at for s in node.metrics)
        previous = snapshot


def test_overview_update_is_timed_on_the_real_screen():
    times = asyncio.run(_measure(FixedSource().poll(), updates=3, size=(120, 40)))
    assert len(times) == 3 and all(t > 0 for t in times)


def test_the_console_runs_in_a_pseudo_terminal_and_its_output_is_counted(dsn, redis_url, cluster, tmp_path):
    ids, db, rd = cluster
    stop = threading.Event()

    def new_samples():   # node n0's CPU moves (a new value each time) while the console runs
        value = 10.0
        while not stop.wait(0.2):
            value = (value + 7) % 100
            cd.add_metric_rows(db, [(datetime.now(UTC), ids[0], "cpu_percent", value)])

    writer = threading.Thread(target=new_samples)
    writer.start()
    try:
        figures = run_in_pty(dsn, redis_url, {"n0", "n1"}, str(tmp_path / "marks"), refreshes=3, refresh=0.5,
                             timeout=60)
    finally:
        stop.set()
        writer.join()
    assert figures.refreshes == 3
    assert figures.first_data_s is not None and 0 < figures.first_data_s < 60
    assert figures.bytes_max >= figures.bytes_median > 0
    assert figures.peak_rss_mb is not None and figures.peak_rss_mb > 20


def test_table_and_json_have_every_figure():
    result = {"nodes": 1000, "metric_rows": 2_000_000,
              "ours": {"median_ms": 12.3, "p95_ms": 20.0, "first_ms": 900.0, "sql_per_poll": 6,
                       "redis_per_poll": 1, "bytes_per_poll": 4096, "cpu_median_ms": 7.5,
                       "after_fill_polls": 25, "after_fill_median_ms": 11.1},
              "naive": {"median_ms": 2500.0, "p95_ms": 2600.0, "sql_per_poll": 5, "redis_per_poll": 1001,
                        "bytes_per_poll": 3_000_000},
              "naive_ratio": 203.0,
              "overview_update": {"median_ms": 8.0, "max_ms": 30.0, "updates": 20},
              "key_latency": {"median_ms": 4.5, "p95_ms": 9.0, "max_ms": 11.5, "presses": 40},
              "terminal": {"bytes_median": 900, "bytes_max": 3000, "first_data_s": 1.2, "peak_rss_mb": 120.0}}
    text = report.table([result, dict(result, nodes=5000)])
    assert "| figure | 1,000 nodes | 5,000 nodes |" in text
    for words in ("12.3 / 20.0 ms", "11.1 ms (25) / 7.5 ms", "6.0 / 1.0", "4.0 KB", "203x", "8.0 / 30.0 ms", "4.5 / 9.0 / 11.5 ms", "900 B / 2.9 KB", "1.20 s",
                  "120 MB"):
        assert words in text, words
    assert {"date", "cpus", "python", "textual"} <= set(report.machine())


def test_spread_metrics_samples_each_node_once_per_interval(dsn, redis_url):
    sim = Simulator(dsn, redis_url, nodes=6, seed=3, interval=10, incidents=False)
    try:
        sim.register()
        sim.spread_metrics(3)
        start = cd.utc_now()
        for k in range(6):   # two intervals of 10 s, a tick every 10/3 s
            sim.tick(start + timedelta(seconds=k * 10 / 3))
        with psycopg.connect(dsn) as conn:
            per_node = conn.execute("SELECT node_id, count(DISTINCT time) FROM node_metrics GROUP BY 1").fetchall()
    finally:
        sim.close()
    assert len(per_node) == 6 and {count for _, count in per_node} == {2}


def test_bench_refuses_bad_sizes_in_one_line():
    result = subprocess.run([sys.executable, "-m", "omega_tui", "bench", "--nodes", "10,zero"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "expected node counts like 100,1000,5000" in result.stderr and "Traceback" not in result.stderr


def test_measuring_an_existing_cluster_writes_nothing(dsn, redis_url, cluster):
    from omega_tui.bench.command import BenchOptions, measure_stores

    ids, db, rd = cluster

    def state():
        # TimescaleDB's background jobs write its own catalogs whoever reads: not the bench's doing.
        tables = [r[0] for r in db.execute(
            "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_user_tables"
            " WHERE schemaname NOT LIKE '\\_timescaledb%' ORDER BY 1").fetchall()]
        rows = {t: db.execute(f"SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM {t} x").fetchone()[0]
                for t in tables}
        keys = {k: (rd.type(k), rd.dump(k)) for k in rd.keys("*")}
        return rows, keys

    before = state()
    options = BenchOptions(sizes=[], history=timedelta(hours=1), polls=2, naive_polls=1, updates=2, key_presses=5,
                           refreshes=2, refresh=0.3)
    result = measure_stores(dsn, redis_url, options, nodes=None)
    assert result["nodes"] == 4 and result["naive_ratio"] > 0
    assert set(result) == {"nodes", "ours", "naive", "naive_ratio", "overview_update", "key_latency", "terminal"}
    keys = result["key_latency"]
    assert keys["presses"] == 5 and keys["polls_meanwhile"] >= 1 and 0 < keys["median_ms"] <= keys["max_ms"]
    assert len(keys["times_ms"]) == 5 and max(keys["times_ms"]) == round(keys["max_ms"], 1)
    assert state() == before


def test_a_backfilled_database_is_settled_before_it_is_measured(dsn):
    # The bench vacuums and analyzes after its backfill, so autovacuum does not do it during the polls.
    from omega_tui.bench.command import settle

    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute("SELECT vacuum_count, analyze_count FROM pg_stat_user_tables "
                              "WHERE relname = 'nodes'").fetchone()
        settle(dsn)
        after = conn.execute("SELECT vacuum_count, analyze_count FROM pg_stat_user_tables "
                             "WHERE relname = 'nodes'").fetchone()
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1


def test_the_backfill_runs_in_a_child_process_and_reports_its_rows(dsn, redis_url):
    # Not in the bench's process, whose later polls it made cost a quarter more CPU.
    from omega_tui.bench import live_simulator
    from omega_tui.bench.poll_bench import BenchError

    rows, seconds = live_simulator.backfill(dsn, redis_url, nodes=3, interval=10.0, seed=2,
                                            history=timedelta(minutes=2))
    with psycopg.connect(dsn) as conn:
        held = conn.execute("SELECT count(*), count(DISTINCT node_id) FROM node_metrics").fetchone()
    assert rows > 0 and held == (rows, 3) and seconds > 0

    bad = dsn.replace("dbname=", "dbname=missing_") if "dbname=" in dsn else dsn.rsplit("/", 1)[0] + "/missing_db"
    with pytest.raises(BenchError) as failed:
        live_simulator.backfill(bad, redis_url, nodes=3, interval=10.0, seed=2, history=timedelta(minutes=2))
    message = str(failed.value)
    assert message.startswith("the backfill failed: ") and "missing" in message and "\n" not in message
    assert "Traceback" not in message and _password_of(dsn) not in message


def _password_of(dsn: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(dsn).get("password") or "no password in this dsn"


def test_the_live_simulator_runs_below_the_consoles_priority(dsn, redis_url):
    # It stands in for agents on other machines: on the bench's cores it takes the CPU the console leaves.
    from omega_tui.bench import live_simulator

    child = live_simulator.start(dsn, redis_url, nodes=3, interval=10.0, groups=1, seed=2)
    try:
        below_ours = min(19, os.getpriority(os.PRIO_PROCESS, 0) + live_simulator.NICE)
        threads = [int(tid) for tid in os.listdir(f"/proc/{child.pid}/task")]
        assert threads and all(os.getpriority(os.PRIO_PROCESS, tid) == below_ours for tid in threads)
        if os.path.exists("/proc/self/autogroup"):   # and its session's group as a whole
            with open(f"/proc/{child.pid}/autogroup") as autogroup:
                assert autogroup.read().split()[-2:] == ["nice", str(live_simulator.NICE)]
    finally:
        live_simulator.stop(child)
    assert child.returncode is not None
