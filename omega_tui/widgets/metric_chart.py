"""A plotext chart of one metric's history (avg per bucket) over the node detail window."""

from __future__ import annotations

from dataclasses import dataclass

from textual.color import Color
from textual_plotext import PlotextPlot

from omega_tui.data.models import SeriesPoint
from omega_tui.widgets.safe_text import clean


@dataclass(frozen=True, slots=True)
class ChartLine:
    label: str
    points: tuple[SeriesPoint, ...]
    colour: str = "primary"    # a theme variable


@dataclass(frozen=True, slots=True)
class ChartSpec:
    title: str
    lines: tuple[ChartLine, ...]
    window_seconds: float
    end_timestamp: float        # x = 0 is this instant (the detail's fetched_at)
    scale: float = 1.0          # values are divided by this (e.g. 1e6 for MB/s)
    percent: bool = False

    @property
    def has_data(self) -> bool:
        return any(point.avg is not None for line in self.lines for point in line.points)


def time_unit(window_seconds: float) -> tuple[str, float]:
    """The x axis unit for a window: minutes up to 1 h, hours up to 2 d, then days."""
    if window_seconds <= 3600:
        return "minutes ago", 60.0
    if window_seconds <= 2 * 86400:
        return "hours ago", 3600.0
    return "days ago", 86400.0


class MetricChart(PlotextPlot):
    DEFAULT_CSS = """
    MetricChart {
        height: 10;
        min-width: 30;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.spec: ChartSpec | None = None

    def on_mount(self) -> None:
        # (PlotextPlot.on_mount runs too and registers the theme with plotext.)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._draw()

    def show(self, spec: ChartSpec | None) -> None:
        if spec == self.spec:
            return
        self.spec = spec
        if self.is_mounted:
            self._draw()

    def _rgb(self, variable: str) -> tuple[int, int, int]:
        value = self.app.theme_variables.get(variable) or self.app.theme_variables.get("primary", "#888888")
        try:
            return Color.parse(value).rgb
        except Exception:
            return (136, 136, 136)

    def _draw(self) -> None:
        plt = self.plt
        plt.clear_figure()
        spec = self.spec
        if spec is None:
            plt.title("loading…")
            self.refresh()
            return
        unit_name, unit_seconds = time_unit(spec.window_seconds)
        plt.title(clean(spec.title, 40))
        plt.xlabel(unit_name)
        has_data = False
        for line in spec.lines:
            xs, ys = [], []
            for point in line.points:
                if point.avg is None:
                    continue
                xs.append((point.at.timestamp() - spec.end_timestamp) / unit_seconds)
                ys.append(point.avg / spec.scale)
            if xs:
                has_data = True
                plt.plot(xs, ys, marker="braille", color=self._rgb(line.colour),
                         label=clean(line.label, 20) if len(spec.lines) > 1 else None)
        plt.xlim(-spec.window_seconds / unit_seconds, 0)
        if spec.percent:
            plt.ylim(0, 100)
        if not has_data:
            plt.title(f"{clean(spec.title, 30)}: no data")
        self.refresh()
