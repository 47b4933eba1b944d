"""Opening PostgreSQL and Redis connections with timeouts and readable errors.

A Redis URL may name a Redis Cluster: `redis+cluster://[user:password@]host:port,host:port,...`
(`rediss+cluster://` with TLS), or a plain `redis://` URL of any cluster node,
which is recognised from `INFO cluster` when connecting. Either way the client
is redis-py's RedisCluster, and callers that must treat a cluster differently
(no MULTI across slots, no PUBLISH inside a pipeline) ask `is_cluster()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from omega_tui.masking import mask_secret_text, url_password

# What a Redis or Redis Cluster call can raise when the store fails (RedisClusterException
# is not a RedisError: e.g. no node of the cluster reachable, a slot no master serves).
REDIS_ERRORS = (redis.RedisError, RedisClusterException)

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_STATEMENT_TIMEOUT = 2.0


class StoreError(Exception):
    """A store (PostgreSQL or Redis) could not be reached or used.

    `str()` is one line naming the store and the reason, passwords masked.
    """

    def __init__(self, store: str, reason: str):
        super().__init__(f"{store}: {reason}")
        self.store = store
        self.reason = reason

    @classmethod
    def combined(cls, errors: list["StoreError"]) -> "StoreError":
        """Several stores failed: one error whose line names each."""
        if len(errors) == 1:
            return errors[0]
        error = cls(" and ".join(e.store for e in errors), "; ".join(str(e) for e in errors))
        error.args = ("; ".join(str(e) for e in errors),)
        return error


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"


def describe_pg_error(exc: BaseException, dsn: str | None = None) -> str:
    """A one-line reason for a psycopg exception, without the password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # libpq writes "connection to server at ... failed: REASON" per address
    # tried, then hints; the reason of the last attempt is what matters.
    failed = [line for line in lines if "failed:" in line]
    if failed:
        reason = failed[-1].rsplit("failed:", 1)[1].strip()
    else:
        reason = lines[0] if lines else type(exc).__name__
    if reason.startswith("FATAL:"):
        reason = reason[len("FATAL:"):].strip()
    reason = reason or type(exc).__name__
    # A DSN libpq cannot parse is a ProgrammingError raised before any server answers (no
    # SQLSTATE); the server's own class-42 errors (an undefined table, a privilege) are not.
    if isinstance(exc, psycopg.ProgrammingError) and getattr(exc, "sqlstate", None) is None:
        reason = f"malformed DSN ({reason})"
    return mask_secret_text(reason, url_password(dsn), dsn)


