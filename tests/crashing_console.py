"""The console on made-up data, for the pty tests.

`--bug`: the nodes screen raises on every snapshot. `--render-bug`: the status line
raises every time it is drawn. `--panel-bug`: so does the error panel, and the console
cannot go on.
"""

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

if "--render-bug" in sys.argv:
    from omega_tui.widgets.status_line import StatusLine

    def broken_render(self):
        raise RuntimeError("cannot draw the status line")

    StatusLine.render = broken_render

if "--panel-bug" in sys.argv:
    from omega_tui.screens.error_panel import ErrorPanel

    def broken_compose(self):
        raise RuntimeError("cannot build the error panel")

    ErrorPanel.compose = broken_compose

settings = replace(Settings(), dsn="postgresql://ops:pty-Secret-9@db/omega", refresh=300.0)
sys.exit(run_console(settings, source=FixedSource()))
