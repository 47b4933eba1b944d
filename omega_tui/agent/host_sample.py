"""What this host is and how busy it is, read with psutil."""

from __future__ import annotations

import os
import platform
import socket
import time
from dataclasses import dataclass
from datetime import datetime

import psutil

from omega_tui.data.models import CANONICAL_METRICS

_GB = 1024**3
_SKIPPED_FILESYSTEMS = {"squashfs", "tmpfs", "devtmpfs", "overlay", "iso9660", "proc", "sysfs"}


@dataclass(frozen=True, slots=True)
class HostInventory:
    hostname: str
    ip_address: str
    cores: int
    memory_gb: float
    storage_gb: float
    network_mbps: int
    os_version: str
    kernel_version: str
    architecture: str


@dataclass(frozen=True, slots=True)
class HostSample:
    at: datetime
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None
    net_rx_bytes: float | None   # bytes/s since the previous sample
    net_tx_bytes: float | None
    load_1m: float | None
    temperature_c: float | None

    def metrics(self) -> list[tuple[str, float]]:
        """(metric_type, value) for what was measured, in canonical order."""
        found = []
        for metric_type in CANONICAL_METRICS:
            value = getattr(self, metric_type, None)
            if value is not None:
                found.append((metric_type, float(value)))
        return found


def primary_ip() -> str:
    """The address this host uses to reach the network (no packet is sent)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("10.255.255.255", 1))
            return sock.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def _busiest_filesystem() -> tuple[float | None, float]:
    """(percent used of the fullest real filesystem, total GB of the root filesystem)."""
    busiest = None
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        partitions = []
    for part in partitions:
        if part.fstype in _SKIPPED_FILESYSTEMS:
            continue
        try:
            used = psutil.disk_usage(part.mountpoint).percent
        except OSError:
            continue
        busiest = used if busiest is None else max(busiest, used)
    try:
        root = psutil.disk_usage("/")
    except OSError:
        return busiest, 0.0
    return (busiest if busiest is not None else root.percent), root.total / _GB


def host_inventory(hostname: str | None = None) -> HostInventory:
    _percent, storage_gb = _busiest_filesystem()
    speeds = []
    try:
        speeds = [s.speed for s in psutil.net_if_stats().values() if s.isup and s.speed > 0]
    except OSError:
        pass
    return HostInventory(
        hostname=hostname or socket.gethostname(),
        ip_address=primary_ip(),
        cores=psutil.cpu_count(logical=True) or 1,
        memory_gb=round(psutil.virtual_memory().total / _GB, 2),
        storage_gb=round(storage_gb, 2),
        network_mbps=max(speeds) if speeds else 1000,
        os_version=platform.platform(terse=True)[:100],
        kernel_version=platform.release()[:100],
        architecture=platform.machine()[:20] or "unknown",
    )


def _temperature() -> float | None:
    reader = getattr(psutil, "sensors_temperatures", None)
    if reader is None:
        return None
    try:
        sensors = reader()
    except (OSError, RuntimeError):
        return None
    readings = [t.current for entries in sensors.values() for t in entries if t.current and t.current > 0]
    return round(max(readings), 1) if readings else None


class HostCollector:
    """Samples the host; network rates are over the time since the previous sample."""

    def __init__(self):
        psutil.cpu_percent(interval=None)  # the first call only starts the measurement
        self._net = self._net_counters()
        self._net_at = time.monotonic()

    @staticmethod
    def _net_counters():
        try:
            return psutil.net_io_counters()
        except (OSError, RuntimeError):
            return None

    def collect(self, at: datetime) -> HostSample:
        net = self._net_counters()
        now = time.monotonic()
        rx = tx = None
        if net is not None and self._net is not None and now > self._net_at:
            elapsed = now - self._net_at
            rx = max(net.bytes_recv - self._net.bytes_recv, 0) / elapsed
            tx = max(net.bytes_sent - self._net.bytes_sent, 0) / elapsed
        self._net, self._net_at = net, now
        try:
            load = os.getloadavg()[0]
        except (OSError, AttributeError):
            load = None
        disk, _total = _busiest_filesystem()
        return HostSample(
            at=at,
            cpu_percent=psutil.cpu_percent(interval=None),
            memory_percent=psutil.virtual_memory().percent,
            disk_percent=disk,
            net_rx_bytes=round(rx) if rx is not None else None,
            net_tx_bytes=round(tx) if tx is not None else None,
            load_1m=round(load, 2) if load is not None else None,
            temperature_c=_temperature(),
        )
