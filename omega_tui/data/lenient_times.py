"""Times that Python cannot hold ('infinity', year 0 or 10000+) read as None instead of failing a poll.

PostgreSQL's timestamps reach from 4713 BC to 294276 AD plus ±infinity; Python's
datetime from year 1 to 9999. psycopg refuses such a value with a DataError, and
one such row (a `last_heartbeat = 'infinity'` left by some script) would fail
the whole read. psycopg's fast (C) loaders cannot be subclassed, so a connection
keeps them until such a value is met; then it switches to these slower Python
loaders, which give None for what cannot be held, and the read is retried.
"""

from __future__ import annotations

import psycopg
from psycopg.types import datetime as pg_datetime

_LENIENT = "_omega_lenient_times"


def _lenient(base: type) -> type:
    def load(self, data):
        try:
            return base.load(self, data)
        except psycopg.DataError:
            return None

    return type(f"Lenient{base.__name__}", (base,), {"load": load})


_LOADERS = {
    "timestamptz": (pg_datetime.TimestamptzLoader, pg_datetime.TimestamptzBinaryLoader),
    "timestamp": (pg_datetime.TimestampLoader, pg_datetime.TimestampBinaryLoader),
    "date": (pg_datetime.DateLoader, pg_datetime.DateBinaryLoader),
}
_LENIENT_LOADERS = {name: tuple(_lenient(base) for base in bases) for name, bases in _LOADERS.items()}


def is_out_of_range_time(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, psycopg.DataError) and ("timestamp" in text or "date" in text) and (
        "too large" in text or "too small" in text or "infinity" in text)


def retry_with_lenient_times(conn: psycopg.Connection | None, exc: BaseException) -> bool:
    """If `exc` is an out-of-range time on `conn`, make `conn` lenient; True when the read should be retried."""
    if conn is None or conn.closed or conn.broken or getattr(conn, _LENIENT, False) or not is_out_of_range_time(exc):
        return False
    try:
        conn.rollback()
    except psycopg.Error:
        return False
    for name, loaders in _LENIENT_LOADERS.items():
        for loader in loaders:
            conn.adapters.register_loader(name, loader)
    setattr(conn, _LENIENT, True)
    return True
