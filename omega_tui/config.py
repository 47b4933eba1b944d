"""Where the console connects and how it behaves: flags > environment > config file.

The config file is TOML, `$OMEGA_TUI_CONFIG` or `<user config dir>/omega-tui/config.toml`:

    profile = "prod"              # the profile used when --profile is not given

    [profiles.prod]
    dsn = "postgresql://console@db.example/omega?sslmode=verify-full"
    read_dsn = ["postgresql://console@replica1.example/omega", "postgresql://console@replica2.example/omega"]
    replica_max_lag = 30          # seconds behind the primary before the data is marked stale
    replica_fallback = "fallback" # replicas all down: read the primary ("fallback") or not ("stay-stale")
    redis = "rediss://redis.example:6380/0"
    refresh = 2.0
    theme = "omega-dark"
    read_only = true
    pg_ssl = { sslmode = "verify-full", sslrootcert = "~/.config/omega-tui/ca.pem" }   # libpq TLS options

    [thresholds]                  # derived alerts: metric over value for seconds
    cpu_percent = { value = 95, seconds = 120 }

The profile `demo` needs no file: it points at the servers `omega-tui demo`
runs. No Textual import here.
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from psycopg.conninfo import make_conninfo

from omega_tui.masking import url_password

APP_NAME = "omega-tui"


class ConfigError(Exception):
    """The configuration is unusable; the message says where and why."""


DEFAULT_THEME = "omega-dark"   # bundled (themes/omega-dark.toml)


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    seconds: float


DEFAULT_THRESHOLDS = {
    "cpu_percent": Threshold(95.0, 120.0),
    "memory_percent": Threshold(95.0, 120.0),
    "gpu_memory_percent": Threshold(98.0, 300.0),
    "disk_percent": Threshold(90.0, 300.0),
    "temperature_c": Threshold(85.0, 60.0),
}


REPLICA_FALLBACKS = ("fallback", "stay-stale")


@dataclass(frozen=True, slots=True)
class Settings:
    dsn: str | None = None            # the primary: actions, migrations, and reads when no read DSN is set
    read_dsns: tuple[str, ...] = ()   # read replicas for polls and charts, the first healthy one is used
    replica_max_lag: float = 30.0     # seconds a replica may be behind before its data is marked stale
    replica_fallback: str = "fallback"   # all replicas down: "fallback" (read the primary) or "stay-stale"
    redis_url: str | None = None
    profile: str | None = None
    refresh: float = 2.0
    theme: str = DEFAULT_THEME
    read_only: bool = False
    operator: str | None = None
    connect_timeout: float = 5.0
    statement_timeout: float = 2.0
    pending_alert_seconds: float = 900.0
    thresholds: dict = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    keys: dict = field(default_factory=dict)  # binding id -> key(s), user remaps
    pg_ssl: dict = field(default_factory=dict)  # libpq TLS options from the config, folded into dsn
    config_path: Path | None = None


def user_config_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME))


def user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME))


def user_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir(APP_NAME))


def default_config_path() -> Path:
    env = os.environ.get("OMEGA_TUI_CONFIG")
    return Path(env) if env else user_config_dir() / "config.toml"


def demo_dir() -> Path:
    return Path(os.environ.get("OMEGA_TUI_DEMO_DIR") or user_data_dir() / "demo")


def load_file(path: Path, *, warn=None) -> dict:
    """Parse the config file; a missing file is an empty config."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read ({exc.strerror})") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    if warn is not None and _holds_password(data):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            warn(
                f"WARNING: config file {path} holds a password and is accessible by others "
                f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
            )
    return data


def _holds_password(data) -> bool:
    if isinstance(data, dict):
        for key, value in data.items():
            if "password" in str(key).lower() and value:
                return True
            if isinstance(value, str) and (url_password(value) or "password=" in value.lower()):
                return True
            if _holds_password(value):
                return True
    elif isinstance(data, list):
        return any(
            (isinstance(item, str) and (url_password(item) or "password=" in item.lower())) or _holds_password(item)
            for item in data
        )
    return False


