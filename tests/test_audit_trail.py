"""The audit trail read incrementally: new rows only, late commits caught, bounded; in the snapshot."""

from __future__ import annotations

from dataclasses import replace

import psycopg
from psycopg.types.json import Jsonb

from omega_tui.config import Settings
from omega_tui.data.audit_trail import AuditTrail, summarise_state
from omega_tui.data.poller import Poller


class CountingDb:
    def __init__(self, conn):
        self.conn, self.statements, self.params = conn, 0, []

    def execute(self, query, params=None):
        self.statements += 1
        self.params.append(params)
        return self.conn.execute(query, params)


def add_audit(conn, operator: str, action: str = "drain", *, audit_id: int | None = None, before=None, after=None):
    conn.execute(
        """INSERT INTO omega_console.audit_log (audit_id, operator, os_user, os_host, action, target_kind, target_id,
                                                target_name, before_state, after_state, result, detail)
           VALUES (coalesce(%s, nextval('omega_console.audit_log_audit_id_seq')), %s, 'u', 'h', %s, 'node',
                   'id-1', 'cmp-01', %s, %s, 'ok', 'done')""",
        (audit_id, operator, action, Jsonb(before) if before is not None else None,
         Jsonb(after) if after is not None else None),
    )


def test_reads_only_new_rows_catches_late_commits_and_keeps_the_newest(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        for n in range(1, 6):
            add_audit(conn, f"op{n}")
        conn.execute("DELETE FROM omega_console.audit_log WHERE audit_id = 4")   # "not committed yet"
        trail = AuditTrail(max_entries=4)
        db = CountingDb(conn)
        assert trail.read(db) == 4
        assert [e.operator for e in trail.entries] == ["op5", "op3", "op2", "op1"]

        add_audit(conn, "op4", audit_id=4)        # the late commit, below the highest id seen
        add_audit(conn, "op6")
        assert trail.read(db) == 2
        assert db.statements == 2 and db.params[1]["after"] < 4
        assert [e.operator for e in trail.entries] == ["op6", "op5", "op4", "op3"]   # bounded: newest 4
        assert trail.read(db) == 0 and [e.audit_id for e in trail.entries] == [6, 5, 4, 3]


def test_before_and_after_are_summarised_in_one_line():
    assert summarise_state({"status": "active"}) == "status=active"
    assert summarise_state({"status": "cancelled", "released": {"cpu": 16.0, "gpu": 2.0}}) == \
        "status=cancelled, released cpu=16 gpu=2"
    assert summarise_state({"released": {}}) == "released none"
    assert summarise_state(None) == "" and summarise_state([1, 2]) == "[1, 2]"


def test_the_snapshot_carries_the_audit_trail_newest_first(dsn, redis_url):
    settings = replace(Settings(), dsn=dsn, redis_url=redis_url)
    poller = Poller(settings)
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            add_audit(conn, "ops1", before={"status": "active"}, after={"status": "draining"})
            first = poller.poll()
            add_audit(conn, "ops2", "resume")
            second = poller.poll()
    finally:
        poller.close()
    assert [(e.operator, e.before, e.after) for e in first.audit] == [("ops1", "status=active", "status=draining")]
    assert [(e.operator, e.action) for e in second.audit] == [("ops2", "resume"), ("ops1", "drain")]
    assert second.audit[1] is first.audit[0]          # entries already held are not rebuilt
