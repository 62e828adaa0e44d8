"""`manage.py imapd` as a real process: start-up, an unreachable database, SIGTERM."""

from __future__ import annotations

import imaplib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, start_imapd


@pytest.fixture
def imapd_process(tmp_path: Path, certs) -> Iterator[tuple[subprocess.Popen[str], int]]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="mailkite.settings",
        MAILKITE_DATA_DIR=str(tmp_path),
        # A database that cannot be opened: every store call fails as in an outage.
        DATABASE_URL=f"sqlite:///{tmp_path}/missing-dir/db.sqlite3",
    )
    process, port = start_imapd(certs, env)
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_mistyped_password_is_rejected_without_the_database(imapd_process, certs):
    # The checksum fails, so no query is made: even with the database down it is a plain failure.
    _, port = imapd_process
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=certs.client_context(), timeout=20)
    with pytest.raises(imaplib.IMAP4.error) as failure:
        client.login("me", "mk_imap_AAAAAAAAAA_" + "B" * 36)
    assert "[AUTHENTICATIONFAILED]" in str(failure.value)


def test_database_outage_with_a_well_formed_password_is_unavailable(imapd_process, certs):
    from passwords import tokens

    _, port = imapd_process
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=certs.client_context(), timeout=20)
    with pytest.raises(imaplib.IMAP4.error) as failure:
        client.login("me", tokens.generate(tokens.IMAP).value)
    assert "[UNAVAILABLE] The mail store is temporarily unavailable" in str(failure.value)


def test_sigterm_says_bye_to_connected_clients_and_exits(imapd_process, certs):
    process, port = imapd_process
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=certs.client_context(), timeout=20)
    process.send_signal(signal.SIGTERM)
    assert client.readline() == b"* BYE Server restarting, please reconnect\r\n"
    assert process.wait(20) == 0


def _imapd(args: list[str], tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    environment = dict(
        os.environ, DJANGO_SETTINGS_MODULE="mailkite.settings", MAILKITE_DATA_DIR=str(tmp_path)
    )
    environment.pop("DATABASE_URL", None)
    environment.update(env)
    return subprocess.Popen(
        [sys.executable, "manage.py", "imapd", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_port_out_of_range_is_refused_in_one_sentence(tmp_path, certs):
    process = _imapd(["--port", "99999", "--cert", str(certs.cert), "--key", str(certs.key)], tmp_path)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out
    assert err.strip() == "CommandError: --port must be between 1 and 65535 (or 0 for any free port)."


PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "not-the-default", "ALLOWED_HOSTS": "mail.example.com"}


def test_production_flags_beat_the_development_certificate_setting(tmp_path, certs):
    """TLS_CERT is unset (the development certificate), but --cert and --key name real files."""
    process = _imapd(
        ["--port", "0", "--cert", str(certs.cert), "--key", str(certs.key)], tmp_path, **PRODUCTION
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "listening on" in line, line + process.stderr.read()  # type: ignore[union-attr]
    finally:
        process.kill()
        process.communicate(timeout=20)


def test_production_without_a_certificate_names_the_settings(tmp_path):
    process = _imapd(["--port", "0"], tmp_path, **PRODUCTION)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1, out
    assert "point at the development certificate" in err and "Traceback" not in err
