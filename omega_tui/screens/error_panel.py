"""The panel an unexpected error shows: what failed, where the details are, and that the console goes on.

A full, opaque screen rather than a modal one: the screen under it is not drawn,
so the panel shows even when what failed is drawing that screen.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static


class ErrorPanel(Screen):
    DEFAULT_CSS = """
    ErrorPanel { align: center middle; background: $background; }
    ErrorPanel > Vertical {
        width: 80%; max-width: 100; height: auto;
        border: heavy $error; background: $surface; padding: 1 2;
    }
    """
    BINDINGS = [
        Binding("escape,enter", "dismiss", "Close", id="close_error"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self, summary: str, log: Path | None, count: int = 1) -> None:
        super().__init__()
        self.summary = summary
        self.log_file = log
        self.count = count
        self.shown = False      # set once mounted: an error before that means the panel itself failed

    def compose(self) -> ComposeResult:
        where = f"The details are in {self.log_file}." if self.log_file else "The log file could not be written."
        more = f" ({self.count} errors so far)" if self.count > 1 else ""
        with Vertical():
            yield Static(Content.styled(f"✗ Unexpected error{more}", "$text-error bold"))
            yield Static(Content(self.summary), id="error-summary")
            yield Static(Content(f"{where} The console keeps running: escape closes this panel, q quits."))

    def on_mount(self) -> None:
        self.shown = True

    def action_dismiss(self) -> None:
        self.dismiss()
