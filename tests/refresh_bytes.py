"""Bytes written to the terminal per refresh of the overview at 120x40, truecolor.

Run as `python -m tests.refresh_bytes [--unpatched]` (a fresh process: see the test);
prints the sizes of 8 refreshes as JSON. With FixedSource about 10 % of the nodes get
a new sample per refresh.
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import replace
from datetime import timedelta

from rich.color import ColorSystem
from textual._compositor import CompositorUpdate

from omega_tui import partial_repaint
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.fixed_source import FixedSource
from tests.console_app import wait_for_snapshot


class CountingApp(OmegaApp):
    """Counts what Textual would write (its _display hook is internal to the pinned 8.2)."""

    bytes_out = 0

    def _display(self, screen, renderable):
        if isinstance(renderable, CompositorUpdate):
            self.bytes_out += len(renderable.render_segments(self.console).encode())
        super()._display(screen, renderable)


async def measure(refreshes: int = 8) -> list[int]:
    source = FixedSource()
    settings = replace(Settings(), refresh=300.0)
    app = CountingApp(source, settings, clock=lambda: source.taken_at + timedelta(seconds=1))
    app.console._color_system = ColorSystem.TRUECOLOR  # a real terminal, not the headless default
    sizes = []
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for_snapshot(pilot)
        await pilot.pause(0.2)
        for index in range(refreshes + 1):  # the first is a warm-up: startup may still be repainting
            snapshot = source.advance()
            app.bytes_out = 0
            app._hand_over(snapshot)
            await wait_for_snapshot(pilot, snapshot)
            await pilot.pause(0.1)
            if index:
                sizes.append(app.bytes_out)
    return sizes


if __name__ == "__main__":
    if "--unpatched" not in sys.argv:
        partial_repaint.apply()
    print(json.dumps(asyncio.run(measure())))
