"""SORT and THREAD (RFC 5256), DISPLAYFROM/DISPLAYTO (RFC 5957), and base subject extraction
(RFC 5256 §2.1), over messages delivered with the headers each case needs."""

from __future__ import annotations

import pytest

from mailkite.mail.models import Message
from mailkite.mail.sortkeys import base_subject

BASE_SUBJECTS = [
    ("Hello", "Hello", False),
    ("Re: Hello", "Hello", True),  # subj-refwd
    ("RE:  re:Hello", "Hello", True),
    ("Fwd: Hello", "Hello", True),
    ("Fw: Hello", "Hello", True),
    ("Re[2]: Hello", "Hello", True),  # subj-refwd with a subj-blob
    ("[list] Re: Hello", "Hello", True),  # a blob before the refwd
    ("[list] Hello", "Hello", False),  # step 4: a leading blob goes when text follows it
    ("[list]", "[list]", False),  # ... but not when it is all there is
    ("Hello (fwd)", "Hello", True),  # subj-trailer
    ("[Fwd: Re: Hello]", "Hello", True),  # step 6: subj-fwd-hdr ... subj-fwd-trl
    ("Hello\t  world ", "Hello world", False),  # step 1: whitespace collapses
    ("Re:", "", True),
    ("", "", False),
]


@pytest.mark.parametrize(
    ("subject", "base", "reply"), BASE_SUBJECTS, ids=[s or "empty" for s, _, _ in BASE_SUBJECTS]
)
def test_base_subject(subject, base, reply):
    assert base_subject(subject) == (base, reply)


@pytest.fixture
def sortable(deliver):
    deliver(
        From='"Zed" <zed@x.org>',
        To="amy@y.org",
        Subject="Re: Beta",
        Date="Mon, 3 Jan 2022 10:00:00 +0000",
        body="x" * 300,
    )
    deliver(
        From="alice@x.org",
        To="bob@y.org",
        Cc="carl@z.org",
        Subject="alpha",
        Date="Sat, 1 Jan 2022 12:00:00 +0000",
    )
    deliver(
        From='"Bob B" <bob@x.org>',
        To="zoe@y.org",
        Subject="[list] Fwd: gamma",
        Date="Sun, 2 Jan 2022 23:30:00 -0500",
        body="y" * 200,
    )
    deliver(Subject="Beta")  # no From, no Date: DATE falls back to the arrival time


SORTS = [
    ("SORT (ARRIVAL) UTF-8 ALL", b"* SORT 1 2 3 4"),  # RFC 5256 §3
    ("SORT (SUBJECT) UTF-8 ALL", b"* SORT 2 1 4 3"),  # base subjects; ties by sequence number
    ("SORT (FROM) US-ASCII ALL", b"* SORT 4 2 3 1"),  # addr-mailbox of the first From
    ("SORT (REVERSE FROM) UTF-8 ALL", b"* SORT 1 3 2 4"),
    ("SORT (DATE) UTF-8 ALL", b"* SORT 2 3 1 4"),  # Date: in UTC, else the internal date (§2.2)
    ("SORT (REVERSE DATE) UTF-8 ALL", b"* SORT 4 1 3 2"),
    ("SORT (TO) UTF-8 ALL", b"* SORT 4 1 2 3"),
    ("SORT (CC) UTF-8 ALL", b"* SORT 1 3 4 2"),
    ("SORT (DISPLAYFROM) UTF-8 ALL", b"* SORT 4 2 3 1"),  # RFC 5957: display name, else address
    ("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", b"* SORT 2 4 1 3"),  # several criteria
    ("SORT (SUBJECT) UTF-8 FROM bob", b"* SORT 3"),  # filtered by the SEARCH compiler
    ("SORT (SUBJECT) UTF-8 NOT FROM bob SINCE 1-Jan-2000", b"* SORT 2 1 4"),
    ("UID SORT (SUBJECT) UTF-8 SUBJECT beta", b"* SORT 1 4"),
    ("SORT (SUBJECT) UTF-8 FLAGGED", b"* SORT"),
    (
        "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
        b'* ESEARCH (TAG "o1") MIN 2 MAX 3 ALL 2,1,4,3 COUNT 4',
    ),
    ("SORT (ARRIVAL) UTF-8 MODSEQ 4", b"* SORT 3 4 (MODSEQ 5)"),  # RFC 7162 §3.1.5
]


@pytest.mark.django_db(transaction=True)
def test_sort(wire, sortable):
    wire.ok("s1 SELECT INBOX")
    for command, expected in SORTS:
        assert wire.ok("o1 " + command) == [expected], command


@pytest.mark.django_db(transaction=True)
def test_sort_size(wire, sortable):
    wire.ok("s1 SELECT INBOX")
    sizes = dict(Message.objects.values_list("uid", "size"))
    expected = sorted(sizes, key=lambda uid: (sizes[uid], uid))
    assert wire.ok("o1 SORT (SIZE) UTF-8 ALL") == [b"* SORT " + " ".join(map(str, expected)).encode()]