def _env_dsn(env) -> str | None:
    if env.get("OMEGA_DSN"):
        return env["OMEGA_DSN"]
    parts = {
        "host": env.get("POSTGRES_HOST"),
        "port": env.get("POSTGRES_PORT"),
        "dbname": env.get("POSTGRES_DB"),
        "user": env.get("POSTGRES_USER"),
        "password": env.get("POSTGRES_PASSWORD"),
    }
    if not any(parts.values()):
        return None
    return make_conninfo(**{k: v for k, v in parts.items() if v})


def _env_read_dsns(env) -> list[str] | None:
    """OMEGA_READ_DSN: one DSN, or several on separate lines (a DSN has no newline, but may have commas)."""
    dsns = [line.strip() for line in env.get("OMEGA_READ_DSN", "").splitlines() if line.strip()]
    return dsns or None


def _env_redis(env) -> str | None:
    if env.get("OMEGA_REDIS_URL"):
        return env["OMEGA_REDIS_URL"]
    host, port, password = env.get("REDIS_HOST"), env.get("REDIS_PORT"), env.get("REDIS_PASSWORD")
    if not (host or port):
        return None
    from urllib.parse import quote

    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host or 'localhost'}:{port or 6379}/0"


def demo_profile() -> dict:
    """Settings that point at the embedded servers of `omega-tui demo`."""
    import json

    root = demo_dir()
    try:
        pg = json.loads((root / "postgres.json").read_text())
        rd = json.loads((root / "redis.json").read_text())
    except (OSError, ValueError):
        raise ConfigError(f"profile 'demo': no demo servers found in {root}; run: omega-tui demo") from None
    return {
        "dsn": f"postgresql://omega:{pg['password']}@127.0.0.1:{pg['port']}/omega",
        "redis": f"redis://:{rd['password']}@127.0.0.1:{rd['port']}/0",
    }


_NUMBER_KEYS = ("refresh", "connect_timeout", "statement_timeout", "pending_alert_seconds", "replica_max_lag")


def _apply(settings: Settings, values: dict, where: str) -> Settings:
    changes: dict = {}
    for key, value in values.items():
        if key == "dsn":
            changes["dsn"] = _expect(value, str, where, key)
        elif key in ("read_dsn", "read_dsns"):
            changes["read_dsns"] = _read_dsns(value, where, key)
        elif key == "replica_fallback":
            choice = _expect(value, str, where, key)
            if choice not in REPLICA_FALLBACKS:
                raise ConfigError(f"{where}: '{key}' must be one of {', '.join(REPLICA_FALLBACKS)}, not {choice!r}")
            changes["replica_fallback"] = choice
        elif key in ("redis", "redis_url"):
            changes["redis_url"] = _expect(value, str, where, key)
        elif key in _NUMBER_KEYS:
            number = _expect(value, (int, float), where, key)
            if number <= 0:
                raise ConfigError(f"{where}: '{key}' must be greater than 0, not {number}")
            changes[key] = float(number)
        elif key == "theme":
            changes["theme"] = _expect(value, str, where, key)
        elif key == "read_only":
            changes["read_only"] = _expect(value, bool, where, key)
        elif key == "operator":
            changes["operator"] = _expect(value, str, where, key)
        elif key == "keys":
            changes["keys"] = {**settings.keys, **_expect(value, dict, where, key)}
        elif key == "pg_ssl":
            changes["pg_ssl"] = _pg_ssl(_expect(value, dict, where, key), where)
        elif key == "thresholds":
            changes["thresholds"] = _thresholds(settings.thresholds, _expect(value, dict, where, key), where)
        else:
            raise ConfigError(f"{where}: unknown setting '{key}'")
    return replace(settings, **changes)


def _read_dsns(value, where: str, key: str) -> tuple[str, ...]:
    dsns = [value] if isinstance(value, str) else _expect(value, list, where, key)
    if not dsns or not all(isinstance(d, str) and d.strip() for d in dsns):
        raise ConfigError(f"{where}: '{key}' must be a DSN or a list of DSNs")
    return tuple(d.strip() for d in dsns)

PG_SSL_OPTIONS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "ssl_min_protocol_version")


