"""A node's longer history (15 min to 7 days) and recent events, for the node detail screen.

The window decides the source and the bucket width so that a chart gets
about 60 to 200 points: raw rows for short windows (the 1-minute rollup
would give only 15 points for 15 minutes), the 1-minute rollup up to two
days, the 1-hour rollup beyond.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from omega_tui.data import pg_reads
from omega_tui.data.models import CANONICAL_METRICS, NodeDetail, SeriesPoint

MAX_POINTS = 200
BUCKET_WIDTHS = (15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def detail_resolution(window: timedelta) -> tuple[str, timedelta]:
    """(source, bucket width) for a window: source is "raw", "1m" or "1h"."""
    seconds = window.total_seconds()
    if seconds <= 30 * 60:
        source, finest = "raw", 15
    elif seconds <= 2 * 86400:
        source, finest = "1m", 60
    else:
        source, finest = "1h", 3600
    for width in BUCKET_WIDTHS:
        if width >= finest and seconds / width <= MAX_POINTS:
            return source, timedelta(seconds=width)
    return source, timedelta(seconds=BUCKET_WIDTHS[-1])


def empty_detail(node_id: str, window: timedelta, now: datetime, problem: str) -> NodeDetail:
    return NodeDetail(node_id=node_id, window_seconds=window.total_seconds(), bucket_seconds=0.0,
                      series=(), events=(), fetched_at=now, problem=problem)


def is_node_id(node_id: str) -> bool:
    try:
        uuid.UUID(node_id)
    except (ValueError, TypeError, AttributeError):
        return False
    return True


def read_node_detail(db, node_id: str, window: timedelta, now: datetime) -> NodeDetail:
    """Two statements. Raises psycopg errors; the caller turns them into `problem`."""
    if not is_node_id(node_id):
        return empty_detail(node_id, window, now, "not a PostgreSQL node id: no stored history")
    if window <= timedelta(0):
        return empty_detail(node_id, window, now, "the window must be longer than zero")
    source, width = detail_resolution(window)
    points: dict[str, list[SeriesPoint]] = {}
    for bucket, metric_type, avg, low, high in pg_reads.read_node_history(db, node_id, source, window, width):
        at = pg_reads.as_time(bucket)
        if at is None:
            continue
        points.setdefault(pg_reads.as_text(metric_type) or "", []).append(
            SeriesPoint(at=at, avg=pg_reads.as_number(avg), min=pg_reads.as_number(low), max=pg_reads.as_number(high))
        )
    names = [m for m in CANONICAL_METRICS if m in points] + sorted(m for m in points if m not in CANONICAL_METRICS)
    return NodeDetail(
        node_id=node_id,
        window_seconds=window.total_seconds(),
        bucket_seconds=width.total_seconds(),
        series=tuple((name, tuple(points[name])) for name in names),
        events=tuple(pg_reads.read_node_events(db, node_id, window)),
        fetched_at=now,
    )
