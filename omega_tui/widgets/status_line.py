"""The top line of every screen: where you are, how fresh the data is, polling state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.content import Content
from textual.widget import Widget

from omega_tui.data.models import ClusterSnapshot, StoreHealth
from omega_tui.widgets.formatting import age, clock_time, duration, seconds_between

LATE_AFTER_POLLS = 2   # a store's data older than this many poll intervals shows its age


@dataclass(frozen=True, slots=True)
class PollState:
    interval: float
    paused: bool


def store_age(health: StoreHealth, now: datetime, wide: bool, late_after: float | None = None) -> Content:
    """'PostgreSQL ✓ 12s' (age of its data), or the state when it is not OK; a read replica adds its lag.

    With `late_after` (seconds), an age up to that is left out: 'PostgreSQL ✓'. An age that
    said 0s or 1s by how long the poll took rewrote the whole line at every refresh.
    """
    name = health.store if wide else {"PostgreSQL": "PG"}.get(health.store, health.store)
    if health.source is not None:
        name += " replica" if health.lag_seconds is not None else " primary"
    if health.lag_seconds is not None:
        name += f" lag {duration(health.lag_seconds)}"
    if health.ok:
        seconds = seconds_between(health.last_ok, now)
        if late_after is not None and seconds is not None and seconds <= late_after:
            return Content.assemble(f"{name} ", ("✓", "$success"))
        return Content.assemble(f"{name} ", ("✓", "$success"), f" {duration(seconds)}")
    if health.last_ok is not None:
        return Content.assemble(f"{name} ", (f"✗ {age(health.last_ok, now)} old", "$error bold"))
    return Content.assemble(f"{name} ", ("✗ down", "$error bold"))


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = title
        self._snapshot: ClusterSnapshot | None = None
        self._now: datetime | None = None
        self._poll: PollState | None = None
        self.detail = ""  # e.g. the sort and filter in force, set by the screen
        self._shown = ""
        self.locked = False   # read-only mode: a lock after the title

    def show(self, snapshot: ClusterSnapshot | None, now: datetime, poll: PollState, detail: str = "",
             *, locked: bool = False) -> None:
        self._snapshot, self._now, self._poll, self.detail, self.locked = snapshot, now, poll, detail, locked
        line = self._line()
        if line.markup != self._shown:  # an unchanged line is not sent to the terminal again
            self._shown = line.markup
            self.refresh()

    def render(self) -> Content:
        return self._line()

    def on_resize(self) -> None:
        self._shown = self._line().markup

    def _line(self) -> Content:
        wide = self.size.width >= 100
        left = Content.styled(self.title_text, "bold $primary")
        if self.locked:
            left = Content.assemble(left, " ", ("🔒 read-only" if wide else "🔒 RO", "$warning bold"))
        if self.detail:
            left = Content.assemble(left, "  ", (self.detail, "$foreground-muted"))
        right_parts: list[Content] = []
        if self._snapshot is not None and self._now is not None:
            snapshot, now = self._snapshot, self._now
            if wide:  # minutes only: a line that changed every poll would be resent every poll
                right_parts.append(Content(clock_time(snapshot.taken_at, now)[:-3]))
            # Fresh data (the last poll is not overdue) shows no age: it only changes when it matters.
            late_after = LATE_AFTER_POLLS * self._poll.interval if self._poll is not None else None
            right_parts.append(store_age(snapshot.postgres, now, wide, late_after))
            right_parts.append(store_age(snapshot.redis, now, wide, late_after))
        if self._poll is not None:
            if self._poll.paused:
                right_parts.append(Content.styled("‖ PAUSED", "$warning bold reverse"))
            else:
                right_parts.append(Content(f"every {duration(self._poll.interval)}"))
        right = Content(" │ ").join(right_parts)
        gap = max(1, self.size.width - 2 - left.cell_length - right.cell_length)
        if gap == 1 and left.cell_length + right.cell_length + 3 > self.size.width:
            left = left.truncate(max(0, self.size.width - 3 - right.cell_length), ellipsis=True)
            gap = 1
        return Content.assemble(left, " " * gap, right)
