"""Everything that talks Redis, against a real 3-master Redis Cluster (with replicas) on loopback:
the poller reads every heartbeat across slots, the simulator and the agent write, the queue and
the control channel work cluster-wide, and a killed master is a health event that heals itself.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import redis
import redis.connection
from redis.cluster import RedisCluster, key_slot

from omega_tui.agent import NodeAgent
from omega_tui.config import Settings
from omega_tui.data import actions
from omega_tui.data.actions import Actor
from omega_tui.data.connect import StoreError, is_cluster, parse_redis_url, redis_connect
from omega_tui.data.models import HealthState, Reachability
from omega_tui.data.poller import Poller
from omega_tui.sim import Simulator

ACTOR = Actor(operator="ops2", os_user="alice", os_host="console-1")
QUEUE = "queue:pending_sessions"


def query(dsn, sql, params=()):
    with psycopg.connect(dsn) as conn:
        return conn.execute(sql, params).fetchall()


def make_sim(dsn, url, **kwargs) -> Simulator:
    options = {"nodes": 12, "seed": 11, "incidents": False, "demand": 4.0}
    options.update(kwargs)
    sim = Simulator(dsn, url, **options)
    sim.register()
    return sim


def ticks(sim, count: int, start: datetime | None = None) -> datetime:
    start = start or datetime.now(UTC) - timedelta(seconds=30 * (count - 1))   # the last tick is now
    now = start
    for k in range(count):
        now = start + timedelta(seconds=30 * k)
        report = sim.tick(now)
        assert report.problems == []
    return now


def primaries(client: RedisCluster) -> list:
    return client.get_primaries()


def master_port_of(cluster, port: int) -> int | None:
    with cluster.node_client(port) as client:
        return client.info("replication").get("master_port")


def one_id_per_master(client: RedisCluster) -> dict[str, str]:
    """A fresh node id whose heartbeat key lands on each master."""
    found: dict[str, str] = {}
    names = {n.name for n in primaries(client)}
    while set(found) != names:
        node_id = str(uuid.uuid4())
        node = client.nodes_manager.get_node_from_slot(key_slot(f"node:heartbeat:{node_id}".encode()))
        found.setdefault(node.name, node_id)
    return found


# --- URLs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, words", [
    ("redis+cluster://:s3cret-pw@", "no cluster nodes"),
    ("redis+cluster://:s3cret-pw@10.0.0.1", "is not host:port"),
    ("redis+cluster://:s3cret-pw@10.0.0.1:7000,10.0.0.2:notaport", "'10.0.0.2:notaport' is not host:port"),
    ("redis+cluster://:s3cret-pw@10.0.0.1:7000/2", "only database 0"),
    ("rediss+cluster://:s3cret-pw@10.0.0.1:99999", "is not host:port"),
    ("memcache://:s3cret-pw@10.0.0.1:7000", "schemes"),
])
def test_a_bad_cluster_url_is_one_clear_line_without_the_password(url, words):
    with pytest.raises(StoreError) as caught:
        redis_connect(url)
    message = str(caught.value)
    assert message.startswith("Redis: malformed URL") and words in message
    assert "s3cret-pw" not in message and "\n" not in message


def test_cluster_urls_parse_every_startup_node():
    target = parse_redis_url("rediss+cluster://bob:pw@h1:7000,[::1]:7001,h3:7002/0?ssl_cert_reqs=none")
    assert target.cluster and target.startup_nodes == (("h1", 7000), ("::1", 7001), ("h3", 7002))
    assert target.url == "rediss://bob:pw@h1:7000/0?ssl_cert_reqs=none"
    assert parse_redis_url("redis://:pw@h:6379/0").cluster is False


def test_an_unreachable_cluster_is_one_line():
    with pytest.raises(StoreError) as caught:
        redis_connect("redis+cluster://:s3cret-pw@127.0.0.1:1,127.0.0.1:2", connect_timeout=1)
    assert str(caught.value).startswith("Redis: no cluster node reachable") and "s3cret-pw" not in str(caught.value)


def test_a_plain_url_of_any_node_is_recognised_as_the_cluster(redis_cluster, cluster_url):
    for node in redis_cluster.nodes[:2]:
        client = redis_connect(redis_cluster.node_url(node.port))
        try:
            assert is_cluster(client) and len(client.get_primaries()) == 3
            client.set("some-key", "x")   # routed by slot, wherever it lives
            assert client.get("some-key") == b"x"
        finally:
            client.close()
    with pytest.raises(StoreError) as caught:
        redis_connect(redis_cluster.node_url(redis_cluster.nodes[0].port).replace("/0", "/3"))
    assert "only database 0" in str(caught.value) and redis_cluster.password not in str(caught.value)


# --- reads and writes -----------------------------------------------------------------------------

def test_poller_reads_every_heartbeat_across_slots_in_one_request_per_master(dsn, cluster_url, monkeypatch):
    sim = make_sim(dsn, cluster_url)
    client = redis_connect(cluster_url)
    poller = Poller(Settings(dsn=dsn, redis_url=cluster_url))
    try:
        start = datetime.now(UTC) - timedelta(seconds=30 * 7)
        ticks(sim, 3, start=start)
        query(dsn, "UPDATE nodes SET status = 'draining' RETURNING 1")   # no placements: arrivals queue up
        ticks(sim, 5, start=start + timedelta(seconds=90))
        strangers = one_id_per_master(client)   # heartbeating, unknown to PostgreSQL, one on each master
        for node_id in strangers.values():
            client.set(f"node:heartbeat:{node_id}", json.dumps({"timestamp": time.time(), "status": "active"}), ex=30)
        first = poller.poll()

        sends = []
        original = redis.connection.AbstractConnection.send_packed_command

        def counted(self, command, *args, **kwargs):
            sends.append(f"{self.host}:{self.port}")
            return original(self, command, *args, **kwargs)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
        second = poller.poll()
        monkeypatch.undo()
        queue = [x.decode() for x in client.lrange(QUEUE, 0, -1)]
    finally:
        poller.close()
        sim.close()

    assert first.redis.state is HealthState.OK and second.redis.state is HealthState.OK
    sim_ids = {n.node_id for n in sim.nodes}
    by_id = {n.node_id: n for n in second.nodes}
    assert sim_ids <= set(by_id)
    assert all(by_id[i].reachability is Reachability.LIVE for i in sim_ids)
    # SCAN covered every master: the stranger on each one was found.
    assert {n.node_id for n in second.nodes if not n.in_postgres} == set(strangers.values())
    # The heartbeats read really are spread over all three masters (the strangers make sure of it:
    # twelve random sim ids land on only two masters about once in 45 runs).
    read_ids = sim_ids | set(strangers.values())
    spread = {client.nodes_manager.get_node_from_slot(key_slot(f"node:heartbeat:{i}".encode())).name for i in read_ids}
    assert len(spread) == 3
    # The queue, replaced in MULTI/EXEC on its slot, is read in order.
    assert queue, "with every node draining, new sessions wait"
    positions = {s.session_id: second.queue_positions[s.session_id] for s in second.sessions
                 if s.session_id in second.queue_positions}
    assert sorted(positions, key=positions.get) == [q for q in queue if q in positions] and positions
    # One request per master, the masters only, and the figure the poller reports agrees.
    assert len(sends) == 3 and len(set(sends)) == 3
    assert second.stats.redis_round_trips == 3
    for node in primaries(client):
        assert "cmdstat_keys" not in client.info("commandstats", target_nodes=node)   # never KEYS
    client.close()


def test_queue_and_control_channel_work_cluster_wide(dsn, redis_cluster, cluster_url):
    sim = make_sim(dsn, cluster_url, interval=3600.0, demand=1.0)
    client = redis_connect(cluster_url)
    # A subscriber on every node, replicas too: PUBLISH on a cluster reaches them all.
    listeners = []
    for node in redis_cluster.nodes:
        plain = redis.Redis(host="127.0.0.1", port=node.port, password=redis_cluster.password)
        pubsub = plain.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe("omega:control")
        listeners.append((plain, pubsub))
    ticked = threading.Event()
    runner = threading.Thread(target=sim.run, kwargs={"on_tick": lambda report: ticked.set()}, daemon=True)
    try:
        ticks(sim, 6, start=datetime.now(UTC) - timedelta(minutes=5))
        session_id = query(dsn, "SELECT session_id FROM sessions WHERE status = 'running' LIMIT 1")[0][0]
        runner.start()
        deadline = time.monotonic() + 10
        def subscribers() -> int:
            return sum(count for _, count in client.pubsub_numsub("omega:control", target_nodes=RedisCluster.ALL_NODES))

        while not subscribers() > len(listeners):
            assert time.monotonic() < deadline, "simulator did not subscribe"
            time.sleep(0.02)
        assert ticked.wait(10)   # its first tick has written the queue; the next is an hour away
        queued = [x.decode() for x in client.lrange(QUEUE, 0, -1)]
        client.rpush(QUEUE, str(session_id))

        with psycopg.connect(dsn, autocommit=True) as conn:
            result = actions.cancel_session(conn, client, ACTOR, str(session_id))
        assert result.result == "ok" and result.notified, result.message

        # The simulator heard it (wherever its subscription lives) and acted on it.
        while query(dsn, "SELECT count(*) FROM session_allocations WHERE session_id = %s AND status = 'active'",
                    (session_id,))[0][0]:
            assert time.monotonic() < deadline, "the cancel message was not acted on"
            time.sleep(0.02)
        # Every node's subscriber got the one message.
        for _, pubsub in listeners:
            message = None
            while message is None and time.monotonic() < deadline:
                message = pubsub.get_message(timeout=0.2)
            assert message is not None and json.loads(message["data"])["target"] == str(session_id)
        assert [x.decode() for x in client.lrange(QUEUE, 0, -1)] == queued   # LREM took it out again
        assert json.loads(client.get(f"session:state:{session_id}"))["status"] == "cancelled"
    finally:
        sim.stop()
        if runner.is_alive():
            runner.join(10)
        sim.close()
        for plain, pubsub in listeners:
            pubsub.close()
            plain.close()
        client.close()


def test_agent_writes_its_heartbeat_to_the_cluster(dsn, cluster_url, tmp_path):
    now = datetime.now(UTC)
    with NodeAgent(dsn, cluster_url, buffer_path=tmp_path / "b.sqlite3", hostname=f"agent-{uuid.uuid4().hex[:6]}",
                   connect_timeout=1) as agent:
        tick = agent.tick(now)
    assert tick.redis_ok and tick.problems == []
    client = redis_connect(cluster_url)
    heartbeat = json.loads(client.get(f"node:heartbeat:{tick.node_id}"))
    assert datetime.fromisoformat(heartbeat["timestamp"]) == now
    assert client.get(f"metrics:node:{tick.node_id}:cpu_percent") is not None
    client.close()


# --- failover ---------------------------------------------------------------------------------------

def test_a_planned_failover_is_followed_within_the_poll(dsn, redis_cluster, cluster_url):
    """A replica taking over (CLUSTER FAILOVER): the old master answers MOVED, the poll reads those
    keys again through redis-py, refreshes the slot map, and no health event is raised."""
    sim = make_sim(dsn, cluster_url, nodes=12)
    poller = Poller(Settings(dsn=dsn, redis_url=cluster_url))
    try:
        ticks(sim, 2)
        assert poller.poll().redis.ok
        client = redis_connect(cluster_url)
        first_key = f"node:heartbeat:{sim.nodes[0].node_id}".encode()
        old_master = client.nodes_manager.get_node_from_slot(key_slot(first_key))
        client.close()
        replica = next(n.port for n in redis_cluster.nodes
                       if n.running() and master_port_of(redis_cluster, n.port) == old_master.port)
        with redis_cluster.node_client(replica) as promote:
            assert promote.cluster("FAILOVER")
            wait = time.monotonic() + 20
            while promote.info("replication")["role"] != "master" or master_port_of(redis_cluster, old_master.port) is None:
                assert time.monotonic() < wait, "the replica did not take over"
                time.sleep(0.05)
        redis_cluster.wait_healthy()
        moved = poller.poll()
        settled = poller.poll()
        # One request per master serving a key the poll asks for: all three, but for the odd run
        # whose random node ids leave a master none of the 13 keys.
        client = redis_connect(cluster_url)
        keys = [f"node:heartbeat:{node.node_id}" for node in sim.nodes] + ["queue:pending_sessions"]
        masters = {client.nodes_manager.get_node_from_slot(key_slot(key.encode())).name for key in keys}
        client.close()
    finally:
        poller.close()
        sim.close()
    assert moved.redis.ok and settled.redis.ok
    assert moved.stats.redis_round_trips > len(masters)   # the redirected keys were read again, once
    assert settled.stats.redis_round_trips == len(masters)
    assert all(n.reachability is Reachability.LIVE for n in settled.nodes)


def test_a_killed_master_is_a_redis_health_event_and_heals_itself(dsn, redis_cluster, cluster_url):
    sim = make_sim(dsn, cluster_url, nodes=12)
    poller = Poller(Settings(dsn=dsn, redis_url=cluster_url, connect_timeout=1, statement_timeout=1))
    client = redis_connect(cluster_url)
    queue_master = client.nodes_manager.get_node_from_slot(key_slot(QUEUE.encode())).port
    client.close()
    try:
        ticks(sim, 3)
        assert poller.poll().redis.state is HealthState.OK

        killed_at = time.monotonic()
        redis_cluster.kill(queue_master)
        events, snapshot = [], None
        deadline = killed_at + 30
        while True:
            sim.tick(datetime.now(UTC))   # keeps writing; fails while the slots have no master
            snapshot = poller.poll()
            events.append(snapshot.redis.state)
            if HealthState.STALE in events and snapshot.redis.state is HealthState.OK:
                break
            assert time.monotonic() < deadline, f"Redis did not recover: {snapshot.redis.reason}"
            time.sleep(0.2)
        recovered_after = time.monotonic() - killed_at
        report = sim.tick(datetime.now(UTC))
        assert report.problems == []
        snapshot = poller.poll()
    finally:
        poller.close()
        sim.close()
        redis_cluster.restart(queue_master)   # back as a replica, for the tests after this one
        redis_cluster.wait_healthy()
    stale = next(s for s in events if s is HealthState.STALE)
    assert stale is HealthState.STALE and recovered_after < 30
    assert snapshot.redis.state is HealthState.OK and snapshot.redis.since is not None
    assert all(n.reachability is Reachability.LIVE for n in snapshot.nodes)
    print(f"failover: Redis back in the poller {recovered_after:.1f} s after the master was killed")
