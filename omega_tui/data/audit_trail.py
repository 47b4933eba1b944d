"""The audit trail (omega_console.audit_log), read incrementally by the poller.

The first read takes the newest MAX_ENTRIES rows; later reads take only rows
with an audit_id above the highest one seen, less a small overlap (ids come
from a sequence, and a transaction that took an id earlier may commit later),
in one statement on the primary key. The newest MAX_ENTRIES entries are kept.
"""

from __future__ import annotations

from omega_tui.data.models import AuditEntry
from omega_tui.data.pg_reads import as_text, as_time

MAX_ENTRIES = 500
ID_OVERLAP = 32   # re-read this many ids below the highest seen: late commits

AUDIT_SQL = """
SELECT audit_id, at, operator, os_user, os_host, db_user, action, target_kind, target_id, target_name,
       before_state, after_state, result, detail
  FROM omega_console.audit_log
 WHERE audit_id > %(after)s
 ORDER BY audit_id DESC
 LIMIT %(limit)s
"""


def summarise_state(state) -> str:
    """A short, one-line summary of a before/after JSON value: 'status=active'."""
    if state is None:
        return ""
    if not isinstance(state, dict):
        return str(state)[:80]
    parts = []
    for key, value in state.items():
        if isinstance(value, dict):
            inner = " ".join(f"{k}={_number(v)}" for k, v in value.items())
            parts.append(f"{key} {inner}".strip() if inner else f"{key} none")
        else:
            parts.append(f"{key}={_number(value)}")
    return ", ".join(parts)[:120]


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _entry(row) -> AuditEntry:
    (audit_id, at, operator, os_user, os_host, db_user, action, target_kind, target_id, target_name,
     before, after, result, detail) = row
    return AuditEntry(
        audit_id=int(audit_id), at=as_time(at), operator=as_text(operator) or "",
        os_user=as_text(os_user) or "", os_host=as_text(os_host) or "", db_user=as_text(db_user) or "",
        action=as_text(action) or "", target_kind=as_text(target_kind) or "", target_id=as_text(target_id) or "",
        target_name=as_text(target_name), before=summarise_state(before), after=summarise_state(after),
        result=as_text(result) or "", detail=as_text(detail),
    )


class AuditTrail:
    """The newest audit entries, kept across polls and topped up with new rows."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._by_id: dict[int, AuditEntry] = {}
        self._highest = 0
        self.entries: tuple[AuditEntry, ...] = ()   # newest first

    def read(self, db) -> int:
        """Read new rows through `db.execute`; returns how many entries were new."""
        after = max(0, self._highest - ID_OVERLAP) if self._by_id else 0
        rows = db.execute(AUDIT_SQL, {"after": after, "limit": self.max_entries}).fetchall()
        new = 0
        for row in rows:
            entry = _entry(row)
            if entry.audit_id not in self._by_id:
                self._by_id[entry.audit_id] = entry
                new += 1
        if new:
            newest = sorted(self._by_id, reverse=True)[: self.max_entries]
            self._by_id = {audit_id: self._by_id[audit_id] for audit_id in newest}
            self._highest = newest[0]
            self.entries = tuple(self._by_id[audit_id] for audit_id in newest)
        return new
