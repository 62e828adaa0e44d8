"""`manage.py imapd` as a real process: start-up, an unreachable database, SIGTERM."""

from __future__ import annotations

import imaplib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import start_imapd


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
