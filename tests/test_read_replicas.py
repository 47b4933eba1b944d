"""Read replicas: settings, and the poller against a real streaming standby of the test PostgreSQL
(pg_basebackup -R): polls read the standby, actions on the primary show up after replication, lag
is shown and marks the data stale, and a stopped standby means the primary (or stale data) until
it is back.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

import cluster_data as cd
from omega_tui.cli import main
from omega_tui.config import ConfigError, Settings, resolve
from omega_tui.data import actions
from omega_tui.data.actions import Actor
from omega_tui.data.models import HealthState
from omega_tui.data.poller import Poller
from omega_tui.data.read_replicas import dsn_label, replica_lag

ACTOR = Actor(operator="ops2", os_user="alice", os_host="console-1")
METRICS_APP = "omega-tui poller (metrics)"   # the poller's second connection (see metric_reader.py)


class SteppingClock:
    """Real time plus an offset the test moves on, so backoff waits take no real time."""

    def __init__(self):
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def skip(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def poller_for(dsn, read_dsns, clock=None, **settings) -> Poller:
    return Poller(Settings(dsn=dsn, read_dsns=tuple(read_dsns), connect_timeout=2, **settings), clock=clock)


def add_a_minute_of_cpu(conn, node_id: str) -> None:
    cd.add_metric_rows(conn, cd.series_rows([node_id], ["cpu_percent"], cd.utc_now() - timedelta(seconds=5),
                                            timedelta(minutes=1), timedelta(seconds=10), lambda n, m, k: float(k)))


def backends(dsn) -> set[str]:
    """application_name of the sessions connected to the server of `dsn`."""
    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid <> pg_backend_pid()")}


def wait_for(predicate, what: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return result


# --- settings ------------------------------------------------------------------------------

def test_read_dsns_from_flags_environment_and_profiles(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[profiles.prod]\ndsn = "host=primary"\nread_dsn = ["host=r1", "host=r2"]\n'
        'replica_max_lag = 5\nreplica_fallback = "stay-stale"\n'
        '[profiles.one]\nread_dsn = "host=solo"\n'
    )
    path.chmod(0o600)
    prod = resolve(config_path=path, env={}, profile="prod")
    assert (prod.read_dsns, prod.replica_max_lag, prod.replica_fallback) == (("host=r1", "host=r2"), 5.0, "stay-stale")
    assert resolve(config_path=path, env={}, profile="one").read_dsns == ("host=solo",)
    # Several DSNs in the environment, one per line (a libpq URL may itself hold commas).
    env = {"OMEGA_READ_DSN": "postgresql://a,b/omega\n  host=r3\n"}
    assert resolve(config_path=path, env=env).read_dsns == ("postgresql://a,b/omega", "host=r3")
    assert resolve(config_path=path, env=env, profile="prod").read_dsns == ("host=r1", "host=r2")   # named profile wins
    flags = resolve(config_path=path, env=env, profile="prod",
                    overrides={"read_dsns": ["host=f1"], "replica_fallback": "fallback"})
    assert (flags.read_dsns, flags.replica_fallback) == (("host=f1",), "fallback")
    assert Settings().read_dsns == () and Settings().replica_fallback == "fallback"


@pytest.mark.parametrize("text, words", [
    ('read_dsn = 7', "'read_dsn' has the wrong type"),
    ('read_dsn = []', "must be a DSN or a list of DSNs"),
    ('read_dsn = ["host=a", 3]', "must be a DSN or a list of DSNs"),
    ('replica_fallback = "sometimes"', "must be one of fallback, stay-stale"),
    ('replica_max_lag = -1', "must be greater than 0"),
])
def test_bad_replica_settings_are_one_clear_line(tmp_path, text, words):
    path = tmp_path / "config.toml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=words):
        resolve(config_path=path, env={})


def test_a_password_in_a_read_dsn_list_draws_the_file_mode_warning(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('read_dsn = ["postgresql://u:hunter22@r1/omega"]\n')
    path.chmod(0o644)
    warnings = []
    resolve(config_path=path, env={}, warn=warnings.append)
    assert len(warnings) == 1 and "hunter22" not in warnings[0]


def test_lag_rules():
    # An idle primary: the last replayed commit is old, but the replica has replayed all it received.
    assert replica_lag((True, True, True, 900.0)) == 0.0
    assert replica_lag((True, False, True, 12.5)) == 12.5        # replay behind what was received
    assert replica_lag((True, True, False, 40.0)) == 40.0        # not streaming: cannot claim to be current
    assert replica_lag((True, False, True, None)) is None        # nothing replayed yet
    assert replica_lag((False, False, False, None)) == 0.0       # not a standby at all
    assert dsn_label("postgresql://u:secret@db.example:6432/omega") == "db.example:6432/omega"
    assert dsn_label("host=r1 dbname=omega password=secret") == "r1:5432/omega"


# --- against a real standby --------------------------------------------------------------------

def test_polls_read_the_standby_and_actions_reach_them_through_the_primary(dsn, replica_dsn, servers):
    conn = cd.connect(dsn)
    node_id = cd.add_node(conn, "node-r1")
    add_a_minute_of_cpu(conn, node_id)
    poller = poller_for(dsn, [replica_dsn])
    try:
        first = wait_for(lambda: (s := poller.poll()) and s.node(node_id) and s, "the node to replicate")
        assert first.postgres.ok and first.postgres.source.startswith("replica 127.0.0.1:")
        assert first.postgres.lag_seconds is not None and first.postgres.lag_seconds < 5
        # The poller's session is on the standby, not on the primary.
        assert "omega-tui poller" in backends(replica_dsn)
        assert "omega-tui poller" not in backends(dsn)

        result = actions.drain_node(conn, None, ACTOR, "node-r1")   # actions: the primary, always
        assert result.result == "ok"
        started = time.monotonic()
        drained = wait_for(lambda: (s := poller.poll()).node(node_id).status == "draining" and s, "the drain to replicate")
        print(f"replication: the drain showed in a poll of the standby after {time.monotonic() - started:.2f} s,"
              f" lag shown {drained.postgres.lag_seconds} s")
        assert drained.postgres.ok
        # The new metric rows' connection (once the history is loaded) reads the standby too.
        assert poller.poll().node(node_id).metric("cpu_percent") is not None
        assert METRICS_APP in backends(replica_dsn) and METRICS_APP not in backends(dsn)
    finally:
        poller.close()
        conn.close()


def test_lag_shows_and_marks_the_data_stale_beyond_the_limit(dsn, replica_dsn, servers):
    conn = cd.connect(dsn)
    node_id = cd.add_node(conn, "node-lag")
    poller = poller_for(dsn, [replica_dsn], replica_max_lag=1.0)
    standby = psycopg.connect(replica_dsn, autocommit=True)
    try:
        wait_for(lambda: poller.poll().node(node_id), "the node to replicate")
        standby.execute("SELECT pg_wal_replay_pause()")
        conn.execute("UPDATE nodes SET status = 'maintenance' WHERE node_id = %s", (node_id,))
        # WAL arrives but is not replayed: the replica falls behind by the age of its last replayed commit.
        snapshot = wait_for(lambda: (s := poller.poll()).postgres.state is HealthState.STALE and s, "stale marking")
        assert snapshot.postgres.lag_seconds > 1.0
        assert "behind its primary (limit 1 s)" in snapshot.postgres.reason
        assert snapshot.postgres.last_ok < snapshot.taken_at - timedelta(seconds=1)   # its data is that old
        assert snapshot.node(node_id).status == "active"
        standby.execute("SELECT pg_wal_replay_resume()")
        caught_up = wait_for(lambda: (s := poller.poll()).node(node_id).status == "maintenance" and s, "replay")
        caught_up = wait_for(lambda: (s := poller.poll()).postgres.ok and s, "the lag to go")
        assert caught_up.postgres.lag_seconds <= 1.0
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")
        standby.close()
        poller.close()
        conn.close()


def test_standby_stopped_falls_back_to_the_primary_and_comes_back(dsn, replica_dsn, pg_standby):
    conn = cd.connect(dsn)
    node_id = cd.add_node(conn, "node-fb")
    add_a_minute_of_cpu(conn, node_id)
    clock = SteppingClock()
    poller = poller_for(dsn, ["postgresql://omega:x@127.0.0.1:1/nowhere", replica_dsn], clock=clock)
    try:
        on_replica = wait_for(lambda: (s := poller.poll()).node(node_id) and s, "the node to replicate")
        assert on_replica.postgres.source.startswith(f"replica 127.0.0.1:{pg_standby.port}/")   # the first healthy one

        pg_standby.stop()
        fallback = poller.poll()
        assert fallback.postgres.ok and fallback.postgres.source.startswith("primary")
        assert fallback.postgres.lag_seconds is None
        assert any(n.startswith("reading the primary: no read replica answers") for n in fallback.notices)
        assert "omega-tui poller" in backends(dsn)
        conn.execute("UPDATE nodes SET status = 'failed' WHERE node_id = %s", (node_id,))
        assert poller.poll().node(node_id).status == "failed"   # the primary's data, at once
        assert METRICS_APP in backends(dsn)

        pg_standby.start()
        wait_for_replay(pg_standby, replica_dsn)
        clock.skip(60)   # past the replica's backoff
        back = poller.poll()
        assert back.postgres.ok and back.postgres.source.startswith(f"replica 127.0.0.1:{pg_standby.port}/")
        assert not back.notices
        wait_for(lambda: poller.poll().node(node_id).status == "failed", "the standby to replay the change")
        assert "omega-tui poller" in backends(replica_dsn)
        assert METRICS_APP in backends(replica_dsn)
        # (closed when the poll moved back; its backend exits a moment later)
        wait_for(lambda: METRICS_APP not in backends(dsn), "the primary's metric connection to go", timeout=5)
    finally:
        poller.close()
        conn.close()
        if not pg_standby.is_running():
            pg_standby.start()


def test_stay_stale_keeps_the_last_data_marked_stale(dsn, replica_dsn, pg_standby):
    conn = cd.connect(dsn)
    node_id = cd.add_node(conn, "node-stay")
    clock = SteppingClock()
    poller = poller_for(dsn, [replica_dsn], clock=clock, replica_fallback="stay-stale")
    try:
        wait_for(lambda: poller.poll().node(node_id), "the node to replicate")
        pg_standby.stop()
        stale = poller.poll()
        assert stale.postgres.state is HealthState.STALE
        assert "not reading the primary (replica_fallback = stay-stale)" in stale.postgres.reason
        assert stale.node(node_id) is not None   # the last data, kept
        assert "omega-tui poller" not in backends(dsn)

        pg_standby.start()
        wait_for_replay(pg_standby, replica_dsn)
        clock.skip(60)
        assert poller.poll().postgres.ok
    finally:
        poller.close()
        conn.close()
        if not pg_standby.is_running():
            pg_standby.start()


def wait_for_replay(standby, replica_dsn) -> None:
    def streaming():
        try:
            with psycopg.connect(replica_dsn, connect_timeout=2) as c:
                return c.execute("SELECT count(*) FROM pg_stat_wal_receiver").fetchone()[0] == 1
        except psycopg.OperationalError:
            return False
    wait_for(streaming, "the standby to stream again", timeout=30)


def test_check_and_db_status_show_the_replicas(dsn, replica_dsn, redis_url, capsys):
    bad = "postgresql://omega:pw-replica-secret@127.0.0.1:2/omega"
    code = main(["check", "--dsn", dsn, "--redis", redis_url, "--read-dsn", replica_dsn, "--read-dsn", bad,
                 "--connect-timeout", "1"])
    out, err = capsys.readouterr()
    assert code == 1
    # The lag is whatever replay is at (0.0 once caught up; CI once caught it mid-replay): its form is checked.
    assert re.search(r"read replica 127\.0\.0\.1:\d+/\w+: PostgreSQL [\d.]+, in recovery, \d+\.\d s behind its primary", out), out
    assert err.count("\n") == 1 and "problem: read replica 127.0.0.1:2/omega:" in err
    assert "pw-replica-secret" not in out + err
    assert main(["db", "status", "--dsn", dsn, "--read-dsn", replica_dsn]) == 0
    assert "in recovery" in capsys.readouterr().out


def test_the_status_line_names_the_source_and_the_lag():
    from omega_tui.data.models import StoreHealth
    from omega_tui.widgets.status_line import store_age

    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    on_replica = StoreHealth("PostgreSQL", HealthState.OK, last_ok=now, source="replica r1:5432/omega", lag_seconds=3.4)
    assert store_age(on_replica, now, wide=True).plain == "PostgreSQL replica lag 3s ✓ 0s"
    fallback = StoreHealth("PostgreSQL", HealthState.OK, last_ok=now, source="primary (fallback: ...)")
    assert store_age(fallback, now, wide=False).plain == "PG primary ✓ 0s"
    plain = StoreHealth("PostgreSQL", HealthState.OK, last_ok=now)
    assert store_age(plain, now, wide=True).plain == "PostgreSQL ✓ 0s"


def test_the_status_line_shows_a_stores_age_only_once_its_data_is_late():
    # While fresh the age is left out (it flipped between 0s and 1s with the poll's duration and
    # the whole line was sent again each refresh); older than `late_after` it shows, and so does
    # a failed store's.
    from omega_tui.data.models import StoreHealth
    from omega_tui.widgets.status_line import store_age

    now = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    fresh = StoreHealth("Redis", HealthState.OK, last_ok=now - timedelta(seconds=1.4))
    assert store_age(fresh, now, wide=True, late_after=4.0).plain == "Redis ✓"
    late = StoreHealth("Redis", HealthState.OK, last_ok=now - timedelta(seconds=9))
    assert store_age(late, now, wide=True, late_after=4.0).plain == "Redis ✓ 9s"
    failed = StoreHealth("Redis", HealthState.STALE, last_ok=now - timedelta(seconds=1), reason="refused")
    assert store_age(failed, now, wide=True, late_after=4.0).plain == "Redis ✗ 1s old"
