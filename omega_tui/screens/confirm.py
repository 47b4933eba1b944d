"""The confirmation modal of an action: names the targets, shows the impact, asks.

Focus starts on Cancel, so Enter alone never acts. When the action needs
it, the confirm button stays disabled until the target's name (or the
phrase shown) is typed exactly; Enter in that field then confirms.
Escape always cancels. Dismisses with True (go ahead) or False.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from omega_tui.confirmation import Confirmation


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm_cancel")]

    def __init__(self, confirmation: Confirmation) -> None:
        super().__init__()
        self.confirmation = confirmation

    def compose(self) -> ComposeResult:
        confirmation = self.confirmation
        with Vertical(id="confirm-box"):
            yield Label(Content(confirmation.title), id="confirm-title")
            yield Static(Content("\n").join(Content(line) for line in confirmation.lines), id="confirm-impact")
            if confirmation.typed_phrase is not None:
                yield Label(Content.assemble("Type ", (confirmation.typed_phrase, "bold"), " to confirm:"),
                            id="confirm-prompt")
                yield Input(id="confirm-typed", compact=True)
            with Horizontal(id="confirm-buttons"):
                yield Button("Cancel", id="confirm-no", compact=True)
                yield Button(confirmation.confirm_label, id="confirm-yes", variant="error", compact=True,
                             disabled=confirmation.typed_phrase is not None)

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
        self.query_one("#confirm-no", Button).focus()

    @property
    def typed_matches(self) -> bool:
        phrase = self.confirmation.typed_phrase
        return phrase is None or self.query_one("#confirm-typed", Input).value == phrase

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.query_one("#confirm-yes", Button).disabled = not self.typed_matches

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.typed_matches:
            self.dismiss(True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-yes" and self.typed_matches)

    def action_cancel(self) -> None:
        self.dismiss(False)
