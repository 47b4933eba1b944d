"""The console's reads of PostgreSQL: one parameterised statement per function.

Each function takes `db`, anything with psycopg's `execute(query, params)`
(the poller passes a wrapper that counts statements), and turns rows into
model values. Every value is untrusted: NULLs, unknown enum strings and odd
types become None or are kept as found, never exceptions. Statements raise
psycopg errors; the caller decides what a failure means.

Lists of thousands of values are sent as one text each, split by the server
(string_to_array, see joined()) when their values cannot hold a comma (node
ids are uuids, watermarks integers): psycopg's list dumpers work value by
value in Python, 5 ms of each 5,000-node poll's CPU, where a join takes 0.1
ms. Other lists (event ids) go as binary parameters (`%(name)b`): psycopg
writes a list of strings in text format several times slower than binary.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from omega_tui.data.models import FINISHED_SESSION_STATUSES, Alert, AlertKind, Allocation, Event, Session
from omega_tui.key_priority import give_way

ALERT_SEVERITIES = ["critical", "error", "warning"]
MAX_NODES = 20_000
MAX_SESSIONS = 50_000   # ~16k live at 5,000 nodes; all are needed for the nodes' session counts
MAX_OPEN_EVENTS = 1_000
MAX_RESOLVED_EVENTS = 200
RESOLVED_HISTORY = timedelta(hours=24)       # the alerts screen's history toggle
RESOLVED_LOOKBACK = timedelta(days=7)        # bounds the scan: events raised at most this long ago
CLOCK_SKEW = timedelta(seconds=5)            # metric rows this far in the future are taken now
FIRST_LOAD_HORIZON = timedelta(hours=1)      # the first poll looks this far back for the short history
# psycopg turns a result's rows into Python values in C, holding the interpreter lock until it is done:
# a fetchall() of 20,000 rows kept every other thread (the console's, and a key press) waiting 10-20 ms.
# Big results are fetched this many rows at a time, so that other threads get their turn in between.
FETCH_CHUNK_ROWS = 1000
# A row of RECENT_METRICS_SQL holds a series' arrays (up to HISTORY_POINTS times and values): 1,000 of them
# held the lock 9-17 ms (at 10,000 nodes, the short history loads between polls: 16 such holds a batch).
RECENT_FETCH_CHUNK_ROWS = 100


# --- untrusted values -------------------------------------------------------

def as_text(value) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


def as_number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def as_int(value) -> int | None:
    number = as_number(value)
    return int(number) if number is not None else None


def as_time(value) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    # A `timestamp without time zone` column on someone else's database: take it as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def as_labels(value) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        return ()
    return tuple(
        sorted((str(k), v if isinstance(v, str) else json.dumps(v, default=str)) for k, v in value.items())
    )


def as_allocations(value) -> tuple[Allocation, ...]:
    if not isinstance(value, list):
        return ()
    allocations = []
    for item in value:
        if isinstance(item, list) and len(item) == 4:
            kind, allocated, total, unit = item
            allocations.append(Allocation(as_text(kind) or "", as_number(allocated), as_number(total), as_text(unit)))
    return tuple(allocations)


def _json(text):
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- nodes ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PgNode:
    """A node as PostgreSQL has it; Redis fills in reachability later."""

    node_id: str
    updated_at: datetime | None
    fields: dict    # Node's keyword arguments from PostgreSQL: the poller builds live Nodes from them


# Rows whose xmin (the transaction that wrote them) is at or after a snapshot's
# xmin: age(xmin), how many transactions ago it began (modulo 2^32, as
# PostgreSQL compares xids), is at most that snapshot xmin's age. Every row
# written by a transaction still in progress at that snapshot, or begun after
# it, is found, savepoints' subtransactions included; rows committed just
# before it may be found too (read again, no harm). Frozen rows keep their
# xmin (an old one may look new after 2^31 transactions: read again, no harm).
# age() works on the xid as it is: casting xmin to text and then to int8 made
# a scan of node_resources twice as slow (2.4 vs 1.2 ms at 5,000 nodes).
# Written out for each table alias X below as literal text (no SQL here is
# built by code); the scalar subquery is worked out once per statement:
#   age(X.xmin) <= (SELECT age(%(since)s::text::xid))

# The first statement of a poll: the snapshot the poll reads (its xmin, mod
# 2^32: the next poll reads the rows written from then on) and counts that
# reveal deleted nodes and node_resources rows, which leave no xmin behind
# (sessions that left: see LIVE_SESSION_IDS_SQL). pg_current_snapshot() works
# on a hot standby too. It also finds the "live" statuses: every status present
# that is not a known finished one, so a status the console does not know (a
# newer scheduler's "preempted") is shown rather than silently hidden. `status
# NOT IN (finished)` would scan the whole table, finished history included;
# instead a loose index scan of idx_sessions_status (one probe per distinct
# status) finds the statuses present, and the session reads use
# `status = ANY(live)` through the same index. Nodes and node_resources rows
# are counted from their tables' pages (count(xmin): xmin is in no index): a
# node's row is rewritten at every heartbeat, so its page is seldom all-visible
# and an index-only scan visits the heap for every index entry as well (3 to 8
# times the pages). Every node_resources row is counted, a node's or not (see
# LiveTables: those of no node are counted at each full read). The users are
# summed up by their names (usernames are joined into sessions), not found by
# xmin: a transaction left open anywhere on the server holds the snapshot's
# xmin back, and then any users row written since (a login, say) made every
# poll read everything again until it ended (at 1,000 nodes 100 ms a poll
# instead of 29).
CHANGES_SQL = """
WITH RECURSIVE present AS (
    SELECT min(status) AS status FROM sessions
    UNION ALL
    SELECT (SELECT min(status) FROM sessions WHERE status > present.status)
      FROM present WHERE present.status IS NOT NULL
), live AS (
    SELECT coalesce(array_agg(status::text), '{}') AS statuses
      FROM present WHERE status IS NOT NULL AND status <> ALL(%(finished)s)
)
SELECT pg_snapshot_xmin(pg_current_snapshot())::text::int8 & 4294967295,
       (SELECT count(n.xmin) FROM nodes n),
       (SELECT count(r.xmin) FROM node_resources r),
       (SELECT coalesce(sum(hashtext(u.user_id::text || '/' || coalesce(u.username::text, ''))), 0) FROM users u),
       (SELECT statuses FROM live)
