"""The live sessions held between polls, and what is counted from them, kept up to date from the changes.

At 5,000 nodes a cluster has some 20,000 live sessions and a few hundred
change each poll. Sorting all of them, counting them per node and per status,
and picking out the pending ones every poll cost tens of milliseconds; here
each changed session is taken out of the counts as it was and put back in as
it is.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from omega_tui.data.models import Session


def session_order(session: Session):
    # As PostgreSQL's ORDER BY created_at, session_id (NULLs last; uuid text sorts as the uuid).
    return (session.created_at is None, session.created_at or 0, session.session_id)


@dataclass(frozen=True, slots=True)
class LiveSessions:
    """One poll's live sessions. The poller keeps it as the last good data: it is never changed."""

    ordered: list[Session]            # oldest first
    by_id: dict[str, Session]
    pending: list[Session]            # those with status pending, in no particular order
    statuses: dict[str, int]          # status -> sessions


EMPTY = LiveSessions([], {}, [], {})


class HeldSessions:
    """Not thread-safe: owned by LiveTables."""

    def __init__(self):
        self._by_id: dict[str, Session] = {}    # in session_order: new sessions are mostly the newest
        self.running: Counter[str] = Counter()  # node id -> running sessions placed on it
        self.live: Counter[str] = Counter()     # node id -> live sessions placed on it
        self._statuses: Counter[str] = Counter()
        self._pending: dict[str, Session] = {}
        self._view: LiveSessions = EMPTY
        self._counted: set[str] | None = set()  # nodes whose counts changed since taken; None: any may have

    def __len__(self) -> int:
        return len(self._by_id)

    def view(self) -> LiveSessions:
        """The sessions as they are now: the same object until they change."""
        if self._view is None:
            self._view = LiveSessions(
                ordered=list(self._by_id.values()),
                by_id=dict(self._by_id),
                pending=list(self._pending.values()),
                statuses={status: n for status, n in self._statuses.items() if n},
            )
        return self._view

    def replace_all(self, sessions: list[Session]) -> None:
        """Hold these sessions (oldest first, as read) instead."""
        self._by_id = {s.session_id: s for s in sessions}
        self._sort()
        self.running, self.live, self._statuses, self._pending = Counter(), Counter(), Counter(), {}
        for session in self._by_id.values():
            self._count(session, 1)
        self._counted = None
        self._view = None

    def take_counted(self) -> set[str] | None:
        """The nodes whose counts of running or live sessions may have changed since the last call
        (None: any node's may have, after replace_all())."""
        counted, self._counted = self._counted, set()
        return counted

    def count_after(self, changed: list[Session], still_live: set[str]) -> int:
        """How many sessions update(changed, still_live) would leave."""
        # The live ids neither held nor changed, found without a copy of the held ones (set.difference
        # looks each live id up in the dict): 0.24 against 1.5 ms for 14,000 sessions.
        unknown = still_live.difference(self._by_id).difference([s.session_id for s in changed])
        return len(still_live) - len(unknown)

    def update(self, changed: list[Session], still_live: set[str]) -> None:
        """Take in the sessions that changed or came; keep only those whose ids are `still_live` (the
        live ids read with the changes: a held session not among them finished or was deleted)."""
        by_id = self._by_id
        if not changed and by_id.keys() <= still_live:
            return
        resort = False
        newest = session_order(next(reversed(by_id.values()))) if by_id else None
        for session in sorted(changed, key=session_order):
            old = by_id.get(session.session_id)
            if old is not None:
                self._count(old, -1)
                resort = resort or old.created_at != session.created_at
            else:
                order = session_order(session)
                if newest is not None and order < newest:
                    resort = True   # an insert only appends: a session older than the newest held
                else:
                    newest = order
            by_id[session.session_id] = session
            self._count(session, 1)
        for session_id in by_id.keys() - still_live:
            self._count(by_id.pop(session_id), -1)
        if resort:
            self._sort()
        self._view = None

    def _sort(self) -> None:
        self._by_id = {s.session_id: s for s in sorted(self._by_id.values(), key=session_order)}

    def _count(self, session: Session, sign: int) -> None:
        self._statuses[session.status] += sign
        if session.node_id is not None:
            if self._counted is not None:
                self._counted.add(session.node_id)
            self.live[session.node_id] += sign
            if session.status == "running":
                self.running[session.node_id] += sign
        if session.status == "pending":
            if sign > 0:
                self._pending[session.session_id] = session
            else:
                self._pending.pop(session.session_id, None)
