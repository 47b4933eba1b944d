"""The first poll started at once, in a thread, while the console's UI is still being imported and built.

Connecting to the stores and the first poll take about as long as importing
Textual and mounting the first screen; run one after the other they add up
before the operator sees a single node. `FirstPollAhead` wraps the real
poller: it starts the first poll the moment it is made, and the app's first
`poll()` gets that poll's snapshot (waiting for it if need be). Every later
call goes straight to the poller. No Textual import: it is made before Textual
is imported.
"""

from __future__ import annotations

import threading
from datetime import timedelta


class FirstPollAhead:
    def __init__(self, source) -> None:
        self.source = source
        self._done = threading.Event()
        self._snapshot = None
        self._error: BaseException | None = None
        self._handed_over = False
        threading.Thread(target=self._first_poll, name="omega-first-poll", daemon=True).start()

    def _first_poll(self) -> None:
        try:
            self._snapshot = self.source.poll()
        except BaseException as exc:   # raised again to whoever asks for the first poll, as poll() would
            self._error = exc
        finally:
            self._done.set()

    def poll(self):
        """The first poll's snapshot the first time, then a new poll each time."""
        if self._handed_over:
            return self.source.poll()
        self._done.wait()
        self._handed_over = True
        snapshot, error, self._snapshot, self._error = self._snapshot, self._error, None, None
        if error is not None:
            raise error
        return snapshot

    def node_detail(self, node_id: str, window: timedelta):
        return self.source.node_detail(node_id, window)

    def close(self) -> None:
        self.source.close()   # the poller's close() also cancels a first poll still running
