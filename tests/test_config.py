"""Configuration: flags over environment over the config file; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from omega_tui.config import ConfigError, Threshold, resolve
from omega_tui.masking import mask_dsn, mask_secret_text


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_flags_over_environment_over_file(tmp_path):
    path = write(tmp_path, 'dsn = "host=file"\nredis = "redis://file"\nrefresh = 5\n')
    s = resolve(config_path=path, env={})
    assert (s.dsn, s.redis_url, s.refresh) == ("host=file", "redis://file", 5.0)
    s = resolve(config_path=path, env={"OMEGA_DSN": "host=env"})
    assert (s.dsn, s.redis_url) == ("host=env", "redis://file")
    s = resolve(config_path=path, env={"OMEGA_DSN": "host=env"}, dsn="host=flag")
    assert s.dsn == "host=flag"


def test_profiles_and_default_profile(tmp_path):
    path = write(
        tmp_path,
        'profile = "staging"\n'
        '[profiles.prod]\ndsn = "host=prod"\nread_only = true\n'
        '[profiles.staging]\ndsn = "host=staging"\n',
    )
    assert resolve(config_path=path, env={}).dsn == "host=staging"
    prod = resolve(config_path=path, env={}, profile="prod")
    assert (prod.dsn, prod.read_only, prod.profile) == ("host=prod", True, "prod")
    # An explicitly named profile wins over the environment for what it sets.
    assert resolve(config_path=path, env={"OMEGA_DSN": "host=env"}, profile="prod").dsn == "host=prod"
    with pytest.raises(ConfigError, match="unknown profile 'nope'.*prod, staging"):
        resolve(config_path=path, env={}, profile="nope")


def test_seed_001_variables_build_a_dsn_and_url():
    s = resolve(
        config_path=Path("/nonexistent"),
        env={"POSTGRES_HOST": "db", "POSTGRES_PORT": "5433", "POSTGRES_DB": "omega",
             "POSTGRES_USER": "ops", "POSTGRES_PASSWORD": "p w'd",
             "REDIS_HOST": "cache", "REDIS_PORT": "6380", "REDIS_PASSWORD": "r@pw"},
    )
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(s.dsn) == {"host": "db", "port": "5433", "dbname": "omega", "user": "ops", "password": "p w'd"}
    assert s.redis_url == "redis://:r%40pw@cache:6380/0"


def test_malformed_file_names_the_line(tmp_path):
    path = write(tmp_path, 'refresh = 2\n\n[profiles.prod\ndsn = "x"\n')
    with pytest.raises(ConfigError) as err:
        resolve(config_path=path, env={})
    assert str(path) in str(err.value) and "line 3" in str(err.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('refresh = "fast"\n', "'refresh' has the wrong type"),
        ("refresh = -1\n", "'refresh' must be greater than 0"),
        ("read_only = 1\n", "'read_only' has the wrong type"),
        ('colour = "red"\n', "unknown setting 'colour'"),
        ('[thresholds]\ncpu_percent = 5\n', "threshold 'cpu_percent'"),
    ],
)
def test_bad_values_are_refused_with_a_reason(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        resolve(config_path=write(tmp_path, text), env={})


def test_thresholds_merge_with_defaults(tmp_path):
    s = resolve(config_path=write(tmp_path, "[thresholds]\ncpu_percent = { value = 80 }\n"), env={})
    assert s.thresholds["cpu_percent"] == Threshold(80.0, 120.0)
    assert "memory_percent" in s.thresholds


def test_password_in_group_readable_file_warns(tmp_path):
    path = write(tmp_path, 'dsn = "postgresql://u:pw@h/db"\n', mode=0o644)
    warnings = []
    resolve(config_path=path, env={}, warn=warnings.append)
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and "pw@" not in warnings[0]
    path.chmod(0o600)
    warnings.clear()
    resolve(config_path=path, env={}, warn=warnings.append)
    assert warnings == []


def test_demo_profile_without_demo_says_how_to_start_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OMEGA_TUI_DEMO_DIR", str(tmp_path / "nodemo"))
    with pytest.raises(ConfigError, match="omega-tui demo"):
        resolve(config_path=Path("/nonexistent"), env={}, profile="demo")


@pytest.mark.parametrize(
    "raw, secret",
    [
        ("postgresql://ops:s3cret@db:5432/omega", "s3cret"),
        ("host=db password=s3cret user=ops", "s3cret"),
        ("host=db password='s3 cret' user=ops", "s3 cret"),
        ("rediss://:s3cret@cache:6380/0", "s3cret"),
        ("redis://default:s3cret@cache/0", "s3cret"),
    ],
)
def test_passwords_are_masked(raw, secret):
    masked = mask_dsn(raw)
    assert secret not in masked and "***" in masked
    assert mask_secret_text(f"failed for {raw}: boom") .count("***") == 1