def pg_connect(
    dsn: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    autocommit: bool = False,
    application_name: str = "omega-tui",
    **conninfo,
) -> psycopg.Connection:
    """Connect to PostgreSQL, or raise StoreError with a clear reason.

    Extra keyword arguments are libpq connection parameters (keepalives, ...).
    """
    options = {}
    if statement_timeout:
        options["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    try:
        return psycopg.connect(
            dsn,
            connect_timeout=max(1, int(round(connect_timeout))),
            autocommit=autocommit,
            application_name=application_name,
            **options,
            **conninfo,
        )
    except psycopg.Error as exc:
        raise StoreError("PostgreSQL", describe_pg_error(exc, dsn)) from None


def cancel_statement(conn: psycopg.Connection | None) -> None:
    """Cancel the statement running on `conn`, if any (from another thread). Best effort: the
    thread running it closes the connection anyway."""
    if conn is not None:
        try:
            conn.cancel_safe(timeout=1.0)
        except Exception:  # noqa: BLE001 - best effort (see above)
            pass


def close_quietly(client) -> None:
    """Close a PostgreSQL connection or Redis client that may be broken already; None is fine."""
    if client is not None:
        try:
            client.close()
        except Exception:  # noqa: BLE001 - it is broken already
            pass


def describe_redis_error(exc: BaseException, url: str | None = None) -> str:
    reason = _first_line(str(exc)) or type(exc).__name__
    unreachable = "Redis Cluster cannot be connected. Please provide at least one reachable node:"
    if reason.startswith(unreachable):
        reason = f"no cluster node reachable ({reason[len(unreachable):].strip()})"
    if reason == "SELECT is not allowed in cluster mode":
        reason = "the URL names a database other than 0, but this is a Redis Cluster (only database 0)"
    if isinstance(exc, redis.AuthenticationError) or any(
        text in reason for text in ("WRONGPASS", "NOAUTH", "invalid username-password pair", "invalid password")
    ):
        reason = f"authentication failed ({reason})"
    elif url and url.lower().startswith("rediss://") and isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        # A plain-text server never answers the TLS handshake: say what was asked for.
        reason = f"{reason} (TLS/SSL was asked for by rediss://: is the server serving TLS on that port?)"
    return mask_secret_text(reason, url_password(url), url)


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A parsed Redis URL: `url` is a plain redis:// URL (a cluster's first node)."""

    url: str
    cluster: bool
    startup_nodes: tuple[tuple[str, int], ...] = ()


def _malformed(url: str, reason: str) -> StoreError:
    return StoreError("Redis", f"malformed URL ({mask_secret_text(reason, url_password(url), url)})")


def _host_port(text: str, url: str) -> tuple[str, int]:
    if text.startswith("["):                      # [::1]:7000
        host, sep, port = text[1:].partition("]:")
    else:
        host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _malformed(url, f"cluster node {text!r} is not host:port")
    return host, int(port)


def parse_redis_url(url: str) -> RedisTarget:
    """Check a Redis URL without connecting; raises StoreError('Redis', 'malformed URL (...)')."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.lower() in CLUSTER_SCHEMES:
        netloc, _, tail = rest.partition("/")
        netloc, query_sep, query = netloc.partition("?")
        tail = tail or (query_sep + query)
        auth, at, hosts = netloc.rpartition("@")
        if not hosts:
            raise _malformed(url, "no cluster nodes after redis+cluster://")
        nodes = tuple(_host_port(h.strip(), url) for h in hosts.split(","))
        path, _, query = tail.partition("?")
        if path.strip("/") not in ("", "0"):
            raise _malformed(url, "a Redis Cluster has only database 0")
        host, port = nodes[0]
        first = f"[{host}]" if ":" in host else host
        plain = f"{CLUSTER_SCHEMES[scheme.lower()]}://{auth}{at}{first}:{port}/0" + (f"?{query}" if query else "")
        target = RedisTarget(plain, True, nodes)
    else:
        target = RedisTarget(url, False)
    try:
        redis.connection.parse_url(target.url)
        urlsplit(target.url).port
    except ValueError as exc:
        raise _malformed(url, describe_redis_error(exc, url)) from None
    return target


def is_cluster(client) -> bool:
    """Whether `client` talks to a Redis Cluster (redis-py's RedisCluster)."""
    return isinstance(client, RedisCluster)


def _cluster_client(target: RedisTarget, options: dict) -> RedisCluster:
    extra = [ClusterNode(host, port) for host, port in target.startup_nodes[1:]]
    # RedisCluster reads the slot map on creation: this is where an unreachable cluster fails.
    return RedisCluster.from_url(target.url, startup_nodes=extra or None, **options)


def _cluster_enabled(client: redis.Redis) -> bool:
    try:
        return bool(int(client.info("cluster").get("cluster_enabled", 0)))
    except redis.ResponseError:   # INFO not allowed for this user: take it as a plain server
        return False


def redis_connect(
    url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    socket_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    check: bool = True,
) -> redis.Redis | RedisCluster:
    """A Redis (or Redis Cluster) client for `url`; with `check`, proves it answers (PING).

    A plain URL is asked `INFO cluster` once, so a cluster node's address works
    too. Without `check`, an unreachable plain server is not an error here (the
    first command fails instead); a cluster always is, as its slot map is read now.
    """
    target = parse_redis_url(url)
    options = dict(
        socket_connect_timeout=connect_timeout,
        socket_timeout=socket_timeout,
        decode_responses=False,
        health_check_interval=30,
    )
    try:
        if target.cluster:
            client = _cluster_client(target, options)
        else:
            client = redis.Redis.from_url(url, **options)
            try:
                if _cluster_enabled(client):
                    client.close()
                    client = _cluster_client(RedisTarget(url, True), options)
            except (redis.ConnectionError, redis.TimeoutError):
                if check:
                    raise
    except ValueError as exc:
        raise StoreError("Redis", f"malformed URL ({describe_redis_error(exc, url)})") from None
    except REDIS_ERRORS as exc:
        raise StoreError("Redis", describe_redis_error(exc, url)) from None
    if check:
        try:
            client.ping()
        except REDIS_ERRORS as exc:
            client.close()
            raise StoreError("Redis", describe_redis_error(exc, url)) from None
    return client
