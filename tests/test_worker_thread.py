import threading

import pytest

from omega_tui.data.worker_thread import WorkerThread


def test_functions_run_one_at_a_time_in_order_in_one_daemon_thread_kept_between_them():
    worker = WorkerThread("omega-test-worker")
    ran = []

    def note(value):
        thread = threading.current_thread()
        ran.append((value, thread.name, thread.daemon, thread.ident))
        return value * 2

    try:
        futures = [worker.submit(note, value) for value in range(5)]
        assert [future.result(timeout=5) for future in futures] == [0, 2, 4, 6, 8]
        assert [value for value, *_ in ran] == [0, 1, 2, 3, 4]
        assert {(name, daemon) for _, name, daemon, _ in ran} == {("omega-test-worker", True)}
        assert len({ident for *_, ident in ran}) == 1
        assert ran[0][3] != threading.get_ident()
    finally:
        worker.stop()


def test_what_a_function_raises_is_raised_by_its_future_and_the_thread_goes_on():
    worker = WorkerThread("omega-test-worker")

    def fail():
        raise ValueError("bad row")

    try:
        with pytest.raises(ValueError, match="bad row"):
            worker.submit(fail).result(timeout=5)
        assert worker.submit(lambda: "still here").result(timeout=5) == "still here"
    finally:
        worker.stop()


def test_stop_ends_the_thread_after_what_was_handed_to_it_and_a_later_submit_starts_another():
    worker = WorkerThread("omega-test-worker")
    release = threading.Event()
    threads = []

    def slow():
        threads.append(threading.current_thread())
        release.wait(5)
        return "done"

    first = worker.submit(slow)
    worker.stop()          # while `slow` runs: it still ends, and so does the thread
    release.set()
    assert first.result(timeout=5) == "done"
    threads[0].join(5)
    assert not threads[0].is_alive()

    try:
        assert worker.submit(slow).result(timeout=5) == "done"
        assert threads[1] is not threads[0] and threads[1].is_alive()
    finally:
        worker.stop()
    threads[1].join(5)
    assert not threads[1].is_alive()
