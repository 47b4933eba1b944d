"""Live state from Redis: node heartbeats and the pending-session queue.

Heartbeats of the nodes PostgreSQL knows are read by key, in MGET batches,
all in one pipeline with the queue read, so a poll is one round trip. Only
those worth reading are asked for: a node's whose next heartbeat is due by
its cadence, or whose key was missing or unusable, and every node's in turn
(see HeartbeatReader._due_positions); the others keep last read's. Nodes
that heartbeat but are unknown to PostgreSQL are found with SCAN, never
KEYS: one SCAN step rides along in that same pipeline while a discovery
pass runs, and a new pass starts every DISCOVERY_INTERVAL.

On a Redis Cluster an MGET may only name keys of one hash slot, so the keys
are grouped by slot (each node id's slot is computed once), the slots by the
master that serves them, and each master gets one request: its MGETs, the
queue read if it holds the queue, and a SCAN step of its own while a
discovery pass runs (every master is scanned). All requests are written
before any reply is read, so a poll is one request per master and one round
trip of latency. Slot groups answered with a redirection (a failover or resharding
under way) are read again through redis-py, which follows redirections, and
the slot map is refreshed.

Every value is untrusted: a heartbeat that is not the contract's JSON
becomes a Heartbeat with `problem` set, never an exception.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import compress, count, repeat
from operator import is_, le, ne

from redis.cluster import key_slot
from redis.exceptions import AskError, MovedError, ResponseError, TryAgainError

from omega_tui.data.connect import is_cluster
from omega_tui.data.metric_history import to_micros
from omega_tui.data.models import HEARTBEAT_TTL_SECONDS, Heartbeat, Reachability
from omega_tui.key_priority import taking_turns

HEARTBEAT_PREFIX = "node:heartbeat:"
QUEUE_KEY = "queue:pending_sessions"
MGET_BATCH = 1000
SCAN_COUNT = 1000
QUEUE_LIMIT = 10_000
DISCOVERY_INTERVAL = timedelta(seconds=30)
# A heartbeat is read again from this long before its node's next one is due (see _next_due), and every
# SWEEP_READS reads whatever its cadence; a cadence counts as at most the heartbeats' TTL.
DUE_EARLY_US = 500_000
SWEEP_READS = 8
MAX_CADENCE_US = int(HEARTBEAT_TTL_SECONDS * 1_000_000)


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _preview(text: str, limit: int = 40) -> str:
    # ascii() escapes control characters: the text came from the wire.
    return ascii(text[:limit] + ("..." if len(text) > limit else ""))


def _iso_time(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_timestamp(value) -> tuple[datetime | None, str | None]:
    """A heartbeat timestamp (ISO-8601 text or epoch seconds) -> (aware UTC datetime, problem)."""
    if value is None:
        return None, "no timestamp"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None, f"timestamp is a {type(value).__name__}"
    if isinstance(value, str):
        text = value.strip()
        # "YYYY-...": ISO-8601 first (what agents write; a failed float() costs twice the parse).
        at = _iso_time(text) if text[4:5] == "-" else None
        if at is None:
            try:
                value = float(text)
            except ValueError:
                at = _iso_time(text)
                if at is None:
                    return None, f"timestamp {_preview(text)} is neither ISO-8601 nor epoch seconds"
        if at is not None:
            # A naive timestamp is taken as UTC, as agents commonly write utcnow().
            return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC), None
    if not math.isfinite(value):
        return None, "timestamp is not a finite number"
    try:
        return datetime.fromtimestamp(value, UTC), None
    except (OverflowError, OSError, ValueError):
        return None, f"timestamp {value!r} is out of range"


def parse_heartbeat(raw: bytes | str) -> Heartbeat:
    """A `node:heartbeat:{id}` value -> Heartbeat; problems are fields, never exceptions."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Heartbeat(None, None, None, problem="not UTF-8 text")
    try:
        data = json.loads(raw)
    except ValueError:
        return Heartbeat(None, None, None, problem=f"not JSON: {_preview(raw)}")
    if not isinstance(data, dict):
        return Heartbeat(None, None, None, problem=f"JSON {type(data).__name__}, not an object")
    problems = []
    at, problem = parse_timestamp(data.get("timestamp"))
    if problem:
        problems.append(problem)
    status = data.get("status")
    if status is not None and not isinstance(status, str):
        problems.append(f"status is a {type(status).__name__}")
        status = None
    load = data.get("load")
    if load is not None:
        if isinstance(load, bool) or not isinstance(load, (int, float)):
            problems.append(f"load is a {type(load).__name__}")
            load = None
        elif not math.isfinite(load):
            problems.append("load is not a finite number")
            load = None
        else:
            load = float(load)
    return Heartbeat(at, status, load, problem="; ".join(problems) or None)


