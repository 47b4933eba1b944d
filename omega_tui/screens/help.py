"""The `?` screen: the keys of the screen it was opened from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

NAVIGATION = (
    ("↑ ↓  pgup pgdn", "move in a table"),
    ("home end", "first / last row"),
    ("tab shift+tab", "next / previous panel"),
    ("ctrl+p", "command palette: go to a node, session or alert"),
)


class HelpScreen(ModalScreen):
    BINDINGS = [
        Binding("escape", "close", "Close", id="help_close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, screen_name: str, keys: list[tuple[str, str, str]], notes: tuple[str, ...] = ()) -> None:
        """`keys`: (key, what it does, binding id for remapping in the config file)."""
        super().__init__()
        self.screen_name = screen_name
        self.keys = keys
        self.notes = notes

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box"):
            yield Static(self._content(), id="help-text")

    def _content(self) -> Content:
        width = max([len(k) for k, *_ in self.keys + list(NAVIGATION)] + [8])
        described = max([len(d) for _, d, _ in self.keys] + [8])
        lines = [Content.styled(f"Keys: {self.screen_name}", "bold $primary"), Content("")]
        for key, description, binding_id in self.keys:
            lines.append(Content.assemble((f"{key:>{width}}  ", "bold $accent"), f"{description:<{described}}  ",
                                          (binding_id, "$foreground-muted")))
        lines.append(Content(""))
        for key, description in NAVIGATION:
            lines.append(Content.assemble((f"{key:>{width}}  ", "bold"), description))
        for note in self.notes:
            lines.append(Content(""))
            lines.append(Content.styled(note, "$foreground-muted"))
        lines.append(Content(""))
        lines.append(Content.styled("Remap a key by its id in the config file: keys = { sessions = \"4\" }. "
                                    "escape closes this help.", "$foreground-muted"))
        return Content("\n").join(lines)

    def action_close(self) -> None:
        self.dismiss()
