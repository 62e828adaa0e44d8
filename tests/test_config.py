"""Settings come from the environment once, with defaults; bad values stop start-up in words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mailkite import config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_need_no_environment():
    loaded = config.load({})
    assert loaded.database_url is None  # embedded SQLite
    assert loaded.redis_url is None  # polled events, eager celery
    assert loaded.imap_bind_port == 9993
    assert (loaded.argon2_time_cost, loaded.argon2_memory_kib, loaded.argon2_parallelism) == (2, 19456, 1)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with postgresql:// or sqlite://"),
        ({"REDIS_URL": "http://x"}, "REDIS_URL must start with redis://"),
        ({"IMAP_BIND_PORT": "nine"}, "IMAP_BIND_PORT must be a whole number, not 'nine'."),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE must be at least 1, not 0."),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false, not 'maybe'."),
        ({"IMAP_BIND_PORT": "99999"}, "IMAP_BIND_PORT must be between 1 and 65535, not 99999."),
        ({"IMAP_PUBLIC_PORT": "0"}, "IMAP_PUBLIC_PORT must be between 1 and 65535, not 0."),
        ({"SMTP_SUBMISSION_PORT": "70000"}, "SMTP_SUBMISSION_PORT must be between 1 and 65535"),
        ({"DNS_PORT": "-53"}, "DNS_PORT must be between 1 and 65535, not -53."),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL"),
        ({"DATABASE_URL": "postgresql://u@db:99999/m"}, "DATABASE_URL is not a valid URL: its port must be"),
        (
            {"DATABASE_URL": "postgresql://u:se/cret@db:5432/m"},
            "DATABASE_URL is not a valid URL: a port that",
        ),
    ],
    ids=[
        "database-url",
        "redis-url",
        "port",
        "pool-size",
        "debug",
        "bind-port-range",
        "public-port-range",
        "submission-port-range",
        "dns-port-range",
        "log-level",
        "database-port",
        "database-password-unquoted",
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.load(env)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "false", "SECRET_KEY": "s"}, "ALLOWED_HOSTS"),
    ],
    ids=["secret-key", "allowed-hosts"],
)
def test_production_refuses_development_defaults(env, variable):
    with pytest.raises(ImproperlyConfigured, match=variable):
        config.check_production(config.load(env))


def test_production_refuses_the_development_certificate_only_where_it_is_served(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "s",
        "ALLOWED_HOSTS": "mail.example.com",
        "MAILKITE_DATA_DIR": str(tmp_path),
    }
    loaded = config.load(env)
    config.check_production(loaded)  # the web app and celery serve no certificate
    with pytest.raises(ImproperlyConfigured, match=r"TLS_CERT and TLS_KEY .* development certificate"):
        config.check_certificate(loaded, loaded.tls_cert)
    config.check_certificate(loaded, tmp_path / "real" / "fullchain.pem")  # imapd --cert
    config.check_certificate(config.load({"MAILKITE_DATA_DIR": str(tmp_path)}), loaded.tls_cert)  # DEBUG


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        ("IMAP_BIND_PORT", "99999", "IMAP_BIND_PORT must be between 1 and 65535, not 99999."),
        ("MAILKITE_DATA_DIR", "/proc/mailkite", "MAILKITE_DATA_DIR /proc/mailkite cannot be created"),
    ],
    ids=["port", "data-dir"],
)
def test_a_bad_setting_stops_every_command_with_one_sentence(tmp_path, variable, value, sentence):
    """Not Django's traceback with the sentence at its end: the sentence alone, exit status 1."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="mailkite.settings", MAILKITE_DATA_DIR=str(tmp_path))
    env[variable] = value
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"Configuration error: {sentence}")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_bad_database_url_is_never_repeated():
    with pytest.raises(ImproperlyConfigured) as failure:
        config.load({"DATABASE_URL": "postgresql://u:se/cret@db:5432/m"})
    assert "cret" not in str(failure.value) and "db:5432" not in str(failure.value)


def test_production_with_everything_set_starts(tmp_path):
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "s",
        "ALLOWED_HOSTS": "mail.example.com",
        "TLS_CERT": str(tmp_path / "cert.pem"),
        "TLS_KEY": str(tmp_path / "key.pem"),
    }
    config.check_production(config.load(env))


def test_trusted_proxies_are_addresses_or_networks():
    loaded = config.load({"TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.7,fd00::/8"})
    assert loaded.trusted_proxies == ("10.0.0.0/8", "192.0.2.7/32", "fd00::/8")
    assert config.load({}).trusted_proxies == ()
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES must list IP addresses or networks"):
        config.load({"TRUSTED_PROXIES": "proxy.internal"})


