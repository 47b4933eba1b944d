"""The console's garbage-collector setting: young collections rarely, full ones as often as before.

With thousands of nodes a poll builds tens of thousands of objects. At
Python's default young threshold (700 net allocations) they were walked by
hundreds of young collections a poll (about 4 ms a poll at 1,000 nodes,
40 ms at 5,000); after YOUNG_COLLECTION_EVERY allocations most of them are
freed by reference counting before any collection sees them (snapshots hold
no reference cycles).

Full collections stop every thread, keys and the poller included (about
0.25 s at 5,000 nodes, 0.5 s at 10,000), and find only the few cycles Textual
leaves. They come after FULL_COLLECTION_EVERY collections of the middle
generation, that is after about 7 million net allocations: as with the
setting before, (700, 10, 1000), with which the 30-minute soak test passed.
(A first try kept 1000 there with the young threshold at 50,000: full
collections 70 times rarer, one in the whole soak run, and it grew 12.5 %,
its limit being 10 %. Freezing each poll's objects out of the collector's
reach, gc.freeze(), kept Textual's short-lived cycles (its strips cache
themselves) until a full collection.)

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 50_000
MIDDLE_COLLECTION_EVERY = 10          # young collections (Python's default)
FULL_COLLECTION_EVERY = 14            # middle collections: 50,000 x 10 x 14 = 7 million allocations


def tune_garbage_collector() -> None:
    gc.set_threshold(YOUNG_COLLECTION_EVERY, MIDDLE_COLLECTION_EVERY, FULL_COLLECTION_EVERY)
