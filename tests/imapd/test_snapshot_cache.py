"""The per-process shared snapshot (DESIGN §5): SELECT reads only what changed since the cached
copy, idlers woken by one change share one query, and nobody is handed an answer older than the
moment they must see."""

from __future__ import annotations

import asyncio
import imaplib
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import F

from imapd import store
from imapd.snapshot import SnapshotCache
from mailkite.mail import ingest
from mailkite.mail.models import Folder
from tests.conftest import Calls, RunningServer, make_account
from tests.imapd.test_idle import start_idle, stop_idle

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGE = b"From: a@example.org\r\nSubject: new\r\n\r\nbody\r\n"


@pytest.fixture
def recorder(imap_server: RunningServer) -> Calls:
    recording = Calls(imap_server.pools.run)
    imap_server.server.snapshots._run = recording
    return recording


def selected(connect, account, name: str = "INBOX") -> imaplib.IMAP4_SSL:
    client = connect()
    client.login(account.address, account.password)
    client.select(name)
    return client


def exists(client: imaplib.IMAP4_SSL) -> int:
    return int(client.untagged_responses["EXISTS"][-1])


def test_a_second_select_reads_only_what_changed(connect, account, demo_mail, recorder):
    first = selected(connect, account)
    assert recorder == ["snapshot"]
    count = exists(first)
    ingest.store(mailbox=account.mailbox, raw=MESSAGE)
    second = selected(connect, account)
    assert recorder == ["snapshot", "changes_since"]
    assert exists(second) == count + 1
    _, data = second.uid("FETCH", str(count + 1) + ":*", "(UID)")
    assert data[-1].endswith(b"(UID %d)" % (count + 1))


def test_a_later_select_sees_flags_set_by_another_session(connect, account, demo_mail, recorder):
    writer = selected(connect, account)
    writer.store(b"2", "+FLAGS", "(\\Flagged)")
    reader = connect()
    reader.login(account.address, account.password)
    reader.select("INBOX", readonly=True)
    _, data = reader.fetch(b"2", "(FLAGS)")
    assert data == [b"2 (FLAGS (\\Flagged))"]
    # EXAMINE's copy is read-only (a STORE there changes nothing), and a later SELECT still sees
    # the writer's next change through the same cached arrays.
    reader.store(b"3", "+FLAGS", "(\\Seen)")
    writer.store(b"3", "+FLAGS", "(\\Answered)")
    third = selected(connect, account)
    _, data = third.fetch(b"2:3", "(FLAGS)")
    assert data == [b"2 (FLAGS (\\Flagged))", b"3 (FLAGS (\\Answered))"]


def test_idlers_woken_by_one_delivery_share_one_query(connect, account, demo_mail, recorder):
    idlers = [selected(connect, account) for _ in range(12)]
    count = exists(idlers[0])
    for idler in idlers:
        start_idle(idler)
    time.sleep(0.5)  # IDLE's own first look, sent after "+ idling", is not what is measured
    recorder.clear()
    ingest.store(mailbox=account.mailbox, raw=MESSAGE)
    for idler in idlers:
        assert idler.readline() == b"* %d EXISTS\r\n" % (count + 1)
    # One notification, one query (two if a poll landed mid-way); twelve without sharing.
    assert 1 <= recorder.count("changes_since") <= 2
    for idler in idlers:
        stop_idle(idler)


def test_noop_never_shares_a_query_sent_before_it(imap_server, account, demo_mail):
    """A client that saw OK for a STORE on one connection and then sends NOOP on another must see
    the change, even while an identical query sent before the STORE is still on its way."""
    folder_id = Folder.objects.get(mailbox=account.mailbox, name="INBOX").pk
    gate = asyncio.Event()
    real_run = imap_server.pools.run

    async def slow_first_call(function: Callable[..., Any], *args: Any) -> Any:
        if not gate.is_set():
            gate.set()
            answer = await real_run(function, *args)  # read before the change below
            await asyncio.sleep(0.5)  # and held back until after it
            return answer
        return await real_run(function, *args)

    cache = SnapshotCache(slow_first_call)
    info = store.changes_since(folder_id, 0)[0]

    async def race() -> tuple[Any, Any]:
        early = asyncio.ensure_future(cache.changes(folder_id, info.highest_modseq))
        while not gate.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # the early query has read by now
        await real_run(ingest.store, mailbox=account.mailbox, raw=MESSAGE)
        late = await cache.changes(folder_id, info.highest_modseq)
        return await early, late

    early, late = imap_server.call(race())
    assert early[1] == []
    assert [state.uid for state in late[1]] == [info.uidnext]


def test_select_after_a_new_uidvalidity_reloads_the_folder(connect, account, demo_mail, recorder):
    first = selected(connect, account)
    old = int(first.untagged_responses["UIDVALIDITY"][0])
    Folder.objects.filter(mailbox=account.mailbox).update(uidvalidity=F("uidvalidity") + 7)
    second = selected(connect, account)
    assert int(second.untagged_responses["UIDVALIDITY"][0]) == old + 7
    assert recorder.count("snapshot") == 2


def test_the_cache_keeps_the_most_recent_folders_within_its_size(connect, account, demo_mail, imap_server):
    cache = imap_server.server.snapshots
    inbox = selected(connect, account)
    cache.max_messages = exists(inbox)  # room for the INBOX alone
    other = make_account("other@example.net")
    for _ in range(3):
        ingest.store(mailbox=other.mailbox, raw=MESSAGE)
    selected(connect, other)
    assert len(cache) == 1  # the INBOX went; the newest folder stays even when alone too big
    again = selected(connect, account)
    assert exists(again) == exists(inbox)
    assert re.fullmatch(r"\d+", again.untagged_responses["UIDNEXT"][0].decode())