"""

# Read in binary (quicker to parse): text columns are cast to text, so that a column of another
# type on someone else's database (an enum, say) still comes back as a string, not bytes.
_NODE_COLUMNS = """
SELECT n.node_id::text, n.hostname::text, host(n.ip_address), n.node_type::text, n.status::text,
       n.total_cpu_cores, n.total_memory_gb::float8, n.total_storage_gb::float8,
       n.gpu_count, n.gpu_memory_gb::float8, n.labels::text, n.last_heartbeat, n.updated_at,
       r.resources::text, """

_NODE_RESOURCES = """count(*) AS rows,
       json_agg(json_build_array(resource_type, allocated_capacity::float8, total_capacity::float8, unit)
                ORDER BY resource_type) AS resources"""

NODES_SQL = _NODE_COLUMNS + """coalesce(r.rows, 0)
  FROM nodes n
  LEFT JOIN (SELECT node_id, """ + _NODE_RESOURCES + """
               FROM node_resources
              GROUP BY node_id) r ON r.node_id = n.node_id
 ORDER BY n.hostname, n.node_id
 LIMIT %(limit)s
"""

# Nodes whose row or one of whose node_resources rows was written since the
# last poll. Only the latter have their resources aggregated again (one index
# scan each: few do in a poll); for the others (most: a node's row is written
# for every heartbeat) the last two columns are NULL and the caller keeps the
# ones it holds. Two parts, so that neither joins every node: a LEFT JOIN
# filtered afterwards hashed all of them, whole rows, every poll. A deleted
# node_resources row leaves no xmin to find: the counts of CHANGES_SQL find it,
# whichever node it belonged to.
CHANGED_NODES_SQL = """
WITH w AS MATERIALIZED (
    SELECT DISTINCT node_id FROM node_resources r WHERE age(r.xmin) <= (SELECT age(%(since)s::text::xid))
)""" + _NODE_COLUMNS + """r.rows
  FROM nodes n
 CROSS JOIN (SELECT NULL::json AS resources, NULL::int8 AS rows) r   -- resources not written: as held
 WHERE age(n.xmin) <= (SELECT age(%(since)s::text::xid))
   AND NOT EXISTS (SELECT 1 FROM w WHERE w.node_id = n.node_id)
