"""Key press to screen while polls run: the real app headless on the real poller.

The real OmegaApp runs headless (`run_test`) at 120x40 with the real Poller
on the live stores, polling every `refresh` seconds in its worker thread as
the console does. The bench presses keys that move the node table's cursor
(down, PageDown, up, End, Home) at random moments, so some land while a poll
runs or its snapshot is being shown, and times each from the key event
posted to the app until Textual hands a frame with the cursor moved to its
driver.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time

from textual import events
from textual._compositor import CompositorUpdate

from omega_tui.bench.poll_bench import percentile
from omega_tui.config import Settings

KEYS = ("down", "pagedown", "up", "end", "home")   # each moves the cursor wherever it is


def _timing_app(settings: Settings):
    from omega_tui.app import OmegaApp
    from omega_tui.data.poller import Poller

    class KeyTimingApp(OmegaApp):
        """Notes when a frame showing the cursor somewhere else than `row_before` reaches the driver."""

        table = None
        row_before: int | None = None
        drawn_at: float | None = None
        snapshots_shown = 0

        def on_snapshot_ready(self, _message) -> None:
            # (OmegaApp.on_snapshot_ready runs too: Textual calls the handler of every class in the MRO.)
            self.snapshots_shown += 1

        def _display(self, screen, renderable):
            if (isinstance(renderable, CompositorUpdate) and self.drawn_at is None
                    and self.row_before is not None and self.table.cursor_row != self.row_before):
                self.drawn_at = time.perf_counter()
            super()._display(screen, renderable)

    return KeyTimingApp(Poller(settings, read_ahead=True), settings)


async def _measure(settings: Settings, presses: int, seed: int) -> tuple[list[float], int]:
    """The times of the presses that showed, and how many polls' snapshots arrived meanwhile."""
    from omega_tui.widgets.node_table import NodeTable

    rng = random.Random(seed)
    app = _timing_app(settings)
    times: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 300
        while getattr(app.screen, "shown_snapshot", None) is None and time.monotonic() < deadline:
            await pilot.pause(0.05)
        app.table = app.screen.query_one(NodeTable)
        await pilot.pause(0.5)
        shown_before = app.snapshots_shown
        for index in range(presses):
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            key = KEYS[index % len(KEYS)]
            app.drawn_at = None
            app.row_before = app.table.cursor_row
            started = time.perf_counter()
            app.post_message(events.Key(key, None))
            limit = started + 10
            while app.drawn_at is None and time.perf_counter() < limit:
                await asyncio.sleep(0.001)
            if app.drawn_at is not None:
                times.append((app.drawn_at - started) * 1000)
            app.row_before = None
        polls = app.snapshots_shown - shown_before
        app.stop_polling()
    return times, polls


def key_latency_ms(settings: Settings, presses: int = 40, seed: int = 1) -> dict:
    """Median, p95 and max milliseconds from a key press to the screen showing the cursor moved."""
    from omega_tui import partial_repaint

    partial_repaint.apply()
    times, polls = asyncio.run(_measure(settings, presses, seed))
    figures = {"presses": len(times), "missed": presses - len(times), "polls_meanwhile": polls}
    if not times:
        return {"median_ms": None, "p95_ms": None, "max_ms": None, **figures}
    return {"median_ms": statistics.median(times), "p95_ms": percentile(times, 0.95), "max_ms": max(times),
            **figures, "times_ms": [round(t, 1) for t in times]}   # in order: when an outlier came
