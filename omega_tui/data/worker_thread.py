"""A thread kept for the poller's life, running the functions handed to it one at a time.

Thread.start() waits until the new thread runs, and while the poll's other
threads hold the interpreter lock that wait is long: at 5,000 nodes starting
the metric reader's thread took 7.5 ms of each poll (median; up to 15), the
Redis reader's 1.6 ms. Handing a function to a thread already running is a
queue put. Not concurrent.futures.ThreadPoolExecutor: its threads are not
daemons, and the interpreter's exit waits for them, so a read stuck on a dead
network (until its socket timeout) would hold up quitting the console.
"""

from __future__ import annotations

import queue
import threading
from concurrent.futures import Future


class WorkerThread:
    def __init__(self, name: str):
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue | None = None   # that of the thread running, if any

    def submit(self, function, *args) -> Future:
        """function(*args) in the thread (started now if none is running); its Future."""
        future: Future = Future()
        with self._lock:
            if self._jobs is None:
                self._jobs = queue.SimpleQueue()
                threading.Thread(target=self._run, args=(self._jobs,), name=self._name, daemon=True).start()
            self._jobs.put((future, function, args))
        return future

    def stop(self) -> None:
        """The thread ends once the functions handed to it so far have run; a later submit() starts another."""
        with self._lock:
            jobs, self._jobs = self._jobs, None
        if jobs is not None:
            jobs.put(None)

    @classmethod
    def _run(cls, jobs: queue.SimpleQueue) -> None:
        while (job := jobs.get()) is not None:
            cls._run_one(*job)
            job = None   # its arguments and result are held by nothing here while the thread waits

    @staticmethod
    def _run_one(future: Future, function, args: tuple) -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            result = function(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the Future
            future.set_exception(exc)
        else:
            future.set_result(result)