def test_imap_limits_reach_the_server_options():
    from imapd.management.commands.imapd import server_options
    from imapd.server import ServerOptions

    assert server_options(config.load({})) == ServerOptions()  # the documented defaults, once
    options = server_options(
        config.load(
            {
                "IMAP_LOGIN_TIMEOUT_SECONDS": "30",
                "IMAP_LOGIN_FAILURES_PER_CONNECTION": "5",
                "IMAP_LOGIN_FAILURE_DELAY_SECONDS": "1",
                "IMAP_LOGIN_FAILURE_DELAY_MAX_SECONDS": "8",
                "IMAP_MAX_CONNECTIONS": "500",
                "IMAP_MAX_UNAUTHENTICATED_PER_ADDRESS": "7",
                "IMAP_MAX_USERIP_CONNECTIONS": "4",
            }
        )
    )
    assert (options.login_timeout, options.max_login_failures) == (30.0, 5)
    assert (options.failure_delay, options.max_failure_delay) == (1.0, 8.0)
    assert options.max_connections == 500
    assert options.max_unauthenticated_per_address == 7
    assert options.max_connections_per_mailbox_address == 4
    assert config.load({"IMAP_LOGIN_SHARE": "3"}).login_share == 3


def _p256_public_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_secret_scanning_keys_as_a_mapping_or_as_githubs_document_in_a_file(tmp_path):
    import json

    pem = _p256_public_pem()
    assert config.load({}).secret_scanning_public_keys == ()
    inline = config.load({"SECRET_SCANNING_PUBLIC_KEYS": json.dumps({"k1": pem})})
    assert inline.secret_scanning_public_keys == (("k1", pem),)
    saved = tmp_path / "secret_scanning.json"  # as https://api.github.com/meta/public_keys/secret_scanning
    saved.write_text(json.dumps({"public_keys": [{"key_identifier": "k2", "key": pem, "is_current": True}]}))
    assert config.load({"SECRET_SCANNING_PUBLIC_KEYS": str(saved)}).secret_scanning_public_keys == (
        ("k2", pem),
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "SECRET_SCANNING_PUBLIC_KEYS is not valid JSON."),
        (
            '{"k1": "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"}',
            "has a key 'k1' that is not a PEM",
        ),
        ('{"k1": 7}', "must map each key identifier to a PEM public key"),
        ("/nonexistent/keys.json", "cannot read the file"),
    ],
    ids=["json", "pem", "shape", "file"],
)
def test_bad_secret_scanning_keys_stop_start_up(value, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(".", r"\.")):
        config.load({"SECRET_SCANNING_PUBLIC_KEYS": value})


def test_secret_scanning_keys_must_be_p256():
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p384 = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ImproperlyConfigured, match="not an ECDSA P-256 key"):
        config.load({"SECRET_SCANNING_PUBLIC_KEYS": json.dumps({"k": p384.decode()})})


def test_the_proxy_listener_is_off_unless_its_port_is_set():
    loaded = config.load({})
    assert loaded.imap_proxy_bind_port is None and loaded.proxy_trusted_networks == ()
    on = config.load({"IMAP_PROXY_BIND_PORT": "10993", "PROXY_TRUSTED_NETWORKS": "10.0.0.0/8, 192.0.2.7"})
    assert on.imap_proxy_bind_port == 10993
    assert on.proxy_trusted_networks == ("10.0.0.0/8", "192.0.2.7/32")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PROXY_TRUSTED_NETWORKS": "10.0.0.0/33"}, "PROXY_TRUSTED_NETWORKS must list IP addresses or networks"),
        ({"PROXY_TRUSTED_NETWORKS": "haproxy"}, "PROXY_TRUSTED_NETWORKS must list IP addresses or networks"),
        ({"IMAP_PROXY_BIND_PORT": "10993"}, "PROXY_TRUSTED_NETWORKS is empty"),
        ({"IMAP_PROXY_BIND_PORT": "99999", "PROXY_TRUSTED_NETWORKS": "10.0.0.1"}, "between 1 and 65535"),
    ],
    ids=["bad-prefix", "a-name", "port-without-networks", "port-too-big"],
)
def test_bad_proxy_settings_are_refused_in_words(env, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        config.load(env)


def test_login_history_days_and_dashboard_url() -> None:
    defaults = config.load({})
    assert (defaults.login_history_days, defaults.dashboard_url) == (90, "http://localhost:8000")
    custom = config.load({"LOGIN_HISTORY_DAYS": "30", "DASHBOARD_URL": "https://mail.example.com/"})
    assert (custom.login_history_days, custom.dashboard_url) == (30, "https://mail.example.com")
