"""The new metric rows, read on a connection of their own while the poll's connection reads the rest.

A poll's statements run one after another on its connection (four of them
sent together: pg_reads.read_changes_at_once), and the server's work does
not overlap the console's (psycopg's pipeline mode waits for every queued
result at the first fetch). The new metric rows are the poll's biggest
read and need nothing from its other reads: they are asked of the last poll's
nodes (a node new in this poll is asked from the next), and metric rows are
only ever added, so they need not share the others' snapshot. So from its
second poll on, each poll reads them, and merges them into the
history, in a thread on a second connection while its own connection reads
nodes, sessions and events. At 5,000 nodes that took the poll median from
205 / 196 / 223 ms to 154 / 158 / 194 ms (runs of each code alternated).

The second connection is an autocommit session whose transactions are
read-only, to the server the poll reads (the primary or the replica in use):
the poller closes it whenever it drops its own connection (a failure, a move
to another server), and the next read opens it where the poll now reads.
When it cannot be opened (the server's max_connections reached, say), the
poll reads the metrics on its own connection, as it does on its first poll,
and the second connection is tried again RETRY_SECONDS later.

While the short history is still loading (the polls after the first), the
poller also loads the next batch of it here between polls, so that no poll
waits for it (see Poller._start_history_batch).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_for

import psycopg

from omega_tui.data.connect import StoreError, cancel_statement, close_quietly
from omega_tui.data.worker_thread import WorkerThread

RETRY_SECONDS = 60.0
CLOSE_WAIT_SECONDS = 0.5   # close() waits this long for a cancelled read; after that the read closes it


class ReadCancelled(Exception):
    """cancel() (or close()) came while the connection was being opened: the read never began."""


class MetricReader:
    """One read at a time: start(), then result() from the same thread (the poll's)."""

    def __init__(self, open_conn: Callable[[str], psycopg.Connection], clock=time.monotonic):
        self._open = open_conn            # dsn -> an open connection; raises StoreError
        self._clock = clock
        self._conn: psycopg.Connection | None = None   # closed by the poller with its own (close())
        self._retry_at = 0.0              # when opening failed: not tried again before this
        self._worker = WorkerThread("omega-metric-read")
        self._read: Future | None = None   # the read started last, its outcome until result()
        self.cancelled = False            # cancel() was called during the last read
        self._state = threading.Lock()    # guards the two below: close() and the end of a read
        self._reading = False             # a read is running on the connection
        self._close_when_done = False     # close() could not wait for it: it closes the connection

    @property
    def connection(self) -> psycopg.Connection | None:
        return self._conn

    @property
    def available(self) -> bool:
        """Whether a read can be started now (else read on the poll's connection)."""
        return self._conn is not None or self._clock() >= self._retry_at

    def start(self, dsn: str, read: Callable[[psycopg.Connection], object]) -> None:
        """Run read(conn) in a thread, on this reader's connection (opened to `dsn` when there is none)."""
        self.wait()   # a read close() could not wait for still has the connection
        self.cancelled = False
        self._reading = True
        self._read = self._worker.submit(self._run, dsn, read)

    def _run(self, dsn: str, read):
        """In the reader's thread: what it returns or raises is the read's outcome (see result())."""
        try:
            if self._conn is None:
                self._conn = self._open(dsn)
            if self.cancelled:
                # There was no statement to cancel yet: the read would have run to its end (up to the
                # statement timeout) after close() returned.
                raise ReadCancelled("cancelled while its connection was being opened")
            return read(self._conn)
        finally:
            with self._state:
                self._reading = False
                if self._close_when_done:
                    self._close_when_done = False
                    self._close_connection()

    def wait(self) -> None:
        """Wait for the read to end, whatever its outcome (the poll failed already)."""
        if self._read is not None:
            wait_for([self._read])

    def result(self):
        """What read() returned; None when no connection could be opened (read on the poll's
        connection instead). Raises what the read raised (the poll then closes the connection)."""
        read, self._read = self._read, None
        try:
            return read.result()
        except StoreError:
            self._retry_at = self._clock() + RETRY_SECONDS
            return None

    @property
    def running(self) -> bool:
        """Whether the read started last is still running (result() would wait for it)."""
        return self._read is not None and not self._read.done()

    @property
    def lost(self) -> bool:
        """Whether the connection died (the server restarted, the backend was terminated)."""
        return self._conn is not None and (self._conn.broken or self._conn.closed)

    def cancel(self) -> None:
        """Cancel a running statement (from another thread)."""
        self.cancelled = True
        cancel_statement(self._conn)

    def close(self) -> None:
        """Close the connection; a read still running on it is cancelled first. A read that does not
        end within CLOSE_WAIT_SECONDS (a dead network) closes it itself when it ends. The reader's
        thread ends too (a later read starts another)."""
        read = self._read
        if read is not None and not read.done():
            self.cancel()
            wait_for([read], CLOSE_WAIT_SECONDS)
        self._worker.stop()
        with self._state:
            if self._reading:
                self._close_when_done = True
                return
            self._close_connection()

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        close_quietly(conn)
