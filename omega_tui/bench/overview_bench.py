"""Overview update time: a snapshot handed to the real app, until the screen is redrawn.

The real OmegaApp runs headless (`run_test`) at 120x40 on a source that
never polls on its own; the bench hands it snapshots in which 10 % of the
nodes have a new sample of every metric (the rest are the very same objects,
as the poller hands them over) and times each one from `_hand_over` (what the
poller thread calls) to the moment Textual hands the changed regions to its
driver.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import replace
from datetime import timedelta

from textual._compositor import CompositorUpdate

from omega_tui.config import Settings
from omega_tui.data.models import ClusterSnapshot, MetricSeries, NodeDetail
from omega_tui.data.node_detail import empty_detail

STEP = timedelta(seconds=2)


class _HeldSource:
    """A source that returns the snapshot it is given; the bench hands over the rest itself."""

    def __init__(self, snapshot: ClusterSnapshot):
        self.snapshot = snapshot

    def poll(self) -> ClusterSnapshot:
        return self.snapshot

    def node_detail(self, node_id: str, window: timedelta) -> NodeDetail:
        return empty_detail(node_id, window, self.snapshot.taken_at, "bench")

    def close(self) -> None:
        pass


def _moved(series: MetricSeries, at, rng: random.Random) -> MetricSeries:
    step = rng.uniform(-8, 8) if series.unit == "percent" else rng.uniform(-0.1, 0.1) * (series.latest or 1)
    value = series.latest + step if series.latest is not None else rng.uniform(0, 100)
    if series.unit == "percent":
        value = min(100.0, max(0.0, value))
    return series._replace(latest=value, latest_at=at, history=(tuple(series.history) + (value,))[-len(series.history) or None:])


def changed_snapshots(base: ClusterSnapshot, count: int, share: float = 0.10, seed: int = 7):
    """`count` successive snapshots, each STEP later, each with `share` of the nodes sampled anew."""
    rng = random.Random(seed)
    nodes = list(base.nodes)
    taken_at = base.taken_at
    for _ in range(count):
        taken_at += STEP
        for index in rng.sample(range(len(nodes)), max(1, round(share * len(nodes)))):
            node = nodes[index]
            nodes[index] = replace(node, metrics=tuple(_moved(s, taken_at, rng) for s in node.metrics))
        yield replace(base, taken_at=taken_at, nodes=tuple(nodes))


def _timing_app(source: _HeldSource, settings: Settings, clock):
    from omega_tui.app import OmegaApp

    class TimingApp(OmegaApp):
        """Notes when Textual hands a screen update to its driver."""

        drawn_at: float | None = None

        def _display(self, screen, renderable):
            if isinstance(renderable, CompositorUpdate) and self.drawn_at is None:
                self.drawn_at = time.perf_counter()
            super()._display(screen, renderable)

    return TimingApp(source, settings, clock=clock)


async def _measure(base: ClusterSnapshot, updates: int, size: tuple[int, int]) -> list[float]:
    source = _HeldSource(base)
    settings = replace(Settings(), refresh=3600.0)
    now = {"at": base.taken_at + timedelta(seconds=1)}
    app = _timing_app(source, settings, clock=lambda: now["at"])
    times = []
    async with app.run_test(size=size) as pilot:
        while getattr(app.screen, "shown_snapshot", None) is None:
            await pilot.pause(0.02)
        await pilot.pause(0.2)
        for snapshot in changed_snapshots(base, updates + 1):
            now["at"] = snapshot.taken_at + timedelta(seconds=1)
            app.drawn_at = None
            started = time.perf_counter()
            app._hand_over(snapshot)
            deadline = started + 10
            while app.drawn_at is None and time.perf_counter() < deadline:
                await asyncio.sleep(0.001)
            if app.drawn_at is not None:
                times.append((app.drawn_at - started) * 1000)
            await pilot.pause(0.05)
        app.stop_polling()
    return times[1:]   # the first update after mounting may still carry start-up work


def overview_update_ms(base: ClusterSnapshot, updates: int = 20, size: tuple[int, int] = (120, 40)) -> dict:
    """Median and max milliseconds from snapshot handed over to screen updated."""
    from omega_tui import partial_repaint

    partial_repaint.apply()
    times = asyncio.run(_measure(base, updates, size))
    if not times:
        return {"median_ms": None, "max_ms": None, "updates": 0}
    return {"median_ms": statistics.median(times), "max_ms": max(times), "updates": len(times)}
