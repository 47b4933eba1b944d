"""A bug in the console shows an error panel and goes to the log; the terminal is always given back.

Other tests run with OmegaApp.survive_errors off (a bug fails them); these turn it on.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import replace
from pathlib import Path

import pytest

from console_app import make_app, wait_for, wait_for_snapshot
from omega_tui.error_log import log_path
from omega_tui.screens.error_panel import ErrorPanel
from omega_tui.screens.overview import OverviewScreen
from omega_tui.screens.sessions import SessionsScreen

SECRET = "pw-Hidden-42"
DSN = f"postgresql://ops:{SECRET}@db.example/omega"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def state_dir(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


async def error_summary(pilot, app, what: str) -> str:
    """Wait for the error panel; its one-line summary."""
    await wait_for(pilot, lambda: isinstance(app.screen, ErrorPanel) and app.screen.query("#error-summary"), what)
    return str(app.screen.query_one("#error-summary").render())


def surviving_app(**kwargs):
    app = make_app(**kwargs)
    app.survive_errors = True
    app.settings = replace(app.settings, dsn=DSN)
    return app


def test_a_bug_in_a_screen_shows_the_error_panel_logs_it_and_the_console_goes_on(state_dir, monkeypatch):
    calls = {"n": 0}
    original = SessionsScreen.render_snapshot

    def broken(self, snapshot):
        calls["n"] += 1
        raise ValueError(f"bad row for {DSN} \x1b[31m[red]x[/red]")

    monkeypatch.setattr(SessionsScreen, "render_snapshot", broken)
    app = surviving_app()

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            await pilot.press("2")
            summary = await error_summary(pilot, app, "the error panel")
            panel = app.screen
            assert "ValueError: bad row for" in summary and "[red]x[/red]" in summary
            assert SECRET not in summary and "\x1b" not in summary
            assert panel.log_file == log_path() and str(state_dir) in str(panel.log_file)
            assert app.is_running and app.errors_seen == 1

            monkeypatch.setattr(SessionsScreen, "render_snapshot", original)   # the bug is gone...
            await pilot.press("escape")                     # ...the panel closes; the console still answers keys
            await wait_for(pilot, lambda: isinstance(app.screen, SessionsScreen), "the sessions screen")
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, OverviewScreen), "the nodes screen")
            await pilot.press("r")
            await pilot.pause(0.2)
            assert app.is_running and not isinstance(app.screen, ErrorPanel)

    asyncio.run(scenario())
    assert app.return_code in (0, None) and calls["n"] >= 1
    log = log_path().read_text()
    assert "unexpected error in SessionsScreen" in log or "unexpected error in the console" in log
    assert "Traceback (most recent call last)" in log and "ValueError: bad row for" in log
    assert SECRET not in log and "***" in log
    assert oct(log_path().stat().st_mode & 0o777) == oct(0o600)


def test_a_bug_in_a_key_action_and_in_a_widget_timer_show_the_panel(state_dir, monkeypatch):
    app = surviving_app()

    def broken_action(self):
        raise KeyError("no such thing")

    async def scenario():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for_snapshot(pilot)
            monkeypatch.setattr(type(app), "action_faster", broken_action)
            await pilot.press("plus")
            assert "KeyError" in await error_summary(pilot, app, "the panel for the key")
            await pilot.press("escape")
            await wait_for(pilot, lambda: not isinstance(app.screen, ErrorPanel), "the panel closed")

            def broken_timer():
                raise ZeroDivisionError("in a timer")

            app.screen.query_one("#status-line").set_timer(0.01, broken_timer)   # a widget's timer
            assert "ZeroDivisionError" in await error_summary(pilot, app, "the panel for the timer")
            assert app.is_running and app.errors_seen == 2

    asyncio.run(scenario())
    assert log_path().read_text().count("Traceback (most recent call last)") >= 2


# --- in a real terminal -------------------------------------------------------------

ALT_SCREEN_ON, ALT_SCREEN_OFF = b"\x1b[?1049h", b"\x1b[?1049l"
MOUSE_OFF = (b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l")
CURSOR_SHOWN = b"\x1b[?25h"


class PtyConsole:
    """A console process on a pseudo-terminal of 100x30, as a person would run it."""

    def __init__(self, args: list[str], state: Path):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMEGA_", "POSTGRES_", "REDIS_"))}
        env.update(TERM="xterm-256color", XDG_STATE_HOME=str(state), OMEGA_TUI_CONFIG="/nonexistent.toml",
                   PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "tests")]))
        env.pop("TEXTUAL", None)
        self.process = subprocess.Popen([sys.executable, *args], stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd=REPO, start_new_session=True)
        os.close(slave)
        self.master = master
        self.output = b""

    def read_until(self, needle: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not seen; got {self.output[-400:]!r}")
            self._read(0.1)

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:   # the process closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def wait_exit(self, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.1)
        while self._read(0.05) and select.select([self.master], [], [], 0)[0]:
            pass
        assert self.process.poll() is not None, "the console did not exit"
        return self.process.returncode

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)

    def assert_terminal_restored(self) -> None:
        tail = self.output[self.output.rindex(ALT_SCREEN_ON):]
        assert ALT_SCREEN_OFF in tail, tail[-300:]
        after = tail[tail.rindex(ALT_SCREEN_OFF):]
        assert CURSOR_SHOWN in after
        for off in MOUSE_OFF:
            assert off in tail
        assert b"Traceback" not in self.output


def test_sigterm_quits_and_gives_the_terminal_back(tmp_path):
    console = PtyConsole(["-m", "omega_tui", "console", "--fixed-data"], tmp_path / "state")
    try:
        console.read_until(ALT_SCREEN_ON)
        console.read_until(b"Nodes")
        console.process.send_signal(signal.SIGTERM)
        code = console.wait_exit()
        assert code == 128 + signal.SIGTERM
        console.assert_terminal_restored()
    finally:
        console.close()


def test_a_crashing_screen_in_a_terminal_shows_the_panel_then_quits_cleanly(tmp_path):
    console = PtyConsole([str(REPO / "tests" / "crashing_console.py"), "--bug"], tmp_path / "state")
    try:
        console.read_until(ALT_SCREEN_ON)
        console.read_until(b"Unexpected error")
        console.read_until(b"RuntimeError")
        os.write(console.master, b"q")
        code = console.wait_exit()
        assert code == 0
        console.assert_terminal_restored()
        assert b"pty-Secret-9" not in console.output
    finally:
        console.close()
    log = (tmp_path / "state" / "omega-tui" / "log" / "omega-tui.log").read_text()
    assert "RuntimeError: injected bug" in log and "pty-Secret-9" not in log


def test_a_widget_that_cannot_draw_shows_the_panel_over_it(tmp_path):
    console = PtyConsole([str(REPO / "tests" / "crashing_console.py"), "--render-bug"], tmp_path / "state")
    try:
        console.read_until(ALT_SCREEN_ON)
        console.read_until(b"Unexpected error")
        console.read_until(b"cannot draw the status line")
        os.write(console.master, b"q")
        assert console.wait_exit() == 0
        console.assert_terminal_restored()
    finally:
        console.close()


def test_an_error_the_console_cannot_outlive_quits_with_one_line_and_the_terminal_back(tmp_path):
    console = PtyConsole([str(REPO / "tests" / "crashing_console.py"), "--render-bug", "--panel-bug"],
                         tmp_path / "state")
    try:
        console.read_until(ALT_SCREEN_ON)
        code = console.wait_exit(timeout=30)
        assert code == 1
        console.assert_terminal_restored()
        after = console.output[console.output.rindex(ALT_SCREEN_OFF):]
        assert b"omega-tui: unexpected error, quitting" in after and b"cannot build the error panel" in after
        assert b"omega-tui.log" in after
        assert b"pty-Secret-9" not in console.output
    finally:
        console.close()
    log = (tmp_path / "state" / "omega-tui" / "log" / "omega-tui.log").read_text()
    assert "cannot build the error panel" in log and "cannot draw the status line" in log
