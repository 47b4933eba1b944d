import sys

from omega_tui.cli import main

sys.exit(main())
