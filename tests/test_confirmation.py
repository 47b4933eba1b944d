"""What each action asks (from the snapshot), and what the activity line says afterwards."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from omega_tui import confirmation
from omega_tui.activity import Activity
from omega_tui.data.actions import ActionResult, Actor
from omega_tui.fixed_source import FixedSource

ME = Actor("ops1", "ops1", "console-1")


def nodes(snapshot, *hostnames):
    return [n for n in snapshot.nodes if n.hostname in hostnames]


def test_confirmation_is_scaled_to_risk():
    snapshot = FixedSource().snapshot
    now = snapshot.taken_at
    busy = confirmation.for_nodes("drain", nodes(snapshot, "gpu-01"), snapshot, now)
    assert busy.title == "Drain gpu-01?" and busy.typed_phrase == "gpu-01"
    assert "gpu-01: 1 session on it (1 running), 8 GPUs." in busy.lines
    assert "  train-diffusion              alice          running    1d01h" in busy.lines

    idle = confirmation.for_nodes("drain", nodes(snapshot, "ctl-01"), snapshot, now)
    assert idle.typed_phrase is None and idle.ask
    assert confirmation.for_nodes("resume", nodes(snapshot, "gpu-01"), snapshot, now).typed_phrase is None

    several = confirmation.for_nodes("drain", nodes(snapshot, "ctl-01", "gpu-01"), snapshot, now)
    assert several.title == "Drain 2 nodes?" and several.typed_phrase == "drain 2 nodes"   # the strictest

    by_name = {s.session_name: s for s in snapshot.sessions}
    pending = confirmation.for_sessions([by_name["nightly-etl"]], now)
    assert pending.typed_phrase is None and pending.lines[0] == "nightly-etl: user bob, pending, not started"
    running = confirmation.for_sessions([by_name["kafka-bridge"]], now)
    assert running.typed_phrase == "kafka-bridge"

    alert = snapshot.alerts[0]
    assert not confirmation.for_alert("acknowledge", alert).ask
    assert confirmation.for_alert("resolve", alert).ask


def test_names_from_the_stores_are_cleaned_in_the_confirmation():
    snapshot = FixedSource().snapshot
    hostile = next(s for s in snapshot.sessions if s.session_name.startswith("[red]"))
    asked = confirmation.for_sessions([replace(hostile, status="running")], snapshot.taken_at)
    assert "\x1b" not in asked.title and "\x1b" not in asked.typed_phrase
    assert asked.typed_phrase.startswith("[red]not markup[/red]")   # shown, and typed, literally


def test_activity_keeps_failures_until_dismissed_and_shows_other_operators():
    snapshot = FixedSource().snapshot
    now = snapshot.taken_at
    activity = Activity(ME)
    activity.see_audit(snapshot.audit)         # what was there at start is not news
    assert activity.lines(now) == []

    activity.started("drain", ["cmp-01", "cmp-02"])
    assert activity.lines(now) == [("… drain cmp-01, cmp-02", "primary")]
    ok = ActionResult("drain", "node", "n1", "cmp-01", "ok", "cmp-01 draining")
    denied = ActionResult("drain", "node", "n2", None, "refused", "permission denied for drain as ro; nothing changed")
    activity.finished([(ok, "cmp-01"), (denied, "cmp-02")], now)
    assert [text for text, _ in activity.lines(now)] == [
        "✓ cmp-01 draining",
        "✗ cmp-02: permission denied for drain as ro; nothing changed   (x: dismiss)",
    ]
    later = now + timedelta(minutes=5)          # successes fade, failures stay
    assert [text for text, _ in activity.lines(later)] == [
        "✗ cmp-02: permission denied for drain as ro; nothing changed   (x: dismiss)"]
    assert activity.dismiss() and activity.lines(later) == []

    mine, theirs = replace(snapshot.audit[0], audit_id=100, operator="ops1", os_user="ops1"), \
        replace(snapshot.audit[0], audit_id=101, operator="ops2", at=now)
    activity.see_audit((theirs, mine) + snapshot.audit)
    assert [text for text, _ in activity.lines(now)] == ["ops2 draining gpu-05 · 09:26:40"]
