"""The console's garbage-collector setting: full collections rarely.

Collections of the oldest generation run at most once per FULL_COLLECTION_EVERY
younger ones (Python's default: 10). With thousands of nodes the heap holds
millions of objects and each full collection stops every thread, keys and the
poller included: about 0.25 s at 5,000 nodes, 0.5 s at 10,000, and at the
default it came every few polls. Snapshots are freed by reference counting
(they hold no cycles), so the full collections only find the few cycles
Textual leaves (closed screens), a few minutes later instead.

Set before the first poll (which builds most of those objects), and by the
bench, which measures the poller as the console runs it.
"""

from __future__ import annotations

import gc

FULL_COLLECTION_EVERY = 1000


def tune_garbage_collector() -> None:
    first, second, _ = gc.get_threshold()
    gc.set_threshold(first, second, FULL_COLLECTION_EVERY)
