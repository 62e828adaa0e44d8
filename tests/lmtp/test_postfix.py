"""End to end with a real Postfix from apt: SMTP in (swaks and smtplib), Postfix's LMTP client out
to lmtpd, and the message read back over IMAPS from the in-process imapd, byte for byte.

What the IMAP client sees is what the sender sent, preceded by exactly two header fields: the
`Received:` Postfix's smtpd added when it queued the message, and the `Return-Path:` lmtpd adds as
the final delivery (RFC 5321 4.4). Postfix's LMTP client adds nothing itself (no Delivered-To:
that is local(8)'s and virtual(8)'s, not lmtp(8)'s).
"""

from __future__ import annotations

import imaplib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailkite.mail.models import Message
from tests.conftest import Account
from tests.interop.conftest import require
from tests.lmtp.conftest import RunningLmtp
from tests.lmtp.postfix import PrivatePostfix

SENT = (
    "From: Ada Lovelace <ada@sender.example>\r\n"
    "To: You <you@example.com>\r\n"
    "Subject: =?UTF-8?Q?R=C3=A9sum=C3=A9?= through Postfix\r\n"
    "Date: Thu, 03 Dec 2026 10:00:00 +0100\r\n"
    "Message-ID: <end-to-end.1@sender.example>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Caf\u00e9 at noon?\r\n"
    ".a line that starts with a dot\r\n"
    "--b1\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<p>Caf\u00e9 at noon?</p>\r\n"
    "--b1--\r\n"
).encode()
RECEIVED = re.compile(
    rb"Received: from [^\r\n]+\r\n(?:[ \t][^\r\n]*\r\n)*", re.MULTILINE
)


@pytest.fixture
def postfix(lmtp_server: RunningLmtp) -> Iterator[PrivatePostfix]:
    # Not under pytest's tmp_path: every pytest run as root (other test runs on this machine too)
    # resets its per-user base folder to mode 0700, which would lock Postfix's own user out.
    folder = Path(tempfile.mkdtemp(prefix="mailkite-postfix-"))
    instance = PrivatePostfix(folder, relay_domains=["example.com"], lmtp_port=lmtp_server.port)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(folder, ignore_errors=True)


def wait_for_messages(count: int, postfix: PrivatePostfix, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while Message.objects.count() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{count} messages never arrived; Postfix's log:\n{postfix.maillog()}")
        time.sleep(0.2)


def fetch_all(connect: Callable[[], imaplib.IMAP4_SSL], password: str) -> list[tuple[int, bytes]]:
    client = connect()
    client.login("anyone", password)
    client.select("INBOX")
    typ, data = client.uid("FETCH", "1:*", "(RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    found = []
    for item in data:
        if isinstance(item, tuple):
            size = int(re.search(rb"RFC822\.SIZE (\d+)", item[0]).group(1))  # type: ignore[union-attr]
            found.append((size, item[1]))
    return found


def test_mail_sent_through_postfix_is_read_over_imap_byte_for_byte(
    tmp_path: Path, postfix: PrivatePostfix, account: Account, connect: Callable[[], imaplib.IMAP4_SSL]
):
    swaks = require("swaks")
    # swaks ends the data with its own CRLF before the final dot.
    (tmp_path / "message.eml").write_bytes(SENT.removesuffix(b"\r\n"))
    done = subprocess.run(
        [
            swaks,
            *("--server", f"127.0.0.1:{postfix.smtp_port}"),
            *("--from", "ada@sender.example", "--to", "you@example.com"),
            *("--data", f"@{tmp_path / 'message.eml'}"),
        ],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    wait_for_messages(1, postfix)

    ((size, body),) = fetch_all(connect, account.password)
    assert size == len(body)
    head = b"Return-Path: <ada@sender.example>\r\n"
    assert body.startswith(head) and body.endswith(SENT)
    received = body[len(head) : len(body) - len(SENT)]
    assert RECEIVED.fullmatch(received), received
    assert b"by mx.postfix.test (Postfix) with ESMTP id " in received
    assert b"for <you@example.com>" in received


def test_an_unknown_mailbox_is_refused_at_rcpt_and_bounced_by_postfix(postfix: PrivatePostfix, account: Account):
    import smtplib

    with smtplib.SMTP("127.0.0.1", postfix.smtp_port, timeout=30) as client:
        # Postfix relays the whole domain, so it accepts both; lmtpd decides per recipient.
        refused = client.sendmail("ada@sender.example", ["nobody@example.com", "you@example.com"], SENT)
        assert refused == {}
    log = postfix.wait_for_log("to=<nobody@example.com>")
    line = next(line for line in log.splitlines() if "to=<nobody@example.com>" in line)
    assert "dsn=5.1.1, status=bounced" in line
    assert "said: 550 5.1.1 No such mailbox here: no mailbox nobody@example.com" in line
    assert "(in reply to RCPT TO command)" in line  # refused before the data was sent
    wait_for_messages(1, postfix)
    assert Message.objects.get().delivered_to == "you@example.com"
