"""Alerts: events plus derived conditions, stable ids, acknowledgements, thresholds, pending sessions."""

from __future__ import annotations

from datetime import timedelta

import cluster_data as cd
from omega_tui.config import Settings, Threshold
from omega_tui.data.models import AlertKind
from omega_tui.data.poller import Poller

STEP = timedelta(seconds=10)


def poller_for(dsn, redis_url, clock, **settings) -> Poller:
    return Poller(Settings(dsn=dsn, redis_url=redis_url, **settings), clock=clock)


def by_id(snapshot):
    return {a.alert_id: a for a in snapshot.alerts}


def test_ids_are_stable_and_acknowledgements_hold_across_polls_and_restarts(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    down = cd.add_node(db, "down")                             # no heartbeat ever
    broken = cd.add_node(db, "broken", status="failed", updated_at=clock.now - timedelta(minutes=7))
    fine = cd.add_node(db, "fine")
    cd.write_heartbeat(rd, broken, clock.now)
    cd.write_heartbeat(rd, fine, clock.now)
    critical = cd.add_event(db, severity="critical", node_id=fine, event_type="disk_failure",
                            at=clock.now - timedelta(minutes=3), message="sda gone")
    warning = cd.add_event(db, severity="warning", at=clock.now - timedelta(minutes=1))
    cd.add_event(db, severity="info", event_type="boot")
    cd.add_event(db, severity="error", at=clock.now - timedelta(hours=2), resolved_at=clock.now - timedelta(hours=1))
    expected = {f"unreachable:{down}", f"node_failed:{broken}", f"event:{critical}", f"event:{warning}"}

    poller = poller_for(dsn, redis_url, clock)
    try:
        first = by_id(poller.poll())
        assert set(first) == expected
        assert first[f"event:{critical}"].kind is AlertKind.EVENT and first[f"event:{critical}"].message == "sda gone"
        assert first[f"event:{critical}"].node_id == fine and first[f"event:{critical}"].source == "scheduler"
        assert first[f"node_failed:{broken}"].since == clock.now - timedelta(minutes=7)
        assert first[f"unreachable:{down}"].severity == "critical"
        assert not any(a.acknowledged for a in first.values())

        cd.acknowledge(db, f"unreachable:{down}", by="carol", at=clock.now + timedelta(seconds=1))
        cd.acknowledge(db, f"event:{critical}", by="dave")
        for _ in range(2):
            clock.advance(2)
            alerts = by_id(poller.poll())
            assert set(alerts) == expected
            assert {i: a.since for i, a in alerts.items()} == {i: a.since for i, a in first.items()}
            assert alerts[f"unreachable:{down}"].acknowledged_by == "carol"
            assert alerts[f"event:{critical}"].acknowledged_by == "dave"
            assert not alerts[f"event:{warning}"].acknowledged and not alerts[f"node_failed:{broken}"].acknowledged
    finally:
        poller.close()

    restarted = poller_for(dsn, redis_url, cd.Clock(clock.now + timedelta(minutes=5)))
    try:
        assert by_id(restarted.poll())[f"unreachable:{down}"].acknowledged   # start unknown: the ack holds
    finally:
        restarted.close()
        rd.close()
        db.close()


def test_an_acknowledgement_does_not_cover_a_later_occurrence(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    node = cd.add_node(db, "flappy")
    alert_id = f"unreachable:{node}"
    cd.write_heartbeat(rd, node, clock.now - timedelta(seconds=40), ttl=300)
    poller = poller_for(dsn, redis_url, clock)
    try:
        alert = by_id(poller.poll())[alert_id]
        assert alert.since == clock.now - timedelta(seconds=10)     # the heartbeat went stale then
        cd.acknowledge(db, alert_id, at=clock.now)
        clock.advance(2)
        assert by_id(poller.poll())[alert_id].acknowledged

        cd.write_heartbeat(rd, node, clock.now)                     # back
        clock.advance(2)
        assert alert_id not in by_id(poller.poll())

        clock.advance(600)
        cd.write_heartbeat(rd, node, clock.now - timedelta(seconds=40), ttl=300)   # gone again
        again = by_id(poller.poll())[alert_id]
        assert again.since == clock.now - timedelta(seconds=10) and not again.acknowledged

        cd.acknowledge(db, alert_id, at=clock.now)                  # acknowledging again covers it
        clock.advance(2)
        assert by_id(poller.poll())[alert_id].acknowledged
    finally:
        poller.close()
        rd.close()
        db.close()


def test_threshold_alerts_need_the_metric_over_the_limit_for_the_duration(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    short, long_, dipped, silent = (cd.add_node(db, name) for name in ("short", "long", "dipped", "silent"))
    for node in (short, long_, dipped):
        cd.write_heartbeat(rd, node, clock.now)
    end = clock.now - timedelta(seconds=30)
    rows = []
    for k in range(20):                        # 20 samples, 10 s apart, ending at `end`
        at = end - (19 - k) * STEP
        rows.append((at, short, "cpu_percent", 95.0 if k >= 14 else 50.0))    # over for 50 s
        rows.append((at, long_, "cpu_percent", 95.0 if k >= 12 else 50.0))    # over for 70 s
        rows.append((at, dipped, "cpu_percent", 50.0 if k == 19 else 95.0))   # over, then back under
        rows.append((at, silent, "cpu_percent", 99.0))                         # over, but unreachable
    cd.add_metric_rows(db, rows)
    poller = poller_for(dsn, redis_url, clock, thresholds={"cpu_percent": Threshold(90.0, 60.0)})
    try:
        alerts = by_id(poller.poll())
        thresholds = {i for i in alerts if i.startswith("threshold:")}
        assert thresholds == {f"threshold:{long_}:cpu_percent"}
        alert = alerts[f"threshold:{long_}:cpu_percent"]
        assert alert.kind is AlertKind.THRESHOLD and alert.since == end - 7 * STEP
        assert "95.0" in alert.message and alert.node_id == long_
        assert f"unreachable:{silent}" in alerts

        # The run goes on: `short` now crosses 60 s too; `long` keeps its start.
        cd.add_metric_rows(db, [(end + STEP, short, "cpu_percent", 96.0), (end + STEP, long_, "cpu_percent", 96.0),
                                (end + 2 * STEP, short, "cpu_percent", 96.0), (end + 2 * STEP, long_, "cpu_percent", 96.0)])
        clock.advance(2)
        alerts = by_id(poller.poll())
        assert alerts[f"threshold:{long_}:cpu_percent"].since == end - 7 * STEP
        assert alerts[f"threshold:{short}:cpu_percent"].since == end - 5 * STEP
    finally:
        poller.close()
        rd.close()
        db.close()


def test_sessions_pending_too_long(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    rd = cd.redis_client(redis_url)
    user = cd.add_user(db, "erin")
    node = cd.add_node(db, "n")
    cd.write_heartbeat(rd, node, clock.now)
    waiting = cd.add_session(db, user, "waiting", created_at=clock.now - timedelta(minutes=11))
    cd.add_session(db, user, "recent", created_at=clock.now - timedelta(minutes=5))
    cd.add_session(db, user, "old-running", status="running", node_id=node, created_at=clock.now - timedelta(hours=3))
    cd.set_queue(rd, [cd.new_id(), waiting])
    poller = poller_for(dsn, redis_url, clock, pending_alert_seconds=600)
    try:
        snap = poller.poll()
    finally:
        poller.close()
        rd.close()
        db.close()
    alerts = by_id(snap)
    assert set(alerts) == {f"pending:{waiting}"}
    alert = alerts[f"pending:{waiting}"]
    assert alert.kind is AlertKind.PENDING_TOO_LONG and alert.session_id == waiting
    assert alert.since == clock.now - timedelta(minutes=11)
    assert alert.message == "waiting (erin): pending for 11 min"   # in the queue (its position is the session's)
    assert "1 id(s) in queue:pending_sessions are not pending sessions" in snap.notices


def test_alerts_sorted_by_severity_then_newest_and_history_has_time_to_resolve(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    user = cd.add_user(db, "frank")
    old_warning = cd.add_event(db, severity="warning", at=clock.now - timedelta(hours=1))
    new_warning = cd.add_event(db, severity="warning", at=clock.now - timedelta(minutes=1))
    error = cd.add_event(db, severity="error", at=clock.now - timedelta(minutes=30))
    critical = cd.add_event(db, severity="critical", at=clock.now - timedelta(hours=5))
    resolved = cd.add_event(db, severity="error", at=clock.now - timedelta(hours=3),
                            resolved_at=clock.now - timedelta(hours=2))
    db.execute("UPDATE system_events SET resolved_by = %s WHERE event_id = %s", (user, resolved))
    cd.add_event(db, severity="critical", at=clock.now - timedelta(days=3), resolved_at=clock.now - timedelta(days=2))
    db.close()
    poller = poller_for(dsn, redis_url, clock)
    try:
        snap = poller.poll()
    finally:
        poller.close()
    assert [a.alert_id for a in snap.alerts] == [
        f"event:{critical}", f"event:{error}", f"event:{new_warning}", f"event:{old_warning}"]
    assert dict(snap.totals.alerts_by_severity) == {"critical": 1, "error": 1, "warning": 2}
    (history,) = snap.resolved_alerts            # the one resolved two days ago is outside the history
    assert history.alert_id == f"event:{resolved}" and history.resolved_by == "frank"
    assert history.time_to_resolve == timedelta(hours=1)


def test_an_event_resolved_between_polls_moves_to_the_history_at_once(dsn, redis_url, monkeypatch):
    import omega_tui.data.poller as poller_module
    monkeypatch.setattr(poller_module, "RESOLVED_READ_SECONDS", 3600.0)   # only a change of the open events
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    event = cd.add_event(db, severity="error", at=clock.now - timedelta(minutes=5))
    poller = poller_for(dsn, redis_url, clock)
    try:
        first = poller.poll()
        unchanged = poller.poll()
        db.execute("UPDATE system_events SET resolved_at = now() WHERE event_id = %s", (event,))
        after = poller.poll()
    finally:
        poller.close()
        db.close()
    assert f"event:{event}" in by_id(first) and first.resolved_alerts == ()
    # As many statements: the resolved events are not read again, the live session ids are read (every
    # poll after the first, which reads the sessions whole).
    assert unchanged.stats.sql_statements == first.stats.sql_statements
    assert f"event:{event}" not in by_id(after)
    assert [a.alert_id for a in after.resolved_alerts] == [f"event:{event}"]


def test_open_events_are_read_whole_only_when_new(dsn, redis_url):
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    first_event = cd.add_event(db, severity="error", at=clock.now - timedelta(minutes=5))
    poller = poller_for(dsn, redis_url, clock)
    try:
        poller.poll()
        quiet = poller.poll().stats.sql_statements
        second_event = cd.add_event(db, severity="critical", at=clock.now - timedelta(minutes=1))
        with_new = poller.poll()
        db.execute("UPDATE system_events SET severity = 'info' WHERE event_id = %s", (first_event,))
        after = poller.poll()
    finally:
        poller.close()
        db.close()
    assert [a.alert_id for a in with_new.alerts] == [f"event:{second_event}", f"event:{first_event}"]
    # The new event whole; not the resolved events: no open one left, none was resolved.
    assert with_new.stats.sql_statements == quiet + 1
    assert [a.alert_id for a in after.alerts] == [f"event:{second_event}"]   # no longer an alert severity
    assert after.stats.sql_statements == quiet + 1   # one left: the resolved events are read


def test_the_open_events_keys_are_read_in_the_round_trip_of_the_nodes_and_sessions(dsn, redis_url, monkeypatch):
    # A usual poll sends the keys' statement inside the pipeline of the others (one round trip,
    # not one more), and the events it reads that way come out the same.
    import psycopg

    from omega_tui.data import pg_reads

    sent_in_pipeline = []
    send = pg_reads.send_open_event_keys

    def recording(db):
        sent_in_pipeline.append(db.conn.info.pipeline_status == psycopg.pq.PipelineStatus.ON)
        return send(db)

    monkeypatch.setattr(pg_reads, "send_open_event_keys", recording)
    clock = cd.Clock(cd.utc_now())
    db = cd.connect(dsn)
    first_event = cd.add_event(db, severity="error", at=clock.now - timedelta(minutes=5))
    poller = poller_for(dsn, redis_url, clock)
    try:
        poller.poll()   # the first poll reads everything: no keys
        assert sent_in_pipeline == []
        poller.poll()
        second_event = cd.add_event(db, severity="critical", at=clock.now - timedelta(minutes=1))
        with_new = poller.poll()
    finally:
        poller.close()
        db.close()
    assert sent_in_pipeline == [True, True]
    assert [a.alert_id for a in with_new.alerts] == [f"event:{second_event}", f"event:{first_event}"]


def _pending_session(minutes_ago: float, now, **changes):
    from dataclasses import replace

    from omega_tui.data.models import Session
    session = Session(session_id="s1", session_name="render", user_id=None, username="gina",
                      session_type="batch", status="pending", priority=1, cpu_request=1.0,
                      memory_request_gb=1.0, gpu_request=0, node_id=None, node_hostname=None,
                      created_at=now - timedelta(minutes=minutes_ago), start_time=None, end_time=None)
    return replace(session, **changes)


def test_a_pending_alert_is_rebuilt_only_when_what_it_says_changes():
    from omega_tui.data.alerts import AlertBuilder
    from omega_tui.data.metric_history import MetricHistory

    now = cd.utc_now()
    builder = AlertBuilder({}, pending_alert_seconds=600)

    def pending_alert(session, at, positions=None):
        alerts = builder.build(nodes=[], node_changed_at={}.get, last_heartbeat_seen={}, sessions=[session],
                               open_events=[], history=MetricHistory(), now=at, queue_positions=positions)
        assert [a.alert_id for a in alerts] == ["pending:s1"]
        return alerts[0]

    session = _pending_session(11.2, now)
    first = pending_alert(session, now)
    assert "pending for 11 min" in first.message
    assert pending_alert(session, now + timedelta(seconds=10)) is first          # nothing changed
    later = pending_alert(session, now + timedelta(seconds=20))                  # 11.53 min: shows 12
    assert later is not first and "pending for 12 min" in later.message
    renamed = _pending_session(11.2, now, session_name="render-2")              # the session's row changed
    assert "render-2" in pending_alert(renamed, now + timedelta(seconds=21)).message
    queued = pending_alert(renamed, now + timedelta(seconds=22), {"s1": 5})
    assert "not in the queue" not in queued.message
    assert pending_alert(renamed, now + timedelta(seconds=23), {"s1": 4}) is queued   # the queue's head moved
    assert "not in the queue" in pending_alert(renamed, now + timedelta(seconds=24)).message   # left the queue
    assert builder.build(nodes=[], node_changed_at={}.get, last_heartbeat_seen={}, sessions=[_pending_session(5, now)],
                         open_events=[], history=MetricHistory(), now=now) == []   # not long enough


def test_threshold_conditions_follow_the_series_not_the_node_object():
    from dataclasses import replace

    from omega_tui.data.alerts import AlertBuilder
    from omega_tui.data.metric_history import MetricHistory, to_micros
    from omega_tui.data.models import Node, Reachability

    now = cd.utc_now()
    history = MetricHistory()
    history.merge([("n1", "cpu_percent", to_micros(now - timedelta(seconds=10 * k)), 95.0, "percent")
                   for k in range(10)])
    node = Node(node_id="n1", hostname="gpu-01", ip_address=None, node_type="gpu", status="active",
                total_cpu_cores=8, total_memory_gb=64.0, total_storage_gb=1.0, gpu_count=1, gpu_memory_gb=80.0,
                labels=(), last_heartbeat=now, reachability=Reachability.LIVE, heartbeat=None,
                metrics=history.series_of("n1"))
    builder = AlertBuilder({"cpu_percent": Threshold(90.0, 60.0)}, pending_alert_seconds=600)

    def threshold_alert(shown):
        alerts = builder.build(nodes=[shown], node_changed_at={}.get, last_heartbeat_seen={}, sessions=[],
                               open_events=[], history=history, now=now)
        assert [a.alert_id for a in alerts] == ["threshold:n1:cpu_percent"]
        return alerts[0]

    first = threshold_alert(node)
    assert first.message.startswith("gpu-01: cpu_percent 95.0 above 90")
    assert threshold_alert(replace(node, last_heartbeat=now + timedelta(seconds=5))) is first   # same series
    renamed = threshold_alert(replace(node, hostname="gpu-99"))
    assert renamed.message.startswith("gpu-99: cpu_percent 95.0")
    history.merge([("n1", "cpu_percent", to_micros(now + timedelta(seconds=10)), 97.0, "percent")])
    newer = threshold_alert(replace(node, hostname="gpu-99", metrics=history.series_of("n1")))
    assert "cpu_percent 97.0" in newer.message


def test_alerts_sort_by_severity_then_newest_then_id():
    import random

    from omega_tui.data.alerts import SEVERITY_ORDER, sort_alerts
    from omega_tui.data.models import Alert

    rng = random.Random(11)
    now = cd.utc_now()
    alerts = [Alert(alert_id=f"a{rng.randrange(1000):03d}-{n}", kind=AlertKind.EVENT,
                    severity=rng.choice(["critical", "error", "warning", "info", "odd"]), title="t", message="m",
                    since=rng.choice([None, now, now - timedelta(minutes=rng.randrange(5))]))
              for n in range(200)]
    # The definition, one key at a time (stable sorts): id, then newest first, then severity.
    by_id = sorted(alerts, key=lambda a: a.alert_id)
    newest_first = sorted(by_id, key=lambda a: a.since.timestamp() if a.since else float("-inf"), reverse=True)
    expected = sorted(newest_first, key=lambda a: SEVERITY_ORDER.get(a.severity, len(SEVERITY_ORDER)))
    assert sort_alerts(alerts) == expected


def test_alerts_followed_node_by_node_match_alerts_built_from_every_node():
    # AlertBuilder looks only at the nodes that are not last build's very objects. A builder made to
    # look at every node each time (its node list forgotten) must give the same alerts, through nodes
    # that change state, go, come, move, and are replaced at the same place by another node.
    from dataclasses import replace

    from omega_tui.config import Threshold
    from omega_tui.data.alerts import AlertBuilder
    from omega_tui.data.metric_history import MetricHistory, to_micros
    from omega_tui.data.models import Node, Reachability
    from omega_tui.data.redis_live import parse_heartbeat

    now = cd.utc_now()
    history = MetricHistory()
    history.merge([(n, "cpu_percent", to_micros(now - timedelta(seconds=10 * k)), value, "percent")
                   for n, value in (("hot", 95.0), ("cool", 20.0)) for k in range(10)])
    stale_beat = parse_heartbeat(f'{{"timestamp": "{(now - timedelta(minutes=5)).isoformat()}"}}')

    def node(node_id, reachability=Reachability.LIVE, status="active", heartbeat=None):
        return Node(node_id=node_id, hostname=f"h-{node_id}", ip_address=None, node_type="gpu", status=status,
                    total_cpu_cores=8, total_memory_gb=64.0, total_storage_gb=1.0, gpu_count=1, gpu_memory_gb=80.0,
                    labels=(), last_heartbeat=None, reachability=reachability, heartbeat=heartbeat,
                    metrics=history.series_of(node_id) if node_id in ("hot", "cool") else ())

    hot, cool, gone = node("hot"), node("cool"), node("gone", Reachability.MISSING)
    stale, failed = node("stale", Reachability.STALE, heartbeat=stale_beat), node("failed", status="failed")
    steps = [
        [hot, cool, gone, stale, failed],
        [hot, cool, gone, stale, failed],                                   # the very same nodes
        [hot, cool, node("gone"), stale, replace(failed, status="active")],  # back, and mended
        [cool, hot, stale, node("new", Reachability.MALFORMED)],           # moved, one gone, one new
        [cool, hot, node("other", status="failed"), node("new", Reachability.MALFORMED)],   # replaced in place
        [replace(hot, reachability=Reachability.MISSING), cool],            # hot's thresholds no longer count
        [],
    ]
    thresholds = {"cpu_percent": Threshold(90.0, 60.0)}
    followed, every = AlertBuilder(thresholds, 600), AlertBuilder(thresholds, 600)
    changed_at = {"failed": now - timedelta(minutes=3), "other": now - timedelta(minutes=1)}.get
    seen = set()
    for step, nodes in enumerate(steps):
        at = now + timedelta(seconds=2 * step)
        every._nodes, every._unreachable, every._of_node = [], {}, {}   # look at every node
        one, other = (builder.with_acks(builder.build(
            nodes=nodes, node_changed_at=changed_at, last_heartbeat_seen={}, sessions=[], open_events=[],
            history=history, now=at), {}) for builder in (followed, every))
        assert one == other
        seen |= {a.alert_id for a in one}
    assert seen == {"threshold:hot:cpu_percent", "unreachable:gone", "unreachable:stale", "node_failed:failed",
                    "unreachable:new", "node_failed:other", "unreachable:hot"}


def test_acknowledgements_applied_again_follow_each_change_and_keep_unchanged_alerts():
    # with_acks() keeps last call's result for an alert that is the same object with the same
    # acknowledgement: each change (an ack given, changed, taken away, a new alert) still shows, and the
    # result matches what a fresh builder gives.
    import random

    from omega_tui.data.alerts import AlertBuilder, sort_alerts
    from omega_tui.data.models import Alert

    rng = random.Random(5)
    now = cd.utc_now()
    alerts = [Alert(alert_id=f"event:{n}", kind=AlertKind.EVENT, severity=rng.choice(["critical", "warning"]),
                    title="t", message="m", since=now - timedelta(minutes=n)) for n in range(40)]
    builder = AlertBuilder({}, 600)
    acks: dict = {}
    last = None
    for poll in range(30):
        if poll:
            for alert_id in rng.sample([a.alert_id for a in alerts], 5):
                acks[alert_id] = rng.choice([None, (now - timedelta(minutes=rng.randrange(60)), f"op{poll}")])
                if acks[alert_id] is None:
                    del acks[alert_id]
            changed = rng.randrange(len(alerts))
            alerts[changed] = Alert(alert_id=alerts[changed].alert_id, kind=AlertKind.EVENT, severity="error",
                                    title="t", message=f"poll {poll}", since=now - timedelta(seconds=poll))
        shown = builder.with_acks(list(alerts), dict(acks))
        assert shown == AlertBuilder({}, 600).with_acks(list(alerts), dict(acks)) == sort_alerts(shown)
        for alert in shown:
            ack = acks.get(alert.alert_id)
            covered = ack is not None and ack[0] >= alert.since - timedelta(seconds=60)
            assert (alert.acknowledged_at, alert.acknowledged_by) == (ack if covered else (None, None))
        if last is not None:
            before = {a.alert_id: a for a in last}
            kept = [a for a in shown if before.get(a.alert_id) == a]
            assert kept and all(before[a.alert_id] is a for a in kept)   # unchanged: the same objects
        last = shown
