"""The real console in a pseudo-terminal: bytes per refresh, start to first data, peak RSS.

The parent starts a child process on a new pseudo-terminal of 120x40 (TERM
xterm-256color, truecolor), which runs `run_console` on the real poller
against the bench's stores (given in the environment, never on the command
line). The child appends the monotonic time of the end of each poll to a
marks file; the parent reads everything the console writes, with the time it
arrived, and counts the bytes between consecutive poll ends: the bytes of one
refresh. It takes the child's peak RSS (VmHWM) and quits the console with `q`.
"""

from __future__ import annotations

import compileall
import fcntl
import os
import select
import signal
import statistics
import subprocess
import struct
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

import omega_tui

ENV_DSN, ENV_REDIS, ENV_MARKS, ENV_REFRESH = "OMEGA_DSN", "OMEGA_REDIS_URL", "OMEGA_BENCH_MARKS", "OMEGA_BENCH_REFRESH"
ENV_READ_DSNS = "OMEGA_BENCH_READ_DSNS"   # read replicas, one per line


@dataclass(frozen=True, slots=True)
class TerminalFigures:
    refreshes: int
    bytes_median: float | None
    bytes_mean: float | None
    bytes_max: int | None
    first_data_s: float | None     # from starting the process to the first hostname on the terminal
    peak_rss_mb: float | None

    def as_json(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def child_main() -> None:
    """In the child: the console on the real poller, marking the end of every poll.

    Started as `omega-tui` starts it: the first poll begins before the UI is imported.
    """
    from omega_tui.config import Settings
    from omega_tui.data.poller import Poller
    from omega_tui.first_poll import FirstPollAhead
    from omega_tui.garbage_collection import tune_garbage_collector

    marks = open(os.environ[ENV_MARKS], "a", buffering=1)

    class MarkingPoller(Poller):
        def poll(self):
            snapshot = super().poll()
            marks.write(f"{time.monotonic()}\n")
            return snapshot

    settings = Settings(dsn=os.environ[ENV_DSN], redis_url=os.environ[ENV_REDIS],
                        refresh=float(os.environ.get(ENV_REFRESH, "2")),
                        read_dsns=tuple(filter(None, os.environ.get(ENV_READ_DSNS, "").split("\n"))))
    tune_garbage_collector()
    source = FirstPollAhead(MarkingPoller(settings, read_ahead=True))
    from omega_tui.app import run_console

    code = run_console(settings, source=source)
    marks.close()
    os._exit(code)


def _set_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


def run_in_pty(dsn: str, redis_url: str, hostnames: set[str], marks_path: str, *, refreshes: int = 20,
               refresh: float = 2.0, size: tuple[int, int] = (120, 40), timeout: float = 180.0,
               read_dsns: tuple[str, ...] = ()) -> TerminalFigures:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_CONNECTION", "NO_COLOR", "TEXTUAL_FPS")}
    env.update({"TERM": "xterm-256color", "COLORTERM": "truecolor", ENV_DSN: dsn, ENV_REDIS: redis_url,
                ENV_MARKS: marks_path, ENV_REFRESH: str(refresh), ENV_READ_DSNS: "\n".join(read_dsns),
                "LINES": str(size[1]), "COLUMNS": str(size[0])})
    open(marks_path, "w").close()
    # An installed console has its bytecode (pip compiles it); a source checkout where
    # PYTHONDONTWRITEBYTECODE is set would compile every module at each start instead.
    compileall.compile_dir(str(Path(omega_tui.__file__).parent), quiet=1)
    master, terminal = os.openpty()
    _set_size(terminal, *size)
    started = time.monotonic()
    # A new process, not a fork: the bench has threads (the simulator) that a fork would copy mid-step.
    child = subprocess.Popen([sys.executable, "-m", "omega_tui.bench.pty_console"], stdin=terminal,
                             stdout=terminal, stderr=terminal, env=env, start_new_session=True, close_fds=True)
    os.close(terminal)
    pid = child.pid
    arrivals: list[tuple[float, int]] = []
    first_data: float | None = None
    tail = ""
    quit_sent = False
    peak_kb: int | None = None
    status = None
    deadline = started + timeout
    try:
        while True:
            if not quit_sent and (len(_marks(marks_path)) > refreshes + 1 or time.monotonic() > deadline):
                peak_kb = _peak_rss_kb(pid)
                os.write(master, b"q")
                quit_sent = True
                deadline = time.monotonic() + 10
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:   # the child closed the terminal
                    data = b""
                if not data:
                    break
                now = time.monotonic()
                arrivals.append((now, len(data)))
                if first_data is None:
                    # The whole new output, plus the end of the last (a hostname split across two reads).
                    text = tail + data.decode("utf-8", "replace")
                    if any(h in text for h in hostnames):
                        first_data = now - started
                    tail = text[-256:]
            if quit_sent and time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(master)
        child.returncode = os.waitstatus_to_exitcode(status) if status is not None else None
    marks = _marks(marks_path)
    # Bytes between the end of poll k and the end of poll k+1, skipping the first poll (start-up drawing).
    per_refresh = []
    for begin, end in zip(marks[1:], marks[2:refreshes + 2]):
        per_refresh.append(sum(n for at, n in arrivals if begin < at <= end))
    return TerminalFigures(
        refreshes=len(per_refresh),
        bytes_median=statistics.median(per_refresh) if per_refresh else None,
        bytes_mean=statistics.mean(per_refresh) if per_refresh else None,
        bytes_max=max(per_refresh) if per_refresh else None,
        first_data_s=first_data,
        peak_rss_mb=peak_kb / 1024 if peak_kb is not None else None,
    )


def _peak_rss_kb(pid: int) -> int | None:
    """The process's peak resident memory since its exec (VmHWM).

    Not wait4()'s ru_maxrss: that also counts the forked copy of the bench itself
    before the exec, i.e. the bench's own size.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _marks(path: str) -> list[float]:
    try:
        with open(path) as f:
            return [float(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


if __name__ == "__main__":
    child_main()
