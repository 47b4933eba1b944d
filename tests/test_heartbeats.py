"""Heartbeats: parsing untrusted values, reachability, and what the poller shows for them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

import cluster_data as cd
from omega_tui.config import Settings
from omega_tui.data.models import HealthState, Heartbeat, Reachability
from omega_tui.data.poller import Poller
from omega_tui.data.redis_live import live_until, parse_heartbeat, parse_timestamp, reachability

T = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("value, expected", [
    ("2025-03-01T12:00:00+00:00", T),
    ("2025-03-01T12:00:00Z", T),
    ("2025-03-01T13:00:00+01:00", T),
    ("2025-03-01T12:00:00", T),                       # naive: taken as UTC
    (T.timestamp(), T),                               # epoch seconds, float
    (int(T.timestamp()), T),                          # epoch seconds, int
    (str(T.timestamp()), T),                          # epoch seconds as text
    ("  " + str(T.timestamp()) + " ", T),              # with spaces
    ("-3600", datetime(1969, 12, 31, 23, 0, tzinfo=UTC)),   # epoch seconds before 1970
    ("1.5e-05", datetime(1970, 1, 1, 0, 0, 0, 15, tzinfo=UTC)),   # "-" fifth, as in "YYYY-": not ISO, still epoch
])
def test_timestamps_iso_and_epoch_are_both_accepted(value, expected):
    at, problem = parse_timestamp(value)
    assert problem is None and at == expected and at.tzinfo is not None


@pytest.mark.parametrize("value, words", [
    (None, "no timestamp"),
    (True, "bool"),
    ([1, 2], "list"),
    ("yesterday", "neither ISO-8601 nor epoch"),
    ("2025-13-01T12:00:00", "neither ISO-8601 nor epoch"),   # looks ISO, is not a date
    ("", "neither ISO-8601 nor epoch"),
    (float("inf"), "not a finite number"),
    (1e20, "out of range"),
])
def test_bad_timestamps_say_why(value, words):
    at, problem = parse_timestamp(value)
    assert at is None and words in problem


def test_a_good_heartbeat_parses():
    hb = parse_heartbeat(json.dumps({"timestamp": T.isoformat(), "status": "active", "load": 3}).encode())
    assert hb == Heartbeat(at=T, status="active", load=3.0, problem=None)


@pytest.mark.parametrize("raw, words", [
    (b"\xff\xfe", "not UTF-8"),
    (b"not json at all", "not JSON"),
    (b"[1, 2, 3]", "not an object"),
    (b'"just a string"', "not an object"),
    (b'{"status": "active", "load": 1}', "no timestamp"),
    (b'{"timestamp": 1740830400, "status": 7, "load": 1}', "status is a int"),
    (b'{"timestamp": 1740830400, "status": "active", "load": "high"}', "load is a str"),
    (b'{"timestamp": 1740830400, "status": "active", "load": NaN}', "load is not a finite number"),
    (b'{"timestamp": 1740830400, "status": "active", "load": true}', "load is a bool"),
])
def test_malformed_heartbeats_carry_a_problem_not_an_exception(raw, words):
    hb = parse_heartbeat(raw)
    assert hb.problem is not None and words in hb.problem
    state, _ = reachability(hb, T)
    assert state is Reachability.MALFORMED


def test_problem_text_escapes_control_characters():
    hb = parse_heartbeat(b"\x1b[31mred\x07")
    assert "\x1b" not in hb.problem and "\\x1b" in hb.problem


def test_reachability_follows_age_against_the_ttl():
    fresh = Heartbeat(at=T - timedelta(seconds=30), status="active", load=None)
    old = Heartbeat(at=T - timedelta(seconds=31), status="active", load=None)
    assert reachability(fresh, T) == (Reachability.LIVE, 30.0)
    assert reachability(old, T) == (Reachability.STALE, 31.0)
    assert reachability(None, T) == (Reachability.MISSING, None)


def test_live_until_is_the_last_moment_reachability_says_live():
    hb = Heartbeat(at=T - timedelta(seconds=30), status="active", load=None)
    until = live_until(hb)
    assert until == T and reachability(hb, until)[0] is Reachability.LIVE
    assert reachability(hb, until + timedelta(microseconds=1))[0] is Reachability.STALE
    assert live_until(parse_heartbeat(b"nope")) == datetime.min.replace(tzinfo=UTC)   # never LIVE
    end_of_time = Heartbeat(at=datetime.max.replace(tzinfo=UTC), status="active", load=None)
    assert live_until(end_of_time) == datetime.max.replace(tzinfo=UTC)   # no overflow


def test_an_unchanged_heartbeat_goes_stale_as_time_passes(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    node = cd.add_node(db, "quiet")
    db.close()
    rd = cd.redis_client(redis_url)
    cd.write_heartbeat(rd, node, clock.now - timedelta(seconds=10))
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        first = poller.poll().node(node)
        clock.advance(20)             # the heartbeat is 30 s old: still LIVE, nothing changed
        second = poller.poll().node(node)
        clock.advance(0.000001)
        third = poller.poll().node(node)
    finally:
        poller.close()
        rd.close()
    assert first.reachability is Reachability.LIVE and second is first
    assert third.reachability is Reachability.STALE and third.heartbeat is first.heartbeat


def test_poller_shows_every_heartbeat_state(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    names = ["iso", "epoch", "stale", "missing", "garbage", "wrongtypes", "notimestamp", "future"]
    ids = {name: cd.add_node(db, name) for name in names}
    db.close()
    cd.write_heartbeat(rd, ids["iso"], clock.now - timedelta(seconds=5))
    cd.write_heartbeat(rd, ids["epoch"], (clock.now - timedelta(seconds=6)).timestamp())
    cd.write_heartbeat(rd, ids["stale"], clock.now - timedelta(seconds=45))
    cd.write_raw_heartbeat(rd, ids["garbage"], b"\x00\x01 nope")
    cd.write_raw_heartbeat(rd, ids["wrongtypes"], json.dumps({"timestamp": clock.now.isoformat(), "status": ["a"], "load": {}}))
    cd.write_raw_heartbeat(rd, ids["notimestamp"], json.dumps({"status": "active", "load": 1}))
    cd.write_heartbeat(rd, ids["future"], clock.now + timedelta(seconds=5))
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()
        rd.close()
    state = {n.hostname: n.reachability for n in snap.nodes}
    assert state == {
        "iso": Reachability.LIVE, "epoch": Reachability.LIVE, "stale": Reachability.STALE,
        "missing": Reachability.MISSING, "garbage": Reachability.MALFORMED, "wrongtypes": Reachability.MALFORMED,
        "notimestamp": Reachability.MALFORMED, "future": Reachability.LIVE,
    }
    by_name = {n.hostname: n for n in snap.nodes}
    assert by_name["epoch"].heartbeat_age_at(snap.taken_at) == 6 and by_name["stale"].heartbeat_age_at(snap.taken_at) == 45
    assert by_name["future"].heartbeat_age_at(snap.taken_at) == -5
    assert "status is a list" in by_name["wrongtypes"].heartbeat.problem
    assert by_name["wrongtypes"].heartbeat.at == clock.now          # what did parse is kept
    assert by_name["missing"].heartbeat is None
    assert snap.totals.nodes_unreachable == 2                        # stale + missing
    assert "3 heartbeat(s) malformed" in snap.notices
    assert snap.redis.state is HealthState.OK
    unreachable = {a.node_id for a in snap.alerts if a.alert_id.startswith("unreachable:")}
    assert unreachable == {ids[n] for n in ("stale", "missing", "garbage", "wrongtypes", "notimestamp")}


def test_a_vanished_heartbeat_dates_its_alert_from_the_last_one_seen(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    node = cd.add_node(db, "vanishing")    # nodes.last_heartbeat stays NULL: only Redis knows when
    db.close()
    rd = cd.redis_client(redis_url)
    seen_at = clock.now - timedelta(seconds=3)
    cd.write_heartbeat(rd, node, seen_at)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        assert poller.poll().node(node).reachability is Reachability.LIVE
        rd.delete(f"node:heartbeat:{node}")
        for _ in range(3):                 # the key stays missing: the date holds
            clock.advance(2)
            snap = poller.poll()
            assert snap.node(node).reachability is Reachability.MISSING
            alert = next(a for a in snap.alerts if a.alert_id == f"unreachable:{node}")
            assert alert.since == seen_at + timedelta(seconds=30)
        cd.write_heartbeat(rd, node, clock.now)
        assert not any(a.alert_id == f"unreachable:{node}" for a in poller.poll().alerts)
    finally:
        poller.close()
        rd.close()


def test_the_reader_remembers_when_a_missing_key_was_last_seen(redis_url):
    from omega_tui.data.redis_live import HeartbeatReader

    rd = cd.redis_client(redis_url)
    node, never = cd.new_id(), cd.new_id()
    now = cd.utc_now()
    cd.write_heartbeat(rd, node, now)
    reader = HeartbeatReader()
    try:
        assert reader.read(rd, [node, never], now).last_seen == {}
        rd.delete(f"node:heartbeat:{node}")
        for _ in range(2):
            assert reader.read(rd, [node, never], now).last_seen == {node: now}
        assert reader.read(rd, [never], now).last_seen == {}     # a node no longer asked about is forgotten
    finally:
        rd.close()


def test_the_queue_and_unchanged_heartbeats_are_decoded_once_and_read_again_when_they_change(redis_url):
    from omega_tui.data.redis_live import QUEUE_KEY, HeartbeatReader

    rd = cd.redis_client(redis_url)
    node = cd.new_id()
    now = cd.utc_now()
    cd.write_heartbeat(rd, node, now)
    rd.rpush(QUEUE_KEY, "s1", "s2")
    reader = HeartbeatReader()
    try:
        first = reader.read(rd, [node], now)
        again = reader.read(rd, [node], now)
        assert again.queue is first.queue and again.queue == ("s1", "s2")
        assert again.heartbeats[node] is first.heartbeats[node]
        rd.lpop(QUEUE_KEY)
        cd.write_heartbeat(rd, node, now + timedelta(seconds=5))
        moved = reader.read(rd, [node], now)
        assert moved.queue == ("s2",)
        assert moved.heartbeats[node].at == now + timedelta(seconds=5)
        # Another node asked about too (the node list changed): the unchanged value is still not parsed again.
        other = cd.new_id()
        cd.write_heartbeat(rd, other, now)
        more = reader.read(rd, [other, node], now)
        assert more.heartbeats[node] is moved.heartbeats[node] and more.heartbeats[other].at == now
    finally:
        rd.delete(QUEUE_KEY)
        rd.close()


def _heartbeat_times(reading, nodes) -> list:
    return [reading.heartbeats[node].at for node in nodes]


def test_a_heartbeat_is_read_when_its_next_is_due_and_every_one_in_turn(redis_url):
    _read_when_due_and_in_turn(cd.redis_client(redis_url))


def test_on_a_cluster_too_a_heartbeat_is_read_when_due_and_in_turn(cluster_url):
    from omega_tui.data.connect import redis_connect

    _read_when_due_and_in_turn(redis_connect(cluster_url))


def _read_when_due_and_in_turn(rd):
    """Off its cadence a new value waits for its node's turn (every SWEEP_READS reads); when the
    next one is due, every node's is read."""
    from omega_tui.data.redis_live import SWEEP_READS, HeartbeatReader

    nodes = [cd.new_id() for _ in range(2 * SWEEP_READS)]
    start = cd.utc_now()

    def write_all(at):
        for node in nodes:
            cd.write_heartbeat(rd, node, at)

    reader = HeartbeatReader()
    try:
        write_all(start)
        reader.read(rd, nodes, start)
        write_all(start + timedelta(seconds=10))   # on a 10 s cadence: the next ones are due at +20 s
        assert set(_heartbeat_times(reader.read(rd, nodes, start + timedelta(seconds=10)), nodes)) == {
            start + timedelta(seconds=10)}

        early = start + timedelta(seconds=12)
        write_all(early)   # off the cadence (an agent restarted, say)
        seen = [at == early for at in _heartbeat_times(reader.read(rd, nodes, early), nodes)]
        assert sum(seen) == 2   # the nodes whose turn it was: 1 in SWEEP_READS
        for _ in range(SWEEP_READS - 1):
            reading = reader.read(rd, nodes, early)
        assert set(_heartbeat_times(reading, nodes)) == {early}   # every node had its turn

        due = start + timedelta(seconds=19.6)   # 10 s after +10, DUE_EARLY_US early
        write_all(start + timedelta(seconds=20))
        assert set(_heartbeat_times(reader.read(rd, nodes, due), nodes)) == {start + timedelta(seconds=20)}
    finally:
        rd.close()


