"""lmtpd spoken to over real sockets with smtplib.LMTP, on the real database: every reply code.

RFC 2033: after DATA, one reply per accepted recipient in RCPT order; 250 only once the message is
committed; 550 5.1.1 for an unknown mailbox (at RCPT time, so the MTA bounces early); 452/451 for
what a retry may fix; 552 5.3.4 over the size limit.
"""

from __future__ import annotations

import smtplib
import socket
import threading
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization

from mailkite.mail import blobstore, services
from mailkite.mail.models import Domain, Folder, Mailbox, Message
from tests.conftest import make_account
from tests.lmtp.conftest import LIMIT, RunningLmtp
from tests.lmtp.wire import send
from tests.mail.test_domains import smime_identity

Connect = Callable[[], smtplib.LMTP]
MESSAGE = b"From: Ada <ada@sender.example>\r\nSubject: Hello\r\nMessage-ID: <1@sender.example>\r\n\r\nHi.\r\n"


def stored(address: str) -> list[bytes]:
    """The blobs in the address's INBOX, in UID order."""
    rows = Message.objects.filter(folder__mailbox__in=_mailboxes(address), folder__name=Folder.INBOX)
    return [blobstore.get(sha) for sha in rows.order_by("uid").values_list("blob_id", flat=True)]


def _mailboxes(address: str) -> list[Mailbox]:
    local, domain = address.split("@")
    return list(Mailbox.objects.filter(local_part=local, domain__name=domain))


def test_lhlo_advertises_size_pipelining_and_enhanced_codes(lmtp: Connect):
    client = lmtp()
    assert client.esmtp_features["size"] == str(LIMIT)
    assert "pipelining" in client.esmtp_features
    assert "enhancedstatuscodes" in client.esmtp_features


def test_helo_and_ehlo_are_not_lmtp(lmtp_server: RunningLmtp):
    client = smtplib.SMTP(lmtp_server.host, lmtp_server.port, timeout=30)
    assert client.docmd("EHLO", "client.test")[0] == 500
    assert client.docmd("HELO", "client.test")[0] == 500
    client.close()


def test_a_message_is_stored_with_return_path_and_250(lmtp: Connect):
    make_account("you@example.com")
    result = send(lmtp(), "ada@sender.example", ["you@example.com"], MESSAGE)
    assert result.mail[0] == 250 and result.rcpt == [(250, b"2.1.5 Recipient ok")]
    assert result.data_lines == ["250 2.0.0 Delivered"]
    assert stored("you@example.com") == [b"Return-Path: <ada@sender.example>\r\n" + MESSAGE]


def test_a_bounce_has_an_empty_return_path(lmtp: Connect):
    make_account("you@example.com")
    assert send(lmtp(), "", ["you@example.com"], MESSAGE).data_lines == ["250 2.0.0 Delivered"]
    assert stored("you@example.com") == [b"Return-Path: <>\r\n" + MESSAGE]


def test_dot_stuffing_and_long_lines_and_eight_bit_bytes_come_through_exactly(lmtp: Connect):
    make_account("you@example.com")
    body = b".leading dot\r\n..two\r\n" + b"x" * 5000 + b"\r\nCaf\xc3\xa9 \xff\r\n"
    message = b"Subject: exact\r\n\r\n" + body
    assert send(lmtp(), "a@b.example", ["you@example.com"], message).data_lines == ["250 2.0.0 Delivered"]
    assert stored("you@example.com") == [b"Return-Path: <a@b.example>\r\n" + message]


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("nobody@example.com", "no mailbox nobody@example.com"),
        ("you@nowhere.example", "no domain nowhere.example is set up at MailKite"),
        ("you@unverified.example", "the domain unverified.example is not MX-verified"),
        ("not an address", "is not a valid email address"),
    ],
    ids=["no-mailbox", "no-domain", "unverified", "malformed"],
)
def test_an_unknown_recipient_is_refused_at_rcpt_with_550_5_1_1(lmtp: Connect, address: str, why: str):
    make_account("you@example.com")
    make_account("you@unverified.example", verified=False)
    client = lmtp()
    client.docmd("MAIL FROM:<a@b.example>")
    code, text = client.docmd(f"RCPT TO:<{address}>")
    assert code == 550 and text.startswith(b"5.1.1 No such mailbox here: ")
    assert why in text.decode()
    assert text.isascii()
    # Nothing accepted, so DATA is refused before any data is sent.
    assert client.docmd("DATA")[0] == 503


def test_replies_after_data_come_one_per_accepted_recipient_in_order(lmtp: Connect):
    make_account("one@example.com")
    make_account("two@other.example")
    make_account("void@passthrough.example", retention="passthrough")
    result = send(
        lmtp(),
        "a@b.example",
        ["one@example.com", "nobody@example.com", "two@other.example", "void@passthrough.example"],
        MESSAGE,
    )
    assert [code for code, _ in result.rcpt] == [250, 550, 250, 250]
    assert result.data_lines == [
        "250 2.0.0 Delivered",
        "250 2.0.0 Delivered",
        "250 2.0.0 Accepted; the domain is on zero-retention, so nothing is stored",
    ]
    expected = [b"Return-Path: <a@b.example>\r\n" + MESSAGE]
    assert stored("one@example.com") == stored("two@other.example") == expected
    assert not Message.objects.filter(folder__mailbox__domain__name="passthrough.example").exists()


def test_two_addresses_of_one_mailbox_store_the_message_once(lmtp: Connect):
    make_account("you@example.com")
    result = send(lmtp(), "a@b.example", ["you@example.com", "YOU@example.com"], MESSAGE)
    assert result.data_lines == ["250 2.0.0 Delivered"] * 2
    assert len(stored("you@example.com")) == 1


