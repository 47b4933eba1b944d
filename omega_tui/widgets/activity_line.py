"""Under the status line: actions in flight, their results, failures until dismissed,
other operators' actions (see omega_tui.activity). Hidden when there is nothing to say."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from omega_tui.widgets.keyed_table import cell_content


class ActivityLine(Widget):
    DEFAULT_CSS = """
    ActivityLine {
        height: auto;
        max-height: 4;
        padding: 0 1;
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._lines: list[tuple[str, str]] = []

    @property
    def text(self) -> str:
        return "\n".join(text for text, _ in self._lines)

    def show(self, lines: list[tuple[str, str]]) -> None:
        if lines == self._lines:
            return
        self._lines = list(lines)
        self.display = bool(lines)
        self.refresh(layout=True)

    def render(self) -> Content:
        return Content("\n").join(cell_content(line) for line in self._lines)
