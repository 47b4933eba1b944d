"""The data layer must not import Textual (it runs in workers, CLI and agent)."""

import subprocess
import sys


def test_data_layer_does_not_import_textual():
    code = (
        "import sys, pkgutil, importlib, omega_tui.data as d\n"
        "for m in pkgutil.walk_packages(d.__path__, 'omega_tui.data.'):\n"
        "    importlib.import_module(m.name)\n"
        "import omega_tui.config, omega_tui.cli\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(len(list(pkgutil.walk_packages(d.__path__))))\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 3  # the walk really found the modules