def test_a_missing_or_unusable_heartbeat_is_read_every_time_and_a_clock_ahead_does_not_delay_reads(redis_url):
    from omega_tui.data.redis_live import HeartbeatReader

    rd = cd.redis_client(redis_url)
    ahead, missing, bad = cd.new_id(), cd.new_id(), cd.new_id()
    nodes = [ahead, missing, bad]
    now = cd.utc_now()
    hour = timedelta(hours=1)
    reader = HeartbeatReader()
    try:
        rd.set(f"node:heartbeat:{bad}", "not json")
        for seconds in (0, 10):   # `ahead`'s clock is an hour ahead; its cadence is 10 s
            cd.write_heartbeat(rd, ahead, now + hour + timedelta(seconds=seconds))
            reader.read(rd, nodes, now + timedelta(seconds=seconds))
        cd.write_heartbeat(rd, missing, now)
        rd.set(f"node:heartbeat:{bad}", json.dumps({"timestamp": now.isoformat()}))
        cd.write_heartbeat(rd, ahead, now + hour + timedelta(seconds=20))
        # Due 10 s after it was seen by our clock, not by its own; the others are read at once.
        reading = reader.read(rd, nodes, now + timedelta(seconds=19.6))
        assert reading.heartbeats[ahead].at == now + hour + timedelta(seconds=20)
        assert reading.heartbeats[missing].at == now and reading.heartbeats[bad].at == now
    finally:
        rd.close()


