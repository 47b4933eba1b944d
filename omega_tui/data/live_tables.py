"""Nodes and live sessions, read incrementally: each poll fetches only the rows written since the last one.

Omega's `updated_at` columns are kept by no trigger, so they are not trusted.
PostgreSQL's `xmin` system column is: every insert or update gives the row
the id of the transaction that wrote it. Each poll notes its snapshot's xmin
(the oldest transaction still in progress); the next poll fetches the rows
whose xmin is at or after it (see pg_reads). Deleted rows leave nothing to
find, so the poll also counts nodes and node_resources rows and reads
everything again when the counts disagree with what is held, and reads the
ids of the live sessions (those that finished or were deleted are the held
ones not among them). Everything is also read again on a new connection
(another server's snapshot), when a username changed (they are joined into
sessions), when a node's hostname changed or a node came or went (order,
joined hostnames), and every FULL_READ_SECONDS as a safety net.
"""

from __future__ import annotations

import time

from omega_tui.data import pg_reads
from omega_tui.data.held_sessions import EMPTY, HeldSessions, LiveSessions
from omega_tui.key_priority import taking_turns

FULL_READ_SECONDS = 60.0


class LiveTables:
    """The nodes and live sessions PostgreSQL has, kept up to date one poll at a time."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self.nodes: list[pg_reads.PgNode] = []     # in NODES_SQL's order, with their session counts
        self.node_ids: list[str] = []              # theirs, in that order: a new list only when they change
        self.sessions: LiveSessions = EMPTY
        self.full = False                         # the last read was a full one
        self._since: int | None = None            # snapshot xmin of the last read; None: read everything
        self._live: list[str] | None = None       # the live session statuses the last read found
        self._conn = None                         # the connection that snapshot was taken on
        self._full_at = 0.0
        self._rows: dict[str, tuple] = {}         # node -> its NODES_SQL row, in order
        self._resources = 0                       # their node_resources rows, in all
        self._other_resources = 0                 # node_resources rows of no node held, at the last full read
        self._built: dict[str, tuple] = {}        # node -> (row, running, live, PgNode): reused while unchanged
        self._positions: dict[str, int] = {}      # node -> its place in self.nodes
        self._held = HeldSessions()
        self._users = None                        # the users' sum of ids and names last read (see CHANGES_SQL)

    def read(self, db, also=None):
        """One poll's reads, in the caller's transaction. Raises psycopg errors; then nothing changes.

        `also`: one more statement of the caller's, sent in the same round trip as the usual poll's
        (see read_changes_at_once); its cursor is returned, or None when it was not sent (a poll
        that reads everything sends its statements one by one)."""
        conn = getattr(db, "conn", None)
        since = self._since
        if conn is not self._conn or self._clock() - self._full_at > FULL_READ_SECONDS:
            since = None
        at_once = sent = None
        if since is not None and conn is not None and self._live is not None:
            # The usual poll: its statements in one round trip, the sessions with the last live statuses.
            at_once = sent = pg_reads.read_changes_at_once(db, since, self._live, also)
            snapshot, node_count, resource_count, users, live = at_once.changes
        else:
            snapshot, node_count, resource_count, users, live = pg_reads.read_changes(db)
        if users != self._users or node_count > pg_reads.MAX_NODES:
            since = None   # usernames are joined into sessions; only the first MAX_NODES are followed

        rows, written, resources = self._read_nodes(db, since, at_once.node_rows if at_once is not None else None)
        if since is not None and (rows is None or len(rows) != node_count
                                  or resources + self._other_resources != resource_count):
            since = None   # a node came, went or was renamed (order, joined hostnames), or a resource row went
            rows, written, resources = self._read_nodes(db, since)
        other_resources = resource_count - resources if since is None else None

        if at_once is not None and at_once.live != live:
            at_once = None   # the live statuses changed: the sessions are read again with these
        every_session, changes = self._read_sessions(db, since, live, at_once)

        # Every read succeeded: take them all.
        if since is None:
            self._full_at = self._clock()
            self._other_resources = other_resources
        self.full = since is None
        self._since, self._conn, self._live, self._users = snapshot, conn, live, users
        self._rows, self._resources = rows, resources
        if changes is None:
            self._held.replace_all(every_session)
        else:
            self._held.update(*changes)
        self.sessions = self._held.view()
        counted = self._held.take_counted()
        self.nodes = self._build_nodes(None if written is None or counted is None else written | counted)
        return sent.also if sent is not None else None

    def _read_nodes(self, db, since, changed_rows: list | None = None
                    ) -> tuple[dict[str, tuple] | None, set[str] | None, int]:
        """(node -> row, in order; None when the order may have changed: read everything then),
        with the nodes whose rows were read (None: all were) and their node_resources rows in all.
        `changed_rows`: those written since `since`, read already."""
        if since is None:
            rows = {row[0]: row for row in pg_reads.read_node_rows(db)}
            return rows, None, sum(row[-1] for row in rows.values())
        if changed_rows is None:
            changed_rows = pg_reads.read_node_rows(db, since)
        rows, written, resources = dict(self._rows), set(), self._resources
        for row in changed_rows:
            old = rows.get(row[0])
            if old is None or old[1] != row[1]:
                return None, None, 0
            if row[-1] is None:
                row = (*row[:-2], *old[-2:])   # its resources were not written: as held
            resources += row[-1] - old[-1]
            rows[row[0]] = row
            written.add(row[0])
        return rows, written, resources

    def _read_sessions(self, db, since, live: list[str], at_once: pg_reads.Changes | None):
        """(every live session, None) to hold those instead, or (None, (changed sessions, live ids)) to
        update the held ones with. `at_once`: the changed sessions and live ids, read already."""
        held = self._held
        if since is None or len(held) >= pg_reads.MAX_SESSIONS:
            return pg_reads.read_live_sessions(db, live), None
        if at_once is not None:
            changed, still_live = at_once.sessions, at_once.live_ids
        else:
            changed = pg_reads.read_changed_sessions(db, since, live)
            # The held sessions not among the live ids finished (an update, but out of the live set
            # the read above sees) or were deleted.
            still_live = pg_reads.read_live_session_ids(db, live)
        if (still_live is None or len(still_live) >= pg_reads.MAX_SESSIONS
                or held.count_after(changed, still_live) != len(still_live)):
            # Ids that cannot be told apart, only the oldest MAX_SESSIONS shown (not followed row by
            # row), or a live session neither held nor written since the last poll: read them all.
            return pg_reads.read_live_sessions(db, live), None
        return None, (changed, still_live)

    def _build_nodes(self, changed: set[str] | None) -> list[pg_reads.PgNode]:
        """Every node's PgNode, in order. `changed`: the only nodes whose row or session counts may
        have changed (None: any; then the nodes may have come, gone or moved too): the others are
        taken as they were, without a pass over every node (most nodes, most polls)."""
        if changed is not None:
            if not changed:
                return self.nodes
            nodes, positions, rows = list(self.nodes), self._positions, self._rows
            for node_id in taking_turns(changed, 256):
                position = positions.get(node_id)   # (sessions may name a node that is not listed)
                if position is not None:
                    nodes[position] = self._build_node(node_id, rows[node_id], self._built)
            return nodes
        built, nodes = {}, []
        for node_id, row in taking_turns(self._rows.items(), 256):
            nodes.append(self._build_node(node_id, row, built))
        self._built = built
        node_ids = list(self._rows)
        if node_ids != self.node_ids:
            self.node_ids = node_ids
            self._positions = {node_id: position for position, node_id in enumerate(node_ids)}
        return nodes

    def _build_node(self, node_id: str, row: tuple, built: dict) -> pg_reads.PgNode:
        sessions_running, sessions_live = self._held.running.get(node_id, 0), self._held.live.get(node_id, 0)
        before = self._built.get(node_id)
        if (before is not None and before[0] == row and before[1] == sessions_running
                and before[2] == sessions_live):
            entry = before
        else:
            previous = (before[0], before[3]) if before is not None else None
            entry = (row, sessions_running, sessions_live,
                     pg_reads.pg_node(row, sessions_running, sessions_live, before=previous))
        built[node_id] = entry
        return entry[3]