def reachability(heartbeat: Heartbeat | None, now: datetime) -> tuple[Reachability, float | None]:
    """What a heartbeat (None: key missing) says about its node at `now`, and its age in seconds."""
    if heartbeat is None:
        return Reachability.MISSING, None
    age = (now - heartbeat.at).total_seconds() if heartbeat.at is not None else None
    if heartbeat.problem is not None:
        return Reachability.MALFORMED, age
    if age is not None and age > HEARTBEAT_TTL_SECONDS:
        return Reachability.STALE, age
    return Reachability.LIVE, age


_LIVE_FOR = timedelta(seconds=HEARTBEAT_TTL_SECONDS)
_NEVER = datetime.min.replace(tzinfo=UTC)
_ALWAYS = datetime.max.replace(tzinfo=UTC)


def live_until(heartbeat: Heartbeat) -> datetime:
    """The last moment at which reachability(heartbeat, now) says LIVE; datetime.min when there is
    no such moment to count from (a malformed heartbeat, or one without a timestamp)."""
    if heartbeat.problem is not None or heartbeat.at is None:
        return _NEVER
    try:
        return heartbeat.at + _LIVE_FOR
    except OverflowError:   # a timestamp at the end of time: always LIVE
        return _ALWAYS


@dataclass(frozen=True, slots=True)
class RedisReading:
    heartbeats: dict[str, Heartbeat | None]   # node id -> heartbeat; None: no key
    discovered: tuple[str, ...]               # heartbeating node ids that were not asked for
    queue: tuple[str, ...] | None             # queue:pending_sessions in order; None: unreadable
    problems: tuple[str, ...]                 # values that could not be used, one line each
    round_trips: int
    # node id -> timestamp of the last heartbeat seen, for the nodes asked about whose key is missing now
    last_seen: dict[str, datetime] = field(default_factory=dict)


REDIRECTIONS = (MovedError, AskError, TryAgainError)


class _MasterRequest:
    """The commands for one master of a cluster, and what each reply is for."""

    def __init__(self, node):
        self.node = node
        self.commands: list[tuple] = []
        self.what: list = []   # per command: node ids of an MGET, "queue", or ("scan", master name)

    def add(self, command: tuple, what) -> None:
        self.commands.append(command)
        self.what.append(what)


def _exchange(client, requests) -> list[list]:
    """Write every master's commands first, then read every reply: one round trip of latency
    however many masters, and none of a pipeline's per-command bookkeeping. An error reply is
    returned in place; a connection that fails raises (and is not reused)."""
    taken = []
    try:
        for master in requests:
            pool = client.get_redis_connection(master.node).connection_pool
            conn = pool.get_connection()
            taken.append((pool, conn))
            conn.send_packed_command(conn.pack_commands(master.commands))
        return [[_reply(conn) for _ in master.commands] for (_, conn), master in zip(taken, requests)]
    except BaseException:
        for _, conn in taken:
            conn.disconnect()   # replies may be left unread on it
        raise
    finally:
        for pool, conn in taken:
            pool.release(conn)


def _reply(conn):
    try:
        return conn.read_response()
    except ResponseError as exc:
        return exc


def _next_due(beat: Heartbeat | None, before: Heartbeat | None, now_us: int) -> int:
    """When the heartbeat after `beat` (just read; `before` was its node's last) is due: its cadence
    (the time between the two, by the node's clock) after it, by the node's clock or ours, whichever
    is earlier (a node's clock running ahead does not put off the reads), DUE_EARLY_US early. 0 (read
    it next time) without a usable timestamp."""
    if beat is None or beat.at is None or beat.problem is not None:
        return 0
    at = to_micros(beat.at)
    cadence = at - to_micros(before.at) if before is not None and before.at is not None else 0
    if not 0 < cadence <= MAX_CADENCE_US:
        cadence = 0
    return min(at, now_us) + cadence - DUE_EARLY_US


