"""THREAD over mail shaped by whoever sends it (issue 10, point 1): deep reply chains cost the
REFERENCES algorithm n² steps, and deep branching used to overflow the stack when rendering.
THREAD runs off the event loop, within a step budget, and answers NO [LIMIT] past it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from imapd import threads
from mailkite.mail import ingest
from tests.adversarial.stream_helpers import logged_in

pytestmark = pytest.mark.django_db(transaction=True)


def _item(n: int, parent: int | None) -> threads.Item:
    return threads.Item(
        number=n,
        seq=n,
        date=datetime(2026, 1, 1) + timedelta(minutes=n),
        base_subject="talk",
        is_reply=parent is not None,
        message_id=f"<m{n}@example.org>",
        references=() if parent is None else (f"<m{parent}@example.org>",),
    )


def test_a_deeply_branching_thread_renders_without_recursion():
    # 1 ← 3 ← 5 ← …, each also answered once by a leaf: 1,500 levels of two children each, past
    # Python's recursion limit of 1,000.
    items = [_item(n, n - 2 if n > 2 else None) for n in range(1, 3001, 2)]
    items += [_item(n, n - 1) for n in range(2, 3001, 2)]
    data = threads.render(threads.references(items))
    assert data.startswith(b"(1 (2)(3 (4)(5 ") and data.count(b"(") == data.count(b")")


def test_a_reply_chain_past_the_step_budget_is_refused():
    chain = [_item(n, n - 1 if n > 1 else None) for n in range(1, 20_001)]
    with pytest.raises(threads.TooTangled):  # after 5 million steps, not 200 million (~20 s)
        threads.references(chain)
    assert threads.render(threads.references(chain[:1000])).count(b" ") == 999  # one flat chain


def test_thread_past_the_budget_answers_no_limit_in_words(connect, account, monkeypatch):
    monkeypatch.setattr(threads, "MAX_ANCESTOR_STEPS", 100)  # a 30-message chain needs 435
    for n in range(1, 31):
        reply = f"In-Reply-To: <m{n - 1}@example.org>\r\n" if n > 1 else ""
        raw = f"Message-ID: <m{n}@example.org>\r\n{reply}Subject: talk\r\n\r\nHi\r\n"
        ingest.store(mailbox=account.mailbox, raw=raw.encode())
    wire = logged_in(connect, account.password)
    wire.ok("s1 SELECT INBOX")
    refused = wire.no("t1 THREAD REFERENCES UTF-8 ALL", code="LIMIT")
    assert b"too tangled" in refused
    assert wire.ok("t2 THREAD ORDEREDSUBJECT UTF-8 ALL")[0].startswith(b"* THREAD (1 ")
    monkeypatch.setattr(threads, "MAX_ANCESTOR_STEPS", 1000)
    assert wire.ok("t3 THREAD REFERENCES UTF-8 ALL") == [
        b"* THREAD (" + b" ".join(b"%d" % n for n in range(1, 31)) + b")"
    ]
