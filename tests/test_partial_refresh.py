"""Refreshing only what changed (changed cells, changed characters, partial_repaint's cropping)
must leave the terminal showing exactly what a full repaint shows. A real terminal emulator
(pyte) is fed every byte the console writes, refresh after refresh, and compared with a full
repaint at the end."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import pyte
from rich.color import ColorSystem
from textual._compositor import CompositorUpdate

from omega_tui import partial_repaint
from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.fixed_source import FixedSource
from tests.console_app import wait_for_snapshot

SIZE = (120, 40)


class TerminalApp(OmegaApp):
    """Feeds what Textual writes to a pyte screen (its _display hook is internal to the pinned 8.2)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.terminal = pyte.Screen(*SIZE)
        self.stream = pyte.Stream(self.terminal)

    def _display(self, screen, renderable):
        if isinstance(renderable, CompositorUpdate):
            self.stream.feed(renderable.render_segments(self.console))
        super()._display(screen, renderable)


def test_partial_refreshes_leave_the_terminal_as_a_full_repaint_would(monkeypatch):
    from textual._compositor import ChopsUpdate

    monkeypatch.setattr(ChopsUpdate, "render_segments", ChopsUpdate.render_segments)   # undone after the test
    assert partial_repaint.apply()
    source = FixedSource()
    app = TerminalApp(source, replace(Settings(), refresh=300.0), clock=lambda: source.taken_at + timedelta(seconds=1))
    app.console._color_system = ColorSystem.TRUECOLOR

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await wait_for_snapshot(pilot)
            for _ in range(40):   # values, sparklines and a few sparkline bucket shifts
                snapshot = source.advance()
                app._hand_over(snapshot)
                await wait_for_snapshot(pilot, snapshot)
                await pilot.pause(0.02)
            full = pyte.Screen(*SIZE)
            pyte.Stream(full).feed(app.screen._compositor.render_update(full=True).render_segments(app.console))
            return app.terminal.display, full.display

    shown, expected = asyncio.run(scenario())
    differing = [(y, a, b) for y, (a, b) in enumerate(zip(shown, expected)) if a != b]
    assert not differing, differing[:3]
