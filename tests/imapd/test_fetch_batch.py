"""FETCH's trips to the database threads (bench/README.md, the read row): one pool call per batch
carries the rows, the blobs and an implicit \\Seen together; and every pool call hands its
database connection back when it ends."""

from __future__ import annotations

import asyncio

import pytest
from django.db import connection

from imapd.commands.fetch import BATCH
from imapd.dbpool import Pools
from mailkite.mail import flags
from mailkite.mail.models import Folder, Message
from tests.conftest import Calls, RunningServer
from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calls(imap_server: RunningServer) -> Calls:
    recording = Calls(imap_server.pools.run)
    imap_server.pools.run = recording  # type: ignore[method-assign]  # sessions call pools.run
    return recording


def fetched(raw: bytes, head: bytes, tail: bytes = b")") -> bytes:
    return head + b" {%d}\r\n" % len(raw) + raw + tail


def test_a_peek_at_a_body_is_one_pool_call(wire: Wire, demo_mail, calls):
    wire.ok("s1 SELECT INBOX")
    calls.clear()
    untagged = wire.ok("f1 UID FETCH 1 BODY.PEEK[]")  # the read bench's command
    assert calls == ["fetch_batch"]
    assert untagged == [fetched(demo_mail[0][1], b"* 1 FETCH (UID 1 BODY[]")]


def test_a_body_fetch_that_sets_seen_is_still_one_pool_call(wire: Wire, demo_mail, calls):
    wire.ok("s1 SELECT INBOX")
    calls.clear()
    untagged = wire.ok("f1 FETCH 1 BODY[]")
    assert calls == ["fetch_batch"]
    assert untagged == [fetched(demo_mail[0][1], b"* 1 FETCH (BODY[]", b" FLAGS (\\Seen))")]
    inbox = Folder.objects.get(name="INBOX")
    assert Message.objects.get(folder=inbox, uid=1).flags & flags.SEEN


def test_flags_alone_come_from_the_snapshot_without_a_pool_call(wire: Wire, demo_mail, calls):
    wire.ok("s1 SELECT INBOX")
    calls.clear()
    assert wire.ok("f1 FETCH 1:2 (UID FLAGS)") == [
        b"* 1 FETCH (UID 1 FLAGS ())",
        b"* 2 FETCH (UID 2 FLAGS ())",
    ]
    assert calls == []


def test_each_pool_call_hands_its_database_connection_back(transactional_db):
    # A connection kept by a thread between calls would be one fewer for the login threads,
    # which share DB_POOL_SIZE with these, and would outlive a database restart.
    pools = Pools(db_threads=1, login_threads=1, login_queue=1)

    def query_then_report() -> bool:
        Folder.objects.exists()
        return connection.connection is not None

    def report() -> bool:
        return connection.connection is not None

    try:
        assert asyncio.run(pools.run(query_then_report)) is True
        assert asyncio.run(pools.run(report)) is False  # the same (only) thread, nothing held
        assert asyncio.run(pools.run_login(query_then_report)) is True
        assert asyncio.run(pools.run_login(report)) is False
    finally:
        pools.shutdown()


def test_a_fetch_over_several_batches_answers_every_message_in_order(wire: Wire, account, calls):
    # Three batches: while one is rendered the next is read (read-only FETCH), and a FETCH that
    # sets \Seen reads them one after the other; either way nothing is lost or reordered.
    from mailkite.mail import ingest

    count = 2 * BATCH + 37
    sizes = []
    for n in range(1, count + 1):
        raw = b"From: n%d@example.org\r\nSubject: number %d\r\n\r\n%s\r\n" % (n, n, b"x" * n)
        ingest.store(mailbox=account.mailbox, raw=raw)
        sizes.append(len(raw))
    wire.ok("s1 SELECT INBOX")
    calls.clear()
    lines = wire.ok("f1 UID FETCH 1:* (UID RFC822.SIZE)")
    assert lines == [b"* %d FETCH (UID %d RFC822.SIZE %d)" % (n, n, sizes[n - 1]) for n in range(1, count + 1)]
    assert calls == ["fetch_batch"] * 3
    bodies = wire.ok("f2 FETCH 1:* (BODY[HEADER.FIELDS (SUBJECT)])")
    assert [line.split(b"\r\n")[1] for line in bodies] == [b"Subject: number %d" % n for n in range(1, count + 1)]
    inbox = Folder.objects.get(name="INBOX")
    assert not Message.objects.filter(folder=inbox).exclude(flags=flags.SEEN).exists()


def test_internaldate_keeps_the_arrival_offset_and_drops_fractions_of_a_second(wire: Wire, account):
    # INTERNALDATE is read as whole seconds since 1970 and formatted without datetimes: the
    # seconds must be cut, never rounded up, and dates before 1970 must work too.
    from datetime import datetime, timedelta, timezone

    from mailkite.mail import ingest

    raw = b"Subject: when\r\n\r\nbody\r\n"
    for moment in (
        datetime(2026, 3, 1, 9, 30, 59, 900000, tzinfo=timezone(timedelta(hours=1))),
        datetime(1969, 7, 20, 20, 17, 40, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    ):
        ingest.store(mailbox=account.mailbox, raw=raw, internal_date=moment)
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("f1 FETCH 1:2 (INTERNALDATE)") == [
        b'* 1 FETCH (INTERNALDATE "01-Mar-2026 09:30:59 +0100")',
        b'* 2 FETCH (INTERNALDATE "20-Jul-1969 20:17:40 -0530")',
    ]
