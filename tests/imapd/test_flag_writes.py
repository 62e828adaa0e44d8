"""store.store_flags' two paths: a STORE that changes nothing is one plain read (no transaction,
no folder row lock to queue on); a real change takes the lock and the next modseq in one
statement, and gives the modseq back if, under the lock, nothing is left to change."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from imapd import store
from mailkite.mail import flags, ingest
from mailkite.mail.models import Folder, Message
from tests.conftest import Account

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inbox(account: Account) -> Folder:
    for n in range(2):
        ingest.store(mailbox=account.mailbox, raw=b"Subject: %d\r\n\r\nHello\r\n" % n)
    return Folder.objects.get(mailbox=account.mailbox, name="INBOX")


def highest_modseq(folder: Folder) -> int:
    return Folder.objects.values_list("highest_modseq", flat=True).get(pk=folder.pk)


def test_a_store_that_changes_nothing_is_one_read(inbox):
    store.store_flags(inbox.pk, [1], mode="add", bits=flags.SEEN, keywords=())
    before = highest_modseq(inbox)
    with CaptureQueriesContext(connection) as queries:
        states, failed = store.store_flags(inbox.pk, [1], mode="add", bits=flags.SEEN, keywords=())
    assert [query["sql"].split()[0] for query in queries] == ["SELECT"]
    assert (states[0].uid, states[0].flags, states[0].modseq, failed) == (1, flags.SEEN, before, [])
    assert highest_modseq(inbox) == before


def test_a_real_change_takes_exactly_the_next_modseq(inbox):
    before = highest_modseq(inbox)
    states, _ = store.store_flags(inbox.pk, [1, 2], mode="add", bits=flags.FLAGGED, keywords=())
    assert [(s.uid, s.flags, s.modseq) for s in states] == [
        (1, flags.FLAGGED, before + 1),
        (2, flags.FLAGGED, before + 1),
    ]
    assert highest_modseq(inbox) == before + 1
    assert set(Message.objects.filter(folder=inbox).values_list("modseq", flat=True)) == {before + 1}


def test_a_change_another_session_made_first_gives_the_modseq_back(inbox, monkeypatch):
    # The first, unlocked read still sees the message unseen; by the time the lock is held,
    # another session has set \Seen: nothing is written and HIGHESTMODSEQ does not move.
    stale = store.message_rows(inbox.pk, [1], store.STATE_COLUMNS)
    store.store_flags(inbox.pk, [1], mode="add", bits=flags.SEEN, keywords=())
    before = highest_modseq(inbox)
    reads = [stale]
    real = store.message_rows
    monkeypatch.setattr(store, "message_rows", lambda *args: reads.pop() if reads else real(*args))
    states, _ = store.store_flags(inbox.pk, [1], mode="add", bits=flags.SEEN, keywords=())
    assert not reads  # the stale read was used, so the locked path ran
    assert (states[0].flags, states[0].modseq) == (flags.SEEN, before)
    assert highest_modseq(inbox) == before
