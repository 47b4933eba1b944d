"""A console screen whose rows the `/` filter bar narrows: sessions, alerts, audit."""

from __future__ import annotations

from omega_tui.screens.console_screen import ConsoleScreen
from omega_tui.widgets.filter_bar import FilterBar


class FilteredScreen(ConsoleScreen):
    """Subclasses compose a FilterBar, use `filter_text` in `_render_rows()`, and
    name the widget that gets the focus back when the bar closes."""

    def __init__(self) -> None:
        super().__init__()
        self.filter_text = ""

    def filter_closed_focus(self):
        return self.table

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def action_back(self) -> None:
        """escape: clear the filter first, then leave as any console screen does."""
        if self.filter_text:
            self.query_one(FilterBar).action_clear()
        else:
            super().action_back()

    def on_filter_bar_changed(self, event: FilterBar.Changed) -> None:
        self.filter_text = event.text
        self._render_rows()
        self.refresh_chrome()

    def on_filter_bar_closed(self, event: FilterBar.Closed) -> None:
        self.filter_closed_focus().focus()
