"""Start to first data: what the console imports to start, and the first poll run ahead of the UI."""

import subprocess
import sys
import threading

import pytest

from omega_tui.first_poll import FirstPollAhead


def test_console_start_does_not_import_what_the_first_screen_does_not_need():
    # What `omega-tui` imports up to the app (cli, poller, app); run apart, as the test process has everything.
    code = (
        "import sys\n"
        "from omega_tui import cli\n"
        "cli.build_parser().parse_args(['console'])\n"
        "import omega_tui.data.poller, omega_tui.data.action_runner, omega_tui.first_poll, omega_tui.app\n"
        "unwanted = ('plotext', 'textual_plotext', 'psutil', 'hypothesis', 'pytest', 'omega_tui.sim',"
        " 'omega_tui.bench', 'omega_tui.demo', 'omega_tui.agent', 'omega_tui.screens.node_detail',"
        " 'omega_tui.screens.sessions', 'omega_tui.screens.alerts', 'omega_tui.screens.audit')\n"
        "print(sorted(m for m in sys.modules if m.startswith(unwanted)))\n"
        "print('omega_tui.screens.overview' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported, overview = result.stdout.splitlines()
    assert imported == "[]"
    assert overview == "True"   # the check looks where the console's modules really are


def test_the_other_screens_import_apart():
    # They are imported when first shown: each must import on its own, in a fresh interpreter.
    code = "import omega_tui.app; omega_tui.app.import_other_screens(); import sys; print('plotext' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_first_poll_ahead_does_not_import_textual():
    code = "import sys, omega_tui.first_poll; print([m for m in sys.modules if m.split('.')[0] == 'textual'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


class CountingSource:
    """Counts polls; the first one waits until `release` is set."""

    def __init__(self, fail_first: bool = False):
        self.polls = 0
        self.started = threading.Event()
        self.release = threading.Event()
        self.fail_first = fail_first
        self.closed = False

    def poll(self):
        self.polls += 1
        if self.polls == 1:
            self.started.set()
            assert self.release.wait(5)
            if self.fail_first:
                raise RuntimeError("first poll broke")
        return f"snapshot {self.polls}"

    def node_detail(self, node_id, window):
        return (node_id, window)

    def close(self):
        self.closed = True


def test_first_poll_starts_at_once_and_is_handed_over_once():
    source = CountingSource()
    ahead = FirstPollAhead(source)
    assert source.started.wait(5)           # before anyone asked for a poll
    source.release.set()
    assert ahead.poll() == "snapshot 1"     # that poll's snapshot, not a second poll
    assert ahead.poll() == "snapshot 2"
    assert ahead.poll() == "snapshot 3"
    assert source.polls == 3
    assert ahead.node_detail("n1", 5) == ("n1", 5)
    ahead.close()
    assert source.closed


def test_first_poll_waits_for_the_poll_running_ahead():
    source = CountingSource()
    ahead = FirstPollAhead(source)
    got = []
    asker = threading.Thread(target=lambda: got.append(ahead.poll()))
    asker.start()
    asker.join(0.2)
    assert asker.is_alive() and not got     # waiting for the first poll, not polling again
    source.release.set()
    asker.join(5)
    assert got == ["snapshot 1"] and source.polls == 1


def test_an_error_in_the_first_poll_is_raised_to_the_asker():
    source = CountingSource(fail_first=True)
    ahead = FirstPollAhead(source)
    source.release.set()
    with pytest.raises(RuntimeError, match="first poll broke"):
        ahead.poll()
    assert ahead.poll() == "snapshot 2"     # and the next poll is a real one


def test_the_console_sets_rare_collections_before_its_first_poll():
    # In a fresh interpreter: the console's start sets the collector before polling.
    code = (
        "import gc\n"
        "from omega_tui import garbage_collection as g\n"
        "before = gc.get_threshold()\n"
        "g.tune_garbage_collector()\n"
        "after = gc.get_threshold()\n"
        "wanted = (g.YOUNG_COLLECTION_EVERY, g.MIDDLE_COLLECTION_EVERY, g.FULL_COLLECTION_EVERY)\n"
        "assert after == wanted != before, (before, after)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


class _Keys:
    """Stands in for KEYS_FIRST: the seconds since the last key press, as the test sets them."""

    def __init__(self):
        self.quiet = float("inf")

    def keys_quiet_for(self) -> float:
        return self.quiet


def test_a_full_collection_runs_after_a_poll_once_every_few_minutes(monkeypatch):
    import gc

    from omega_tui.garbage_collection import FullCollections

    collected, now = [], [1000.0]
    monkeypatch.setattr(gc, "collect", lambda *args: collected.append(now[0]) or 0)
    collections = FullCollections(every=180.0, clock=lambda: now[0], keys=_Keys())   # no key pressed
    ran = []
    for _ in range(200):   # a poll every 2 s for 400 s
        now[0] += 2.0
        ran.append(collections.after_poll())
    assert collected == [1180.0, 1360.0] and ran.count(True) == 2


def test_a_full_collection_waits_for_the_keys_to_be_quiet(monkeypatch):
    import gc

    from omega_tui.garbage_collection import QUIET_KEYS_SECONDS, FullCollections

    collected, now, keys = [], [1000.0], _Keys()
    monkeypatch.setattr(gc, "collect", lambda *args: collected.append(now[0]) or 0)
    collections = FullCollections(every=180.0, clock=lambda: now[0], keys=keys)
    keys.quiet = 1.0   # the operator is driving: due at 1180, it waits
    for _ in range(100):
        now[0] += 2.0
        collections.after_poll()
    assert collected == []
    keys.quiet = QUIET_KEYS_SECONDS + 0.5   # a pause: it collects at the next poll
    now[0] += 2.0
    assert collections.after_poll() and collected == [1202.0]


def test_a_full_collection_waits_no_longer_than_its_limit_for_quiet_keys(monkeypatch):
    import gc

    from omega_tui.garbage_collection import MAX_WAIT_SECONDS, FullCollections

    collected, now, keys = [], [1000.0], _Keys()
    monkeypatch.setattr(gc, "collect", lambda *args: collected.append(now[0]) or 0)
    collections = FullCollections(every=180.0, clock=lambda: now[0], keys=keys)
    keys.quiet = 0.5   # keys all the time
    for _ in range(int((180 + MAX_WAIT_SECONDS) / 2) + 5):
        now[0] += 2.0
        collections.after_poll()
    assert collected == [1000.0 + 180 + MAX_WAIT_SECONDS]

