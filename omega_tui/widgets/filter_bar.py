"""The `/` filter: a one-line input that filters the table above it as you type."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label


class FilterBar(Horizontal):
    """Hidden until opened; posts Changed on every keystroke. Enter keeps the filter, escape clears it."""

    DEFAULT_CSS = """
    FilterBar {
        height: 1;
        display: none;
        background: $panel;
    }
    FilterBar.-open { display: block; }
    FilterBar Label { width: auto; padding: 0 1; color: $primary; text-style: bold; }
    FilterBar Input { border: none; height: 1; padding: 0; width: 1fr; background: $panel; }
    """

    BINDINGS = [Binding("escape", "clear", "Clear filter", id="filter_clear")]

    class Changed(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Closed(Message):
        """The filter input closed (enter or escape); focus goes back to the table."""

    def __init__(self, placeholder: str = "filter…", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._placeholder = placeholder

    def compose(self) -> ComposeResult:
        yield Label("/")
        # No cursor blink: nothing animates on screen (snapshot tests, bytes over SSH).
        yield Input(placeholder=self._placeholder, compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).cursor_blink = False

    @property
    def value(self) -> str:
        return self.query_one(Input).value

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self) -> None:
        self.add_class("-open")
        self.query_one(Input).focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.post_message(self.Closed())

    def action_clear(self) -> None:
        self.query_one(Input).value = ""
        self.post_message(self.Changed(""))
        self.close()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(event.value))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.close()