@pytest.mark.django_db(transaction=True)
def test_sort_and_thread_errors(wire, sortable):
    wire.ok("s1 SELECT INBOX")
    wire.no("o1 SORT (SUBJECT) KOI8-R ALL", code="BADCHARSET (US-ASCII UTF-8)")  # RFC 5256 §3
    wire.no("o2 THREAD REFERENCES ISO-8859-1 ALL", code="BADCHARSET (US-ASCII UTF-8)")
    wire.bad("o3 SORT (SUBJECT) UTF-8")  # search keys are required
    wire.bad("o4 SORT (REVERSE) UTF-8 ALL")
    wire.bad("o5 SORT (BOGUS) UTF-8 ALL")
    wire.bad("o6 THREAD BOGUS UTF-8 ALL")


@pytest.fixture
def threaded(deliver):
    deliver(Message_ID="<a@x>", Subject="Plan", Date="Sat, 1 Jan 2022 10:00:00 +0000")
    deliver(
        Message_ID="<b@x>",
        In_Reply_To="<a@x>",
        References="<a@x>",
        Subject="Re: Plan",
        Date="Sun, 2 Jan 2022 10:00:00 +0000",
    )
    deliver(
        Message_ID="<c@x>",
        References="<a@x> <b@x>",
        Subject="Re: Plan",
        Date="Mon, 3 Jan 2022 10:00:00 +0000",
    )
    deliver(Message_ID="<d@x>", References="<a@x>", Subject="Re: Plan", Date="Tue, 4 Jan 2022 10:00:00 +0000")
    deliver(Message_ID="<e@x>", Subject="Other", Date="Wed, 5 Jan 2022 10:00:00 +0000")
    deliver(
        Message_ID="<f@x>",
        References="<missing@x>",
        Subject="Re: Other",
        Date="Thu, 6 Jan 2022 10:00:00 +0000",
    )
    deliver(Message_ID="<g@x>", Subject="Lonely", Date="Fri, 31 Dec 2021 10:00:00 +0000")


@pytest.mark.django_db(transaction=True)
def test_thread(wire, threaded):
    wire.ok("s1 SELECT INBOX")
    # RFC 5256 §3 REFERENCES: B and D answer A, C answers B; F's parent is missing, so the
    # subject gathers it under E; roots in date order.
    assert wire.ok("t1 THREAD REFERENCES UTF-8 ALL") == [b"* THREAD (7)(1 (2 3)(4))(5 6)"]
    assert wire.ok("t2 UID THREAD REFERENCES UTF-8 ALL") == [b"* THREAD (7)(1 (2 3)(4))(5 6)"]
    # ORDEREDSUBJECT: grouped by base subject, the first of each group holding the rest.
    assert wire.ok("t3 THREAD ORDEREDSUBJECT UTF-8 ALL") == [b"* THREAD (7)(1 (2)(3)(4))(5 6)"]
    assert wire.ok("t4 THREAD REFERENCES UTF-8 SUBJECT plan NOT UID 2") == [b"* THREAD (1 (3)(4))"]
    assert wire.ok("t5 THREAD REFERENCES UTF-8 FLAGGED") == [b"* THREAD"]


@pytest.mark.django_db(transaction=True)
def test_thread_by_keyword(wire, threaded):
    # A keyword key made the THREAD query fail in Django (mixed text types): NO [SERVERBUG] (issue 10).
    wire.ok("s1 SELECT INBOX")
    wire.ok("f1 STORE 2:3 +FLAGS ($Plan)")
    assert wire.ok("t1 THREAD REFERENCES US-ASCII KEYWORD $Plan") == [b"* THREAD (2 3)"]
    assert wire.ok("t2 THREAD ORDEREDSUBJECT UTF-8 UNKEYWORD $Plan NOT UID 5:*") == [b"* THREAD (1 4)"]
    assert wire.ok("t3 SORT (SUBJECT) UTF-8 KEYWORD $Plan") == [b"* SORT 2 3"]


@pytest.mark.django_db(transaction=True)
def test_thread_survives_loops_and_duplicates(wire, deliver):
    deliver(Message_ID="<a@x>", References="<b@x>", Subject="loop")
    deliver(Message_ID="<b@x>", References="<a@x>", Subject="loop")
    deliver(Message_ID="<a@x>", References="<a@x>", Subject="dup")  # a duplicate id, referring to itself
    deliver(Subject="no id")
    wire.ok("s1 SELECT INBOX")
    (line,) = wire.ok("t1 THREAD REFERENCES UTF-8 ALL")
    numbers = sorted(int(n) for n in line.replace(b"(", b" ").replace(b")", b" ").split()[2:])
    assert numbers == [1, 2, 3, 4]  # every message exactly once
    (line,) = wire.ok("t2 THREAD ORDEREDSUBJECT UTF-8 ALL")
    assert line.startswith(b"* THREAD (")


@pytest.mark.django_db(transaction=True)
def test_the_migration_backfills_keys_of_older_messages(deliver):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("mailkite.mail.migrations.0003_sort_keys_and_folder_keywords")
    uid = deliver(From="Zed <zed@x.org>", Subject="Re: Old", Date="Sat, 1 Jan 2022 12:00:00 +0000")
    Message.objects.filter(uid=uid).update(sort_subject="", sort_from="", sort_date=None)  # as before 0003
    migration.backfill_sort_keys(apps, None)
    row = Message.objects.get(uid=uid)
    assert (row.sort_subject, row.sort_from, row.sort_date.year) == ("OLD", "ZED", 2022)
