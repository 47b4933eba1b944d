"""A banner, on every screen, that says plainly when something is wrong with the data.

Which store is stale or down, since when and why, and how old the data shown
is; a failed poll; no new data for a while. Hidden when all is well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from textual.content import Content
from textual.widget import Widget

from omega_tui.data.models import ClusterSnapshot, HealthState, StoreHealth
from omega_tui.widgets.formatting import age, clock_time
from omega_tui.widgets.safe_text import clean


@dataclass(frozen=True, slots=True)
class BannerLine:
    level: str   # "error", "warning" or "info"
    text: str


def store_line(health: StoreHealth, now: datetime) -> BannerLine | None:
    if health.ok:
        return None
    since = f" since {clock_time(health.since, now)} ({age(health.since, now)})" if health.since else ""
    reason = f": {clean(health.reason, 120)}" if health.reason else ""
    if health.state is HealthState.STALE:
        shown = f"; its data is from {clock_time(health.last_ok, now)}" if health.last_ok else ""
        return BannerLine("warning", f"! {clean(health.store)} STALE{since}{reason}{shown}")
    return BannerLine("error", f"✗ {clean(health.store)} DOWN{since}{reason}; no data from it")


def banner_lines(
    snapshot: ClusterSnapshot | None,
    now: datetime,
    *,
    poll_problem: str | None = None,
    stale_after: float | None = None,
    paused: bool = False,
) -> list[BannerLine]:
    """What the banner says, most serious first."""
    lines: list[BannerLine] = []
    if poll_problem:
        lines.append(BannerLine("error", f"✗ {clean(poll_problem, 200)}"))
    if snapshot is None:
        return lines
    for health in (snapshot.postgres, snapshot.redis):
        line = store_line(health, now)
        if line is not None:
            lines.append(line)
    data_age = (now - snapshot.taken_at).total_seconds()
    if stale_after is not None and not paused and data_age > stale_after:
        lines.append(BannerLine(
            "warning", f"! no new data for {age(snapshot.taken_at, now)}: everything shown is from "
                       f"{clock_time(snapshot.taken_at, now)}"))
    if snapshot.notices:
        lines.append(BannerLine("info", "· " + " · ".join(clean(n, 120) for n in snapshot.notices[:4])))
    lines.sort(key=lambda line: ("error", "warning", "info").index(line.level))
    return lines


class HealthBanner(Widget):
    DEFAULT_CSS = """
    HealthBanner {
        height: auto;
        max-height: 4;
        padding: 0 1;
        display: none;
    }
    HealthBanner.-visible { display: block; }
    HealthBanner.-error { background: $error 25%; }
    HealthBanner.-warning { background: $warning 20%; }
    HealthBanner.-info { background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.lines: list[BannerLine] = []

    def show(self, lines: list[BannerLine]) -> None:
        if lines == self.lines:
            return
        self.lines = lines
        worst = lines[0].level if lines else None
        self.set_class(bool(lines), "-visible")
        for level in ("error", "warning", "info"):
            self.set_class(worst == level, f"-{level}")
        self.refresh(layout=True)

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def render(self) -> Content:
        styles = {"error": "$text-error bold", "warning": "$text-warning", "info": "$foreground-muted"}
        return Content("\n").join(
            Content.styled(line.text, styles[line.level]) for line in self.lines
        )
