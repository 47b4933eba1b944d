"""The snapshot's nodes (those PostgreSQL lists), rebuilt only where something changed.

A node is made of its row as read (a PgNode), its heartbeat as parsed and its
series as built; each is the same object from poll to poll while it does not
change (live_tables.py, redis_live.py, metric_history.py). A node whose three
parts are last poll's is last poll's Node, until the moment its heartbeat's
TTL runs out (it then turns STALE). Screens tell unchanged rows by identity.

Most polls only a fifth of the nodes change, so the nodes that did are found
without a pass over the others in Python: rows and heartbeats by comparing
this poll's list of them with last poll's, position by position in C
(`map(is_not, ...)`), series from the history's own list of changed nodes,
the ends of TTLs from a heap. That holds while the nodes are the same list in
the same order and Redis answered both polls; otherwise every node is looked
at, as the first poll does.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from itertools import compress
from operator import is_not

from omega_tui.data.metric_history import MetricHistory
from omega_tui.data.models import Node, Reachability, node_from_postgres
from omega_tui.data.redis_live import live_until, reachability
from omega_tui.key_priority import taking_turns

_LIVE = Reachability.LIVE
_MALFORMED = Reachability.MALFORMED


def changed_positions(new: list, old: list) -> list[int]:
    """The positions where `new` holds another object than `old` (lists of the same length), found
    in C: what changed between two polls' lists of reused objects (nodes, rows, heartbeats)."""
    return list(compress(range(len(new)), map(is_not, new, old)))


class NodeBuilder:
    """Not thread-safe: owned by the poller, used under its lock."""

    def __init__(self):
        # Per node, in order: (PgNode, heartbeat, reachability, series, Node, LIVE until).
        self._entries: list[tuple] = []
        self._node_ids: list[str] | None = None   # the ids they were built for (the same list: the same nodes)
        self._rows: list = []               # the PgNodes they were built from
        self._heartbeats: list = []         # and the heartbeats
        self._nodes: list[Node] = []
        self._positions: dict[str, int] = {}
        self._deadlines: list[tuple[datetime, int]] = []   # (LIVE until, position) of LIVE nodes: a heap
        self._built_at: datetime | None = None
        self._redis_fresh = False
        self.malformed = 0                  # nodes whose heartbeat is malformed

    def build(self, pg_nodes: list, node_ids: list[str], heartbeats: dict, redis_fresh: bool,
              history: MetricHistory, now: datetime) -> list[Node]:
        """The nodes of `pg_nodes` (whose ids are `node_ids`, in order) with `heartbeats` (node id ->
        Heartbeat, None when its key is missing; a node not in it was not asked: UNKNOWN) and their
        series in `history`. A new list each time; the Nodes in it are last poll's where unchanged."""
        heartbeats_now = list(map(heartbeats.get, node_ids))   # in the nodes' order
        if (node_ids is self._node_ids and redis_fresh and self._redis_fresh and len(pg_nodes) == len(self._rows)
                and self._built_at is not None and now >= self._built_at):
            nodes = self._changed_only(pg_nodes, heartbeats_now, heartbeats, history, now)
        else:
            nodes = self._every_node(pg_nodes, node_ids, heartbeats_now, heartbeats, redis_fresh, history, now)
        self._node_ids, self._rows, self._heartbeats = node_ids, pg_nodes, heartbeats_now
        self._built_at, self._redis_fresh, self._nodes = now, redis_fresh, nodes
        return list(nodes)

    def updated_at(self, node_id: str) -> datetime | None:
        """The updated_at of the node's row as last built (None: not a node PostgreSQL lists)."""
        position = self._positions.get(node_id)
        return self._entries[position][0].updated_at if position is not None else None

    def _every_node(self, pg_nodes, node_ids, heartbeats_now, heartbeats, redis_fresh, history, now) -> list[Node]:
        last = {entry[0].node_id: entry for entry in self._entries}
        rebuilt = history.take_changed()
        entries, nodes, deadlines, malformed = [], [], [], 0
        for position, (pg_node, heartbeat) in enumerate(taking_turns(zip(pg_nodes, heartbeats_now), 256)):
            node_id = pg_node.node_id
            before = last.get(node_id)
            # The usual node: unchanged, and LIVE by the same heartbeat until before[5].
            if (before is not None and before[0] is pg_node and before[1] is heartbeat and before[2] is _LIVE
                    and redis_fresh and now <= before[5] and node_id not in rebuilt):
                entry = before
            else:
                asked = redis_fresh and (heartbeat is not None or node_id in heartbeats)
                entry = _entry(pg_node, heartbeat, before, asked, history, now)
                malformed += entry[2] is _MALFORMED
            if entry[2] is _LIVE:
                deadlines.append((entry[5], position))
            entries.append(entry)
            nodes.append(entry[4])
        heapq.heapify(deadlines)
        self._entries, self._deadlines, self.malformed = entries, deadlines, malformed
        if node_ids is not self._node_ids:
            self._positions = {node_id: position for position, node_id in enumerate(node_ids)}
        return nodes

    def _changed_only(self, pg_nodes, heartbeats_now, heartbeats, history, now) -> list[Node]:
        changed = history.take_changed()
        positions = self._positions
        candidates = {positions[node_id] for node_id in changed if node_id in positions}
        if pg_nodes is not self._rows:
            candidates.update(changed_positions(pg_nodes, self._rows))
        candidates.update(changed_positions(heartbeats_now, self._heartbeats))
        entries, nodes, deadlines = self._entries, list(self._nodes), self._deadlines
        while deadlines and deadlines[0][0] < now:
            deadline, position = heapq.heappop(deadlines)
            # A node's every new heartbeat pushes its deadline and leaves the last one in the heap:
            # only the one its entry holds now is its TTL running out. (A node heartbeating every 10 s
            # with a 30 s TTL leaves every one behind: about 1,000 passed a poll at 5,000 nodes.)
            if entries[position][5] == deadline:
                candidates.add(position)
        for position in taking_turns(sorted(candidates), 256):
            pg_node, heartbeat, before = pg_nodes[position], heartbeats_now[position], entries[position]
            asked = heartbeat is not None or pg_node.node_id in heartbeats
            entry = _entry(pg_node, heartbeat, before, asked, history, now)
            if entry is not before:
                self.malformed += (entry[2] is _MALFORMED) - (before[2] is _MALFORMED)
                if entry[2] is _LIVE and entry[5] != before[5]:
                    heapq.heappush(deadlines, (entry[5], position))
                entries[position] = entry
                nodes[position] = entry[4]
        return nodes


def _entry(pg_node, heartbeat, before: tuple | None, asked: bool, history: MetricHistory, now: datetime) -> tuple:
    """A node's entry: `before` when its parts and state are the same. `asked`: Redis answered
    for this node (else its reachability is UNKNOWN, whatever heartbeat was seen last)."""
    state = reachability(heartbeat, now)[0] if asked else Reachability.UNKNOWN
    metrics = history.series_of(pg_node.node_id)
    if (before is not None and before[0] is pg_node and before[1] is heartbeat and before[2] is state
            and before[3] is metrics):
        return before
    return (pg_node, heartbeat, state, metrics,
            node_from_postgres(pg_node.fields, state, heartbeat, metrics),
            live_until(heartbeat) if state is _LIVE else None)
