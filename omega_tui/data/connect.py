"""Opening PostgreSQL and Redis connections with timeouts and readable errors."""

from __future__ import annotations

import psycopg
import redis

from omega_tui.masking import mask_secret_text, url_password

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
    if isinstance(exc, psycopg.ProgrammingError) and not isinstance(exc, psycopg.errors.InsufficientPrivilege):
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


def describe_redis_error(exc: BaseException, url: str | None = None) -> str:
    reason = _first_line(str(exc)) or type(exc).__name__
    if isinstance(exc, redis.AuthenticationError) or "WRONGPASS" in reason or "NOAUTH" in reason:
        reason = f"authentication failed ({reason})"
    elif url and url.lower().startswith("rediss://") and isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        # A plain-text server never answers the TLS handshake: say what was asked for.
        reason = f"{reason} (TLS/SSL was asked for by rediss://: is the server serving TLS on that port?)"
    return mask_secret_text(reason, url_password(url), url)


def redis_connect(
    url: str,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    socket_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
    check: bool = True,
) -> redis.Redis:
    """A Redis client for `url`; with `check`, proves it answers (PING)."""
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=socket_timeout,
            decode_responses=False,
            health_check_interval=30,
        )
    except (ValueError, redis.RedisError) as exc:
        raise StoreError("Redis", f"malformed URL ({describe_redis_error(exc, url)})") from None
    if check:
        try:
            client.ping()
        except redis.RedisError as exc:
            client.close()
            raise StoreError("Redis", describe_redis_error(exc, url)) from None
    return client