class HeartbeatReader:
    """Reads heartbeats and the queue; remembers discovered nodes and the SCAN cursor.

    Not thread-safe: owned by the poller, used under its lock.
    """

    def __init__(self, *, discovery_interval: timedelta = DISCOVERY_INTERVAL):
        self.discovery_interval = discovery_interval
        self._discovered: set[str] = set()
        self._last: tuple[list, list, list] = ([], [], [])   # the last read's node ids, values and Heartbeats
        self._last_seen: dict[str, datetime] = {}   # RedisReading.last_seen of the last read
        self._queue: tuple[list, tuple[str, ...]] = ([], ())   # the queue as last read, and as decoded
        self._scan_cursor: int | None = None      # None: no discovery pass running
        self._last_pass_start: datetime | None = None
        self._slots: dict[str, int] = {}          # cluster: node id -> hash slot of its heartbeat key
        self._scan_cursors: dict[str, int] = {}   # cluster: master name -> cursor of the running pass
        self._due_us: list[int] = []              # per node of the last read: its heartbeat's next due, in us
        self._turn = 0                            # whose turn it is to be read anyway (see _due_positions)

    def read(self, client, known_ids: list[str], now: datetime) -> RedisReading:
        """One round trip (one per master on a cluster). Raises redis.RedisError when Redis cannot answer."""
        known = set(known_ids)
        ids = list(known_ids) + sorted(self._discovered - known)
        asked = self._due_positions(ids, now)
        asked_ids = ids if asked is None else [ids[i] for i in asked]
        if is_cluster(client):
            fetched, queue_result, problems, round_trips = self._fetch_cluster(client, asked_ids, known, now,
                                                                               every=asked is None)
        else:
            fetched, queue_result, problems, round_trips = self._fetch(client, asked_ids, known, now)
        if asked is None:
            values = fetched
        else:   # the others' values as last read
            values = list(self._last[1])
            for position, value in zip(asked, fetched):
                values[position] = value
        return self._reading(ids, values, queue_result, known, problems, round_trips, now)

    def _fetch(self, client, ids: list[str], known: set[str], now: datetime) -> tuple[list, object, list[str], int]:
        """(the heartbeat keys' values of `ids`, the queue read, problems, round trips)."""
        pipe = client.pipeline(transaction=False)
        for start in range(0, len(ids), MGET_BATCH):
            pipe.mget([HEARTBEAT_PREFIX + node_id for node_id in ids[start:start + MGET_BATCH]])
        pipe.lrange(QUEUE_KEY, 0, QUEUE_LIMIT - 1)
        scanning = self._scan_due(now)
        if scanning:
            pipe.scan(self._scan_cursor or 0, match=HEARTBEAT_PREFIX + "*", count=SCAN_COUNT)
        results = pipe.execute(raise_on_error=False)

        values: list = []
        batches = math.ceil(len(ids) / MGET_BATCH)
        for result in results[:batches]:
            if isinstance(result, Exception):
                raise result
            values.extend(result)
        problems: list[str] = []
        if scanning:
            self._take_scan_step(results[batches + 1], known, problems)
        return values, results[batches], problems, 1

    def _due_positions(self, ids: list[str], now: datetime) -> list[int] | None:
        """The positions in `ids` of the heartbeats worth reading now (None: all of them).

        A heartbeat is read when its node's next one is due (see _next_due) or overdue, when its key
        was missing or its value unusable, and in turn, every SWEEP_READS reads, whatever its cadence:
        a value written off its cadence (an agent restarted, a key deleted) waits at most that many
        reads. Every one is read when the nodes are not last read's. At 10,000 nodes an MGET of every
        key took Redis 15 to 60 ms a read, while the poll's other reads ran on the same two cores.
        """
        if ids != self._last[0] or len(self._due_us) != len(ids):
            return None
        self._turn = (self._turn + 1) % SWEEP_READS
        now_us = to_micros(now)
        due = compress(count(), map(le, self._due_us, repeat(now_us)))
        positions = sorted({*due, *range(self._turn, len(ids), SWEEP_READS)})
        return None if len(positions) == len(ids) else positions

    def read_more(self, client, reading: RedisReading, node_ids: list[str]) -> RedisReading:
        """`reading` with the heartbeats of more nodes too: one more MGET (on a cluster, one per
        hash slot, which the poller's round-trip count does not show: new nodes are rare)."""
        keys = [HEARTBEAT_PREFIX + node_id for node_id in node_ids]
        values = client.mget_nonatomic(keys) if is_cluster(client) else client.mget(keys)
        heartbeats = dict(reading.heartbeats)
        for node_id, raw in zip(node_ids, values):
            heartbeats[node_id] = None if raw is None else parse_heartbeat(raw)
        return replace(reading, heartbeats=heartbeats)

    def _reading(self, ids, values, queue_result, known: set[str], problems: list[str],
                 round_trips: int, now: datetime) -> RedisReading:
        last_ids, last_values, last_beats = self._last
        now_us = to_micros(now)
        if ids == last_ids and len(values) == len(last_values) and len(self._due_us) == len(ids):
            # The same nodes as last read (most polls): only the values that differ from last read's,
            # found in C, are parsed; the others keep their Heartbeat (no new object for the collector)
            # and when their next one is due.
            beats, due_us = list(last_beats), self._due_us
            for i in taking_turns(compress(count(), map(ne, values, last_values)), 512):
                raw = values[i]
                beats[i] = None if raw is None else parse_heartbeat(raw)
                due_us[i] = _next_due(beats[i], last_beats[i], now_us)
            before = last_beats
        else:
            held = dict(zip(last_ids, zip(last_values, last_beats)))
            beats, before = [], []
            for node_id, raw in taking_turns(zip(ids, values), 512):
                last = held.get(node_id)
                before.append(last[1] if last is not None else None)
                if raw is None:
                    beats.append(None)
                else:
                    beats.append(last[1] if last is not None and last[0] == raw else parse_heartbeat(raw))
            due_us = [0] * len(ids)   # all read again next time: the cadences are found anew
        # A missing heartbeat: when its node was last seen (its heartbeat of the last read, if it had one).
        last_seen, seen_before = {}, self._last_seen
        for i in compress(count(), map(is_, values, repeat(None))):
            node_id = ids[i]
            at = before[i].at if before[i] is not None else seen_before.get(node_id)
            if at is not None:
                last_seen[node_id] = at
        heartbeats = dict(zip(ids, beats))
        self._last, self._last_seen, self._due_us = (ids, values, beats), last_seen, due_us

        queue: tuple[str, ...] | None
        if isinstance(queue_result, Exception):
            queue = None
            problems.append(f"{QUEUE_KEY}: {_first_line(queue_result)}")
        elif queue_result == self._queue[0]:
            queue = self._queue[1]   # unchanged (compared as read, in C): the same tuple, not decoded again
        else:
            queue = tuple(item.decode("utf-8", "replace") for item in queue_result)
            self._queue = (queue_result, queue)

        self._discovered = {i for i in self._discovered if i not in known and heartbeats.get(i, True) is not None}
        return RedisReading(
            heartbeats=heartbeats,
            discovered=tuple(sorted(i for i in self._discovered if i in heartbeats)),
            queue=queue,
            problems=tuple(problems),
            round_trips=round_trips,
            last_seen=last_seen,
        )

    # --- Redis Cluster ----------------------------------------------------------

    def _fetch_cluster(self, client, ids: list[str], known: set[str], now: datetime, *, every: bool
                       ) -> tuple[list, object, list[str], int]:
        """As _fetch, on a cluster. `every`: `ids` are every node's (the slots of no other are kept)."""
        slots = {}
        for node_id in ids:
            slot = self._slots.get(node_id)
            slots[node_id] = key_slot((HEARTBEAT_PREFIX + node_id).encode()) if slot is None else slot
        if every:
            self._slots = slots
        else:
            self._slots.update(slots)
        by_slot: dict[int, list[str]] = {}
        for node_id, slot in slots.items():
            by_slot.setdefault(slot, []).append(node_id)

        manager = client.nodes_manager
        requests: dict[str, _MasterRequest] = {}

        def request(node) -> _MasterRequest:
            return requests.setdefault(node.name, _MasterRequest(node))

        for slot, slot_ids in by_slot.items():
            request(manager.get_node_from_slot(slot)).add(("MGET", *[HEARTBEAT_PREFIX + i for i in slot_ids]), slot_ids)
        request(manager.get_node_from_slot(key_slot(QUEUE_KEY.encode()))).add(
            ("LRANGE", QUEUE_KEY, 0, QUEUE_LIMIT - 1), "queue")
        if self._cluster_scan_due(client, now):
            for name, cursor in self._scan_cursors.items():
                request(client.get_node(node_name=name)).add(
                    ("SCAN", cursor, "MATCH", HEARTBEAT_PREFIX + "*", "COUNT", SCAN_COUNT), ("scan", name))

        values: dict[str, bytes | None] = {}
        redirected: list[str] = []
        queue_result = None
        problems: list[str] = []
        round_trips = len(requests)
        for master, replies in zip(requests.values(), _exchange(client, requests.values())):
            for what, reply in zip(master.what, replies):
                if what == "queue":
                    queue_result = reply
                    if isinstance(reply, REDIRECTIONS):
                        queue_result = client.lrange(QUEUE_KEY, 0, QUEUE_LIMIT - 1)
                        round_trips += 1
                elif isinstance(what, tuple):
                    self._take_cluster_scan_step(what[1], reply, known, problems)
                elif isinstance(reply, REDIRECTIONS):
                    redirected.extend(what)
                elif isinstance(reply, Exception):
                    raise reply
                else:
                    values.update(zip(what, reply))
        if redirected:
            # The slot map moved under us (a failover, a resharding): refresh it, and
            # let redis-py, which follows MOVED and ASK, read those keys again.
            manager.initialize()
            values.update(zip(redirected, client.mget_nonatomic([HEARTBEAT_PREFIX + i for i in redirected])))
            round_trips += 1
        return [values.get(i) for i in ids], queue_result, problems, round_trips

    def _cluster_scan_due(self, client, now: datetime) -> bool:
        if self._scan_cursors:
            masters = {node.name for node in client.get_primaries()}
            if set(self._scan_cursors) <= masters:
                return True
            # A master went away mid-pass (a failover): start the pass again on today's masters.
            self._last_pass_start = None
        if self._last_pass_start is None or now - self._last_pass_start >= self.discovery_interval:
            self._last_pass_start = now
            self._scan_cursors = {node.name: 0 for node in client.get_primaries()}
            return bool(self._scan_cursors)
        return False

    def _take_cluster_scan_step(self, name: str, result, known: set[str], problems: list[str]) -> None:
        if isinstance(result, Exception):
            problems.append(f"SCAN {HEARTBEAT_PREFIX}* on {name}: {_first_line(result)}")
            self._scan_cursors = {}
            return
        cursor, keys = result
        self._add_discovered(keys, known)
        if int(cursor):
            self._scan_cursors[name] = int(cursor)
        else:
            self._scan_cursors.pop(name, None)

    # --- discovery ----------------------------------------------------------------

    def _add_discovered(self, keys, known: set[str]) -> None:
        for key in keys:
            node_id = key.decode("utf-8", "replace")[len(HEARTBEAT_PREFIX):]
            if node_id not in known:
                self._discovered.add(node_id)

    def _scan_due(self, now: datetime) -> bool:
        if self._scan_cursor is not None:
            return True
        if self._last_pass_start is None or now - self._last_pass_start >= self.discovery_interval:
            self._last_pass_start = now
            self._scan_cursor = 0
            return True
        return False

    def _take_scan_step(self, result, known: set[str], problems: list[str]) -> None:
        if isinstance(result, Exception):
            problems.append(f"SCAN {HEARTBEAT_PREFIX}*: {_first_line(result)}")
            self._scan_cursor = None
            return
        cursor, keys = result
        self._add_discovered(keys, known)
        self._scan_cursor = int(cursor) or None
