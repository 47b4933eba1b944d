"""The Textual app: screens (modes), key bindings, the poller worker, snapshot fan-out.

The app never queries a store: it takes a `source` with `poll()`,
`node_detail(node_id, window)` and `close()` (the real one is
`omega_tui.data.poller.Poller`; tests use `omega_tui.fixed_source.FixedSource`).
One thread worker polls it, paced by a PollSchedule; the app keeps the latest
snapshot and hands it to the screen on display. The console's first poll is
started before this module is imported (first_poll.FirstPollAhead), and only
the overview screen is imported with it: the others when first shown.
"""

from __future__ import annotations

import os

# Textual reads TEXTUAL_FPS once, when it is first imported: fewer frames over SSH.
if os.environ.get("SSH_CONNECTION") and "TEXTUAL_FPS" not in os.environ:
    os.environ["TEXTUAL_FPS"] = "15"

import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable, Protocol  # noqa: E402

from textual import events  # noqa: E402
from textual.app import App  # noqa: E402
from textual.binding import Binding  # noqa: E402
from textual.screen import Screen  # noqa: E402
from textual.worker import Worker, WorkerState  # noqa: E402

from omega_tui.activity import Activity  # noqa: E402
from omega_tui.commands import ClusterCommands  # noqa: E402
from omega_tui.config import DEFAULT_THEME, Settings  # noqa: E402
from omega_tui.confirmation import Confirmation  # noqa: E402
from omega_tui.data.actions import ActionResult, current_actor  # noqa: E402
from omega_tui.data.models import ClusterSnapshot, NodeDetail  # noqa: E402
from omega_tui.garbage_collection import FullCollections, tune_garbage_collector  # noqa: E402
from omega_tui.key_priority import KEYS_FIRST  # noqa: E402
from omega_tui.messages import ActionsDone, OpenAlert, OpenNode, OpenSession, PollFailed, SnapshotReady  # noqa: E402
from omega_tui.poll_schedule import PollSchedule, Stopped  # noqa: E402
from omega_tui.screens.confirm import ConfirmScreen  # noqa: E402
from omega_tui.screens.console_screen import ConsoleScreen  # noqa: E402
from omega_tui.screens.help import HelpScreen  # noqa: E402
from omega_tui.screens.overview import OverviewScreen  # noqa: E402
from omega_tui.theme_files import load_themes, unknown_theme  # noqa: E402
from omega_tui.widgets.safe_text import clean  # noqa: E402
from omega_tui.widgets.status_line import PollState  # noqa: E402

REFRESH_STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
SCREENS_GROUP = Binding.Group("Screens")   # "1 2 3 4 Screens" in the footer: room at 80 columns
CHROME_TICK_SECONDS = 5.0
SCREEN_NAMES = {"overview": "Nodes", "sessions": "Sessions", "alerts": "Alerts", "audit": "Audit"}


class DataSource(Protocol):
    def poll(self) -> ClusterSnapshot: ...
    def node_detail(self, node_id: str, window: timedelta) -> NodeDetail: ...
    def close(self) -> None: ...


class ActionTaker(Protocol):
    """Runs one action on the cluster (omega_tui.data.action_runner.ActionRunner); called in a worker thread."""

    actor: object

    def run(self, action: str, target: str, *, typed_name: bool = True) -> ActionResult: ...
    def close(self) -> None: ...


def local_now() -> datetime:
    return datetime.now().astimezone()


def describe_error(error: BaseException) -> str:
    text = clean(str(error), 160)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# Only the overview is needed to start; the other screens (the node detail's charts
# import plotext) are imported when first shown, or in the background once the first
# data is on screen (import_other_screens).
def sessions_screen() -> Screen:
    from omega_tui.screens.sessions import SessionsScreen

    return SessionsScreen()


def alerts_screen() -> Screen:
    from omega_tui.screens.alerts import AlertsScreen

    return AlertsScreen()


def audit_screen() -> Screen:
    from omega_tui.screens.audit import AuditScreen

    return AuditScreen()


def import_other_screens() -> None:
    import omega_tui.screens.alerts  # noqa: F401
    import omega_tui.screens.audit  # noqa: F401
    import omega_tui.screens.node_detail  # noqa: F401
    import omega_tui.screens.sessions  # noqa: F401


class OmegaApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "omega-tui"
    MODES = {"overview": OverviewScreen, "sessions": sessions_screen, "alerts": alerts_screen, "audit": audit_screen}
    DEFAULT_MODE = "overview"
    COMMANDS = App.COMMANDS | {ClusterCommands}
    BINDINGS = [
        Binding("1", "show_mode('overview')", "Nodes", id="overview", group=SCREENS_GROUP),
        Binding("2", "show_mode('sessions')", "Sessions", id="sessions", group=SCREENS_GROUP),
        Binding("3", "show_mode('alerts')", "Alerts", id="alerts", group=SCREENS_GROUP),
        Binding("4", "show_mode('audit')", "Audit", id="audit", group=SCREENS_GROUP),
        # Not in the footer (room at 80 columns); the status line shows the interval and PAUSED.
        Binding("r", "poll_now", "Refresh", id="refresh", show=False),
        Binding("p", "toggle_pause", "Pause", id="pause", show=False),
        Binding("plus", "faster", "Faster", id="faster", show=False),
        Binding("minus", "slower", "Slower", id="slower", show=False),
        Binding("question_mark", "help", "Help", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
    ]

    def __init__(
        self,
        source: DataSource,
        settings: Settings | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        theme: str | None = None,
        actions: ActionTaker | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.settings = settings or Settings()
        self.actions = actions   # None: no store to act on (fixed data)
        self.read_only = self.settings.read_only
        self.activity = Activity(actions.actor if actions is not None else current_actor(self.settings.operator))
        self.now = clock or local_now
        self.schedule = PollSchedule(self.settings.refresh)
        self.snapshot: ClusterSnapshot | None = None
        self.poll_problem: str | None = None
        self._pending: ClusterSnapshot | None = None
        self._pending_lock = threading.Lock()
        self._return_mode: str | None = None
        self._tick_chrome = clock is None
        self._theme_warnings: list[str] = []
        self.errors_seen = 0                     # unexpected errors so far (see unexpected_error)
        self._error_times: list[float] = []
        for loaded in load_themes(warn=self._theme_warnings.append).values():
            self.register_theme(loaded)
        wanted = theme or self.settings.theme or DEFAULT_THEME
        if wanted not in self.available_themes:
            raise unknown_theme(wanted, self.available_themes)
        self.theme = wanted
        keymap = {k: v for k, v in self.settings.keys.items() if isinstance(k, str) and isinstance(v, str)}
        if keymap:
            self.set_keymap(keymap)

    # -- polling ---------------------------------------------------------------

    @property
    def poll_state(self) -> PollState:
        return PollState(self.schedule.interval, self.schedule.paused)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:   # (not on its way back up)
            KEYS_FIRST.hold()   # the poller's threads wait until the key shows (see key_priority.py)
            self.call_after_refresh(KEYS_FIRST.release)
        await super().on_event(event)

    def on_mount(self) -> None:
        self._install_signal_handlers()
        tune_garbage_collector()
        for warning in self._theme_warnings:  # a user theme file that could not be used
            self.notify(warning, severity="warning", timeout=10)
        self.start_poller()
        if self._tick_chrome:  # the data age and "no new data" warnings move with the clock
            self.set_interval(CHROME_TICK_SECONDS, self._refresh_chrome)

    def start_poller(self) -> Worker:
        return self.run_worker(
            self._poll_loop, name="poller", group="poller", thread=True, exclusive=True, exit_on_error=False
        )

    def _poll_loop(self) -> None:
        """The poller thread: wait until due, poll, hand the snapshot over; never two polls at once."""
        last_finished = float("-inf")
        full_collections = FullCollections()
        while True:
            try:
                self.schedule.wait_until_due(last_finished)
                snapshot = self.schedule.run_until_stopped(self.source.poll)
            except Stopped:
                return
            except Exception as exc:  # the source should degrade, not raise; if it does, say so
                self.post_message(PollFailed(f"poll failed: {describe_error(exc)}"))
            else:
                self._hand_over(snapshot)
            full_collections.after_poll()   # see garbage_collection.py
            last_finished = time.monotonic()

    def _hand_over(self, snapshot: ClusterSnapshot) -> None:
        # A snapshot not yet rendered is replaced, and only one SnapshotReady is ever queued.
        with self._pending_lock:
            already_queued = self._pending is not None
            self._pending = snapshot
        if not already_queued:
            self.post_message(SnapshotReady())

    def on_snapshot_ready(self, _message: SnapshotReady) -> None:
        with self._pending_lock:
            snapshot, self._pending = self._pending, None
        if snapshot is None:
            return
        first = self.snapshot is None
        self.snapshot = snapshot
        self.poll_problem = None
        self.activity.see_audit(snapshot.audit)
        screen = self.screen
        if isinstance(screen, ConsoleScreen):   # not under a modal: rendering waits until it closes
            screen.show_snapshot(snapshot)
        if first:   # once the first data is on the terminal, so that no screen is slower to open than before
            self.call_after_refresh(
                threading.Thread(target=import_other_screens, name="omega-import-screens", daemon=True).start)

    def on_poll_failed(self, message: PollFailed) -> None:
        self.report_problem(message.problem)

    def report_problem(self, problem: str) -> None:
        """The one place where failures become visible: the health banner of every screen."""
        self.poll_problem = problem
        self._refresh_chrome()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state is not WorkerState.ERROR:
            return
        self.report_problem(f"{worker.name or worker.group} failed: {describe_error(worker.error)}")
        if worker.group == "poller" and not self.schedule.stopped:
            self.start_poller()

    def fetch_node_detail(self, node_id: str, window: timedelta) -> NodeDetail | None:
        """Called in a worker thread by the node detail screen; None when quitting."""
        try:
            return self.schedule.run_until_stopped(
                lambda: self.source.node_detail(node_id, window), name="omega-node-detail"
            )
        except Stopped:
            return None

    def _refresh_chrome(self) -> None:
        screen = self.screen
        if isinstance(screen, ConsoleScreen):
            screen.refresh_chrome()

    def stop_polling(self) -> None:
        self.schedule.stop()

    def on_unmount(self) -> None:
        self.stop_polling()

    def exit(self, *args, **kwargs) -> None:
        self.stop_polling()  # wakes the poller thread at once, even in the middle of a poll
        super().exit(*args, **kwargs)

    # -- actions -----------------------------------------------------------------

    def act(self, confirmation: Confirmation, on_go_ahead: Callable[[], None] | None = None) -> None:
        """Ask as `confirmation` says (or not at all), then run the action in a worker.

        `on_go_ahead` runs once the operator has confirmed (a screen clears its marks).
        """
        if self.read_only:
            return
        if self.activity.running:
            self.activity.refused(f"{confirmation.action}: wait, {self.activity.running} is still running")
            self._refresh_chrome()
            return
        if not confirmation.ask:
            self._start_action(confirmation)
            return
        self.push_screen(ConfirmScreen(confirmation), partial(self._confirmed, confirmation, on_go_ahead))

    def refuse(self, message: str) -> None:
        """An action the console will not even ask about (nothing selected, a target it cannot act on)."""
        self.activity.refused(message)
        self._refresh_chrome()

    def _confirmed(self, confirmation: Confirmation, on_go_ahead, go_ahead: bool | None) -> None:
        if go_ahead:
            if on_go_ahead is not None and self.actions is not None:
                on_go_ahead()
            self._start_action(confirmation)

    def _start_action(self, confirmation: Confirmation) -> None:
        if self.actions is None:
            self.refuse(f"{confirmation.action}: no database to act on (this console shows fixed data)")
            return
        names = [name for _, name in confirmation.targets]
        self.activity.started(confirmation.action, names)
        self._refresh_chrome()
        self.run_worker(
            partial(self._run_action, confirmation), name="action", group="actions", thread=True,
            exit_on_error=False,
        )

    def _run_action(self, confirmation: Confirmation) -> None:
        """In a worker thread: each target in turn; the results go back as one message."""
        typed = confirmation.typed_phrase is not None or not confirmation.ask
        results = []
        for target, name in confirmation.targets:
            try:
                result = self.actions.run(confirmation.action, target, typed_name=typed)
            except Exception as exc:  # noqa: BLE001 - the runner should not raise; if it does, say so
                result = ActionResult(confirmation.action, "", target, name, "failed",
                                      f"{confirmation.action} failed: {describe_error(exc)}")
            results.append((result, name))
        self.post_message(ActionsDone(results))

    def on_actions_done(self, message: ActionsDone) -> None:
        self.activity.finished(message.results, self.now())
        self.schedule.poll_now()   # show the truth soon: the drain's progress, the cancelled session gone
        self._refresh_chrome()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Under a confirmation, only that modal's keys (and quit) work.
        if isinstance(self.screen, ConfirmScreen) and action in ("show_mode", "help", "poll_now", "toggle_pause"):
            return False
        return True

    # -- unexpected errors and signals --------------------------------------------
    # A bug in the console must not kill it or print a traceback over the terminal:
    # the error is logged (omega_tui/error_log.py) and an error panel says so; the
    # console goes on. SIGTERM and SIGHUP quit cleanly, restoring the terminal.

    survive_errors = True   # tests/conftest.py turns this off: there a bug must fail the test
    quit_message: str | None = None   # set when an unexpected error ends the console
    ERROR_BURST = 50        # this many unexpected errors within 10 s (a render loop): quit rather than spin

    async def _dispatch_message(self, message) -> None:
        # The app's own handlers, key bindings and actions (a screen's actions run here too).
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            if not self.survive_errors:
                raise
            self.unexpected_error(error, "the console")

    def _handle_exception(self, error: Exception) -> None:
        # Textual's path for errors anywhere else (widgets, rendering, timers, workers): it would exit.
        if not self.survive_errors:
            super()._handle_exception(error)
            return
        self.unexpected_error(error, "a widget")

    def unexpected_error(self, error: Exception, where: str) -> None:
        """Log `error` and show the error panel; quit cleanly if the console cannot go on."""
        from omega_tui.error_log import log_unexpected
        from omega_tui.masking import mask_secret_text, url_password
        from omega_tui.screens.error_panel import ErrorPanel

        secrets = (url_password(self.settings.dsn), url_password(self.settings.redis_url))
        log = log_unexpected(error, where, *secrets)
        summary = mask_secret_text(f"{where}: {describe_error(error)}", *secrets)
        now = time.monotonic()
        self.errors_seen += 1
        self._error_times = [t for t in self._error_times if now - t < 10] + [now]
        started = self.is_running and bool(self._screen_stacks.get(self._current_mode))
        if not started or len(self._error_times) >= self.ERROR_BURST:
            self._quit_after_error(summary, log)
            return
        if isinstance(self.screen, ErrorPanel):
            if not self.screen.shown:    # the panel itself failed
                self._quit_after_error(summary, log)
            return   # one panel at a time; the log has every error
        try:
            self.push_screen(ErrorPanel(summary, log, self.errors_seen))
        except Exception as panel_error:  # noqa: BLE001 - not even the panel can be shown
            log_unexpected(panel_error, "the error panel", *secrets)
            self._quit_after_error(summary, log)

    def _quit_after_error(self, summary: str, log) -> None:
        self.stop_polling()
        self._return_code = 1
        where = f"; details in {log}" if log else ""
        self.quit_message = f"omega-tui: unexpected error, quitting ({summary}){where}"   # run_console prints it
        self._close_messages_no_wait()

    def _install_signal_handlers(self) -> None:
        import asyncio
        import signal

        if self.is_headless or threading.current_thread() is not threading.main_thread():
            return
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, self.exit, None, 128 + sig)

    # -- navigation --------------------------------------------------------------

    def action_show_mode(self, mode: str) -> None:
        self._return_mode = None
        self._switch_to(mode)

    def _switch_to(self, mode: str) -> None:
        if self.current_mode != mode:
            self.switch_mode(mode)

    def go_back(self) -> None:
        """Escape: leave a pushed screen, or return from a jump to where it came from."""
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self._return_mode is not None:
            mode, self._return_mode = self._return_mode, None
            self._switch_to(mode)

    def on_open_node(self, message: OpenNode) -> None:
        from omega_tui.screens.node_detail import NodeDetailScreen

        screen = self.screen
        if isinstance(screen, NodeDetailScreen) and screen.node_id == message.node_id:
            return
        if isinstance(screen, OverviewScreen):
            screen.select_node(message.node_id)
        self.push_screen(NodeDetailScreen(message.node_id))

    def on_open_session(self, message: OpenSession) -> None:
        came_from = self.current_mode
        self._switch_to("sessions")
        if came_from != "sessions":
            self._return_mode = came_from
        self.call_later(self._select_session, message.session_id)

    def _select_session(self, session_id: str) -> None:
        from omega_tui.screens.sessions import SessionsScreen

        screen = self.screen
        if isinstance(screen, SessionsScreen) and not screen.select_session(session_id):
            self.notify("That session is no longer live.", timeout=3)

    def on_open_alert(self, message: OpenAlert) -> None:
        came_from = self.current_mode
        self._switch_to("alerts")
        if came_from != "alerts":
            self._return_mode = came_from
        self.call_later(self._select_alert, message.alert_id)

    def _select_alert(self, alert_id: str) -> None:
        from omega_tui.screens.alerts import AlertsScreen

        screen = self.screen
        if isinstance(screen, AlertsScreen):
            screen.select_alert(alert_id)

    # -- keys --------------------------------------------------------------------

    def action_poll_now(self) -> None:
        self.schedule.poll_now()

    def action_toggle_pause(self) -> None:
        self.schedule.set_paused(not self.schedule.paused)
        self._refresh_chrome()

    def action_faster(self) -> None:
        self._step_interval(-1)

    def action_slower(self) -> None:
        self._step_interval(+1)

    def _step_interval(self, direction: int) -> None:
        current = self.schedule.interval
        if direction < 0:
            choices = [s for s in REFRESH_STEPS if s < current]
            target = choices[-1] if choices else REFRESH_STEPS[0]
        else:
            choices = [s for s in REFRESH_STEPS if s > current]
            target = choices[0] if choices else REFRESH_STEPS[-1]
        self.schedule.set_interval(target)
        self._refresh_chrome()

    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        keys: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            # Ours all have an id; the tables' own navigation keys are summed up by the help screen.
            if binding.id is None or not binding.description or binding.description in seen:
                continue
            seen.add(binding.description)
            keys.append((self.get_key_display(binding), binding.description, binding.id))
        notes = getattr(screen, "HELP_NOTES", ())
        name = getattr(screen, "TITLE_TEXT", "omega").replace("Ω ", "")
        self.push_screen(HelpScreen(name, keys, notes))


def run_console(settings: Settings, *, theme: str | None = None, source: DataSource | None = None,
                actions: ActionTaker | None = None) -> int:
    """Open the console (the demo calls this); by default on the real stores. Returns an exit status.

    Without a `source`, polls the stores with a Poller and acts with an
    ActionRunner (none in read-only mode). Closes both at the end.

    Raises ThemeError for an unknown theme, before the terminal is taken over.
    """
    from omega_tui import partial_repaint

    partial_repaint.apply()
    if source is None:
        from omega_tui.data.action_runner import ActionRunner
        from omega_tui.data.poller import Poller
        from omega_tui.first_poll import FirstPollAhead

        tune_garbage_collector()   # before the first poll, which builds most of the heap
        source = FirstPollAhead(Poller(settings, read_ahead=True))   # polls while the app is built and mounted
        actions = None if settings.read_only else ActionRunner(settings)
    try:
        app = OmegaApp(source, settings, theme=theme, actions=actions)
        app.run()
    finally:
        source.close()
        if actions is not None:
            actions.close()
    if app.quit_message:   # after the terminal is restored: one whole line
        print(app.quit_message, file=sys.stderr)
    return app.return_code or 0


class ScreenshotError(Exception):
    """The screen asked for cannot be shown (unknown screen or host, no data in time)."""


def screenshot(
    source: DataSource,
    settings: Settings,
    screen: str,
    size: tuple[int, int] = (120, 40),
    *,
    theme: str | None = None,
    clock: Callable[[], datetime] | None = None,
    timeout: float | None = None,
) -> str:
    """Render one screen headless after the first poll and return it as SVG.

    `screen` is overview, sessions, alerts, audit or node:HOSTNAME.
    """
    import asyncio

    if screen not in SCREEN_NAMES and not screen.startswith("node:"):
        raise ScreenshotError(f"unknown screen {screen!r}: use overview, sessions, alerts, audit or node:HOSTNAME")
    app = OmegaApp(source, settings, clock=clock, theme=theme)
    limit = timeout if timeout is not None else 2 * settings.connect_timeout + 10
    return asyncio.run(_capture(app, screen, size, limit))


async def _capture(app: OmegaApp, screen: str, size: tuple[int, int], timeout: float) -> str:
    from omega_tui.screens.node_detail import NodeDetailScreen

    async with app.run_test(size=size) as pilot:
        deadline = time.monotonic() + timeout

        async def wait_for(condition: Callable[[], bool], what: str) -> None:
            while not condition():
                if time.monotonic() > deadline:
                    raise ScreenshotError(f"gave up after {timeout:.0f}s waiting for {what}")
                await pilot.pause(0.05)

        await wait_for(lambda: app.snapshot is not None, "the first poll")
        if screen in ("sessions", "alerts", "audit"):
            app.action_show_mode(screen)
        elif screen.startswith("node:"):
            hostname = screen.removeprefix("node:")
            node = next((n for n in app.snapshot.nodes if n.hostname == hostname), None)
            if node is None:
                raise ScreenshotError(f"no node named {hostname!r} in the snapshot")
            app.post_message(OpenNode(node.node_id))
            await wait_for(
                lambda: isinstance(app.screen, NodeDetailScreen) and app.screen.detail is not None,
                f"the history of {hostname}",
            )
        await pilot.pause()
        await pilot.pause()
        app.stop_polling()
        return app.export_screenshot()
