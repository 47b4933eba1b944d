"""The bench's simulator, in a process of its own: the backfill, then the live cluster.

The cluster's writers are not in the console's process; run in a thread of
the bench, the simulator's Python work (at 10,000 nodes, 90,000 metric rows
every 10 s) would compete with the measured poller and app for the GIL and
count against them; nor is the backfill done in the bench's process (see
child_process.py). Nor should its CPU: the live child runs at a lower
priority (NICE, see run_below_the_console), so that on this machine's two
cores the console measured comes first and the simulator takes the CPU left
over, as the agents of 10,000 other machines would. At 10,000 nodes it keeps
half a core busy, in bursts at every tick. Alternated runs of 100 key
presses at 10,000 nodes, pooled: after the short histories' fill, p95 20.9
ms and 2 presses over 40 ms of 562 with it niced as a session, 28.4 ms and
19 of 1,112 without. It writes as many rows either way. The live child
registers the bench's cluster again (nodes and users by name: nothing new),
samples its nodes in staggered groups, and stops on SIGTERM.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import tempfile

from omega_tui.bench.child_process import child_env, child_main, last_line, run_child, stores

READY = "ready"
NICE = 10


def run_below_the_console() -> None:
    """NICE for the live child, before any thread starts (every thread of it has it). The child
    has a session of its own (start_new_session), and where Linux groups the processes of a
    session (autogroups) the groups share the CPU as equals, whatever their threads' nice: so
    its group's nice is set too (raising it needs no privilege)."""
    os.nice(NICE)
    try:
        with open("/proc/self/autogroup", "w") as autogroup:
            autogroup.write(str(NICE))
    except OSError:
        pass   # not Linux, or a kernel without autogroups: the nice alone ranks it


def live_main(nodes: int, interval: float, groups: int, seed: int) -> None:
    from omega_tui.sim import Simulator

    run_below_the_console()
    sim = Simulator(*stores(), nodes=nodes, interval=interval, seed=seed)
    signal.signal(signal.SIGTERM, lambda *_: sim.stop())
    try:
        sim.register()
        sim.spread_metrics(groups)
        print(READY, flush=True)
        sys.stdout = open(os.devnull, "w")   # nobody reads the pipe from now on
        sim.run()
    finally:
        sim.close()


def backfill_main(nodes: int, interval: float, seed: int, history_seconds: float) -> dict:
    from datetime import timedelta

    from omega_tui.sim import Simulator

    sim = Simulator(*stores(), nodes=nodes, interval=interval, seed=seed)
    try:
        sim.register()
        done = sim.backfill(timedelta(seconds=history_seconds))
    finally:
        sim.close()
    return {"metric_rows": done.metric_rows, "seconds": done.seconds}


def backfill(dsn: str, redis_url: str, *, nodes: int, interval: float, seed: int, history) -> tuple[int, float]:
    """Register the cluster and backfill `history` (a timedelta) in a child process: (metric rows, seconds)."""
    done = run_child("omega_tui.bench.live_simulator",
                     ["backfill", str(nodes), str(interval), str(seed), str(history.total_seconds())],
                     dsn, redis_url, "the backfill")
    return done["metric_rows"], done["seconds"]


def start(dsn: str, redis_url: str, *, nodes: int, interval: float, groups: int, seed: int,
          timeout: float = 120.0) -> subprocess.Popen:
    """The simulator running in a child process, once it has started ticking."""
    from omega_tui.bench.poll_bench import BenchError

    env = child_env(dsn, redis_url)
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
        raise BenchError(f"the live simulator did not start: {last_line(errors.read())}")
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
        child_main(lambda: backfill_main(int(nodes), float(interval), int(seed), float(history_seconds)))
    else:
        nodes, interval, groups, seed = sys.argv[1:5]
        live_main(int(nodes), float(interval), int(groups), int(seed))
