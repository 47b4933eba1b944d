"""The agent's local store: the SQLite node tables of seed 000, so no sample
is lost while PostgreSQL is away.

Every sample is written here first, then sent; `sent_at` marks what
PostgreSQL has. Tables are created as the seed writes them, with these
columns added at the end (and said so in the schema below):

- local_resources: `sample_id` (replay order), `load_1m`, `sent_at`
- local_events: `event_uuid` (the system_events id, so a replay inserts it
  at most once), `sent_at`
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from omega_tui.agent.host_sample import HostSample

SCHEMA = """
CREATE TABLE IF NOT EXISTS local_config (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS local_resources (
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    cpu_usage REAL,
    memory_usage REAL,
    disk_usage REAL,
    network_rx_bytes INTEGER,
    network_tx_bytes INTEGER,
    gpu_usage REAL,
    temperature REAL,
    -- added by omega-tui's agent:
    sample_id INTEGER PRIMARY KEY AUTOINCREMENT,
    load_1m REAL,
    sent_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS local_resources_unsent ON local_resources (sample_id) WHERE sent_at IS NULL;

CREATE TABLE IF NOT EXISTS local_events (
    event_id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    event_type TEXT NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    details TEXT, -- JSON
    -- added by omega-tui's agent:
    event_uuid TEXT,
    sent_at TIMESTAMP
);
CREATE INDEX IF NOT EXISTS local_events_unsent ON local_events (event_id) WHERE sent_at IS NULL;
"""
KEEP_SENT = timedelta(days=1)


class BufferInUse(Exception):
    """Another agent holds this buffer file."""


@dataclass(frozen=True, slots=True)
class BufferedSample:
    sample_id: int
    sample: HostSample


@dataclass(frozen=True, slots=True)
class BufferedEvent:
    local_id: int
    event_uuid: str
    at: datetime
    event_type: str
    severity: str
    message: str
    details: dict


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _parse(text) -> datetime:
    at = datetime.fromisoformat(str(text))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


class SampleBuffer:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = open(self.path.with_name(self.path.name + ".lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise BufferInUse(f"buffer {self.path} is in use by another agent") from None
        fresh = not self.path.exists()
        # The agent's loop may run in another thread than the one that opened it.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        if fresh:
            os.chmod(self.path, 0o600)
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    # -- configuration ---------------------------------------------------------------

    def get_config(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM local_config WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_config(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO local_config (key, value, updated_at) VALUES (?, ?, CURRENT_TIMESTAMP)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            (key, value),
        )

    # -- samples --------------------------------------------------------------------------

    def add(self, sample: HostSample) -> int:
        cursor = self._db.execute(
            """INSERT INTO local_resources (timestamp, cpu_usage, memory_usage, disk_usage, network_rx_bytes,
                                            network_tx_bytes, gpu_usage, temperature, load_1m)
               VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)""",
            (_iso(sample.at), sample.cpu_percent, sample.memory_percent, sample.disk_percent,
             None if sample.net_rx_bytes is None else int(sample.net_rx_bytes),
             None if sample.net_tx_bytes is None else int(sample.net_tx_bytes),
             sample.temperature_c, sample.load_1m),
        )
        return cursor.lastrowid

    def unsent(self, limit: int = 500) -> list[BufferedSample]:
        rows = self._db.execute(
            """SELECT sample_id, timestamp, cpu_usage, memory_usage, disk_usage, network_rx_bytes,
                      network_tx_bytes, load_1m, temperature
                 FROM local_resources WHERE sent_at IS NULL ORDER BY sample_id LIMIT ?""",
            (limit,),
        ).fetchall()
        return [BufferedSample(r[0], HostSample(_parse(r[1]), r[2], r[3], r[4], r[5], r[6], r[7], r[8]))
                for r in rows]

    def mark_sent(self, sample_ids: list[int], at: datetime) -> None:
        self._db.executemany("UPDATE local_resources SET sent_at = ? WHERE sample_id = ?",
                             [(_iso(at), i) for i in sample_ids])

    def unsent_count(self) -> int:
        return self._db.execute("SELECT count(*) FROM local_resources WHERE sent_at IS NULL").fetchone()[0]

    def prune(self, now: datetime) -> None:
        """Sent samples and events are kept a day as local history."""
        cutoff = _iso(now - KEEP_SENT)
        self._db.execute("DELETE FROM local_resources WHERE sent_at IS NOT NULL AND timestamp < ?", (cutoff,))
        self._db.execute("DELETE FROM local_events WHERE sent_at IS NOT NULL AND timestamp < ?", (cutoff,))

    # -- events ---------------------------------------------------------------------------

    def log_event(self, at: datetime, event_type: str, severity: str, message: str, details: dict,
                  event_uuid: str) -> None:
        self._db.execute(
            "INSERT INTO local_events (timestamp, event_type, severity, message, details, event_uuid)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (_iso(at), event_type, severity, message, json.dumps(details), event_uuid),
        )

    def unsent_events(self, limit: int = 100) -> list[BufferedEvent]:
        rows = self._db.execute(
            """SELECT event_id, event_uuid, timestamp, event_type, severity, message, details
                 FROM local_events WHERE sent_at IS NULL ORDER BY event_id LIMIT ?""",
            (limit,),
        ).fetchall()
        events = []
        for local_id, event_uuid, at, event_type, severity, message, details in rows:
            try:
                parsed = json.loads(details) if details else {}
            except ValueError:
                parsed = {"raw": details}
            events.append(BufferedEvent(local_id, event_uuid, _parse(at), event_type, severity, message,
                                        parsed if isinstance(parsed, dict) else {"value": parsed}))
        return events

    def mark_events_sent(self, local_ids: list[int], at: datetime) -> None:
        self._db.executemany("UPDATE local_events SET sent_at = ? WHERE event_id = ?",
                             [(_iso(at), i) for i in local_ids])
