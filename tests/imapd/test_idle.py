"""IDLE with real push (RFC 2177): deliveries from another process, flags from another
connection, revocation, keepalives; through the polled change counters and through Redis."""

from __future__ import annotations

import imaplib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imapd.server import ServerOptions
from passwords import service
from passwords.models import AppPassword
from tests.conftest import RunningServer, child_environment

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
MESSAGE = b"From: Pusher <push@example.org>\r\nSubject: pushed\r\n\r\nHello\r\n"


def deliver_in_another_process(address: str, *, redis_url: str | None = None) -> None:
    """`manage.py deliver` as an MTA would run it, against the test database."""
    env = child_environment(redis_url=redis_url)
    result = subprocess.run(
        [sys.executable, "manage.py", "deliver", "--to", address],
        input=MESSAGE,
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def inbox_count(demo_mail: list[tuple[str, bytes]]) -> int:
    return sum(folder == "INBOX" for folder, _ in demo_mail)


def start_idle(client: imaplib.IMAP4_SSL) -> None:
    client.send(b"i1 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"


def stop_idle(client: imaplib.IMAP4_SSL) -> list[bytes]:
    client.send(b"DONE\r\n")
    lines = []
    while not (line := client.readline()).startswith(b"i1 "):
        lines.append(line)
    assert line == b"i1 OK IDLE completed\r\n"
    return lines


def selected_client(connect, account) -> imaplib.IMAP4_SSL:
    client = connect()
    client.login(account.address, account.password)
    client.select("INBOX")
    return client


def test_delivery_from_another_process_reaches_the_idler(connect, account, demo_mail):
    idler = selected_client(connect, account)
    start_idle(idler)
    deliver_in_another_process(account.address)
    assert idler.readline() == b"* %d EXISTS\r\n" % (inbox_count(demo_mail) + 1)
    stop_idle(idler)


def test_flag_change_by_another_connection_reaches_the_idler(connect, account, demo_mail):
    idler, other = selected_client(connect, account), selected_client(connect, account)
    start_idle(idler)
    other.store(b"2", "+FLAGS", "(\\Flagged)")
    assert idler.readline() == b"* 2 FETCH (FLAGS (\\Flagged))\r\n"
    stop_idle(idler)


def test_updates_wait_for_idle_noop_not_for_fetch(connect, account, demo_mail):
    reader, other = selected_client(connect, account), selected_client(connect, account)
    other.store(b"1", "+FLAGS", "(\\Flagged)")
    _, data = reader.fetch(b"3", "(UID)")
    assert data == [b"3 (UID 3)"]  # nothing else interleaved into the FETCH response
    reader.noop()
    assert reader.untagged_responses.get("FETCH") == [b"1 (FLAGS (\\Flagged))"]


def test_revoking_the_password_ends_live_sessions(connect, account):
    client = selected_client(connect, account)
    start_idle(client)
    service.revoke_app_password(app_password=AppPassword.objects.get())
    assert (
        client.readline() == b"* BYE This app-password was revoked.\r\n"
    )


@pytest.fixture
def keepalive_server(transactional_db, certs) -> Iterator[RunningServer]:
    running = RunningServer(
        certs, ServerOptions(failure_delay=0.01, keepalive_interval=0.3, idle_timeout=2.0)
    )
    yield running
    running.stop()


def test_idle_sends_keepalives_then_ends_at_the_autologout(keepalive_server, certs, account):
    client = imaplib.IMAP4_SSL(
        keepalive_server.host, keepalive_server.port, ssl_context=certs.client_context()
    )
    client.login("me", account.password)
    start_idle(client)
    assert client.readline() == b"* OK Still here\r\n"
    lines = [client.readline() for _ in range(10)]
    assert b"* BYE Idle for too long, closing the connection.\r\n" in lines


@pytest.fixture
def redis_server(transactional_db, certs, redis_url) -> Iterator[RunningServer]:
    # Reconciliation an hour away: only Redis can deliver the event in time for the test.
    options = ServerOptions(failure_delay=0.01, event_reconcile_interval=3600)
    running = RunningServer(certs, options, redis_url=redis_url)
    yield running
    running.stop()


def test_delivery_pushed_through_redis(redis_server, redis_url, certs, account, demo_mail):
    idler = imaplib.IMAP4_SSL(
        redis_server.host, redis_server.port, ssl_context=certs.client_context(), timeout=20
    )
    idler.login("me", account.password)
    idler.select("INBOX")
    start_idle(idler)
    deliver_in_another_process(account.address, redis_url=redis_url)
    assert idler.readline() == b"* %d EXISTS\r\n" % (inbox_count(demo_mail) + 1)
    stop_idle(idler)
