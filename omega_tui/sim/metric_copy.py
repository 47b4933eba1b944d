"""node_metrics rows in PostgreSQL's binary COPY format.

Binary COPY spares the server from parsing text timestamps, uuids and
floats, which is most of the cost of loading rows; everything constant per
node and metric (node id, metric type, unit, labels) is encoded once.
"""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

from omega_tui.data.models import METRIC_UNITS
from omega_tui.sim.inventory import SimNode

COPY_NODE_METRICS = (
    "COPY node_metrics (time, node_id, metric_type, value, unit, labels) FROM STDIN (FORMAT binary)"
)
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_ROW_HEAD = struct.Struct(">hiq")   # column count, then the timestamp field (length 8, microseconds)
_VALUE = struct.Struct(">id")       # float8 field
_EMPTY_LABELS = struct.pack(">ib", 3, 1) + b"{}"   # jsonb: version byte 1, then the text


def _text_field(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">i", len(data)) + data


def pg_microseconds(at: datetime) -> int:
    delta = at - _PG_EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class MetricRowEncoder:
    def __init__(self):
        self._middles: dict[str, tuple[bytes, ...]] = {}
        self._tails = {m: _text_field(u) + _EMPTY_LABELS for m, u in METRIC_UNITS.items()}

    def _middle(self, node: SimNode) -> tuple[bytes, ...]:
        middles = self._middles.get(node.node_id)
        if middles is None:
            node_field = struct.pack(">i", 16) + uuid.UUID(node.node_id).bytes
            middles = tuple(node_field + _text_field(m) for m in node.metric_types)
            self._middles[node.node_id] = middles
        return middles

    def encode(self, at: datetime, samples: list[tuple[SimNode, tuple[float, ...]]]) -> bytes:
        """The rows of one timestamp: (node, values in node.metric_types order) for each node."""
        head = _ROW_HEAD.pack(6, 8, pg_microseconds(at))
        pack_value = _VALUE.pack
        tails = self._tails
        parts: list[bytes] = []
        append = parts.append
        for node, values in samples:
            for middle, metric, value in zip(self._middle(node), node.metric_types, values):
                append(head)
                append(middle)
                append(pack_value(8, value))
                append(tails[metric])
        return b"".join(parts)


def copy_metric_chunks(cursor, chunks) -> None:
    """Stream encoded chunks (bytes) into node_metrics in one COPY."""
    with cursor.copy(COPY_NODE_METRICS) as copy:
        copy.write(HEADER)
        for chunk in chunks:
            if chunk:
                copy.write(chunk)
        copy.write(TRAILER)
