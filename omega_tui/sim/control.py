"""Listening to the console on the Redis channel `omega:control`.

Messages are JSON {"action", "target", "by", "at"}, untrusted: anything that
does not parse is ignored. A background thread queues the parsed messages
and wakes the simulator, which acts on them between ticks; missing one is
harmless because every tick re-reads PostgreSQL anyway.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass

from omega_tui.data.connect import REDIS_ERRORS
from omega_tui.sim.redis_keys import CONTROL_CHANNEL

RETRY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class ControlMessage:
    action: str
    target: str
    by: str | None = None


def parse_control_message(raw) -> ControlMessage | None:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        data = json.loads(raw)
    except (TypeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    action, target, by = data.get("action"), data.get("target"), data.get("by")
    if not isinstance(action, str) or not isinstance(target, str) or not action or not target:
        return None
    return ControlMessage(action, target, by if isinstance(by, str) else None)


class ControlListener:
    """Subscribes in a thread; `messages` holds what arrived, `wake` is set on each."""

    def __init__(self, client_factory, wake: threading.Event | None = None):
        self._client_factory = client_factory
        self.messages: queue.Queue[ControlMessage] = queue.Queue()
        self.wake = wake or threading.Event()
        self.subscribed = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> "ControlListener":
        self._thread = threading.Thread(target=self._listen, name="omega-sim-control", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drain(self) -> list[ControlMessage]:
        found = []
        while True:
            try:
                found.append(self.messages.get_nowait())
            except queue.Empty:
                return found

    def _listen(self) -> None:
        while not self._stop.is_set():
            client = pubsub = None
            try:
                client = self._client_factory()
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(CONTROL_CHANNEL)
                self.subscribed.set()
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message and message.get("type") == "message":
                        parsed = parse_control_message(message.get("data"))
                        if parsed is not None:
                            self.messages.put(parsed)
                            self.wake.set()
            except (*REDIS_ERRORS, OSError):
                self.subscribed.clear()
                self._stop.wait(RETRY_SECONDS)
            finally:
                for closable in (pubsub, client):
                    try:
                        if closable is not None:
                            closable.close()
                    except (*REDIS_ERRORS, OSError):
                        pass