UNION ALL""" + _NODE_COLUMNS + """r.rows
  FROM w
 CROSS JOIN LATERAL (SELECT * FROM nodes n WHERE n.node_id = w.node_id LIMIT 1) n   -- by key, not joined by hash
 CROSS JOIN LATERAL (SELECT """ + _NODE_RESOURCES + """
                       FROM node_resources WHERE node_id = w.node_id) r
"""


@lru_cache(maxsize=1 << 14)
def _labels_of(text) -> tuple[tuple[str, str], ...]:
    # Cached by the column's text: a node's labels rarely change between polls.
    return as_labels(_json(text))


def pg_node(row, running: int = 0, live: int = 0, before: tuple | None = None) -> PgNode:
    """A NODES_SQL row as a PgNode, with its counts of running and live sessions.

    `before`: the node's previous (row, PgNode); its allocations are reused while their text is the
    same. (Not a cache keyed by the text: allocations change all the time, and such a cache
    filled up with the texts of allocations long gone.)
    """
    (node_id, hostname, ip, node_type, status, cores, memory, storage, gpus, gpu_memory, labels,
     last_heartbeat, updated_at, resources, _resource_rows) = row
    if before is not None and before[0][13] == resources:
        if before[0][:11] == row[:11]:
            # Only its times changed (a node's row is rewritten at every heartbeat: most changed rows
            # of a poll): the rest of its fields as they were, instead of checked again one by one.
            fields = dict(before[1].fields, last_heartbeat=as_time(last_heartbeat),
                          sessions_running=running, sessions_total=live)
            return PgNode(node_id, as_time(updated_at), fields)
        allocations = before[1].fields["allocations"]
    else:
        allocations = as_allocations(_json(resources))
    fields = dict(
        node_id=node_id,
        hostname=as_text(hostname) or "",
        ip_address=as_text(ip),
        node_type=as_text(node_type) or "",
        status=as_text(status) or "",
        total_cpu_cores=as_int(cores),
        total_memory_gb=as_number(memory),
        total_storage_gb=as_number(storage),
        gpu_count=as_int(gpus),
        gpu_memory_gb=as_number(gpu_memory),
        labels=_labels_of(labels),
        last_heartbeat=as_time(last_heartbeat),
        allocations=allocations,
        sessions_running=running,
        sessions_total=live,
    )
    return PgNode(node_id, as_time(updated_at), fields)


def read_changes(db) -> tuple[int, int, int, int, list[str]]:
    """(snapshot xmin mod 2^32, nodes, node_resources rows, a sum of the users' ids and names (it
    changes when a username does), live statuses)."""
    return _send_changes(db).fetchone()


# The _send_* functions execute a statement and return its cursor: its rows are fetched at once, or,
# in psycopg's pipeline mode, once the pipeline is synced (see read_changes_at_once).

def _send_changes(db):
    return db.execute(CHANGES_SQL, {"finished": list(FINISHED_SESSION_STATUSES)})


def fetch_in_chunks(cursor, chunk_rows: int = FETCH_CHUNK_ROWS) -> list[tuple]:
    """All the rows of an executed statement, `chunk_rows` at a time (see FETCH_CHUNK_ROWS)."""
    rows: list[tuple] = []
    while chunk := cursor.fetchmany(chunk_rows):
        rows.extend(chunk)
        give_way()
    return rows


def read_node_rows(db, since: int | None = None) -> list[tuple]:
    """NODES_SQL rows (see pg_node; the last column counts the node's node_resources rows): every
    node in order, or (since: a snapshot xmin) those written since, in any order; then the last
    two columns are None when none of the node's node_resources rows was written since."""
    if since is None:
        return fetch_in_chunks(db.execute(NODES_SQL, {"limit": MAX_NODES}, binary=True))
    return fetch_in_chunks(_send_changed_node_rows(db, since))


def _send_changed_node_rows(db, since: int):
    return db.execute(CHANGED_NODES_SQL, {"since": since}, binary=True)


# --- sessions ---------------------------------------------------------------

SESSIONS_SQL = """
SELECT s.session_id::text, s.session_name, s.user_id::text, u.username, s.session_type, s.status,
       s.priority, s.cpu_request::float8, s.memory_request_gb::float8, s.gpu_request,
       s.scheduled_node_id::text, n.hostname, s.created_at, s.start_time, s.end_time
  FROM sessions s
  LEFT JOIN users u ON u.user_id = s.user_id
  LEFT JOIN nodes n ON n.node_id = s.scheduled_node_id
 WHERE s.status = ANY(%(live)s)
 ORDER BY s.created_at, s.session_id
 LIMIT %(limit)s
"""

# Live sessions written since the last poll (through the status index), the
# same columns. Their node's hostname is looked up by its key, row by row:
# the planner cannot estimate the xmin filter (it takes a third of the rows)
# and would hash every node for the few sessions written in a poll.
CHANGED_SESSIONS_SQL = """
SELECT s.session_id::text, s.session_name, s.user_id::text, u.username, s.session_type, s.status,
       s.priority, s.cpu_request::float8, s.memory_request_gb::float8, s.gpu_request,
       s.scheduled_node_id::text, (SELECT n.hostname FROM nodes n WHERE n.node_id = s.scheduled_node_id),
       s.created_at, s.start_time, s.end_time
  FROM sessions s
  LEFT JOIN users u ON u.user_id = s.user_id
 WHERE s.status = ANY(%(live)s) AND age(s.xmin) <= (SELECT age(%(since)s::text::xid))
"""

# The ids of the live sessions, through the status index: read every poll, they also tell how many
# there are (at most the limit). Cheaper than asking which of the held ones left (sending thousands
# of ids costs more than receiving them), and than counting them first to find out whether any did:
# sessions finish in nearly every poll of a busy cluster, and counting walks the same index entries.
# Joined into one text (split in C: 20 % quicker than a row each at 5,000 nodes), and counted, so that
# an id holding the separator (text ids on someone else's database) is noticed, not split.
LIVE_SESSION_IDS_SQL = """
SELECT count(*), coalesce(string_agg(session_id::text, ','), '')
  FROM (SELECT session_id FROM sessions WHERE status = ANY(%(live)s) LIMIT %(limit)s) s
"""


def _session(row) -> Session:
    (session_id, name, user_id, username, session_type, status, priority, cpu, memory, gpus,
     node_id, hostname, created_at, start_time, end_time) = row
    return Session(
        session_id=session_id,
        session_name=as_text(name) or "",
        user_id=as_text(user_id),
        username=as_text(username),
        session_type=as_text(session_type) or "",
        status=as_text(status) or "",
        priority=as_int(priority),
        cpu_request=as_number(cpu),
        memory_request_gb=as_number(memory),
        gpu_request=as_int(gpus),
        node_id=as_text(node_id),
        node_hostname=as_text(hostname),
        created_at=as_time(created_at),
        start_time=as_time(start_time),
        end_time=as_time(end_time),
    )


def read_live_sessions(db, live: list[str]) -> list[Session]:
    """Sessions in the `live` statuses (see read_changes), oldest first (queue positions come from Redis later)."""
    rows = fetch_in_chunks(db.execute(SESSIONS_SQL, {"live": live, "limit": MAX_SESSIONS}))
    return [_session(row) for row in rows]


def read_changed_sessions(db, since: int, live: list[str]) -> list[Session]:
    """Live sessions written since the snapshot xmin `since`, in any order."""
    return _sessions_of(_send_changed_sessions(db, since, live))


def _send_changed_sessions(db, since: int, live: list[str]):
    return db.execute(CHANGED_SESSIONS_SQL, {"live": live, "since": since})


def _sessions_of(cursor) -> list[Session]:
    return [_session(row) for row in fetch_in_chunks(cursor)]


def read_live_session_ids(db, live: list[str]) -> set[str] | None:
    """The ids of the sessions in the `live` statuses, at most MAX_SESSIONS of them; None when an id
    holds a comma (then read the sessions whole)."""
    return _live_session_ids(_send_live_session_ids(db, live))


def _send_live_session_ids(db, live: list[str]):
    return db.execute(LIVE_SESSION_IDS_SQL, {"live": live, "limit": MAX_SESSIONS})


def _live_session_ids(cursor) -> set[str] | None:
    count, text = cursor.fetchone()
    ids = text.split(",") if count else []
    return set(ids) if len(ids) == count else None


@dataclass(frozen=True, slots=True)
class Changes:
    """read_changes(), read_node_rows(since), read_changed_sessions() and read_live_session_ids() of
    one poll, sent together (see read_changes_at_once)."""

    changes: tuple
    node_rows: list[tuple]
    live: list[str]             # the live statuses the sessions were read with
    sessions: list[Session]
    live_ids: set[str] | None
    also: object = None         # the cursor of the caller's own statement, sent with them (`also`)


def read_changes_at_once(db, since: int, live: list[str], also=None) -> Changes:
    """The four statements of an incremental poll of nodes and sessions, in one round trip (psycopg's
    pipeline mode): the sessions with `live`, the live statuses last read (whether they still are is
    in this read's changes; the caller reads the sessions again when not). Each statement waited
    for the one before on its own: at 5,000 nodes, with the metric and Redis reads running in the
    poll's other threads, the four took 60 ms where the server's work is about 20. `also`: a
    function that executes one more statement of the caller's in the same round trip (given `db`)
    and returns its cursor, whose rows are then in Changes.also."""
    with db.conn.pipeline():
        changes = _send_changes(db)
        node_rows = _send_changed_node_rows(db, since)
        sessions = _send_changed_sessions(db, since, live)
        live_ids = _send_live_session_ids(db, live)
        extra = also(db) if also is not None else None
    return Changes(changes=changes.fetchone(), node_rows=fetch_in_chunks(node_rows), live=live,
                   sessions=_sessions_of(sessions), live_ids=_live_session_ids(live_ids), also=extra)


# --- events and acknowledgements ---------------------------------------------

_EVENT_COLUMNS = """
SELECT e.event_id::text, e.timestamp, e.event_type, e.severity, e.source_component,
       e.source_node_id::text, e.session_id::text, e.message, e.resolved_at, r.username
  FROM system_events e
  LEFT JOIN users r ON r.user_id = e.resolved_by
"""

OPEN_EVENTS_SQL = _EVENT_COLUMNS + """
 WHERE e.resolved_at IS NULL AND e.severity = ANY(%(severities)s)
 ORDER BY e.timestamp DESC
 LIMIT %(limit)s
"""

# The same events' keys only: most polls, every open event is one already held.
OPEN_EVENT_KEYS_SQL = """
SELECT e.event_id::text, e.timestamp
  FROM system_events e
 WHERE e.resolved_at IS NULL AND e.severity = ANY(%(severities)s)
 ORDER BY e.timestamp DESC
 LIMIT %(limit)s
"""

# Open events by id, newer than the oldest of them (on TimescaleDB, where system_events is a
# hypertable, the time bound keeps the id lookups to the newest chunks).
OPEN_EVENTS_BY_ID_SQL = _EVENT_COLUMNS + """
 WHERE e.resolved_at IS NULL AND e.severity = ANY(%(severities)s) AND e.event_id = ANY(%(ids)b::uuid[])
   AND (%(oldest)s::timestamptz IS NULL OR e.timestamp >= %(oldest)s::timestamptz)
"""

RESOLVED_EVENTS_SQL = _EVENT_COLUMNS + """
 WHERE e.resolved_at IS NOT NULL AND e.severity = ANY(%(severities)s)
   AND e.timestamp >= now() - %(lookback)s AND e.resolved_at >= now() - %(history)s
 ORDER BY e.resolved_at DESC
 LIMIT %(limit)s
"""


@lru_cache(maxsize=4096)
def _event_alert(row) -> Alert:
    # Cached by the row as read: the same open events come back every poll.
    event_id, at, event_type, severity, source, node_id, session_id, message, resolved_at, resolved_by = row
    return Alert(
        alert_id=f"event:{event_id}",
        kind=AlertKind.EVENT,
        severity=as_text(severity) or "",
        title=as_text(event_type) or "",
        message=as_text(message) or "",
        since=as_time(at),
        node_id=as_text(node_id),
        session_id=as_text(session_id),
        source=as_text(source),
        resolved_at=as_time(resolved_at),
        resolved_by=as_text(resolved_by),
    )


def read_open_event_alerts(db) -> list[Alert]:
    """Unresolved critical/error/warning system_events, newest first."""
    rows = db.execute(OPEN_EVENTS_SQL, {"severities": ALERT_SEVERITIES, "limit": MAX_OPEN_EVENTS}).fetchall()
    return [_event_alert(row) for row in rows]


def read_open_event_keys(db) -> list[tuple[str, datetime | None]]:
    """(event id, timestamp) of the open events read_open_event_alerts would return, in its order."""
    return open_event_keys_of(send_open_event_keys(db))


def send_open_event_keys(db):
    """The statement of read_open_event_keys(), executed (see _send_changes): its cursor."""
    return db.execute(OPEN_EVENT_KEYS_SQL, {"severities": ALERT_SEVERITIES, "limit": MAX_OPEN_EVENTS})


def open_event_keys_of(cursor) -> list[tuple[str, datetime | None]]:
    return [(event_id, as_time(at)) for event_id, at in cursor.fetchall()]


def read_open_events_by_id(db, keys: list[tuple[str, datetime | None]]) -> list[Alert]:
    """The open events of the given (event id, timestamp) keys."""
    times = [at for _, at in keys]
    oldest = None if None in times else min(times, default=None)
    params = {"severities": ALERT_SEVERITIES, "ids": [event_id for event_id, _ in keys], "oldest": oldest}
    return [_event_alert(row) for row in db.execute(OPEN_EVENTS_BY_ID_SQL, params).fetchall()]


def read_resolved_event_alerts(db) -> list[Alert]:
    """Events resolved in the last RESOLVED_HISTORY, most recently resolved first."""
    params = {"severities": ALERT_SEVERITIES, "lookback": RESOLVED_LOOKBACK,
              "history": RESOLVED_HISTORY, "limit": MAX_RESOLVED_EVENTS}
    return [_event_alert(row) for row in db.execute(RESOLVED_EVENTS_SQL, params).fetchall()]


# --- node metrics: the short history ------------------------------------------

# A sample's time as integer microseconds since the epoch. date_part's double
# (the exact microseconds divided by 10^6, rounded once) times 10^6 is within
# 0.5 of the exact count until 2106, so the cast (which rounds) gives it
# exactly, at 40% of the cost of extract()'s numeric arithmetic.
_MICROS = "(date_part('epoch', m.time) * 1000000)::int8"


def joined(values: list) -> str:
    """Values as one comma-separated text for string_to_array(text, ',', 'null'): None as null. For
    values that hold no comma (uuids, integers); one that does raises ValueError, not split in two."""
    text = ",".join(["null" if value is None else str(value) for value in values])
    if text.count(",") != max(len(values) - 1, 0):
        raise ValueError("a value holds a comma: it cannot be sent joined")
    return text


# Per node, the newest rows whatever their metric (one index scan on
# (node_id, time DESC)), returned as one row of arrays per metric; the
# caller keeps the newest HISTORY_POINTS of each. The array order is not
# guaranteed: the caller sorts.
RECENT_METRICS_SQL = f"""
SELECT n.node_id::text, m.metric_type, m.unit, m.times, m.vals
  FROM unnest(string_to_array(%(node_ids)s, ',')::uuid[]) AS n(node_id)
 CROSS JOIN LATERAL (
        SELECT m.metric_type, max(m.unit) AS unit, array_agg({_MICROS}) AS times, array_agg(m.value) AS vals
          FROM (SELECT metric_type, time, value, unit
                  FROM node_metrics
                 WHERE node_id = n.node_id
                   AND time > now() - %(horizon)s AND time <= now() + %(skew)s
                 ORDER BY time DESC
                 LIMIT %(per_node)s) m
         GROUP BY m.metric_type) m
"""

# Per node, the rows after that node's own watermark (None: after the first-load
# horizon), newest first: one index probe on (node_id, time DESC) per node, so
# a node's late rows (a replaying agent, a skewed clock) are found whatever the
# other nodes wrote meanwhile, and no row is read twice.
NEW_METRICS_SQL = f"""
SELECT w.node_id::text, m.metric_type, {_MICROS}, m.value, m.unit
  FROM unnest(string_to_array(%(node_ids)s, ',')::uuid[], string_to_array(%(since)s, ',', 'null')::int8[])
       AS w(node_id, since_us)
 CROSS JOIN LATERAL (
        SELECT time, metric_type, value, unit
          FROM node_metrics
         WHERE node_id = w.node_id
           AND time > greatest(to_timestamp(0) + w.since_us * INTERVAL '1 microsecond', now() - %(horizon)s)
           AND time <= now() + %(skew)s
         ORDER BY time DESC
         LIMIT %(per_node)s) m
"""

FIRST_LOAD_BATCH = 500   # nodes per statement: each stays far below the statement timeout


def read_recent_metrics(db, node_ids: list[str], rows_per_node: int):
    """The newest samples of each node: (node_id, metric_type, unit, times_us[], values[]) rows.

    Yields one list of rows per FIRST_LOAD_BATCH nodes (one statement each).
    """
    for start in range(0, len(node_ids), FIRST_LOAD_BATCH):
        params = {"node_ids": joined(node_ids[start:start + FIRST_LOAD_BATCH]), "horizon": FIRST_LOAD_HORIZON,
                  "skew": CLOCK_SKEW, "per_node": rows_per_node}
        yield fetch_in_chunks(db.execute(RECENT_METRICS_SQL, params, binary=True), RECENT_FETCH_CHUNK_ROWS)


def read_new_metrics(db, node_ids: list[str], since_us: list[int | None], rows_per_node: int) -> list[tuple]:
    """Each node's rows after its own watermark (microseconds; None: the first-load horizon).

    (node_id, metric_type, time_us, value, unit) rows, at most `rows_per_node`
    per node, the newest (older ones would not be kept anyway).
    """
    params = {"node_ids": joined(node_ids), "since": joined(since_us), "horizon": FIRST_LOAD_HORIZON,
              "skew": CLOCK_SKEW, "per_node": rows_per_node}
    return fetch_in_chunks(db.execute(NEW_METRICS_SQL, params, binary=True))


# --- node detail: longer windows from the rollups ------------------------------

# Each statement returns (bucket, metric_type, avg, min, max) re-bucketed to
# %(width)s, oldest first per metric. Rollups hold full buckets up to their
# newest one; from there on raw rows are aggregated (the rollup refresh lags,
# and its newest bucket may be partial), so nothing is counted twice.

DETAIL_RAW_SQL = """
SELECT omega_console.time_bucket(%(width)s, time) AS bucket, metric_type, avg(value), min(value), max(value)
  FROM node_metrics
 WHERE node_id = %(node_id)s AND time >= now() - %(window)s AND time <= now() + %(skew)s
 GROUP BY 1, 2
 ORDER BY 2, 1
"""

DETAIL_1M_SQL = """
WITH m AS (SELECT bucket, metric_type, avg_value, min_value, max_value, samples
             FROM omega_console.node_metrics_1m
            WHERE node_id = %(node_id)s AND bucket >= now() - %(window)s),
     m_edge AS (SELECT coalesce(max(bucket), now() - %(window)s) AS t FROM m),
     parts AS (
        SELECT * FROM m WHERE bucket < (SELECT t FROM m_edge)
        UNION ALL
        SELECT omega_console.time_bucket(INTERVAL '1 minute', time), metric_type,
               avg(value), min(value), max(value), count(*)
          FROM node_metrics
         WHERE node_id = %(node_id)s AND time >= (SELECT t FROM m_edge) AND time <= now() + %(skew)s
         GROUP BY 1, 2)
SELECT omega_console.time_bucket(%(width)s, bucket), metric_type,
       sum(avg_value * samples) / nullif(sum(samples), 0), min(min_value), max(max_value)
  FROM parts
 GROUP BY 1, 2
 ORDER BY 2, 1
"""

DETAIL_1H_SQL = """
WITH h AS (SELECT bucket, metric_type, avg_value, min_value, max_value, samples
             FROM omega_console.node_metrics_1h
            WHERE node_id = %(node_id)s AND bucket >= now() - %(window)s),
     h_edge AS (SELECT coalesce(max(bucket), now() - %(window)s) AS t FROM h),
     m AS (SELECT bucket, metric_type, avg_value, min_value, max_value, samples
             FROM omega_console.node_metrics_1m
            WHERE node_id = %(node_id)s AND bucket >= (SELECT t FROM h_edge)),
     m_edge AS (SELECT coalesce(max(bucket), (SELECT t FROM h_edge)) AS t FROM m),
     parts AS (
        SELECT * FROM h WHERE bucket < (SELECT t FROM h_edge)
        UNION ALL
        SELECT * FROM m WHERE bucket < (SELECT t FROM m_edge)
        UNION ALL
        SELECT omega_console.time_bucket(INTERVAL '1 minute', time), metric_type,
               avg(value), min(value), max(value), count(*)
          FROM node_metrics
         WHERE node_id = %(node_id)s AND time >= (SELECT t FROM m_edge) AND time <= now() + %(skew)s
         GROUP BY 1, 2)
SELECT omega_console.time_bucket(%(width)s, bucket), metric_type,
       sum(avg_value * samples) / nullif(sum(samples), 0), min(min_value), max(max_value)
  FROM parts
 GROUP BY 1, 2
 ORDER BY 2, 1
"""

DETAIL_SQL = {"raw": DETAIL_RAW_SQL, "1m": DETAIL_1M_SQL, "1h": DETAIL_1H_SQL}


def read_node_history(db, node_id: str, source: str, window: timedelta, width: timedelta) -> list[tuple]:
    """(bucket, metric_type, avg, min, max) rows of one node over `window`, `width` buckets."""
    params = {"node_id": node_id, "window": window, "width": width, "skew": CLOCK_SKEW}
    return db.execute(DETAIL_SQL[source], params).fetchall()


NODE_EVENTS_SQL = """
SELECT event_id::text, timestamp, event_type, severity, source_component, message,
       source_node_id::text, session_id::text, resolved_at
  FROM system_events
 WHERE source_node_id = %(node_id)s AND timestamp >= now() - %(window)s
 ORDER BY timestamp DESC
 LIMIT %(limit)s
"""


def read_node_events(db, node_id: str, window: timedelta, limit: int = 100) -> list[Event]:
    """The node's system_events of every severity within `window`, newest first."""
    rows = db.execute(NODE_EVENTS_SQL, {"node_id": node_id, "window": window, "limit": limit}).fetchall()
    return [
        Event(
            event_id=event_id,
            timestamp=as_time(at),
            event_type=as_text(event_type) or "",
            severity=as_text(severity) or "",
            source_component=as_text(source),
            message=as_text(message) or "",
            node_id=as_text(node),
            session_id=as_text(session),
            resolved_at=as_time(resolved_at),
        )
        for event_id, at, event_type, severity, source, message, node, session, resolved_at in rows
    ]
