"""A simulated Omega cluster writing PostgreSQL and Redis as the real services do.

No Textual here: the CLI (`omega-tui simulate`), the demo, the tests and the
benchmarks use it as a library through `Simulator`.
"""

from omega_tui.sim.simulator import Simulator, TickReport

__all__ = ["Simulator", "TickReport"]
