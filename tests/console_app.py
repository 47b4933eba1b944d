"""Helpers for the console tests: an OmegaApp on FixedSource with a fixed clock."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from textual.pilot import Pilot

from omega_tui.app import OmegaApp
from omega_tui.config import Settings
from omega_tui.fixed_source import FIXED_TAKEN_AT, FixedSource
from omega_tui.messages import OpenNode
from omega_tui.screens.node_detail import NodeDetailScreen

FIXED_NOW = FIXED_TAKEN_AT + timedelta(seconds=1)


def make_app(source: FixedSource | None = None, *, refresh: float = 300.0, theme: str | None = None,
             keys: dict | None = None, clock=None) -> OmegaApp:
    """A long refresh interval by default: tests poll explicitly (`r`), nothing happens on its own."""
    settings = replace(Settings(), refresh=refresh, keys=keys or {})
    return OmegaApp(source or FixedSource(), settings, clock=clock or (lambda: FIXED_NOW), theme=theme)


async def wait_for(pilot: Pilot, condition, what: str = "condition", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


async def wait_for_snapshot(pilot: Pilot, snapshot=None) -> None:
    """Until the app shows `snapshot` (default: any) on its current screen."""
    app = pilot.app

    def shown() -> bool:
        current = getattr(app.screen, "shown_snapshot", None)
        return current is not None and (snapshot is None or current is snapshot)

    await wait_for(pilot, shown, "a snapshot on screen")
    await pilot.pause()


async def poll_now(pilot: Pilot, snapshot) -> None:
    """Ask for a poll (`r`) and wait until `snapshot` is on screen."""
    await pilot.press("r")
    await wait_for_snapshot(pilot, snapshot)


async def open_node(pilot: Pilot, source: FixedSource, hostname: str) -> NodeDetailScreen:
    await wait_for_snapshot(pilot)
    pilot.app.post_message(OpenNode(source.node_id_of(hostname)))
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, NodeDetailScreen)
                   and pilot.app.screen.detail is not None, "the node detail")
    await pilot.pause()
    return pilot.app.screen
