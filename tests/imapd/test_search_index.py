"""SEARCH's substring keys can use the pg_trgm indexes (migration mail 0004, moved to
mail_messagetext by 0005) on PostgreSQL: the plan for each compiled key, over a few thousand rows,
names the index. The index expressions must match what Django emits in the subquery on
mail_messagetext (UPPER(col::text) LIKE for icontains, col::text ~* for HEADER's regex). GIN's cost estimate needs the statistics VACUUM writes (autovacuum does it in production):
before it the planner overestimates a trigram scan and prefers reading the table. Skipped on
SQLite, where the migration creates nothing."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.utils import timezone

from imapd import command as c
from imapd import store
from imapd.searchq import compile_key
from imapd.snapshot import FolderView
from mailkite.mail.models import Blob, Folder, Message, MessageText

pytestmark = pytest.mark.django_db(transaction=True)  # VACUUM cannot run inside a transaction

WORDS = ["invoice", "meeting", "lunch", "report", "holiday", "update", "budget", "launch", "review"]
KEYS = [
    (c.SearchHeader("SUBJECT", "zq7xw"), ["messagetext_subject_trgm"]),
    (c.SearchHeader("FROM", "zq7xw"), ["messagetext_from_text_trgm"]),
    (c.SearchHeader("TO", "zq7xw"), ["messagetext_to_text_trgm"]),
    (c.SearchHeader("CC", "zq7xw"), ["messagetext_cc_text_trgm"]),
    (c.SearchHeader("BCC", "zq7xw"), ["messagetext_bcc_text_trgm"]),
    (c.SearchBody("zq7xw"), ["messagetext_body_text_trgm"]),
    (c.SearchText("zq7xw"), ["messagetext_headers_text_trgm", "messagetext_body_text_trgm"]),
    (c.SearchHeader("X-MAILER", "zq7xw"), ["messagetext_headers_text_re_trgm"]),
]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram indexes exist on PostgreSQL only")
def test_substring_keys_use_the_trigram_indexes(account):
    folder = Folder.objects.get(mailbox=account.mailbox, name="INBOX")
    blob = Blob.objects.create(sha256="0" * 64, size=1)
    rng = random.Random(3)
    now = timezone.now()

    def text() -> str:
        return " ".join(rng.choice(WORDS) + str(rng.randrange(10_000)) for _ in range(6))

    messages = Message.objects.bulk_create(
        Message(
            folder=folder,
            uid=uid,
            modseq=uid,
            blob=blob,
            internal_date=now,
            size=100,
            envelope=b"",
            body=b"",
            bodystructure=b"",
            header_length=0,
        )
        for uid in range(1, 3001)
    )
    MessageText.objects.bulk_create(
        MessageText(
            message=message,
            subject=text(),
            from_text=text(),
            to_text=text(),
            cc_text=text(),
            bcc_text=text(),
            headers_text=f"X-Mailer: {text()}\n",
            body_text=text() * 2,
        )
        for message in messages
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE mail_message")
        cursor.execute("VACUUM ANALYZE mail_messagetext")
    info = store.folder(account.mailbox.pk, "INBOX")
    assert info is not None
    view = FolderView(info, [], read_only=False)
    for key, indexes in KEYS:
        query = Message.objects.filter(folder_id=folder.pk, uid__lte=3000).filter(compile_key(key, view))
        with store.search_planning():  # as store.search_rows runs it
            plan = query.explain()
        for index in indexes:
            assert f"Bitmap Index Scan on {index}" in plan, (key, plan)
        # The expression the index is built on, verbatim, or the planner could not match it.
        sql = str(query.query)
        column = indexes[-1].removeprefix("messagetext_").removesuffix("_re_trgm").removesuffix("_trgm")
        if indexes[-1].endswith("_re_trgm"):
            assert f'FROM "mail_messagetext" U0 WHERE U0."{column}"::text ~*' in sql, sql
        else:
            assert f'UPPER(U0."{column}"::text) LIKE UPPER(' in sql, sql
