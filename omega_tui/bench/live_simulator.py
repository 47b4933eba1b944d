"""The bench's live simulator, in a process of its own.

The cluster's writers are not in the console's process; run in a thread of
the bench, the simulator's Python work (at 10,000 nodes, 90,000 metric rows
every 10 s) would compete with the measured poller and app for the GIL and
count against them. The child registers the bench's cluster again (nodes
and users by name: nothing new), samples its nodes in staggered groups, and
stops on SIGTERM. Store addresses come in the environment, never argv
(where `ps` shows them).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile

ENV_DSN = "OMEGA_BENCH_SIM_DSN"
ENV_REDIS = "OMEGA_BENCH_SIM_REDIS"
READY = "ready"


def child_main(nodes: int, interval: float, groups: int, seed: int) -> None:
    from omega_tui.sim import Simulator

    sim = Simulator(os.environ[ENV_DSN], os.environ[ENV_REDIS], nodes=nodes, interval=interval, seed=seed)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    try:
        sim.register()
        sim.spread_metrics(groups)
        print(READY, flush=True)
        sys.stdout = open(os.devnull, "w")   # nobody reads the pipe from now on
        sim.run()
    finally:
        sim.close()


def start(dsn: str, redis_url: str, *, nodes: int, interval: float, groups: int, seed: int,
          timeout: float = 120.0) -> subprocess.Popen:
    """The simulator running in a child process, once it has started ticking."""
    from omega_tui.bench.poll_bench import BenchError

    env = {**os.environ, ENV_DSN: dsn, ENV_REDIS: redis_url, "OMEGA_TUI_CONFIG": "/nonexistent/omega-tui.toml"}
    errors = tempfile.TemporaryFile(mode="w+")
    child = subprocess.Popen(
        [sys.executable, "-m", "omega_tui.bench.live_simulator", str(nodes), str(interval), str(groups), str(seed)],
        stdout=subprocess.PIPE, stderr=errors, text=True, env=env, start_new_session=True,
    )
    ready, _, _ = select.select([child.stdout], [], [], timeout)
    line = child.stdout.readline() if ready else ""
    if line.strip() != READY:
        stop(child)
        errors.seek(0)
        problem = [text for text in errors.read().splitlines() if text.strip()] or ["no output"]
        raise BenchError(f"the live simulator did not start: {problem[-1][:200]}")
    errors.close()
    return child


def stop(child: subprocess.Popen) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    nodes, interval, groups, seed = sys.argv[1:5]
    child_main(int(nodes), float(interval), int(groups), int(seed))
