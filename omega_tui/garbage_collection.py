"""The console's garbage-collector setting: full collections rarely.

Collections of the oldest generation run at most once per FULL_COLLECTION_EVERY
younger ones (Python's default: 10). With thousands of nodes the heap holds
millions of objects and each full collection stops every thread, keys and the
poller included: about 0.25 s at 5,000 nodes, 0.5 s at 10,000, and at the
default it came every few polls. Snapshots are freed by reference counting
(they hold no cycles), so the full collections only find the few cycles
Textual leaves (closed screens), a few minutes later instead.

Young collections stay at Python's threshold (700 net allocations), though a
poll's new objects are walked by dozens of them (about 4 ms a poll at 1,000
nodes, 40 ms at 5,000). At 50,000 those costs were gone from the polls, but
the 30-minute soak test grew 12.5 % (its limit: 10 %), with only one full
collection in the run; this setting is the one the soak passed with. Freezing
each poll's objects out of the collector's reach (gc.freeze()) kept Textual's
short-lived cycles (its strips cache themselves) until a full collection.

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 1000


def tune_garbage_collector() -> None:
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
