"""The console's garbage-collector setting: young collections rarely, and never over what a poll built.

Snapshots are freed by reference counting (they hold no cycles); the
collector is only needed for the few cycles Textual leaves (closed screens).
Yet at Python's defaults it walked each poll's new objects again and again:

- A young collection runs once YOUNG_COLLECTION_AFTER more container objects
  were made than freed (Python's default: 700). A poll makes a snapshot's
  objects before the last snapshot's are freed, so at the default every poll
  ran dozens of collections over its new objects (about 4 ms a poll at 1,000
  nodes, 40 ms at 5,000).
- Objects that survive a young collection are walked again by the next
  collection of the older generations; a young collection that did come
  walked every object made since the last one: 150 ms at 5,000 nodes.

So after each poll, PollCollector.after_poll() moves every object alive then
out of the collector's reach (gc.freeze(), which costs nothing), and every
FULL_COLLECTION_SECONDS it brings them back and runs one full collection,
which frees the cycles of those minutes. A full collection stops every
thread, keys and the poller included (about 0.25 s at 5,000 nodes, 0.5 s at
10,000), so it is rare; Python's own full collections are kept rarer still
(at most one per FULL_COLLECTION_EVERY younger ones: its default is 10).

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc
import time

YOUNG_COLLECTION_AFTER = 50_000
FULL_COLLECTION_EVERY = 1000
FULL_COLLECTION_SECONDS = 300.0


def tune_garbage_collector() -> None:
    _, second, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, second, FULL_COLLECTION_EVERY)


class PollCollector:
    """Called by the thread that polls, after each poll."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._full_at = clock()

    def after_poll(self) -> None:
        if self._clock() - self._full_at >= FULL_COLLECTION_SECONDS:
            gc.unfreeze()
            gc.collect()
            self._full_at = self._clock()
        gc.freeze()
