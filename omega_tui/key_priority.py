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

A key also waits for a core, not only for the interpreter lock: on a
machine that also runs the database (the bench's two cores, say), a key
landing in a poll found both cores taken. So the threads that poll and read
in the background start with lower_this_thread_priority(), BACKGROUND_NICE
nice levels below the screen's thread: when both want the console's share of
the CPU, the screen's thread gets it (at 10,000 nodes, alternated runs of 100
presses: key press p95 29.6 / 25.3 / 25.0 ms with it, 40.3 / 31.7 / 27.7 ms
without). On Linux only, where nice is a thread's; elsewhere it is the whole
process's, the screen's thread included.

No Textual here: the data layer calls give_way() without knowing of a screen.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from itertools import chain, islice

HOLD_SECONDS = 0.1
BACKGROUND_NICE = 10


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


def lower_this_thread_priority() -> None:
    """First thing in a thread that polls or reads in the background: run BACKGROUND_NICE nice levels
    below the process (at most 19). A thread cannot raise it again without privileges, so only for
    threads of their own, never the screen's."""
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + BACKGROUND_NICE))
    except OSError:
        pass   # not allowed here (a sandbox, say): the thread runs at the process's priority


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
