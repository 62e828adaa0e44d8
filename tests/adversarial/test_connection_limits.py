"""Connection limits with sentences (issue 10, point 3): a total pre-login deadline, caps per
address (not logged in), per mailbox and address (logged in) and per worker, each a `* BYE`."""

from __future__ import annotations

import imaplib
import logging
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from imapd import texts
from imapd.server import ServerOptions
from tests.adversarial.login_helpers import ATTACKER, VICTIM, raw_tls, read_line
from tests.adversarial.servers import SizedServer
from tests.conftest import Certs

FAST = dict(first_byte_timeout=2.0, failure_delay=0.01, max_failure_delay=0.05, shutdown_grace=2.0)


@pytest.fixture
def serve(transactional_db: None, certs: Certs) -> Iterator[Callable[..., SizedServer]]:
    started: list[SizedServer] = []

    def start(options: ServerOptions) -> SizedServer:
        started.append(SizedServer(certs, options))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def refusal(running: SizedServer, source: str) -> str:
    """The sentence an imaplib client is refused with at connect."""
    with pytest.raises(imaplib.IMAP4.error) as refused:
        running.client(source)
    text = refused.value.args[0]
    return text.decode() if isinstance(text, bytes) else str(text)


def greeted(running: SizedServer, source: str):  # type: ignore[no-untyped-def]
    sock = raw_tls(running.host, running.port, source=source, context=running.context())
    assert read_line(sock).startswith(b"* OK ")
    return sock


def admitted_soon(running: SizedServer, source: str):  # type: ignore[no-untyped-def]
    """A client from `source`, retried while the server has not yet seen an earlier close."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return running.client(source)
        except imaplib.IMAP4.error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- the pre-login deadline ---------------------------------------------------------------------


def test_noops_do_not_extend_the_login_deadline(serve):
    running = serve(ServerOptions(**FAST, login_timeout=2.0))
    sock = greeted(running, ATTACKER)
    started = time.monotonic()
    n = 0
    while True:
        n += 1
        sock.sendall(b"n%d NOOP\r\n" % n)
        line = read_line(sock)
        if not line.startswith(b"n%d OK" % n):
            break
        assert time.monotonic() - started < 6, "still served after three times the deadline"
        time.sleep(0.4)
    assert line == f"* BYE {texts.login_deadline(2.0)}\r\n".encode()
    assert 1.0 < time.monotonic() - started < 4


def test_a_trickle_of_an_unfinished_line_does_not_extend_it(serve):
    running = serve(ServerOptions(**FAST, login_timeout=2.0))
    sock = greeted(running, ATTACKER)
    started = time.monotonic()
    sock.settimeout(0.3)  # one byte about every 0.3 s, never a CRLF
    line = b""
    while not line and time.monotonic() - started < 6:
        sock.sendall(b"x")
        try:
            line = read_line(sock)
        except TimeoutError:
            continue
    assert line == f"* BYE {texts.login_deadline(2.0)}\r\n".encode()
    assert time.monotonic() - started < 4


def test_logging_in_ends_the_deadline(serve, account):
    running = serve(ServerOptions(**FAST, login_timeout=1.5))
    client = running.client(VICTIM)
    client.login("me", account.password)
    time.sleep(2.0)
    assert client.noop()[0] == "OK"


# -- caps ---------------------------------------------------------------------------------------


def test_connections_not_logged_in_are_capped_per_address(serve, account):
    running = serve(ServerOptions(**FAST, max_unauthenticated_per_address=3))
    held = [greeted(running, ATTACKER) for _ in range(3)]
    assert refusal(running, ATTACKER) == f"* BYE {texts.TOO_MANY_UNAUTHENTICATED}"
    running.client(VICTIM).logout()  # another address is not affected
    # Logging in frees the place, and so does closing.
    held[0].sendall(f"a1 LOGIN me {account.password}\r\n".encode())
    assert read_line(held[0]).startswith(b"a1 OK ")
    running.client(ATTACKER).logout()
    held[1].close()
    admitted_soon(running, ATTACKER).logout()


def test_connections_still_in_the_tls_handshake_count(serve):
    running = serve(ServerOptions(**FAST, max_unauthenticated_per_address=3))
    half_open = []
    for _ in range(3):  # the first byte of a ClientHello, then silence: the handshake waits
        sock = socket.create_connection((running.host, running.port), 10, source_address=(ATTACKER, 0))
        sock.sendall(b"\x16")
        half_open.append(sock)
    time.sleep(0.3)
    assert refusal(running, ATTACKER) == f"* BYE {texts.TOO_MANY_UNAUTHENTICATED}"
    for sock in half_open:
        sock.close()


def test_logged_in_connections_are_capped_per_mailbox_and_address(serve, account):
    running = serve(ServerOptions(**FAST, max_connections_per_mailbox_address=2))
    first, second = running.client(ATTACKER), running.client(ATTACKER)
    for client in (first, second):
        client.login("me", account.password)
    third = running.client(ATTACKER)
    with pytest.raises(imaplib.IMAP4.abort) as refused:
        third.login("me", account.password)
    assert texts.too_many_for_mailbox(2) in str(refused.value)
    running.client(VICTIM).login("me", account.password)  # the same mailbox from elsewhere
    first.logout()
    deadline = time.monotonic() + 5
    while True:  # until the server has seen the logout
        try:
            assert running.client(ATTACKER).login("me", account.password)[0] == "OK"
            break
        except imaplib.IMAP4.abort:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_connections_are_capped_per_worker(serve):
    running = serve(ServerOptions(**FAST, max_connections=3))
    held = [greeted(running, source) for source in ("127.0.0.4", "127.0.0.5", "127.0.0.6")]
    assert refusal(running, VICTIM) == f"* BYE {texts.SERVER_FULL}"
    held[0].close()
    admitted_soon(running, VICTIM).logout()


def test_a_plaintext_client_over_a_cap_is_told_to_use_tls(serve):
    running = serve(ServerOptions(**FAST, max_connections=1))
    held = greeted(running, ATTACKER)
    sock = socket.create_connection((running.host, running.port), 10, source_address=(VICTIM, 0))
    sock.sendall(b"a1 CAPABILITY\r\n")
    assert read_line(sock).startswith(b"* BYE This port requires TLS")
    held.close()


def test_refused_connections_are_summarised_in_the_log(serve, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    running = serve(ServerOptions(**FAST, max_unauthenticated_per_address=1, failure_summary_interval=2.0))
    held = greeted(running, ATTACKER)
    for _ in range(8):
        refusal(running, ATTACKER)
    time.sleep(4.5)  # the summary timer: at most two intervals
    lines = [r.getMessage() for r in caplog.records if r.name == "imapd"]
    assert len([line for line in lines if " refused 127.0.0.2: " in line]) == 3, lines
    assert [line for line in lines if line.startswith("refused connections from ip:127.0.0.2: 8 in 2 s, 5 ")]
    held.close()
