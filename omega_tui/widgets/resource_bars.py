"""Allocated vs total of each resource of a node, as bars."""

from __future__ import annotations

from textual.content import Content
from textual.widget import Widget

from omega_tui.data.models import Allocation
from omega_tui.widgets.formatting import MISSING, amount
from omega_tui.widgets.safe_text import clean

FULL, EMPTY = "█", "░"


def bar(fraction: float | None, width: int) -> tuple[str, str]:
    """The filled and empty parts of a bar `width` cells long."""
    if fraction is None or width <= 0:
        return "", EMPTY * max(0, width)
    filled = round(min(1.0, max(0.0, fraction)) * width)
    return FULL * filled, EMPTY * (width - filled)


def allocation_line(alloc: Allocation, bar_width: int) -> Content:
    fraction = None
    if alloc.allocated is not None and alloc.total:
        fraction = alloc.allocated / alloc.total
    filled, empty = bar(fraction, bar_width)
    style = "$primary"
    if fraction is not None and fraction >= 0.95:
        style = "$error"
    elif fraction is not None and fraction >= 0.85:
        style = "$warning"
    unit = f" {clean(alloc.unit, 8)}" if alloc.unit else ""
    numbers = f"{amount(alloc.allocated)}/{amount(alloc.total)}{unit}"
    share = f"{fraction * 100:3.0f}%" if fraction is not None else f"{MISSING:>4}"
    return Content.assemble(
        (f"{clean(alloc.resource_type, 8):<8} ", "bold"), (filled, style), (empty, "$foreground-muted"),
        f" {share} {numbers}",
    )


class ResourceBars(Widget):
    DEFAULT_CSS = """
    ResourceBars {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._allocations: tuple[Allocation, ...] = ()

    def show(self, allocations: tuple[Allocation, ...]) -> None:
        if allocations != self._allocations:
            self._allocations = allocations
            self.refresh(layout=True)

    def render(self) -> Content:
        if not self._allocations:
            return Content.styled("no node_resources rows", "$foreground-muted")
        bar_width = max(6, min(30, self.size.width - 30))
        return Content("\n").join(allocation_line(a, bar_width) for a in self._allocations)
