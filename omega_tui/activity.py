"""What the console says about actions: its own (running, results) and other operators'.

Kept calm: at most a few lines under the status line. An action in flight
shows until it ends; the per-item results of the last action show for
RESULT_SECONDS; failures stay until dismissed (`x`). Other operators'
actions come from the audit trail in the snapshot (entries newer than the
ones present when the console started, not by this console's actor) and show
for OTHERS_SECONDS. Drains are tracked on the node rows themselves.
"""

from __future__ import annotations

from datetime import datetime

from omega_tui.data.actions import ALREADY, OK, ActionResult, Actor
from omega_tui.data.models import AuditEntry
from omega_tui.widgets.formatting import clock_time
from omega_tui.widgets.safe_text import clean

RESULT_SECONDS = 30.0
OTHERS_SECONDS = 120.0
MAX_LINES = 4
OTHER_VERBS = {"drain": "draining", "resume": "resumed", "cancel": "cancelled", "acknowledge": "acknowledged",
               "resolve": "resolved"}

Line = tuple[str, str]   # (text, style), as table cells


def result_line(result: ActionResult, name: str | None = None) -> Line:
    message = result.message
    if name and result.target_id and result.target_id != name:   # "event:4ed1… acknowledged": say which
        message = message.replace(result.target_id, name)
    message = clean(message, 200)
    if result.result == OK:
        return ("✓ " + message, "success")
    if result.result == ALREADY:
        return ("= " + message, "")
    return ("✗ " + (f"{clean(name, 40)}: " if name and name not in message else "") + message, "error bold")


class Activity:
    def __init__(self, actor: Actor) -> None:
        self.actor = actor
        self.running: str | None = None            # e.g. "drain cmp-01, cmp-02"
        self.results: list[Line] = []
        self.results_at: datetime | None = None
        self.failures: list[Line] = []
        self.others: list[AuditEntry] = []
        self._audit_seen: int | None = None        # highest audit_id seen; None before the first snapshot

    def started(self, action: str, names: list[str]) -> None:
        shown = ", ".join(clean(n, 30) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        self.running = f"{action} {shown}"

    def finished(self, results: list[tuple[ActionResult, str]], now: datetime) -> None:
        """`results`: each result with the name the operator saw."""
        self.running = None
        self.results = [result_line(r, name) for r, name in results if r.ok]
        self.results_at = now
        self.failures.extend(result_line(r, name) for r, name in results if not r.ok)

    def refused(self, message: str) -> None:
        """Something the console refused before acting (nothing changed)."""
        self.failures.append(("✗ " + clean(message, 200), "error bold"))

    def dismiss(self) -> bool:
        """`x`: clear results and failures; True if there was something to clear."""
        had = bool(self.failures or self.results)
        self.failures, self.results = [], []
        return had

    def see_audit(self, entries: tuple[AuditEntry, ...]) -> None:
        """Take note of other operators' actions in a new snapshot's audit trail (newest first)."""
        if not entries:
            if self._audit_seen is None:
                self._audit_seen = 0
            return
        highest = entries[0].audit_id
        if self._audit_seen is None:   # what happened before this console started is on the audit screen
            self._audit_seen = highest
            return
        new = [e for e in entries if e.audit_id > self._audit_seen and not self._mine(e)]
        self._audit_seen = max(self._audit_seen, highest)
        if new:
            self.others = (new + self.others)[:MAX_LINES]

    def _mine(self, entry: AuditEntry) -> bool:
        actor = self.actor
        return (entry.operator, entry.os_user, entry.os_host) == (actor.operator, actor.os_user, actor.os_host)

    def lines(self, now: datetime) -> list[Line]:
        lines: list[Line] = []
        if self.running:
            lines.append(("… " + self.running, "primary"))
        if self.results and self.results_at is not None and (now - self.results_at).total_seconds() < RESULT_SECONDS:
            lines.extend(self.results)
        if self.failures:
            lines.extend(self.failures)
        if len(lines) > MAX_LINES:
            hidden = len(lines) - MAX_LINES + 1
            lines = lines[:MAX_LINES - 1] + [(f"… {hidden} more (audit screen: 4)", "muted")]
        if self.failures:
            text, style = lines[-1]
            lines[-1] = (f"{text}   (x: dismiss)", style)
        for entry in self.others:
            if len(lines) >= MAX_LINES:
                break
            if entry.at is not None and (now - entry.at).total_seconds() < OTHERS_SECONDS:
                lines.append((other_line(entry, now), "muted"))
        return lines


def other_line(entry: AuditEntry, now: datetime) -> str:
    target = clean(entry.target_name or entry.target_id, 40)
    who = clean(entry.operator, 20)
    if entry.result == OK:
        what = f"{who} {OTHER_VERBS.get(entry.action, clean(entry.action, 12))} {target}"
    else:
        what = f"{who}: {clean(entry.action, 12)} {target} {clean(entry.result, 10)}"
    return f"{what} · {clock_time(entry.at, now)}"