def _pg_ssl(table: dict, where: str) -> dict:
    options = {}
    for name, value in table.items():
        if name not in PG_SSL_OPTIONS:
            raise ConfigError(f"{where}: unknown pg_ssl option '{name}' (known: {', '.join(PG_SSL_OPTIONS)})")
        value = _expect(value, str, where, f"pg_ssl.{name}")
        options[name] = os.path.expanduser(value) if name != "sslmode" else value
    return options


def with_pg_ssl(dsn: str, options: dict) -> str:
    """`dsn` with the config's TLS options added; an option the DSN sets itself is kept as the DSN has it."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        given = conninfo_to_dict(dsn)
    except ProgrammingError:
        return dsn   # malformed: connecting reports it
    extra = {k: v for k, v in options.items() if k not in given}
    return make_conninfo(dsn, **extra) if extra else dsn


def _expect(value, kind, where: str, key: str):
    if isinstance(value, bool) and kind is not bool and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise ConfigError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: '{key}' has the wrong type ({type(value).__name__})")
    return value


def _thresholds(current: dict, table: dict, where: str) -> dict:
    merged = dict(current)
    for metric, spec in table.items():
        if not isinstance(spec, dict) or set(spec) - {"value", "seconds"}:
            raise ConfigError(f"{where}: threshold '{metric}' must be {{ value = N, seconds = N }}")
        base = merged.get(metric, Threshold(100.0, 60.0))
        value = _expect(spec.get("value", base.value), (int, float), where, f"thresholds.{metric}.value")
        seconds = _expect(spec.get("seconds", base.seconds), (int, float), where, f"thresholds.{metric}.seconds")
        merged[metric] = Threshold(float(value), float(seconds))
    return merged


def resolve(
    *,
    dsn: str | None = None,
    redis_url: str | None = None,
    profile: str | None = None,
    config_path: Path | None = None,
    overrides: dict | None = None,
    env=None,
    warn=None,
) -> Settings:
    """Settings from flags (arguments) over environment over the config file."""
    env = os.environ if env is None else env
    warn = warn if warn is not None else (lambda msg: print(msg, file=sys.stderr))
    path = config_path or default_config_path()
    data = load_file(path, warn=warn)
    settings = Settings(config_path=path)

    top = {k: v for k, v in data.items() if k not in ("profiles", "profile")}
    settings = _apply(settings, top, f"config file {path}")

    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"config file {path}: 'profiles' must be a table")
    chosen = profile or env.get("OMEGA_PROFILE") or data.get("profile")
    if chosen is not None:
        if not isinstance(chosen, str):
            raise ConfigError(f"config file {path}: 'profile' must be a string")
        if chosen in profiles:
            if not isinstance(profiles[chosen], dict):
                raise ConfigError(f"config file {path}: profile '{chosen}' must be a table")
            settings = _apply(settings, profiles[chosen], f"config file {path}, profile '{chosen}'")
        elif chosen == "demo":
            settings = _apply(settings, demo_profile(), "profile 'demo'")
        else:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise ConfigError(f"unknown profile '{chosen}' (known: {known}) in {path}")
        settings = replace(settings, profile=chosen)

    env_values = {}
    if (value := _env_dsn(env)) and not (profile and chosen == profile and "dsn" in profiles.get(chosen, {})):
        env_values["dsn"] = value
    if (value := _env_redis(env)) and not (profile and chosen == profile and "redis" in profiles.get(chosen, {})):
        env_values["redis"] = value
    if (value := _env_read_dsns(env)) and not (
        profile and chosen == profile and {"read_dsn", "read_dsns"} & set(profiles.get(chosen, {}))
    ):
        env_values["read_dsn"] = value
    settings = _apply(settings, env_values, "environment")

    flags = {"dsn": dsn, "redis": redis_url, **(overrides or {})}
    settings = _apply(settings, {k: v for k, v in flags.items() if v is not None}, "command line")
    if settings.pg_ssl:   # the replicas need the same TLS options as the primary
        settings = replace(
            settings,
            dsn=with_pg_ssl(settings.dsn, settings.pg_ssl) if settings.dsn else settings.dsn,
            read_dsns=tuple(with_pg_ssl(d, settings.pg_ssl) for d in settings.read_dsns),
        )
    return settings
