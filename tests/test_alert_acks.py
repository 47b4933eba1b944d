"""Acknowledgements held between polls: only rows written since the last read are fetched."""

from __future__ import annotations

import psycopg

from omega_tui.data.alert_acks import AlertAcks
from tests.cluster_data import acknowledge


class CountingDb:
    def __init__(self, conn):
        self.conn, self.statements = conn, 0

    def execute(self, query, params=None):
        self.statements += 1
        return self.conn.execute(query, params)


def _read(acks: AlertAcks, conn) -> dict:
    """One read in its own transaction, as a poll's."""
    try:
        return acks.read(CountingDb(conn))
    finally:
        conn.rollback()


def test_reads_only_what_was_written_since_and_notices_a_deleted_row(dsn):
    with psycopg.connect(dsn, autocommit=True) as writer, psycopg.connect(dsn) as reader:
        acknowledge(writer, "pending:s-1", by="ops1")
        acknowledge(writer, "unreachable:n-1", by="ops2")
        acks = AlertAcks()
        assert set(_read(acks, reader)) == {"pending:s-1", "unreachable:n-1"} and acks.rows_read == 2

        held = _read(acks, reader)
        assert acks.rows_read == 0 and held is acks.acks and len(held) == 2   # nothing new: nothing fetched

        acknowledge(writer, "threshold:n-2:cpu_percent", by="ops3")
        acknowledge(writer, "pending:s-1", by="ops4")   # written again: read again
        held = _read(acks, reader)
        assert acks.rows_read == 2
        assert held["pending:s-1"][1] == "ops4" and held["threshold:n-2:cpu_percent"][1] == "ops3"
        assert held["unreachable:n-1"][1] == "ops2"   # held from the first read

        writer.execute("DELETE FROM omega_console.alert_acks WHERE alert_id = 'unreachable:n-1'")
        db = CountingDb(reader)
        try:
            held = acks.read(db)
        finally:
            reader.rollback()
        assert db.statements == 2 and acks.rows_read == 2   # the count disagreed: every row read again
        assert set(held) == {"pending:s-1", "threshold:n-2:cpu_percent"}


def test_a_new_connection_reads_every_row_again(dsn):
    with psycopg.connect(dsn, autocommit=True) as writer:
        acknowledge(writer, "pending:s-9", by="ops1")
        acks = AlertAcks()
        with psycopg.connect(dsn) as first:
            _read(acks, first)
        with psycopg.connect(dsn) as second:
            assert set(_read(acks, second)) == {"pending:s-9"} and acks.rows_read == 1


def test_every_row_is_read_again_after_full_read_seconds(dsn):
    now = [0.0]
    with psycopg.connect(dsn, autocommit=True) as writer, psycopg.connect(dsn) as reader:
        acknowledge(writer, "pending:s-5", by="ops1")
        acks = AlertAcks(clock=lambda: now[0])
        _read(acks, reader)
        _read(acks, reader)
        assert acks.rows_read == 0
        now[0] = 61.0
        _read(acks, reader)
        assert acks.rows_read == 1