def test_a_node_new_in_postgresql_has_its_heartbeat_read_in_the_same_poll(dsn, redis_url):
    # Redis is read alongside PostgreSQL for the last poll's nodes; a new node is asked about after.
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    first = cd.add_node(db, "first")
    cd.write_heartbeat(rd, first, clock.now)
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        poller.poll()
        late = cd.add_node(db, "late")
        cd.write_heartbeat(rd, late, clock.now)
        clock.advance(2)
        snap = poller.poll()
        assert snap.node(late).reachability is Reachability.LIVE and snap.node(first).reachability is Reachability.LIVE
        assert snap.stats.redis_round_trips == 2
        clock.advance(2)
        snap = poller.poll()
        assert snap.node(late).reachability is Reachability.LIVE and snap.stats.redis_round_trips == 1
    finally:
        poller.close()
        rd.close()
        db.close()


def test_node_only_in_redis_shows_up_and_goes_away(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    known = cd.add_node(db, "known")
    db.close()
    rd = cd.redis_client(redis_url)
    stranger = cd.new_id()
    cd.write_heartbeat(rd, known, clock.now)
    cd.write_heartbeat(rd, stranger, clock.now, status="active", load=9.0)
    rd.set("node:heartbeat:weird key", b"{}", ex=30)   # not a uuid: kept as found
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        poller.poll()                       # the discovery pass finds the keys ...
        snap = poller.poll()                # ... and the next poll reads them with the others
        extra = {n.node_id: n for n in snap.nodes if not n.in_postgres}
        assert set(extra) == {stranger, "weird key"}
        assert extra[stranger].reachability is Reachability.LIVE and extra[stranger].heartbeat.load == 9.0
        assert extra["weird key"].reachability is Reachability.MALFORMED
        assert snap.node(known).in_postgres
        assert any("not in PostgreSQL" in notice for notice in snap.notices)

        rd.delete(f"node:heartbeat:{stranger}")
        snap = poller.poll()
        assert snap.node(stranger) is None and snap.node("weird key") is not None
    finally:
        poller.close()
        rd.close()


def test_queue_of_the_wrong_type_is_a_notice_not_a_failure(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    user = cd.add_user(db)
    cd.add_session(db, user, "p")
    db.close()
    rd = cd.redis_client(redis_url)
    rd.set("queue:pending_sessions", "not a list")
    poller = Poller(Settings(dsn=dsn, redis_url=redis_url), clock=clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()
        rd.close()
    assert snap.redis.ok and snap.queue_positions == {}
    assert any(n.startswith("queue:pending_sessions:") and "WRONGTYPE" in n for n in snap.notices)
