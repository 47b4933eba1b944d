"""The held live sessions, kept up to date from changes, against the same figures counted afresh."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

from omega_tui.data.held_sessions import HeldSessions, session_order
from omega_tui.data.models import LIVE_SESSION_STATUSES, Session

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NODES = ["node-a", "node-b", "node-c", None]


def _session(number: int, rng: random.Random, minutes: int) -> Session:
    return Session(
        session_id=f"{number:08d}-0000-0000-0000-000000000000", session_name=f"s{number}", user_id=None,
        username=None, session_type="batch", status=rng.choice(LIVE_SESSION_STATUSES), priority=None,
        cpu_request=None, memory_request_gb=None, gpu_request=None, node_id=rng.choice(NODES),
        node_hostname=None, created_at=T0 + timedelta(minutes=minutes), start_time=None, end_time=None)


def _assert_as_counted(held: HeldSessions, live: dict[str, Session]) -> None:
    view = held.view()
    expected = sorted(live.values(), key=session_order)
    assert [s.session_id for s in view.ordered] == [s.session_id for s in expected]
    assert all(a is b for a, b in zip(view.ordered, expected))
    assert view.by_id == live
    assert view.statuses == dict(Counter(s.status for s in live.values()))
    assert {s.session_id for s in view.pending} == {i for i, s in live.items() if s.status == "pending"}
    on_node = [s for s in live.values() if s.node_id is not None]
    assert +held.live == Counter(s.node_id for s in on_node)
    assert +held.running == Counter(s.node_id for s in on_node if s.status == "running")


def test_sessions_kept_from_changes_match_a_fresh_count():
    rng = random.Random(3)
    held, live, number = HeldSessions(), {}, 0
    for poll in range(60):
        changed = []
        for session_id in rng.sample(sorted(live), min(len(live), rng.randrange(4))):
            # A status or node change; now and then a created_at changed too.
            minutes = live[session_id].created_at.minute + (rng.randrange(-5, 5) if rng.random() < 0.1 else 0)
            session = _session(int(session_id[:8]), rng, minutes)
            changed.append(session)
        for _ in range(rng.randrange(4)):   # new sessions: mostly the newest, now and then backdated
            number += 1
            changed.append(_session(number, rng, poll * 2 - (rng.randrange(30) if rng.random() < 0.2 else 0)))
        finished = set(rng.sample(sorted(live), min(len(live), rng.randrange(3)))) if poll % 3 == 0 else set()
        for session in changed:
            live[session.session_id] = session
        for session_id in finished:
            live.pop(session_id, None)
        still_live = set(live)   # the poller reads the live ids every poll
        assert held.count_after(changed, still_live) == len(live)
        # A live id neither held nor among the changes (a session the changes missed) is not counted.
        assert held.count_after(changed, still_live | {"not-held"}) == len(live)
        held.update(changed, still_live)
        _assert_as_counted(held, live)
    assert len(live) > 20


def test_an_unchanged_poll_gives_the_same_view():
    rng = random.Random(5)
    held = HeldSessions()
    held.replace_all([_session(n, rng, 60 - n) for n in range(10)])   # read in any order: held oldest first
    view = held.view()
    assert [s.created_at for s in view.ordered] == sorted(s.created_at for s in view.ordered)
    held.update([], set(view.by_id))
    assert held.view() is view
    changed = _session(3, rng, 60 - 3)
    original = view.by_id[changed.session_id]
    held.update([changed], set(view.by_id))
    assert held.view() is not view and held.view().by_id[changed.session_id] is changed
    assert view.by_id[changed.session_id] is original   # a view handed out is never changed
