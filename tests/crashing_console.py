"""The console on made-up data, for the pty tests; `--bug` makes the nodes screen raise on every snapshot."""

import sys
from dataclasses import replace

from omega_tui.app import run_console
from omega_tui.config import Settings
from omega_tui.fixed_source import FixedSource
from omega_tui.screens.overview import OverviewScreen

if "--bug" in sys.argv:
    def broken(self, snapshot):
        raise RuntimeError("injected bug near postgresql://ops:pty-Secret-9@db/omega")

    OverviewScreen.render_snapshot = broken

settings = replace(Settings(), dsn="postgresql://ops:pty-Secret-9@db/omega", refresh=300.0)
sys.exit(run_console(settings, source=FixedSource()))
