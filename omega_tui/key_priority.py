"""Key presses first: while the screen handles a key, the poller's threads wait at their next checkpoint.

Python runs one thread at a time. While a poll works (its own thread, the
metric reader's, the Redis reader's), the screen's thread gets the
interpreter lock only between their turns of a few milliseconds each, so a
key press that landed in a poll took several turns to show: at 5,000 nodes
up to 60-120 ms. The screen holds KEYS_FIRST from a key until its next
refresh; the poller's loops call give_way() every few hundred items (a
flag read while nothing is held) and wait there meanwhile, at most
HOLD_SECONDS, so that a hold never released (a key that changes nothing on
screen) costs a poll that much and no more.

No Textual here: the data layer calls give_way() without knowing of a screen.
"""

from __future__ import annotations

import threading
import time
from itertools import chain, islice

HOLD_SECONDS = 0.1


class KeyPriority:
    def __init__(self, hold_seconds: float = HOLD_SECONDS):
        self.hold_seconds = hold_seconds
        self._free = threading.Event()
        self._free.set()
        self._until = 0.0
        self.last_key = float("-inf")   # time.monotonic() of the last hold()

    def hold(self) -> None:
        """The screen's thread: a key is being handled."""
        self.last_key = time.monotonic()
        self._until = self.last_key + self.hold_seconds
        self._free.clear()

    def keys_quiet_for(self) -> float:
        """Seconds since the last key press (infinite when none came)."""
        return time.monotonic() - self.last_key

    def release(self) -> None:
        """The screen's thread: the key's effect is on screen."""
        self._free.set()

    def give_way(self) -> None:
        """A poller thread, between two pieces of work: wait while a key is being handled."""
        if self._free.is_set():
            return
        left = self._until - time.monotonic()
        if left > 0:
            self._free.wait(left)


KEYS_FIRST = KeyPriority()
give_way = KEYS_FIRST.give_way


def _chunks(iterator, every: int):
    while True:
        give_way()
        chunk = tuple(islice(iterator, every))
        if not chunk:
            return
        yield chunk


def taking_turns(items, every: int = 256):
    """`items`, iterated with a call of give_way() every `every` items (in between, the iteration is C's)."""
    return chain.from_iterable(_chunks(iter(items), every))
