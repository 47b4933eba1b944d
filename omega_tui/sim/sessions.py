"""Simulated sessions: what each session type asks for, how long it runs, and
the private plan (runtime, failure, pause) the simulator draws for it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

from omega_tui.sim.draws import log_uniform

LIVE_STATUSES = ("pending", "scheduled", "running", "paused")
FAILURE_REASONS = (
    "exit code 137 (OOMKilled)",
    "exit code 1",
    "exit code 139 (segmentation fault)",
    "container image pull failed",
    "NCCL timeout in collective operation",
    "checkpoint write failed: no space left on device",
    "health check failed 3 times",
)


@dataclass(frozen=True, slots=True)
class SessionProfile:
    session_type: str
    cpu: tuple[int, int]                 # cores, for sessions without GPUs
    memory_per_core_gb: tuple[float, float]
    gpus: tuple[int, ...]                # choices; (0,) for none
    cores_per_gpu: tuple[int, int]
    runtime_minutes: tuple[float, float]  # drawn log-uniformly
    priority: tuple[int, int]
    fail_probability: float
    pause_probability: float
    storage_gb: tuple[int, int]
    applications: tuple[tuple[str, str], ...]  # (application, container image)
    weight: float


_JUPYTER = ("jupyterlab", "quay.io/jupyter/scipy-notebook:2024-05-27")
_RSTUDIO = ("rstudio", "rocker/rstudio:4.4.0")
_CODE = ("code-server", "codercom/code-server:4.89.1")
_BLENDER = ("blender", "linuxserver/blender:4.1.1")

# Sessions that need no GPU go to compute and hybrid nodes, GPU sessions to gpu
# and hybrid nodes; each group arrives as its own stream sized to its capacity.
CPU_PROFILES = (
    SessionProfile("interactive", (2, 8), (4, 8), (0,), (0, 0), (5, 60), (5, 8), 0.02, 0.35, (0, 50),
                   (_JUPYTER, _RSTUDIO, _CODE), 0.35),
    SessionProfile("batch", (4, 32), (2, 4), (0,), (0, 0), (2, 30), (1, 5), 0.06, 0.0, (50, 500),
                   (("nextflow", "nextflow/nextflow:24.04.2"), ("spark-submit", "apache/spark:3.5.1"),
                    ("snakemake", "snakemake/snakemake:v8.11.6")), 0.35),
    SessionProfile("streaming", (2, 16), (2, 4), (0,), (0, 0), (20, 120), (6, 9), 0.03, 0.05, (20, 100),
                   (("flink", "flink:1.19"), ("kafka-streams", "confluentinc/cp-kafka-streams:7.6.1")), 0.15),
    SessionProfile("rendering", (16, 64), (2, 4), (0,), (0, 0), (5, 45), (2, 6), 0.04, 0.0, (100, 400),
                   (_BLENDER, ("houdini", "sidefx/houdini:20.0")), 0.15),
)
GPU_PROFILES = (
    SessionProfile("ai_training", (0, 0), (6, 12), (1, 1, 2, 4, 4, 8), (6, 12), (15, 180), (3, 8), 0.08, 0.05,
                   (200, 2000), (("pytorch", "nvcr.io/nvidia/pytorch:24.04-py3"), ("jax", "nvcr.io/nvidia/jax:24.04-py3"),
                                 ("deepspeed", "deepspeed/deepspeed:v0.14.0")), 0.6),
    SessionProfile("interactive", (0, 0), (8, 16), (1,), (4, 8), (10, 60), (5, 8), 0.02, 0.3, (0, 100),
                   (_JUPYTER, _CODE), 0.25),
    SessionProfile("rendering", (0, 0), (4, 8), (1, 2), (8, 16), (5, 30), (2, 6), 0.04, 0.0, (100, 400),
                   (_BLENDER,), 0.15),
)


@dataclass(slots=True, eq=False)
class SimSession:
    session_id: str
    user_id: str
    name: str
    session_type: str
    application: str | None
    image: str | None
    priority: int
    cpu: float
    memory_gb: float
    gpus: int
    storage_gb: float
    created_at: datetime
    status: str = "pending"
    node_id: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    max_runtime_minutes: int | None = None
    # The plan: known only to the simulator.
    runtime_s: float = 600.0
    startup_s: float = 10.0
    fail_after_s: float | None = None
    pause_after_s: float | None = None
    pause_for_s: float = 0.0
    failure_reason: str | None = None
    cancel_by_user: bool = False          # the early end at fail_after_s is the user's cancel, not a failure
    # Progress through the plan.
    scheduled_at: datetime | None = None
    paused_at: datetime | None = None
    paused_total_s: float = 0.0
    has_paused: bool = False
    version: int = 0                      # bumped on every change: stale heap entries are skipped
    allocation_status: str | None = None  # active, released, failed (None: never placed)
    allocated_at: datetime | None = None
    released_at: datetime | None = None
    extra: dict = field(default_factory=dict)
    allocations: dict[str, float] = field(init=False)   # resource_type -> amount taken on its node

    def __post_init__(self) -> None:
        # Requests never change, and placement asks for this in its inner loop.
        amounts = {"cpu": self.cpu, "memory": self.memory_gb, "gpu": float(self.gpus), "storage": self.storage_gb}
        self.allocations = {rt: amount for rt, amount in amounts.items() if amount > 0}

    @property
    def planned_end_s(self) -> float:
        """Seconds from start to the planned end (completion or failure), pauses included."""
        end = self.fail_after_s if self.fail_after_s is not None else self.runtime_s
        return end + self.paused_total_s + (self.pause_for_s if not self.has_paused and self.pause_after_s else 0)


USER_CANCEL_PROBABILITY = 0.04  # users give up on some of their own sessions


def draw_request(rng: random.Random, profile: SessionProfile) -> tuple[float, float, int]:
    """(cpu cores, memory GB, gpus) a session of this profile asks for."""
    gpus = rng.choice(profile.gpus)
    if gpus:
        cpu = gpus * rng.randint(*profile.cores_per_gpu)
        memory = gpus * rng.uniform(*profile.memory_per_core_gb) * 6
    else:
        cpu = rng.randint(*profile.cpu)
        memory = cpu * rng.uniform(*profile.memory_per_core_gb)
    return float(cpu), round(memory, 0), gpus


def draw_plan(rng: random.Random, session: SimSession, profile: SessionProfile) -> None:
    """Fill in the session's private plan: runtime, startup, failure, pause."""
    session.runtime_s = log_uniform(rng, *profile.runtime_minutes) * 60
    session.startup_s = rng.uniform(3, 30)
    if rng.random() < profile.fail_probability:
        session.fail_after_s = session.runtime_s * rng.uniform(0.05, 0.95)
        session.failure_reason = rng.choice(FAILURE_REASONS)
    elif rng.random() < USER_CANCEL_PROBABILITY:
        session.fail_after_s = session.runtime_s * rng.uniform(0.05, 0.6)
        session.cancel_by_user = True
    if rng.random() < profile.pause_probability:
        session.pause_after_s = session.runtime_s * rng.uniform(0.1, 0.7)
        session.pause_for_s = rng.uniform(60, 900)


def profile_for(session_type: str, gpus: int) -> SessionProfile:
    for profile in (GPU_PROFILES if gpus else CPU_PROFILES):
        if profile.session_type == session_type:
            return profile
    return (GPU_PROFILES if gpus else CPU_PROFILES)[0]


def mean_cost(profiles: tuple[SessionProfile, ...], resource: str, samples: int = 4000) -> float:
    """Expected resource-seconds one arrival of this stream uses (cores or GPUs x runtime)."""
    rng = random.Random(0)  # its own generator: estimating must not shift the simulation's draws
    weights = [p.weight for p in profiles]
    total = 0.0
    for _ in range(samples):
        profile = rng.choices(profiles, weights)[0]
        cpu, _memory, gpus = draw_request(rng, profile)
        runtime = log_uniform(rng, *profile.runtime_minutes) * 60
        total += (gpus if resource == "gpu" else cpu) * runtime
    return total / samples
