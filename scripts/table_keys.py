#!/usr/bin/env python3
"""The overview's main thread at N nodes, without a database (not part of CI).

The real OmegaApp runs headless at 120x40 on fixed data (FixedSource with N
nodes). It measures:

- apply: `show_snapshot()` of a snapshot in which 10 % of the nodes have new
  samples (main-thread wall and CPU time);
- keys: while such snapshots arrive every 2 s from a thread (as the poller
  hands them over), cursor keys (down, PageDown, up, End, Home), sort keys (s)
  and filter keystrokes (/ then text and backspaces) at random moments, each
  timed from the key event until Textual hands the frame showing its effect to
  the driver;
- full garbage collections meanwhile (count and longest), which stop every thread.

    python scripts/table_keys.py 10000
    python scripts/table_keys.py 1000 --presses 30
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import threading
import time
from dataclasses import replace
from datetime import timedelta

from textual import events
from textual._compositor import CompositorUpdate

from omega_tui import partial_repaint
from omega_tui.app import OmegaApp
from omega_tui.bench.overview_bench import _HeldSource, changed_snapshots
from omega_tui.config import Settings
from omega_tui.fixed_source import FixedSource
from omega_tui.widgets.node_table import NodeTable

CURSOR_KEYS = ("down", "pagedown", "up", "end", "home")
FILTER_KEYS = list("node-01") + ["backspace"] * 7


class TimingApp(OmegaApp):
    """Notes when a frame reaches the driver after `shown()` became true."""

    drawn_at: float | None = None
    shown = None

    def _display(self, screen, renderable):
        if isinstance(renderable, CompositorUpdate) and self.drawn_at is None and self.shown and self.shown():
            self.drawn_at = time.perf_counter()
        super()._display(screen, renderable)


class FullCollections:
    def __init__(self) -> None:
        self.times: list[float] = []
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.times.append((time.perf_counter() - self._started) * 1000)


async def press(app: TimingApp, key: str, shown) -> float | None:
    app.shown, app.drawn_at = shown, None
    started = time.perf_counter()
    app.post_message(events.Key(key, key if len(key) == 1 else None))
    while app.drawn_at is None and time.perf_counter() < started + 10:
        await asyncio.sleep(0.001)
    app.shown = None
    return (app.drawn_at - started) * 1000 if app.drawn_at is not None else None


async def measure(nodes: int, presses: int, seed: int) -> dict[str, list[float]]:
    source = FixedSource(extra_hostnames=tuple(f"node-{i:05d}" for i in range(max(0, nodes - 25))))
    base = source.snapshot
    snapshots = changed_snapshots(base, 1_000_000)
    now = {"at": base.taken_at + timedelta(seconds=1)}
    app = TimingApp(_HeldSource(base), replace(Settings(), refresh=3600.0), clock=lambda: now["at"])
    rng = random.Random(seed)
    times: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        while getattr(app.screen, "shown_snapshot", None) is None:
            await pilot.pause(0.02)
        await pilot.pause(0.3)
        table = app.screen.query_one(NodeTable)

        for _ in range(12):
            snapshot = next(snapshots)
            now["at"] = snapshot.taken_at + timedelta(seconds=1)
            wall, cpu = time.perf_counter(), time.thread_time()
            app.screen.show_snapshot(snapshot)
            times.setdefault("apply (wall)", []).append((time.perf_counter() - wall) * 1000)
            times.setdefault("apply (CPU)", []).append((time.thread_time() - cpu) * 1000)
            await pilot.pause(0.05)

        stop = threading.Event()

        def hand_over() -> None:
            while not stop.wait(2.0):
                snapshot = next(snapshots)
                now["at"] = snapshot.taken_at + timedelta(seconds=1)
                app._hand_over(snapshot)

        feeder = threading.Thread(target=hand_over, daemon=True)
        feeder.start()
        plan = [("cursor", CURSOR_KEYS[i % len(CURSOR_KEYS)]) for i in range(presses)]
        for _ in range(6):
            plan.insert(rng.randrange(len(plan)), ("sort", "s"))
        for kind, key in plan:
            await asyncio.sleep(rng.uniform(0.1, 0.6))
            if kind == "cursor":
                row = table.cursor_row
                took = await press(app, key, lambda: table.cursor_row != row)
            else:
                sort = table.sort_key
                took = await press(app, key, lambda: table.sort_key != sort)
            if took is not None:
                times.setdefault(kind, []).append(took)
        app.post_message(events.Key("slash", "/"))
        await pilot.pause(0.2)
        for _ in range(2):
            for key in FILTER_KEYS:
                await asyncio.sleep(rng.uniform(0.1, 0.4))
                text = table.filter_text
                took = await press(app, key, lambda: table.filter_text != text)
                if took is not None:
                    times.setdefault("filter", []).append(took)
        stop.set()
        feeder.join()
        app.stop_polling()
    times["apply (wall)"], times["apply (CPU)"] = times["apply (wall)"][2:], times["apply (CPU)"][2:]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int)
    parser.add_argument("--presses", type=int, default=30, help="cursor keys (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    partial_repaint.apply()
    collections = FullCollections()
    gc.callbacks.append(collections)
    times = asyncio.run(measure(args.nodes, args.presses, args.seed))
    keys = [t for kind in ("cursor", "sort", "filter") for t in times.get(kind, [])]
    for name, values in [*times.items(), ("all keys", keys)]:
        print(f"{args.nodes:>6} nodes  {name:13} median {statistics.median(values):7.1f} ms"
              f"  max {max(values):7.1f} ms  ({len(values)})")
    longest = f", longest {max(collections.times):.0f} ms" if collections.times else ""
    print(f"{args.nodes:>6} nodes  full garbage collections: {len(collections.times)}{longest}")


if __name__ == "__main__":
    main()
