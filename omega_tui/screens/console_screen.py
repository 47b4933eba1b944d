"""What every console screen has: the status line, the health banner, the footer,
and how it receives snapshots from the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.events import Resize
from textual.screen import Screen

from omega_tui.data.models import ClusterSnapshot
from omega_tui.widgets.activity_line import ActivityLine
from omega_tui.widgets.console_footer import ConsoleFooter
from omega_tui.widgets.health_banner import HealthBanner, banner_lines
from omega_tui.widgets.status_line import StatusLine

if TYPE_CHECKING:
    from omega_tui.app import OmegaApp


class ConsoleScreen(Screen):
    """A screen that renders the app's latest snapshot.

    The app calls `show_snapshot()` on the current screen for each new
    snapshot; a screen that was hidden (another mode, or under a modal)
    catches up with the latest snapshot when it is shown again.
    """

    TITLE_TEXT = "omega"
    # Shown in the footer only where escape leaves the screen (node detail); elsewhere it
    # clears a filter or returns from a jump.
    BINDINGS = [
        Binding("escape", "back", "Back", id="back", show=False),
        Binding("x", "dismiss_activity", "Dismiss messages", id="dismiss", show=False),
    ]
    # Actions that change the cluster: gone (not shown, keys do nothing) in read-only mode.
    CHANGING_ACTIONS = frozenset({"drain", "resume", "cancel", "acknowledge", "resolve", "mark"})

    def __init__(self) -> None:
        super().__init__()
        self.shown_snapshot: ClusterSnapshot | None = None

    @property
    def omega(self) -> "OmegaApp":
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield StatusLine(self.TITLE_TEXT, id="status-line")
        yield HealthBanner(id="health-banner")
        yield ActivityLine(id="activity")
        yield from self.compose_body()
        yield ConsoleFooter(compact=True)

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_resize(self, event: Resize) -> None:
        # At 80 columns the screen's own keys need the room; ctrl+p still works (see the help).
        self.query_one(ConsoleFooter).show_command_palette = event.size.width >= 100

    def on_screen_resume(self) -> None:
        snapshot = self.omega.snapshot
        if snapshot is not None and snapshot is not self.shown_snapshot:
            self.show_snapshot(snapshot)
        else:
            self.refresh_chrome()

    def on_screen_suspend(self) -> None:
        # A hidden screen keeps no snapshot alive (with 1,000 nodes, each holds megabytes of
        # history): on_screen_resume catches up with the app's latest one anyway.
        self.shown_snapshot = None

    def show_snapshot(self, snapshot: ClusterSnapshot) -> None:
        if not self.query(StatusLine):
            return   # not composed yet (a mode switch in progress): on_screen_resume shows the latest
        self.shown_snapshot = snapshot
        self.render_snapshot(snapshot)
        self.refresh_chrome()

    def render_snapshot(self, snapshot: ClusterSnapshot) -> None:
        """Update the screen's own widgets; called with each new snapshot while shown."""

    def status_detail(self) -> str:
        """Extra words for the status line (sort, filter...)."""
        return ""

    def refresh_chrome(self) -> None:
        """Status line and health banner, which also change without a new snapshot (clock, pause)."""
        if not self.query(StatusLine):
            return   # not composed yet (a mode switch in progress): on_screen_resume draws it
        app = self.omega
        now = app.now()
        snapshot = app.snapshot
        self.query_one(StatusLine).show(snapshot, now, app.poll_state, self.status_detail(), locked=app.read_only)
        self.query_one(ActivityLine).show(app.activity.lines(now))
        self.query_one(HealthBanner).show(
            banner_lines(
                snapshot, now,
                poll_problem=app.poll_problem,
                stale_after=max(10.0, 3 * app.poll_state.interval),
                paused=app.poll_state.paused,
            )
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.CHANGING_ACTIONS and self.omega.read_only:
            return False
        return True

    def action_back(self) -> None:
        self.omega.go_back()

    def action_dismiss_activity(self) -> None:
        if self.omega.activity.dismiss():
            self.refresh_chrome()

    async def _dispatch_message(self, message) -> None:
        # This screen's own handlers: an unexpected error shows the error panel (see OmegaApp).
        try:
            await super()._dispatch_message(message)
        except Exception as error:
            if not self.omega.survive_errors:
                raise
            self.omega.unexpected_error(error, type(self).__name__)
