"""Random draws shared by the simulator's models (all from a seeded Random)."""

from __future__ import annotations

import math
import random
import uuid


def new_id() -> str:
    """A fresh UUID for a row. Not drawn from the seeded generators: two runs with
    the same seed against the same database must not collide on primary keys."""
    return str(uuid.uuid4())


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def poisson(rng: random.Random, mean: float) -> int:
    """How many events of a Poisson process with this mean happen."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k
