"""Issue 10, "A slow reader makes the server buffer": `FETCH 1:* (BODY.PEEK[])` of an 80 MB INBOX
read at 1 MB/s grew the worker by 46 MB. Now the server reads message bytes a window at a time and
renders more only as the client takes what was written; a client that reads nothing for the write
timeout is dropped."""

from __future__ import annotations

import time

import pytest

from mailkite.mail import ingest
from tests.adversarial.stream_helpers import RawClient, memory_kib, reset_peak_memory
from tests.conftest import child_environment
from tests.processes import start_imapd

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 100
LINE = b"%06d " + b"x" * 70 + b"\r\n"
LINES = 4000  # ~312 KiB per message, 31 MB in all


def _big_inbox(account) -> int:
    """MESSAGES distinct messages of ~312 KiB (distinct, or the blob store would keep one copy)."""
    total = 0
    for n in range(MESSAGES):
        body = b"".join(LINE % (n * LINES + i) for i in range(LINES))
        raw = b"From: big@example.org\r\nSubject: big %d\r\n\r\n" % n + body
        ingest.store(mailbox=account.mailbox, raw=raw)
        total += len(raw)
    return total


def _selected(host, port, certs, account) -> RawClient:
    client = RawClient(host, port, certs.client_context())
    client.read_until(b"* OK")
    client.send(f"l1 LOGIN me {account.password}")
    client.read_until(b"l1 OK")
    client.send("s1 SELECT INBOX")
    client.read_until(b"s1 OK")
    return client


def test_a_slow_reader_of_a_huge_fetch_costs_the_server_about_one_message(account, certs):
    size = _big_inbox(account)
    process, port = start_imapd(certs, child_environment())
    try:
        client = _selected("127.0.0.1", port, certs, account)
        time.sleep(0.5)  # let the worker settle after the login and SELECT
        reset_peak_memory(process.pid)
        before = memory_kib(process.pid)["VmRSS"]
        client.send("f1 FETCH 1:* (BODY.PEEK[])")
        # 16 KiB per 2 ms, at most 8 MB/s: far slower than the server can render.
        received = client.consume_until(b"f1 OK FETCH completed", pause=0.002)
        grown_mib = (memory_kib(process.pid)["VmHWM"] - before) / 1024
        print(f"FETCH of {size / 2**20:.0f} MiB read slowly: the worker grew by {grown_mib:.1f} MiB at most")
        assert received > size
        # A window of 256 KiB, the message being rendered, and what is written but not yet read:
        # a few messages' worth. Before issue 10 it was the whole batch (here all 31 MiB).
        assert grown_mib < 8, grown_mib
        client.close()
    finally:
        process.kill()
        process.wait(10)


@pytest.fixture
def imap_options(imap_options):
    imap_options.write_timeout = 1.0
    return imap_options


def test_a_client_that_stops_reading_is_dropped_after_the_write_timeout(imap_server, certs, account):
    # 10 MB: more than the kernel's socket buffers take (the send buffer grows to 4 MB on Linux).
    for n in range(4):
        ingest.store(mailbox=account.mailbox, raw=b"Subject: %d\r\n\r\n" % n + b"y" * 2_500_000 + b"\r\n")
    client = _selected(imap_server.host, imap_server.port, certs, account)
    assert len(imap_server.server.connections) == 1
    client.send("f1 FETCH 1:* (BODY.PEEK[])")
    deadline = time.monotonic() + 10
    while imap_server.server.connections and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not imap_server.server.connections  # dropped after ~1 s of reading nothing
    client.close()
