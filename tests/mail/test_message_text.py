"""A message's search text lives in its own table (MessageText, migration mail 0005), so that a flag
change never writes to the table that carries the GIN trigram indexes. The PostgreSQL tests read the
catalogue and the per-transaction row counters; SQLite has neither GIN nor those counters."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from imapd import store
from mailkite.mail import flags, ingest
from mailkite.mail.models import Folder, Message, MessageText
from tests.conftest import make_account
from tests.mail.test_ingest import crlf_message

pytestmark = pytest.mark.django_db
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="GIN and pg_stat are PostgreSQL's"
)


def _gin_indexes(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = %s "
            "AND indexdef ILIKE '%%USING gin%%' ORDER BY indexname",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


@postgresql_only
def test_mail_message_has_no_gin_index_left():
    assert _gin_indexes("mail_message") == []
    assert len(_gin_indexes("mail_messagetext")) == 8  # 0004's eight, now on the text table


def _counters(table: str) -> tuple[int, int, int]:
    """Rows inserted, updated and deleted in `table` by this backend and not yet reported: this
    transaction's, plus (PostgreSQL 15+) earlier ones' not yet flushed. Nothing is flushed while a
    transaction is open, so differences taken inside one are exact."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_xact_tuples_inserted(%s::regclass), "
            "pg_stat_get_xact_tuples_updated(%s::regclass), pg_stat_get_xact_tuples_deleted(%s::regclass)",
            [table, table, table],
        )
        return cursor.fetchone()


def _grown(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(a - b for a, b in zip(after, before, strict=True))


@postgresql_only
def test_a_store_leaves_the_text_table_untouched():
    # The test runs inside one outer transaction, the ingest and the STOREs too.
    account = make_account()
    start = _counters("mail_messagetext")
    uids = [ingest.store(mailbox=account.mailbox, raw=crlf_message(subject=f"n{n}")).uid for n in range(3)]
    text_before, message_before = _counters("mail_messagetext"), _counters("mail_message")
    assert _grown(start, text_before) == (3, 0, 0)  # the counters do see this transaction's writes
    folder_id = Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX).pk
    for mode in ("add", "remove"):
        store.store_flags(folder_id, uids, mode=mode, bits=flags.SEEN, keywords=())
    store.store_flags(folder_id, uids[:1], mode="add", bits=0, keywords=["$Label1"])
    assert _grown(message_before, _counters("mail_message")) == (0, 7, 0)  # the STOREs wrote ...
    assert _grown(text_before, _counters("mail_messagetext")) == (0, 0, 0)  # ... here nothing


def test_ingest_writes_one_text_row_per_message():
    account = make_account()
    items = [ingest.Item(crlf_message(subject=f"batch {n}", body=f"body {n}\n")) for n in range(5)]
    ingest.store_many(mailbox=account.mailbox, items=items)
    rows = Message.objects.select_related("text").order_by("uid")
    assert [(m.text.subject, m.text.body_text.strip()) for m in rows] == [
        (f"batch {n}", f"body {n}") for n in range(5)
    ]
    assert MessageText.objects.count() == 5


def test_the_admin_lists_text_in_one_query_and_never_shows_bodies():
    account = make_account()
    for n in range(3):
        ingest.store(mailbox=account.mailbox, raw=crlf_message(subject=f"Plans {n}", body="Tell nobody.\n"))
    staff = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client = Client()
    client.force_login(staff)

    def listing() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            page = client.get("/admin/mail/message/").content.decode()
        return page, len(queries)

    page, few = listing()
    assert "Plans 2" in page and "Tell nobody" not in page
    ingest.store(mailbox=account.mailbox, raw=crlf_message(subject="Plans 3", body="Tell nobody.\n"))
    page, more = listing()
    assert "Plans 3" in page and more == few  # no query per listed message
    assert "Plans 3" in client.get("/admin/mail/message/?q=plans+3").content.decode()
    message = Message.objects.get(text__subject="Plans 0")
    detail = client.get(f"/admin/mail/message/{message.pk}/change/").content.decode()
    assert "Plans 0" in detail and "Tell nobody" not in detail