def test_catch_all_creates_the_mailbox_at_rcpt(lmtp: Connect):
    make_account("you@example.com")
    Domain.objects.filter(name="example.com").update(catch_all=True)
    assert send(lmtp(), "a@b.example", ["new@example.com"], MESSAGE).data_lines == ["250 2.0.0 Delivered"]
    assert len(stored("new@example.com")) == 1


def test_a_key_that_cannot_encrypt_fails_only_its_recipient_with_451(lmtp: Connect):
    make_account("you@example.com")
    secret = make_account("you@secret.example")
    _, cert = smime_identity(expired=True)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    Domain.objects.filter(pk=secret.mailbox.domain.pk).update(encryption="smime", encryption_key=pem)
    result = send(lmtp(), "a@b.example", ["you@secret.example", "you@example.com"], MESSAGE)
    assert [code for code, _ in result.rcpt] == [250, 250]
    assert result.data[0][0] == 451 and result.data[0][1].startswith(b"4.7.0 ")
    assert result.data_lines[1] == "250 2.0.0 Delivered"
    assert stored("you@secret.example") == []  # never plaintext
    assert len(stored("you@example.com")) == 1


def test_a_declared_size_over_the_limit_is_refused_at_mail_with_552_5_3_4(lmtp: Connect):
    client = lmtp()
    code, text = client.docmd(f"MAIL FROM:<a@b.example> SIZE={LIMIT + 1}")
    assert (code, text) == (552, f"5.3.4 Message too big: the limit is {LIMIT} octets".encode())
    assert client.docmd(f"MAIL FROM:<a@b.example> SIZE={LIMIT}")[0] == 250


def test_data_over_the_limit_gets_552_5_3_4_for_every_recipient_and_the_session_goes_on(lmtp: Connect):
    make_account("one@example.com")
    make_account("two@example.org")
    client = lmtp()
    big = b"Subject: big\r\n\r\n" + (b"y" * 76 + b"\r\n") * (LIMIT // 78 + 10)
    result = send(client, "a@b.example", ["one@example.com", "two@example.org"], big)
    assert result.data_lines == [f"552 5.3.4 Message too big: the limit is {LIMIT} octets"] * 2
    assert not Message.objects.exists()
    # Still in step: the next transaction on the same connection is answered as its own.
    assert client.docmd("NOOP")[0] == 250
    assert send(client, "a@b.example", ["one@example.com"], MESSAGE).data_lines == ["250 2.0.0 Delivered"]


def test_pipelined_commands_are_answered_in_order(lmtp_server: RunningLmtp):
    make_account("you@example.com")
    with socket.create_connection((lmtp_server.host, lmtp_server.port), timeout=30) as sock:
        reader = sock.makefile("rb")
        assert reader.readline().startswith(b"220 ")
        sock.sendall(
            b"LHLO client.test\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<you@example.com>\r\n"
            b"RCPT TO:<nobody@example.com>\r\nDATA\r\n"
        )
        while not reader.readline().startswith(b"250 "):  # the LHLO reply's last line
            pass
        assert [reader.readline()[:3] for _ in range(4)] == [b"250", b"250", b"550", b"354"]
        sock.sendall(MESSAGE + b".\r\nQUIT\r\n")
        assert reader.readline() == b"250 2.0.0 Delivered\r\n"
        assert reader.readline().startswith(b"221")
    assert len(stored("you@example.com")) == 1


def test_concurrent_connections_are_batched_without_losing_or_repeating_a_message(lmtp_server: RunningLmtp):
    """20 connections (Postfix's default LMTP concurrency) deliver at once: every message is stored
    once, acknowledged once, and the UIDs of the folder are 1..N without a gap."""
    make_account("you@example.com")
    connections, each = 20, 10
    answers: list[str] = []
    failures: list[BaseException] = []

    def deliver(worker: int) -> None:
        try:
            client = smtplib.LMTP(lmtp_server.host, lmtp_server.port, timeout=60)
            client.ehlo("client.test")
            for n in range(each):
                message = f"Subject: {worker}-{n}\r\nMessage-ID: <{worker}.{n}@t>\r\n\r\nx\r\n".encode()
                answers.extend(send(client, "a@b.example", ["you@example.com"], message).data_lines)
            client.quit()
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    threads = [threading.Thread(target=deliver, args=(worker,)) for worker in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    assert answers == ["250 2.0.0 Delivered"] * connections * each
    uids = list(Message.objects.filter(folder__name=Folder.INBOX).order_by("uid").values_list("uid", flat=True))
    assert uids == list(range(1, connections * each + 1))
    subjects = sorted(Message.objects.values_list("text__subject", flat=True))
    assert subjects == sorted(f"{w}-{n}" for w in range(connections) for n in range(each))


def test_a_refused_address_is_asked_again_once_its_mailbox_exists(lmtp: Connect):
    """Accepted recipients are remembered for a few seconds; refusals never are, so a mailbox
    created a moment after a bounce takes the MTA's next attempt."""
    account = make_account("you@example.com")
    client = lmtp()
    client.docmd("MAIL FROM:<a@b.example>")
    assert client.docmd("RCPT TO:<new@example.com>")[0] == 550
    client.docmd("RSET")
    services.create_mailbox(domain=account.mailbox.domain, local_part="new")
    assert send(client, "a@b.example", ["new@example.com"], MESSAGE).data_lines == ["250 2.0.0 Delivered"]
