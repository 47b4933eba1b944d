"""Sparklines as text, for table cells and the summary header.

Each character is a fixed wall-clock bucket (e.g. 15 s), aligned on the epoch,
so between two bucket boundaries a refresh changes only the last character;
the line shifts left once per bucket.

A node metric's sparkline is drawn from its own short history (`history_spark`),
only for the rows in view: nothing is done per node when a snapshot arrives.
The cluster's figures have no history of their own: they are fed in as they
arrive (`BucketedSeries.add`), a series seen for the first time seeded from
the snapshot's short history.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from omega_tui.data.metric_history import to_micros
from omega_tui.data.models import MetricSeries

BLOCKS = "▁▂▃▄▅▆▇█"
# A history without times (MetricSeries.history_us empty) is taken as values this far apart,
# the last one at its latest_at (HISTORY_POINTS of them then span the 2 minutes the sparklines
# show). When seeding a BucketedSeries, only its first two minutes depend on this.
ASSUMED_SAMPLE_SECONDS = 2.0
CARRY_BUCKETS = 4
NO_DATA = " "


def spark_text(values: list[float | None], low: float = 0.0, high: float = 100.0) -> str:
    """One block character per value between `low` and `high`; None is a blank."""
    span = high - low if high > low else 1.0
    chars = []
    for value in values:
        if value is None or math.isnan(value):
            chars.append(NO_DATA)
            continue
        level = (min(high, max(low, value)) - low) / span
        chars.append(BLOCKS[min(len(BLOCKS) - 1, int(level * len(BLOCKS)))])
    return "".join(chars)


class BucketedSeries:
    """The mean value per fixed time bucket of one metric, for the last few buckets."""

    __slots__ = ("bucket_seconds", "keep", "_buckets", "_last_at", "_text")

    def __init__(self, bucket_seconds: float, keep: int) -> None:
        self.bucket_seconds = bucket_seconds
        self.keep = keep
        self._buckets: dict[int, tuple[float, int]] = {}
        self._last_at: float | None = None
        self._text: tuple[tuple, str] | None = None  # last text() call: most polls bring no new sample

    @property
    def empty(self) -> bool:
        return self._last_at is None

    def bucket_of(self, at: datetime) -> int:
        return math.floor(at.timestamp() / self.bucket_seconds)

    def add(self, at: datetime, value: float | None) -> None:
        """Count a sample; a sample not newer than the last one is ignored (polls repeat values)."""
        stamp = at.timestamp()
        if value is None or math.isnan(value) or (self._last_at is not None and stamp <= self._last_at):
            return
        self._last_at = stamp
        self._text = None
        bucket = self.bucket_of(at)
        buckets = self._buckets
        if bucket not in buckets:
            # A new bucket: forget those too old to be shown. (By age, not only once there are
            # too many: a series fed now and then, e.g. while its screen is shown, would
            # otherwise hold on to old buckets until it had that many, which takes hours.)
            oldest = bucket - self.keep - CARRY_BUCKETS
            for old in [b for b in buckets if b <= oldest]:
                del buckets[old]
        total, count = buckets.get(bucket, (0.0, 0))
        buckets[bucket] = (total + value, count + 1)

    def seed(self, history: Sequence[float], latest_at: datetime, step_seconds: float) -> None:
        """Add a history of values spaced `step_seconds` apart, the last one at `latest_at`."""
        for index, value in enumerate(history):
            try:
                at = latest_at - timedelta(seconds=(len(history) - 1 - index) * step_seconds)
            except OverflowError:   # a timestamp from year 1: no room for a history before it
                continue
            self.add(at, value)

    def values(self, now: datetime, width: int) -> list[float | None]:
        """Mean per bucket, oldest first (see carried_means)."""
        return carried_means(self._buckets, self.bucket_of(now), width)

    def text(self, now: datetime, width: int, low: float = 0.0, high: float = 100.0) -> str:
        key = (self.bucket_of(now), width, low, high)
        if self._text is None or self._text[0] != key:
            self._text = (key, spark_text(self.values(now, width), low, high))
        return self._text[1]


def carried_means(buckets: Mapping[int, tuple[float, int]], last: int, width: int) -> list[float | None]:
    """The mean of the `width` buckets up to `last` from (total, count) by bucket, oldest first.

    A bucket without a sample repeats the value before it (a gauge keeps its value between
    samples) for up to CARRY_BUCKETS; after that it is blank.
    """
    result: list[float | None] = []
    previous: float | None = None
    since_sample = CARRY_BUCKETS + 1
    for bucket in range(last - width + 1 - CARRY_BUCKETS, last + 1):
        total_count = buckets.get(bucket)
        if total_count:
            previous, since_sample = total_count[0] / total_count[1], 0
        else:
            since_sample += 1
        if bucket > last - width:
            result.append(previous if since_sample <= CARRY_BUCKETS else None)
    return result


def history_spark(series: MetricSeries, now: datetime, width: int, bucket_seconds: float,
                  low: float = 0.0, high: float = 100.0) -> str:
    """The sparkline of a series' short history: `width` buckets up to the one holding `now`."""
    history = series.history
    times: Sequence[int] = series.history_us
    if len(times) != len(history):   # times not known: ASSUMED_SAMPLE_SECONDS apart
        if series.latest_at is None:
            return NO_DATA * width
        step = int(ASSUMED_SAMPLE_SECONDS * 1_000_000)
        newest = to_micros(series.latest_at)
        times = range(newest - (len(history) - 1) * step, newest + 1, step)
    bucket_us = int(bucket_seconds * 1_000_000)
    last = to_micros(now) // bucket_us
    buckets: dict[int, tuple[float, int]] = {}
    for index in range(bisect_left(times, (last - width + 1 - CARRY_BUCKETS) * bucket_us), len(times)):
        bucket = times[index] // bucket_us
        if bucket > last:
            break
        value = history[index]
        if value is None or math.isnan(value):
            continue
        total, count = buckets.get(bucket, (0.0, 0))
        buckets[bucket] = (total + value, count + 1)
    return spark_text(carried_means(buckets, last, width), low, high)


class SparkHistory:
    """Bucketed series by key (e.g. "cpu"), fed from successive snapshots."""

    def __init__(self, bucket_seconds: float, keep: int, step_seconds: float = ASSUMED_SAMPLE_SECONDS) -> None:
        self.bucket_seconds = bucket_seconds
        self.keep = keep
        self.step_seconds = step_seconds
        self._series: dict[object, BucketedSeries] = {}

    def feed(
        self, key: object, latest: float | None, latest_at: datetime | None, history: Sequence[float] = (),
        step_seconds: float | None = None,
    ) -> BucketedSeries:
        """`history` (values `step_seconds` apart, by default self.step_seconds) seeds a new key."""
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = BucketedSeries(self.bucket_seconds, self.keep)
            if history and latest_at is not None:
                series.seed(history, latest_at, step_seconds or self.step_seconds)
        if latest_at is not None:
            series.add(latest_at, latest)
        return series

    def get(self, key: object) -> BucketedSeries | None:
        return self._series.get(key)
