"""The Redis keys of the data contract, as the simulator and the node agent write them."""

from __future__ import annotations

import json
import math
from datetime import datetime

HEARTBEAT_TTL_SECONDS = 30
METRIC_TTL_SECONDS = 300
QUEUE_KEY = "queue:pending_sessions"
CLUSTER_STATE_KEY = "cluster:state"
CONTROL_CHANNEL = "omega:control"


def heartbeat_key(node_id: str) -> str:
    return f"node:heartbeat:{node_id}"


def metric_key(node_id: str, metric_type: str) -> str:
    return f"metrics:node:{node_id}:{metric_type}"


def session_state_key(session_id: str) -> str:
    return f"session:state:{session_id}"


def heartbeat_value(at: datetime, status: str, load: float | None) -> str:
    """JSON {"timestamp": ISO-8601, "status": ..., "load": 1-minute load average}."""
    if load is not None and not math.isfinite(load):
        load = None
    return json.dumps({"timestamp": at.isoformat(), "status": status, "load": load})


def metric_value(value: float, timestamp: str, unit: str) -> str:
    """JSON {"value", "timestamp", "unit"}; `timestamp` is already ISO-8601 (formatted once per tick)."""
    number = float(value)
    if not math.isfinite(number):
        return json.dumps({"value": None, "timestamp": timestamp, "unit": unit})
    # Formatted by hand: this runs for every metric of every node each tick.
    return f'{{"value": {number!r}, "timestamp": "{timestamp}", "unit": {json.dumps(unit)}}}'
