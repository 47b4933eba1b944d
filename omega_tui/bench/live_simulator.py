"""The bench's simulator, in a process of its own: the backfill, then the live cluster.

The cluster's writers are not in the console's process; run in a thread of
the bench, the simulator's Python work (at 10,000 nodes, 90,000 metric rows
every 10 s) would compete with the measured poller and app for the GIL and
count against them. Nor is the backfill done in the bench's process, as it
was: the console's process builds no hour of history before its first
poll, and after the bench's own backfill of 5,000 nodes (13.6 million rows
built in Python) the poller measured in that process took a quarter more
CPU a poll than in a fresh one (122 against 99 ms, on the same database;
what the backfill leaves behind, most likely its memory in scattered
pieces, was not pinned down). The live child registers the bench's cluster
again (nodes and users by name: nothing new), samples its nodes in
staggered groups, and stops on SIGTERM. Store addresses come in the
environment, never argv (where `ps` shows them).
"""

from __future__ import annotations

import json
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


def backfill_main(nodes: int, interval: float, seed: int, history_seconds: float) -> None:
    from datetime import timedelta

    from omega_tui.sim import Simulator

    sim = Simulator(os.environ[ENV_DSN], os.environ[ENV_REDIS], nodes=nodes, interval=interval, seed=seed)
    try:
        sim.register()
        done = sim.backfill(timedelta(seconds=history_seconds))
    finally:
        sim.close()
    print(json.dumps({"metric_rows": done.metric_rows, "seconds": done.seconds}), flush=True)


def _child_env(dsn: str, redis_url: str) -> dict:
    return {**os.environ, ENV_DSN: dsn, ENV_REDIS: redis_url, "OMEGA_TUI_CONFIG": "/nonexistent/omega-tui.toml"}


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()] or ["no output"]
    return lines[-1][:200]


def backfill(dsn: str, redis_url: str, *, nodes: int, interval: float, seed: int, history) -> tuple[int, float]:
    """Register the cluster and backfill `history` (a timedelta) in a child process: (metric rows, seconds)."""
    from omega_tui.bench.poll_bench import BenchError

    child = subprocess.run(
        [sys.executable, "-m", "omega_tui.bench.live_simulator", "backfill", str(nodes), str(interval), str(seed),
         str(history.total_seconds())],
        capture_output=True, text=True, env=_child_env(dsn, redis_url),
    )
    if child.returncode != 0:
        raise BenchError(f"the backfill failed: {_last_line(child.stderr)}")
    done = json.loads(_last_line(child.stdout))
    return done["metric_rows"], done["seconds"]


def start(dsn: str, redis_url: str, *, nodes: int, interval: float, groups: int, seed: int,
          timeout: float = 120.0) -> subprocess.Popen:
    """The simulator running in a child process, once it has started ticking."""
    from omega_tui.bench.poll_bench import BenchError

    env = _child_env(dsn, redis_url)
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
        raise BenchError(f"the live simulator did not start: {_last_line(errors.read())}")
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
    if sys.argv[1] == "backfill":
        nodes, interval, seed, history_seconds = sys.argv[2:6]
        try:
            backfill_main(int(nodes), float(interval), int(seed), float(history_seconds))
        except Exception as exc:  # noqa: BLE001 - one line for the bench's message, not a traceback
            sys.exit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    else:
        nodes, interval, groups, seed = sys.argv[1:5]
        child_main(int(nodes), float(interval), int(groups), int(seed))
