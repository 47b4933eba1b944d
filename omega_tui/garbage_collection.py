"""The console's garbage-collector setting: collections rarely, full ones rarer still.

A young collection runs once YOUNG_COLLECTION_AFTER more container objects
were made than freed (Python's default: 700). A poll makes a snapshot's
objects before the last snapshot's are freed, so at the default every poll
ran dozens of collections that walked its new objects again and again
(about 4 ms a poll at 1,000 nodes, 40 ms at 5,000); with the higher
threshold, allocations and frees mostly balance out between collections.
One that does come walks every object made since the last: about 150 ms at
5,000 nodes, once in some 15 polls. (Freezing each poll's objects out of
the collector's reach, gc.freeze(), avoided even that, but kept Textual's
short-lived cycles, its strips cache themselves, until a full collection.)

Collections of the oldest generation run at most once per FULL_COLLECTION_EVERY
collections of the middle one (Python's default: 10). With thousands of nodes
the heap holds millions of objects and each full collection stops every
thread, keys and the poller included: about 0.25 s at 5,000 nodes, 0.5 s at
10,000, and at Python's defaults it came every few polls. Snapshots are freed
by reference counting (they hold no cycles), so the full collections only
find the cycles Textual leaves (closed screens, strips), a few minutes later
instead. FULL_COLLECTION_EVERY keeps a full collection once per about 7
million net allocations (50,000 x 10 x 14), as with the setting the soak test
first passed with (700 x 10 x 1,000): rarer, and cycles that reach the oldest
generation would pile up for hours.

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_AFTER = 50_000
FULL_COLLECTION_EVERY = 14


def tune_garbage_collector() -> None:
    _, second, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_AFTER, second, FULL_COLLECTION_EVERY)
