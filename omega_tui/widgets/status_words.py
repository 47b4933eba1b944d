"""The symbol, word and style that stand for each state, on every screen.

States are always told by a symbol and a word, never by colour alone (colour
blindness, NO_COLOR, monochrome terminals); the style adds colour on top
through theme variable names. Unknown values from the stores are shown as
found, after a `?`.
"""

from __future__ import annotations

import math
from datetime import datetime

from omega_tui.data.models import Node, Reachability
from omega_tui.widgets.formatting import seconds_between
from omega_tui.widgets.safe_text import clean

Cell = tuple[str, str]  # (text, style): see keyed_table

NODE_STATUS: dict[str, Cell] = {
    "active": ("● active", ""),
    "inactive": ("○ inactive", "muted"),
    "draining": ("▼ draining", "warning bold"),
    "failed": ("✗ FAILED", "error bold"),
    "maintenance": ("◆ maint", "primary"),
}
NOT_IN_POSTGRES: Cell = ("? not in db", "warning")

SESSION_STATUS: dict[str, Cell] = {
    "pending": ("… pending", "warning"),
    "scheduled": ("◷ scheduled", "primary"),
    "running": ("▶ running", "success"),
    "paused": ("‖ paused", "muted"),
    "completed": ("✓ completed", "muted"),
    "failed": ("✗ failed", "error"),
    "cancelled": ("⊘ cancelled", "muted"),
}

SEVERITY: dict[str, Cell] = {
    "critical": ("✖ CRIT", "error bold reverse"),
    "error": ("✖ error", "error bold"),
    "warning": ("▲ warn", "warning"),
    "info": ("· info", "primary"),
    "debug": ("· debug", "muted"),
}
SEVERITY_RANK = {"critical": 0, "error": 1, "warning": 2, "info": 3, "debug": 4}


def unknown(value: object) -> Cell:
    return ("? " + clean(value), "warning")


STATUS_WIDTH = 12
DRAINED: Cell = ("▼ drained", "primary bold")


def node_status(node: Node) -> Cell:
    """The node's status; a draining node shows how many live sessions are left, then 'drained'."""
    if not node.in_postgres:
        return NOT_IN_POSTGRES
    if node.status == "draining":
        left = node.sessions_total
        if not left:
            return DRAINED
        text = f"▼ draining {left}"
        return (text if len(text) <= STATUS_WIDTH else f"▼ drain {left}", "warning bold")
    return NODE_STATUS.get(node.status) or unknown(node.status)


def drain_progress(node: Node) -> Cell:
    """Long form, for the node detail: 'draining · 3 sessions left' or 'drained'."""
    if node.status != "draining" or not node.in_postgres:
        return node_status(node)
    left = node.sessions_total
    if not left:
        return ("▼ drained · no live sessions", DRAINED[1])
    return (f"▼ draining · {left} session{'' if left == 1 else 's'} left", "warning bold")


def short_age(seconds: float | None) -> str:
    """At most three characters after the first digit: 40s, 12m, 5h, 3d."""
    if seconds is None or not math.isfinite(seconds):
        return ""
    total = max(0, int(seconds))
    if total > 999 * 86400:
        return ">999d"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size:
            return f"{total // size}{unit}"
    return f"{total // 10 * 10}s"


def reachability(node: Node, now: datetime, read_at: datetime) -> Cell:
    """What Redis says: live (with a coarse heartbeat age), stale, down, malformed, or unknown.

    The heartbeat's age is taken at `read_at`, when the snapshot was read: the age on
    which it was judged live or stale.
    """
    state = node.reachability
    if state is Reachability.LIVE:
        age = node.heartbeat_age_at(read_at)
        age = min(30.0, max(0.0, age if age is not None else 0.0))
        return (f"✓ <{min(30, (int(age) // 10 + 1) * 10)}s", "")
    if state is Reachability.STALE:
        return (f"! stale {short_age(node.heartbeat_age_at(read_at))}", "warning bold")
    if state is Reachability.MISSING:
        silent = seconds_between(node.last_heartbeat, now)
        return (f"✗ down {short_age(silent)}".rstrip(), "error bold")
    if state is Reachability.MALFORMED:
        return ("? bad beat", "warning bold")
    return ("? no redis", "muted")


def severity(value: str) -> Cell:
    return SEVERITY.get(value) or unknown(value)


def session_status(value: str) -> Cell:
    return SESSION_STATUS.get(value) or unknown(value)


def node_problem_rank(node: Node) -> int:
    """Sort order that puts the nodes needing attention first."""
    if node.status == "failed":
        return 0
    if node.reachability is Reachability.MISSING:
        return 1
    if node.reachability in (Reachability.STALE, Reachability.MALFORMED):
        return 2
    if not node.in_postgres or not node.known_status:
        return 3
    return {"draining": 4, "maintenance": 5, "inactive": 6}.get(node.status, 7)
