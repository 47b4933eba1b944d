"""Bytes a TCP socket has received, from the kernel's own counter (Linux TCP_INFO).

`tcpi_bytes_received` counts the payload bytes that arrived on the connection,
protocol framing included (PostgreSQL's row messages, Redis's RESP), whatever
the client library does with them. It is the same method for both stores and
for both pollers, so their figures compare.
"""

from __future__ import annotations

import socket
import struct

_TCP_INFO_SIZE = 232
_BYTES_RECEIVED_OFFSET = 128   # struct tcp_info: __u64 tcpi_bytes_received (Linux 4.1+)


def bytes_received(fd: int) -> int | None:
    """Bytes received so far on the TCP socket `fd`; None where the kernel cannot tell."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    except (OSError, AttributeError):
        return None
    finally:
        sock.detach()   # the fd belongs to its connection: never close it here
    if len(info) < _BYTES_RECEIVED_OFFSET + 8:
        return None
    return struct.unpack_from("=Q", info, _BYTES_RECEIVED_OFFSET)[0]


def pg_fds(conn) -> list[int]:
    """The socket of a psycopg connection (none when closed)."""
    if conn is None or conn.closed:
        return []
    return [conn.pgconn.socket]


def redis_fds(client) -> list[int]:
    """The sockets of a redis-py client's pooled connections, every node's on a Redis Cluster
    (reads redis-py internals: an unknown client gives none)."""
    if client is None:
        return []
    pools = []
    if hasattr(client, "get_nodes"):   # RedisCluster: a pool per node
        pools = [getattr(getattr(node, "redis_connection", None), "connection_pool", None) for node in client.get_nodes()]
    else:
        pools = [getattr(client, "connection_pool", None)]
    fds = []
    for pool in pools:
        connections = list(getattr(pool, "_available_connections", [])) + list(getattr(pool, "_in_use_connections", []))
        fds += [c._sock.fileno() for c in connections if getattr(c, "_sock", None) is not None]
    return fds


def total_received(fds: list[int]) -> int:
    return sum(bytes_received(fd) or 0 for fd in fds)
