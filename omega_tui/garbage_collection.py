"""The console's garbage-collector setting: young collections rarely, a full one every few minutes.

With thousands of nodes a poll builds tens of thousands of objects. At
Python's default young threshold (700 net allocations) they were walked by
hundreds of young collections a poll (about 4 ms a poll at 1,000 nodes,
40 ms at 5,000). Python counts allocations less deallocations: a poll's new
objects replace the last poll's, which are freed (by reference counting:
snapshots hold no reference cycles) when its snapshot goes, so the count
falls back. YOUNG_COLLECTION_EVERY is above what a poll allocates at 10,000
nodes (about 125,000 objects): at 50,000 a young collection came nearly
every poll there and walked all of them (about 100 ms each, 140 ms a poll on
average, measured), at 200,000 none came in 20 polls (poll median 1,359 ->
936 ms in the same harness).

Full collections stop every thread, keys and the poller included (about
0.25 s at 5,000 nodes, 0.5 s at 10,000), and find the cycles Textual leaves
(its strips cache themselves, closed screens). Python starts one only when
the objects that reached the oldest generation since the last grew by a
quarter; with young collections this rare few get there, and in the
30-minute soak test one came in the whole run and the console grew 23 %
(its limit: 10 %). So the poller thread runs one itself every
FULL_COLLECTION_SECONDS, after a poll (FullCollections). At Python's
thresholds they came every five minutes or so; the soak test passed with
those (+8.8 %), but the polls carried the young collections.

A full collection is a freeze the operator sees (a key press waits for
it), so it waits for a moment when no key has been pressed for
QUIET_KEYS_SECONDS (the operator is watching, not driving), up to
MAX_WAIT_SECONDS past due: a console driven without a pause still collects.

Tried and left: freezing each poll's objects out of the collector's reach
(gc.freeze()) kept Textual's short-lived cycles until a full collection.

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc
import time

from omega_tui.key_priority import KEYS_FIRST, KeyPriority

YOUNG_COLLECTION_EVERY = 200_000
MIDDLE_COLLECTION_EVERY = 10          # young collections (Python's default)
FULL_COLLECTION_EVERY = 14            # middle collections, when Python's own rule allows (see above)
FULL_COLLECTION_SECONDS = 180.0
QUIET_KEYS_SECONDS = 5.0
MAX_WAIT_SECONDS = 600.0


def tune_garbage_collector() -> None:
    gc.set_threshold(YOUNG_COLLECTION_EVERY, MIDDLE_COLLECTION_EVERY, FULL_COLLECTION_EVERY)


class FullCollections:
    """A full collection at most every `every` seconds, asked for after each poll (poller thread),
    when the keys have been quiet for a while (see above)."""

    def __init__(self, every: float = FULL_COLLECTION_SECONDS, clock=time.monotonic,
                 keys: KeyPriority = KEYS_FIRST):
        self.every = every
        self._clock = clock
        self._keys = keys
        self._last = clock()

    def after_poll(self) -> bool:
        """Collect if one is due; True when it did."""
        since = self._clock() - self._last
        if since < self.every:
            return False
        if since < self.every + MAX_WAIT_SECONDS and self._keys.keys_quiet_for() < QUIET_KEYS_SECONDS:
            return False
        gc.collect()
        self._last = self._clock()
        return True
