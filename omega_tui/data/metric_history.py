"""The short history of every node metric, held in memory between polls.

The poller loads the last HISTORY_POINTS samples of each (node, metric)
once, then merges only rows newer than each node's own watermark (see
node_watermarks). Rows fetched twice (a reload after a gap) are recognised
by (node_id, metric_type, time) and not counted again.

Times are kept as integer microseconds since the epoch and values as
doubles, in arrays: 1,000 nodes x 9 metrics x 60 points is about 10 MB.
A series' MetricSeries is built once and reused until a sample changes it,
so screens can tell an unchanged series by identity. Its history is a copy
of the values array, its own and never changed: a third of the memory of a
tuple of floats (about 65 MB less at 5,000 nodes) and a memcpy to make. The
copy of the times is shared by the node's series sampled at the same times
(an agent writes all its metrics at once): one per node, not one per series.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from datetime import UTC, datetime, timedelta

from omega_tui.data.models import CANONICAL_METRICS, HISTORY_POINTS, METRIC_UNITS, MetricSeries
from omega_tui.key_priority import taking_turns

MAX_METRIC_TYPES_PER_NODE = 32   # untrusted input: a writer inventing metric names must not eat memory
# A series this far behind its node's newest sample has stopped: it no longer holds the node's watermark back.
STOPPED_SERIES_US = 120 * 1_000_000
# nodes_to_read(): a node is asked for rows from this long before its next sample is due; every node is
# asked at least once every SWEEP_POLLS polls; a node's cadence counts as at most MAX_CADENCE_US.
DUE_EARLY_US = 1_000_000
SWEEP_POLLS = 5
MAX_CADENCE_US = 60 * 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_new_tuple = tuple.__new__


def to_datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def to_micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


class _Series:
    __slots__ = ("times", "values", "unit", "built")

    def __init__(self):
        self.times = array("q")
        self.values = array("d")
        self.unit: str | None = None
        self.built: MetricSeries | None = None   # cached until the series changes

    def changed(self) -> None:
        self.built = None


class MetricHistory:
    """Not thread-safe: owned by the poller, used under its lock."""

    def __init__(self, points: int = HISTORY_POINTS):
        self.points = points
        self._series: dict[str, dict[str, _Series]] = {}
        self.watermark: int | None = None   # newest sample time seen, microseconds
        self._node_since: dict[str, int] = {}   # node -> its watermark (see node_watermarks)
        self._node_due: dict[str, int] = {}     # node -> when its next sample is due (see nodes_to_read)
        self._sweep = 0                         # nodes_to_read(): whose turn it is to be asked anyway
        self._touched: set[str] = set()         # nodes whose watermark must be worked out again
        self._node_series: dict[str, tuple[MetricSeries, ...]] = {}   # series_of() until the node changes
        self._node_names: dict[str, list[str]] = {}   # a node's metric types in series_of() order
        self._changed: set[str] = set()         # nodes whose series_of() must be built again
        self._prebuilt: set[str] = set()        # nodes build_changed() built since take_changed()
        self.ignored_values = 0             # non-finite or over the metric-type cap, since the last reset

    def _series_for(self, node_id: str, metric_type: str) -> _Series | None:
        node = self._series.get(node_id)
        if node is None:
            node = self._series[node_id] = {}
        series = node.get(metric_type)
        if series is None:
            if len(node) >= MAX_METRIC_TYPES_PER_NODE:
                return None
            series = node[metric_type] = _Series()
            self._node_names.pop(node_id, None)
        return series

    def merge(self, rows) -> int:
        """Merge (node_id, metric_type, time_us, value, unit) rows; returns how many were new."""
        new = 0
        watermark = self.watermark
        held, points = self._series, self.points
        touched, changed = self._touched, self._changed
        for node_id, metric_type, micros, value, unit in taking_turns(rows, 1024):
            node = held.get(node_id)
            series = node.get(metric_type) if node is not None else None
            # The usual row: the next sample of a series held, appended in place.
            if series is not None and series.times and micros is not None and micros > series.times[-1]:
                try:
                    finite = math.isfinite(value)
                except TypeError:
                    finite = False
                if finite:
                    times, values = series.times, series.values
                    times.append(micros)
                    values.append(float(value))
                    if len(times) > points:
                        del times[0]
                        del values[0]
                    series.unit = unit if isinstance(unit, str) else None
                    series.built = None
                    touched.add(node_id)
                    changed.add(node_id)
                    new += 1
                    if watermark is None or micros > watermark:
                        watermark = micros
                    continue
            # Fast path for the overlap: most rows at or before the newest sample are held already.
            if series is not None and series.times and micros is not None and micros <= series.times[-1]:
                times = series.times
                i = bisect_left(times, micros)
                if i < len(times) and times[i] == micros and series.values[i] == value:
                    continue
            try:
                if micros is None or not math.isfinite(value):
                    raise TypeError
            except TypeError:
                self.ignored_values += 1
                continue
            if series is None:
                series = self._series_for(node_id, metric_type)
                if series is None:
                    self.ignored_values += 1
                    continue
            if self._add(series, micros, float(value), unit):
                new += 1
                touched.add(node_id)
            if series.built is None:
                changed.add(node_id)
            if watermark is None or micros > watermark:
                watermark = micros
        self.watermark = watermark
        return new

    def load(self, rows) -> tuple[int, int]:
        """Merge first-load rows (node_id, metric_type, unit, times_us[], values[]), arrays in any order.

        Returns (samples read, samples new).
        """
        samples = new = 0
        for node_id, metric_type, unit, times, values in taking_turns(rows, 64):
            if not isinstance(times, list) or not isinstance(values, list) or len(times) != len(values):
                self.ignored_values += 1
                continue
            samples += len(times)
            series = self._series_for(node_id, metric_type)
            if series is None:
                self.ignored_values += len(times)
                continue
            newest = self._newest(times, values)
            if series.times:   # a reload after a gap: merge with what is held
                new += self.merge((node_id, metric_type, t, v, unit) for t, v in zip(*newest))
                continue
            times, values = newest
            if not times:
                continue
            series.times = array("q", times)
            series.values = array("d", values)
            series.unit = unit if isinstance(unit, str) else None
            series.changed()
            new += len(times)
            self._touched.add(node_id)
            self._changed.add(node_id)
            if self.watermark is None or times[-1] > self.watermark:
                self.watermark = times[-1]
        return samples, new

    def _newest(self, times: list, values: list) -> tuple[list, list]:
        """The newest `points` finite samples, oldest first."""
        try:
            clean = None not in times and all(map(math.isfinite, values))
        except TypeError:
            clean = False
        if not clean:
            keep = [i for i, (t, v) in enumerate(zip(times, values))
                    if isinstance(t, int) and isinstance(v, (int, float)) and math.isfinite(v)]
            self.ignored_values += len(times) - len(keep)
            times, values = [times[i] for i in keep], [float(values[i]) for i in keep]
        order = sorted(range(len(times)), key=times.__getitem__)[-self.points:]
        return [times[i] for i in order], [values[i] for i in order]

    def _add(self, series: _Series, micros: int, value: float, unit) -> bool:
        times, values = series.times, series.values
        if not times or micros > times[-1]:
            times.append(micros)
            values.append(value)
            series.unit = unit if isinstance(unit, str) else None
            series.changed()
        else:
            i = bisect_left(times, micros)
            if i < len(times) and times[i] == micros:
                if values[i] != value:
                    values[i] = value      # the same row read again with a corrected value
                    series.changed()
                return False
            if i == 0 and len(times) >= self.points:
                return False           # older than everything we keep
            times.insert(i, micros)
            values.insert(i, value)
            series.changed()
        if len(times) > self.points:
            del times[: len(times) - self.points]
            del values[: len(values) - self.points]
        return True

    def keep_only(self, node_ids: set[str]) -> None:
        """Forget nodes that no longer exist."""
        self.forget([n for n in self._series if n not in node_ids])

    def forget(self, node_ids) -> None:
        """Forget what is held of these nodes (their whole short history is about to be loaded)."""
        for node_id in node_ids:
            if self._series.pop(node_id, None) is not None:
                self._node_since.pop(node_id, None)
                self._node_due.pop(node_id, None)
                self._node_series.pop(node_id, None)
                self._node_names.pop(node_id, None)

    def node_watermarks(self, node_ids: list[str]) -> list[int | None]:
        """For each node, the time after which its rows are new to us (None: nothing held).

        It is the newest sample of the node's slowest series, so that a series
        written later than the others (another writer, a replaying agent) is
        not skipped, while a series that stopped long before the others does
        not hold the node back. Each node's rows arrive in time order (an
        agent replays its buffer oldest first), so rows after that point are
        exactly the rows not yet read, whatever the node's clock or lag.
        """
        self._work_out_watermarks()
        since = self._node_since
        return [since.get(node_id) for node_id in node_ids]

    def nodes_to_read(self, node_ids: list[str], now_us: int, *, sweep: bool = True
                      ) -> tuple[list[str], list[int | None]]:
        """Those of the nodes worth asking for new rows now, with their watermarks.

        A node is asked when nothing of it is held, when its next sample is due
        (its last interval after its watermark, by its own clock, DUE_EARLY_US
        early) or overdue, and in turn, every SWEEP_POLLS calls, whatever its
        cadence: a row off the cadence (a late one, an agent replaying its
        buffer, a clock running ahead) waits at most that many polls. Most
        nodes write every few polls: asking only those due spares the others'
        index probes (about 5 us each, 25 ms a poll at 5,000 nodes). `sweep=False`: no turn is taken
        (a read between polls, see Poller._start_read_ahead).
        """
        self._work_out_watermarks()
        since, due = self._node_since, self._node_due
        turn = -1
        if sweep:
            self._sweep = turn = (self._sweep + 1) % SWEEP_POLLS
        asked, watermarks = [], []
        for node_id in taking_turns(node_ids, 1024):
            watermark = since.get(node_id)
            if watermark is None or due[node_id] <= now_us or hash(node_id) % SWEEP_POLLS == turn:
                asked.append(node_id)
                watermarks.append(watermark)
        return asked, watermarks

    def _work_out_watermarks(self) -> None:
        held, since, due = self._series, self._node_since, self._node_due
        for node_id in taking_turns(self._touched, 256):
            series = [s.times for s in held.get(node_id, {}).values() if s.times]
            if not series:
                continue
            # The times of the series with the oldest newest sample, stopped ones left out; found by
            # min() and index() in C (a node's series mostly end together: none has stopped).
            lasts = [times[-1] for times in series]
            oldest, floor = min(lasts), max(lasts) - STOPPED_SERIES_US
            if oldest < floor:
                oldest = min([last for last in lasts if last >= floor])
            slowest = series[lasts.index(oldest)]
            watermark = since[node_id] = oldest
            cadence = min(slowest[-1] - slowest[-2], MAX_CADENCE_US) if len(slowest) > 1 else 0
            due[node_id] = watermark + cadence - DUE_EARLY_US
        self._touched.clear()

    def build_changed(self) -> None:
        """Build series_of() of every node whose series changed, and work out their watermarks, now:
        in the metric reader's thread between polls (after a batch of short histories loaded),
        rather than in the next poll."""
        self._work_out_watermarks()
        prebuilt = self._prebuilt
        for node_id in taking_turns(list(self._changed), 256):
            prebuilt.add(node_id)
            self.series_of(node_id)

    def take_changed(self) -> set[str]:
        """The nodes whose series_of() changed since the last call: still to build, or built since."""
        changed = self._changed | self._prebuilt
        self._prebuilt = set()
        return changed

    def series_of(self, node_id: str) -> tuple[MetricSeries, ...]:
        """The node's metrics: canonical ones in their usual order, then any others by name."""
        built = self._node_series.get(node_id)
        if built is not None and node_id not in self._changed:
            return built   # most nodes have no new sample in a poll: nothing to build
        node = self._series.get(node_id)
        if not node:
            return ()
        names = self._node_names.get(node_id)
        if names is None:
            names = self._node_names[node_id] = (
                [m for m in CANONICAL_METRICS if m in node] + sorted(m for m in node if m not in CANONICAL_METRICS))
        built = []
        moment_us = moment = None   # a node's series mostly share their latest sample time
        times = None                # and their sample times: one copy for those that do
        for name in names:
            series = node[name]
            metric = series.built
            if metric is None:
                values = series.values
                if not values:
                    continue
                if series.times[-1] != moment_us:
                    moment_us = series.times[-1]
                    moment = to_datetime(moment_us)
                if times is None or times != series.times:   # compared in C: 0.1 us for 60 times
                    times = series.times[:]
                # tuple.__new__ as MetricSeries(...) does, without its Python-level __new__: half the
                # time (0.23 against 0.48 us), and this runs for every new sample.
                metric = series.built = _new_tuple(MetricSeries, (
                    name, series.unit or METRIC_UNITS.get(name), values[-1], moment, values[:], times))
            built.append(metric)
        built = self._node_series[node_id] = tuple(built)
        self._changed.discard(node_id)
        return built

    def over_since(self, node_id: str, metric_type: str, limit: float) -> tuple[datetime, datetime, bool] | None:
        """The current run of samples above `limit`: (first sample, latest sample, start known).

        None when the latest sample is not above the limit. The run is traced
        back only as far as the history kept; when it reaches the oldest sample
        kept, it may have begun earlier (start known = False).
        """
        series = self._series.get(node_id, {}).get(metric_type)
        if series is None or not series.values or not series.values[-1] > limit:
            return None
        i = len(series.values) - 1
        while i > 0 and series.values[i - 1] > limit:
            i -= 1
        return to_datetime(series.times[i]), to_datetime(series.times[-1]), i > 0
