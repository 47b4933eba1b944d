"""Nodes and live sessions read incrementally (xmin since the last poll's snapshot), against a real PostgreSQL.

Each test makes a change between two polls and checks that the second poll,
an incremental one (not a full re-read), shows it.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data import actions
from omega_tui.data.models import Heartbeat, MetricSeries, Node, Reachability, node_from_postgres
from omega_tui.data.pg_reads import pg_node
from omega_tui.data.poller import Poller


@pytest.fixture
def poller(dsn, redis_url, clock):
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    yield poller
    poller.close()


def incremental_poll(poller):
    snap = poller.poll()
    assert not poller._live_tables.full, "this poll should have read only the changes"
    return snap


def by_name(snap):
    return {s.session_name: s for s in snap.sessions}


def node(snap, hostname):
    return next(n for n in snap.nodes if n.hostname == hostname)


def test_an_action_changing_a_node_shows_on_the_next_poll(poller, db, redis_url, clock):
    cd.add_node(db, "a")
    cd.add_node(db, "b")
    poller.poll()
    assert poller._live_tables.full
    rds = cd.redis_client(redis_url)
    try:
        result = actions.drain_node(db, rds, actions.current_actor("tester"), "b")
    finally:
        rds.close()
    assert result.result == "ok", result
    snap = incremental_poll(poller)
    assert [(n.hostname, n.status) for n in snap.nodes] == [("a", "active"), ("b", "draining")]


def test_resources_changed_or_deleted_and_nodes_deleted_or_added(poller, db):
    a = cd.add_node(db, "a")
    b = cd.add_node(db, "b")
    cd.add_resource(db, a, "cpu", 32, 4, "cores")
    cd.add_resource(db, a, "gpu", 4, 1, "devices")
    poller.poll()

    db.execute("UPDATE node_resources SET allocated_capacity = 30 WHERE node_id = %s AND resource_type = 'cpu'", (a,))
    snap = incremental_poll(poller)
    assert [(r.resource_type, r.allocated) for r in node(snap, "a").allocations] == [("cpu", 30.0), ("gpu", 1.0)]

    db.execute("DELETE FROM node_resources WHERE node_id = %s AND resource_type = 'gpu'", (a,))
    snap = poller.poll()
    assert [r.resource_type for r in node(snap, "a").allocations] == ["cpu"]

    db.execute("DELETE FROM nodes WHERE node_id = %s", (b,))
    snap = poller.poll()
    assert [n.hostname for n in snap.nodes] == ["a"]

    cd.add_node(db, "0-first")
    snap = poller.poll()
    assert [n.hostname for n in snap.nodes] == ["0-first", "a"]
    incremental_poll(poller)

def test_a_node_written_without_its_resources_keeps_them_and_a_resource_deleted_meanwhile_is_seen(poller, db):
    # A node's row written alone (a heartbeat) brings no resources: the held ones stay.
    a = cd.add_node(db, "a")
    b = cd.add_node(db, "b")
    cd.add_resource(db, a, "cpu", 32, 4, "cores")
    cd.add_resource(db, a, "gpu", 4, 1, "devices")
    cd.add_resource(db, b, "cpu", 16, 2, "cores")
    poller.poll()

    db.execute("UPDATE nodes SET last_heartbeat = now(), status = 'draining' WHERE node_id = %s", (a,))
    snap = incremental_poll(poller)
    assert node(snap, "a").status == "draining"
    assert [(r.resource_type, r.allocated) for r in node(snap, "a").allocations] == [("cpu", 4.0), ("gpu", 1.0)]

    # Its resources and its row written in the same poll: the resources as written.
    db.execute("UPDATE node_resources SET allocated_capacity = 9 WHERE node_id = %s AND resource_type = 'gpu'", (a,))
    db.execute("UPDATE nodes SET last_heartbeat = now() WHERE node_id = %s", (a,))
    snap = incremental_poll(poller)
    assert [(r.resource_type, r.allocated) for r in node(snap, "a").allocations] == [("cpu", 4.0), ("gpu", 9.0)]

    # A resource row of `a` deleted while `a` heartbeats and `b` gains one (the total stays the same).
    db.execute("DELETE FROM node_resources WHERE node_id = %s AND resource_type = 'gpu'", (a,))
    db.execute("UPDATE nodes SET last_heartbeat = now() WHERE node_id = %s", (a,))
    cd.add_resource(db, b, "gpu", 2, 1, "devices")
    snap = poller.poll()
    assert [r.resource_type for r in node(snap, "a").allocations] == ["cpu"]
    assert [r.resource_type for r in node(snap, "b").allocations] == ["cpu", "gpu"]



def test_resource_rows_of_no_node_are_counted_once_and_a_change_is_still_seen(poller, db):
    # A database without the foreign key (not the contract's): node_resources rows of no node are
    # in CHANGES_SQL's count; they are counted at a full read, not a reason to read all every poll.
    a = cd.add_node(db, "a")
    cd.add_resource(db, a, "cpu", 32, 4, "cores")
    cd.add_resource(db, a, "gpu", 4, 1, "devices")
    db.execute("SET session_replication_role = replica")   # foreign keys not enforced in this session
    db.execute("INSERT INTO node_resources (node_id, resource_type, total_capacity, unit)"
               " VALUES (gen_random_uuid(), 'cpu', 8, 'cores')")
    db.execute("RESET session_replication_role")
    poller.poll()
    db.execute("UPDATE nodes SET last_heartbeat = now() WHERE node_id = %s", (a,))
    snap = incremental_poll(poller)
    assert [r.resource_type for r in node(snap, "a").allocations] == ["cpu", "gpu"]
    db.execute("DELETE FROM node_resources WHERE node_id = %s AND resource_type = 'gpu'", (a,))
    snap = poller.poll()
    assert poller._live_tables.full and [r.resource_type for r in node(snap, "a").allocations] == ["cpu"]
    incremental_poll(poller)


def test_a_nodes_allocations_are_parsed_again_only_when_their_text_changes():
    # Reused from the node's previous row (no cache keyed by allocation texts, which are always new).
    row = ("id-a", "a", None, "cpu", "active", 8, 32.0, 100.0, 0, None, '{"rack": "r1"}', None, None,
           '[["cpu", 2, 8, "cores"]]', 1)
    first = pg_node(row)
    counts_changed = pg_node(row, 1, 2, before=(row, first))
    assert counts_changed.fields["allocations"] is first.fields["allocations"]
    assert counts_changed.fields["sessions_total"] == 2
    moved = row[:13] + ('[["cpu", 6, 8, "cores"]]', 1)
    assert [(a.resource_type, a.allocated) for a in pg_node(moved, before=(row, first)).fields["allocations"]] == [
        ("cpu", 6.0)]


def test_a_node_rebuilt_from_its_previous_row_is_the_node_its_new_row_gives():
    # A heartbeat rewrites only the times: the other fields are taken over, not checked again;
    # any other change is read afresh. Either way the result is what the row alone gives.
    then, now = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
    row = ("id-a", "a", "10.0.0.1", "cpu", "active", 8, 32.0, 100.0, 0, None, '{"rack": "r1"}', then, then,
           '[["cpu", 2, 8, "cores"]]', 1)
    before = (row, pg_node(row, 1, 1))
    heartbeat = row[:11] + (now, now) + row[13:]
    others = (heartbeat[:4] + ("draining",) + heartbeat[5:], heartbeat[:6] + (float("nan"),) + heartbeat[7:],
              heartbeat[:10] + ('{"rack": "r2"}',) + heartbeat[11:], heartbeat[:11] + (None, None) + heartbeat[13:])
    for new in (heartbeat, *others):
        rebuilt = pg_node(new, 2, 3, before=before)
        fresh = pg_node(new, 2, 3)
        assert (rebuilt.node_id, rebuilt.updated_at, rebuilt.fields) == (fresh.node_id, fresh.updated_at, fresh.fields)


def test_a_node_built_from_its_postgres_fields_is_the_node_the_constructor_gives():
    # node_from_postgres() sets the slots itself: every field must be set, each to the constructor's value.
    then = datetime(2026, 1, 1, tzinfo=UTC)
    row = ("id-a", "a", "10.0.0.1", "cpu", "active", 8, 32.0, 100.0, 0, None, '{"rack": "r1"}', then, then,
           '[["cpu", 2, 8, "cores"]]', 1)
    fields = pg_node(row, 2, 3).fields
    heartbeat = Heartbeat(then, "active", 0.5)
    series = (MetricSeries("cpu_percent", "%", 50.0, then, (50.0,), ()),)
    built = node_from_postgres(fields, Reachability.LIVE, heartbeat, series)
    constructed = Node(**fields, reachability=Reachability.LIVE, heartbeat=heartbeat, metrics=series)
    assert built == constructed
    assert [getattr(built, f.name) for f in dataclass_fields(Node)] == [
        getattr(constructed, f.name) for f in dataclass_fields(Node)]
    assert built.in_postgres and built.sessions_total == 3 and built.metrics is series


def test_sessions_come_change_finish_and_go_with_the_nodes_counts(poller, db, clock):
    user = cd.add_user(db)
    gpu = cd.add_node(db, "gpu-01")
    old = cd.add_session(db, user, "old", status="running", node_id=gpu, created_at=clock.now - timedelta(hours=1))
    done = cd.add_session(db, user, "done", status="running", node_id=gpu, created_at=clock.now - timedelta(minutes=30))
    gone = cd.add_session(db, user, "gone", created_at=clock.now - timedelta(minutes=20))
    snap = poller.poll()
    assert list(by_name(snap)) == ["old", "done", "gone"]
    assert (node(snap, "gpu-01").sessions_running, node(snap, "gpu-01").sessions_total) == (2, 2)

    cd.add_session(db, user, "newer", created_at=clock.now - timedelta(minutes=10))
    cd.add_session(db, user, "between", status="scheduled", node_id=gpu, created_at=clock.now - timedelta(minutes=40))
    db.execute("UPDATE sessions SET status = 'paused' WHERE session_id = %s", (old,))
    snap = incremental_poll(poller)
    assert [(s.session_name, s.status) for s in snap.sessions] == [
        ("old", "paused"), ("between", "scheduled"), ("done", "running"), ("gone", "pending"), ("newer", "pending")]
    assert (node(snap, "gpu-01").sessions_running, node(snap, "gpu-01").sessions_total) == (1, 3)
    # Read again as written since the last poll: with their node's hostname and their user's name.
    assert [(s.node_hostname, s.username) for s in snap.sessions if s.session_name in ("old", "between", "newer")] == [
        ("gpu-01", "alice"), ("gpu-01", "alice"), (None, "alice")]

    db.execute("UPDATE sessions SET status = 'completed', end_time = now() WHERE session_id = %s", (done,))
    db.execute("DELETE FROM sessions WHERE session_id = %s", (gone,))
    snap = incremental_poll(poller)
    assert list(by_name(snap)) == ["old", "between", "newer"]
    assert (node(snap, "gpu-01").sessions_running, node(snap, "gpu-01").sessions_total) == (0, 2)


def test_a_session_moving_between_nodes_changes_both_counts_and_no_other_node(poller, db, clock):
    # An incremental poll rebuilds only the nodes whose row was written or whose counts changed.
    user = cd.add_user(db)
    first, second = cd.add_node(db, "a-01"), cd.add_node(db, "a-02")
    cd.add_node(db, "a-03")
    moving = cd.add_session(db, user, "moving", status="running", node_id=first)
    before = {n.hostname: n for n in poller.poll().nodes}
    db.execute("UPDATE sessions SET scheduled_node_id = %s WHERE session_id = %s", (second, moving))
    after = {n.hostname: n for n in incremental_poll(poller).nodes}
    assert [(after[h].sessions_running, after[h].sessions_total) for h in ("a-01", "a-02", "a-03")] == [
        (0, 0), (1, 1), (0, 0)]
    assert after["a-03"] is before["a-03"]
    assert after["a-01"] is not before["a-01"] and after["a-02"] is not before["a-02"]


def test_renamed_node_and_user_show_in_the_sessions(poller, db):
    user = cd.add_user(db, "alice")
    gpu = cd.add_node(db, "gpu-01")
    cd.add_session(db, user, "train", status="running", node_id=gpu)
    poller.poll()
    db.execute("UPDATE nodes SET hostname = 'gpu-99' WHERE node_id = %s", (gpu,))
    db.execute("UPDATE users SET username = 'bob' WHERE user_id = %s", (user,))
    snap = poller.poll()
    session = by_name(snap)["train"]
    assert (session.node_hostname, session.username) == ("gpu-99", "bob")
    assert [n.hostname for n in snap.nodes] == ["gpu-99"]


def test_a_users_row_written_while_a_transaction_is_open_elsewhere_reads_again_only_for_a_new_name(poller, db, dsn):
    user = cd.add_user(db, "alice")
    cd.add_session(db, user, "train", status="running", node_id=cd.add_node(db, "gpu-01"))
    poller.poll()
    other = psycopg.connect(dsn)
    other.execute("SELECT txid_current()")   # a long report, say: it holds the snapshot's xmin back
    try:
        db.execute("UPDATE users SET email = 'alice@example.org' WHERE user_id = %s", (user,))   # not its name
        incremental_poll(poller)
        incremental_poll(poller)   # the row is still "written since" the held-back xmin
        db.execute("UPDATE users SET username = 'bob' WHERE user_id = %s", (user,))
        snap = poller.poll()
        assert poller._live_tables.full and by_name(snap)["train"].username == "bob"
        incremental_poll(poller)
    finally:
        other.rollback()
        other.close()


def test_rows_read_again_unchanged_while_a_transaction_is_open_elsewhere_keep_their_nodes(poller, db, dsn):
    other = psycopg.connect(dsn)
    other.execute("SELECT txid_current()")   # the snapshot's xmin stays here: every row written since comes back
    try:
        cd.add_node(db, "a")
        b = cd.add_node(db, "b")
        before = {n.hostname: n for n in poller.poll().nodes}
        db.execute("UPDATE nodes SET last_heartbeat = now() WHERE node_id = %s", (b,))
        after = {n.hostname: n for n in incremental_poll(poller).nodes}
        assert after["a"] is before["a"] and after["b"] is not before["b"]   # a's row came back as it was
        assert incremental_poll(poller).nodes[0] is after["a"]
    finally:
        other.rollback()
        other.close()


def test_a_change_committed_by_a_transaction_in_progress_at_the_last_poll_is_not_missed(poller, db, dsn, clock):
    user = cd.add_user(db)
    a = cd.add_node(db, "a")
    cd.add_node(db, "b")
    session = cd.add_session(db, user, "job", created_at=clock.now - timedelta(minutes=5))
    poller.poll()

    writer = cd.connect(dsn)
    try:
        writer.autocommit = False
        writer.execute("UPDATE sessions SET priority = 9 WHERE session_id = %s", (session,))   # the top-level xid
        writer.execute("SAVEPOINT s")
        writer.execute("UPDATE nodes SET status = 'maintenance' WHERE node_id = %s", (a,))   # a subtransaction's xid
        writer.execute("RELEASE SAVEPOINT s")
        # Later transactions commit while the writer is still open, and a poll sees them.
        cd.add_node(db, "c")
        snap = poller.poll()
        assert node(snap, "a").status == "active" and by_name(snap)["job"].priority == 5
        db.execute("UPDATE nodes SET status = 'draining' WHERE hostname = 'b'")
        snap = incremental_poll(poller)
        assert node(snap, "b").status == "draining"
        writer.commit()
    finally:
        writer.close()

    snap = incremental_poll(poller)
    assert node(snap, "a").status == "maintenance"
    assert by_name(snap)["job"].priority == 9


def test_queued_sessions_beyond_the_cap_are_not_called_strays(poller, db, redis_url, clock, monkeypatch):
    from omega_tui.data import pg_reads

    monkeypatch.setattr(pg_reads, "MAX_SESSIONS", 3)
    user = cd.add_user(db)
    ids = [cd.add_session(db, user, f"s{i}", created_at=clock.now - timedelta(minutes=10 - i)) for i in range(4)]
    rds = cd.redis_client(redis_url)
    try:
        cd.set_queue(rds, ids)
    finally:
        rds.close()
    for _ in range(2):
        snap = poller.poll()
        assert [s.session_name for s in snap.sessions] == ["s0", "s1", "s2"]
        assert "only the oldest 3 live sessions are shown" in snap.notices
        assert not any("are not pending sessions" in notice for notice in snap.notices)
    db.execute("UPDATE sessions SET status = 'completed' WHERE session_id = %s", (ids[0],))
    snap = poller.poll()
    assert [s.session_name for s in snap.sessions] == ["s1", "s2", "s3"]


def test_live_session_ids_holding_the_separator_are_noticed_not_split(db):
    # Someone else's database may key sessions by text: an id with a comma must not read as two ids.
    from omega_tui.data.pg_reads import read_live_session_ids
    db.execute("CREATE SCHEMA text_ids")
    try:
        db.execute("CREATE TABLE text_ids.sessions (session_id text, status text)")
        db.execute("INSERT INTO text_ids.sessions VALUES ('a', 'running'), ('b', 'running'), ('c', 'completed')")
        db.execute("SET search_path = text_ids")
        assert read_live_session_ids(db, ["running"]) == {"a", "b"}
        assert read_live_session_ids(db, ["pending"]) == set()
        db.execute("INSERT INTO text_ids.sessions VALUES ('a,b', 'running')")
        assert read_live_session_ids(db, ["running"]) is None
    finally:
        db.execute("RESET search_path")
        db.execute("DROP SCHEMA text_ids CASCADE")
