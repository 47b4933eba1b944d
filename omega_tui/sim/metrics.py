"""Node metrics that move like a real machine's: mean-reverting random walks
pulled towards what the sessions placed on the node use.

`MetricModel.sample` returns one value per metric type of the node, in the
order of `SimNode.metric_types` (canonical order, GPU metrics only on nodes
with GPUs), with the units of `omega_tui.data.models.METRIC_UNITS`.
"""

from __future__ import annotations

import math
import random

from omega_tui.data.models import CANONICAL_METRICS
from omega_tui.sim.inventory import SimNode

HOT_THRESHOLD_C = 85.0
BYTES_PER_MBPS = 125_000
TEMPERATURE = -1   # index of temperature_c in a sample: the last canonical metric, on every node
assert CANONICAL_METRICS[TEMPERATURE] == "temperature_c"

_IDLE = {  # node type -> (cpu %, memory %, network share of the link, disk %)
    "control": (18.0, 38.0, 0.02, 35.0),
    "storage": (12.0, 55.0, 0.10, 62.0),
    "compute": (2.5, 6.0, 0.003, 22.0),
    "gpu": (2.0, 5.0, 0.003, 30.0),
    "hybrid": (2.5, 6.0, 0.003, 26.0),
}


class NodeWalk:
    """The walking state of one node's metrics."""

    __slots__ = ("cpu", "mem", "gpu", "gpu_mem", "disk", "rx", "tx", "load", "temp", "activity", "heat")

    def __init__(self, node: SimNode, rng: random.Random):
        idle_cpu, idle_mem, _net, disk = _IDLE.get(node.node_type, _IDLE["compute"])
        self.cpu = idle_cpu
        self.mem = idle_mem
        self.gpu = 0.0
        self.gpu_mem = 0.0
        self.disk = disk + rng.uniform(-10, 15)
        self.rx = 0.0
        self.tx = 0.0
        self.load = node.cores * idle_cpu / 100
        self.temp = 34.0 + rng.uniform(-3, 3)
        self.activity = rng.uniform(0.7, 0.95)   # how hard the placed sessions work right now
        self.heat = 0.0                          # extra degrees while an incident heats the node


class MetricModel:
    def __init__(self, rng: random.Random, nodes: list[SimNode], interval: float):
        self.rng = rng
        self.walks = {n.node_id: NodeWalk(n, rng) for n in nodes}
        self.set_interval(interval)

    def set_interval(self, dt: float) -> None:
        # Reversion per step for time constants of ~20 s (cpu), ~2 min (memory),
        # ~1 min (load average, by definition) and ~90 s (temperature).
        dt = max(dt, 0.001)
        self._dt = dt
        self._fast = 1 - math.exp(-dt / 20)
        self._slow = 1 - math.exp(-dt / 120)
        self._load = 1 - math.exp(-dt / 60)
        self._temp = 1 - math.exp(-dt / 90)
        self._noise = math.sqrt(dt / 5)

    def walk(self, node_id: str) -> NodeWalk | None:
        return self.walks.get(node_id)

    def sample(self, node: SimNode, used_cpu: float, used_mem: float, used_gpu: float) -> tuple[float, ...]:
        """Advance the node's walks one interval; the new values in metric_types order."""
        w = self.walks[node.node_id]
        r = self.rng.random
        noise = self._noise
        idle_cpu, idle_mem, net_share, _disk = _IDLE.get(node.node_type, _IDLE["compute"])

        w.activity += (0.82 - w.activity) * 0.05 + (r() - 0.5) * 0.08 * noise
        w.activity = min(max(w.activity, 0.45), 1.0)
        busy = w.activity

        cpu_target = idle_cpu + (97 - idle_cpu) * used_cpu * busy
        w.cpu += (cpu_target - w.cpu) * self._fast + (r() - 0.5) * 6 * noise
        w.cpu = min(max(w.cpu, 0.2), 100.0)

        mem_target = idle_mem + (93 - idle_mem) * used_mem * (0.75 + 0.25 * busy)
        w.mem += (mem_target - w.mem) * self._slow + (r() - 0.5) * 1.2 * noise
        w.mem = min(max(w.mem, 1.0), 99.5)

        w.disk += (r() - 0.495) * 0.08 * noise
        w.disk = min(max(w.disk, 3.0), 97.0)

        link = node.network_mbps * BYTES_PER_MBPS
        net_target = link * (net_share + 0.12 * used_cpu * busy + 0.25 * used_gpu * busy)
        w.rx += (net_target - w.rx) * self._fast + (r() - 0.5) * 0.2 * net_target * noise
        w.tx += (net_target * 0.6 - w.tx) * self._fast + (r() - 0.5) * 0.2 * net_target * noise
        w.rx = min(max(w.rx, 0.0), link)
        w.tx = min(max(w.tx, 0.0), link)

        w.load += (node.cores * w.cpu / 100 * (0.9 + 0.25 * r()) - w.load) * self._load
        w.load = max(w.load, 0.0)

        if node.gpus:
            gpu_target = 98 * used_gpu * busy
            w.gpu += (gpu_target - w.gpu) * self._fast + (r() - 0.5) * 8 * noise
            w.gpu = min(max(w.gpu, 0.0), 100.0)
            gpu_mem_target = 90 * used_gpu * (0.6 + 0.4 * busy)
            w.gpu_mem += (gpu_mem_target - w.gpu_mem) * self._slow + (r() - 0.5) * 1.5 * noise
            w.gpu_mem = min(max(w.gpu_mem, 0.0), 100.0)

        temp_target = 30 + 0.42 * w.cpu + 0.18 * w.gpu + w.heat
        w.temp += (temp_target - w.temp) * self._temp + (r() - 0.5) * 1.0 * noise
        w.temp = min(max(w.temp, 18.0), 105.0)

        if node.gpus:
            return (round(w.cpu, 2), round(w.mem, 2), round(w.gpu, 2), round(w.gpu_mem, 2), round(w.disk, 2),
                    round(w.rx), round(w.tx), round(w.load, 2), round(w.temp, 1))
        return (round(w.cpu, 2), round(w.mem, 2), round(w.disk, 2), round(w.rx), round(w.tx),
                round(w.load, 2), round(w.temp, 1))
