"""The bench's work that is not the console's, each run in a process of its own.

The bench's process measures the console, whose process has done no other
work: no backfill of an hour of history, no naive baseline. With the
backfill of 5,000 nodes (13.6 million rows built in Python) done in the
bench's process, the bench at 5,000 nodes alone measured 128.1 ms of CPU a
poll (poll median 170.8 ms); with it done in a child, 93.2 and 97.7 ms
(134.5 and 128.8 ms). What the backfill leaves behind in a process (most
likely its memory in scattered pieces) was not pinned down. The naive
baseline (287 MB of rows read into Python a poll at 5,000 nodes) runs in a
child too, as the live simulator does (live_simulator.py).
Store addresses go in the environment, never argv (where `ps` shows them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

ENV_DSN = "OMEGA_BENCH_CHILD_DSN"
ENV_REDIS = "OMEGA_BENCH_CHILD_REDIS"


def child_env(dsn: str, redis_url: str) -> dict:
    return {**os.environ, ENV_DSN: dsn, ENV_REDIS: redis_url, "OMEGA_TUI_CONFIG": "/nonexistent/omega-tui.toml"}


def stores() -> tuple[str, str]:
    """In a child: the DSN and Redis URL its parent gave."""
    return os.environ[ENV_DSN], os.environ[ENV_REDIS]


def last_line(text: str) -> str:
    """The last line written (of an error: what went wrong), at most 200 characters."""
    lines = [line for line in text.splitlines() if line.strip()] or ["no output"]
    return lines[-1][:200]


def run_child(module: str, args: list[str], dsn: str, redis_url: str, what: str) -> dict:
    """Run `python -m module args...` (which ends with child_main) to its end: the dict it printed."""
    from omega_tui.bench.poll_bench import BenchError

    child = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                           env=child_env(dsn, redis_url))
    if child.returncode != 0:
        raise BenchError(f"{what} failed: {last_line(child.stderr)}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def child_main(work: Callable[[], dict]) -> None:
    """In a child: print what `work` returns as one line of JSON, or exit with one line saying why not."""
    try:
        result = work()
    except Exception as exc:  # noqa: BLE001 - one line for the bench's message, not a traceback
        sys.exit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    print(json.dumps(result), flush=True)
