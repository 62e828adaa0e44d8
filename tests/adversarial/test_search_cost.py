"""Every SEARCH has a cost bound (issue 10, point 4): caps answered in words, out-of-range dates
BAD, many ANDed keys answered correctly and fast, and a command past its database budget
answered NO [LIMIT] while the connection goes on."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

from imapd import limits
from mailkite.mail import ingest
from tests.adversarial.search_helpers import (  # noqa: F401  (fixtures)
    deliver,
    heavy_mail,
    heavy_search,
    is_postgresql,
    server_queries,
    shrunk_budget,
    wire,
)
from tests.conftest import RunningServer
from tests.imapd.wire import Wire


def select(wire: Wire) -> Wire:  # noqa: F811
    """The logged-in connection with INBOX selected: after delivering, so it sees the messages."""
    wire.ok("s1 SELECT INBOX")
    return wire


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Callable[[], None]:
    caplog.set_level(logging.INFO, logger="imapd")

    def check() -> None:
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text

    return check


@pytest.mark.parametrize(
    ("command", "cap"),
    [
        ("SEARCH " + "SEEN " * limits.MAX_SEARCH_KEYS + "ALL", "too many keys"),
        ("SEARCH " + 'FROM "a" ' * limits.MAX_SEARCH_TEXT_KEYS + 'SUBJECT "b"', "too many text keys"),
        ("SEARCH " + "KEYWORD $x " * (limits.MAX_SEARCH_TEXT_KEYS + 1) + "ALL", "too many text keys"),
        ("SEARCH " + "NOT " * 40 + "ALL " + "OR SEEN ALL " * 240, "too many keys"),
        ("SORT (DATE) UTF-8 " + 'BODY "a" ' * (limits.MAX_SEARCH_TEXT_KEYS + 1), "too many text keys"),
        ("THREAD REFERENCES UTF-8 " + 'TO "a" ' * (limits.MAX_SEARCH_TEXT_KEYS + 1), "too many text keys"),
    ],
)
def test_too_costly_searches_are_refused_with_limit_in_words(wire, deliver, no_tracebacks, command, cap):  # noqa: F811
    deliver(Subject="one")
    selected = select(wire)
    tagged = selected.no("c1 " + command, code="LIMIT")
    assert cap in tagged.decode(), tagged
    selected.ok("c2 NOOP")  # the connection goes on
    no_tracebacks()


def test_searches_at_the_caps_are_answered(wire, deliver):  # noqa: F811
    uid = deliver(From="a-b@example.com", Subject="b")
    selected = select(wire)
    at_cap = "SEARCH " + 'FROM "a" ' * (limits.MAX_SEARCH_TEXT_KEYS - 1) + 'SUBJECT "b"'
    assert selected.ok("c1 UID " + at_cap) == [b"* SEARCH %d" % uid]
    keys = "SEARCH " + "SEEN " * (limits.MAX_SEARCH_KEYS // 2) + "UNSEEN " * (limits.MAX_SEARCH_KEYS // 2)
    assert selected.ok("c2 " + keys) == [b"* SEARCH"]


@pytest.mark.parametrize(
    "key",
    [
        "SINCE 1-Jan-0000",
        "SINCE 1-Jan-99999",
        "BEFORE 31-Dec-9999",
        "SINCE 31-Dec-9999",
        'ON "31-Dec-9999"',
        "SENTON 31-Dec-9999",
        "SENTSINCE 1-Feb-10000",
        "NOT SENTBEFORE 31-Dec-9999",
    ],
)
def test_out_of_range_dates_are_bad_in_words(wire, deliver, no_tracebacks, key):  # noqa: F811
    deliver(Subject="one")
    selected = select(wire)
    tagged = selected.bad("d1 SEARCH " + key)
    assert "out of range" in tagged.decode(), tagged
    assert key.split()[-1].strip('"') not in tagged.decode()  # the range is named, not the input
    no_tracebacks()


def test_the_last_dates_in_range_still_search(wire, deliver):  # noqa: F811
    uid = deliver(Subject="one")
    selected = select(wire)
    assert selected.ok("d1 UID SEARCH BEFORE 30-Dec-9999") == [b"* SEARCH %d" % uid]
    assert selected.ok("d2 UID SEARCH SINCE 30-Dec-9999") == [b"* SEARCH"]
    assert selected.ok("d3 UID SEARCH SENTBEFORE 1-Jan-0001") == [b"* SEARCH"]


def test_a_sequence_set_with_too_many_ranges_is_bad(wire, deliver, no_tracebacks):  # noqa: F811
    deliver(Subject="one")
    selected = select(wire)
    many = ",".join(str(n) for n in range(1, 2 * limits.MAX_SEQUENCE_RANGES + 2, 2))
    tagged = selected.bad("r1 UID SEARCH UID " + many)
    assert "too many ranges" in tagged.decode()
    tagged = selected.bad("r2 UID FETCH " + many + " FLAGS")
    assert "too many ranges" in tagged.decode()
    no_tracebacks()


def test_a_long_range_list_searches_right(wire, account):  # noqa: F811
    # A fragmented set of 1,100 ranges over 2,200 messages: SQLite must not meet its
    # expression-depth limit (1,000), and every odd UID must come back.
    items = [ingest.Item(f"Subject: m{i}\r\n\r\nbody\r\n".encode()) for i in range(2200)]
    uids = [d.uid for d in ingest.store_many(mailbox=account.mailbox, items=items)]
    selected = select(wire)
    odd = ",".join(str(n) for n in uids if n % 2)
    assert selected.ok("r1 UID SEARCH UID " + odd) == [b"* SEARCH " + b" ".join(b"%d" % u for u in uids if u % 2)]


def test_many_anded_keys_find_exactly_the_right_messages(wire, deliver):  # noqa: F811
    # 400 ANDed text keys of several kinds, on a folder whose headers mix a small vocabulary: the
    # answer must be what a plain reading of the headers says, and come within the default budget.
    words = ["amber", "basil", "cedar", "delta", "ember", "fjord"]
    chooser = random.Random(10)
    messages = {}
    for _ in range(60):
        sender = "-".join(chooser.sample(words, 4))
        subject = " ".join(chooser.sample(words, 3))
        uid = deliver(From=f"{sender}@example.com", Subject=subject, To="you@example.com")
        messages[uid] = (sender, subject)
    selected = select(wire)
    keys = []
    for n in range(limits.MAX_SEARCH_TEXT_KEYS):
        kind = n % 4
        if kind == 0:
            keys.append('FROM "amber"')
        elif kind == 1:
            keys.append('FROM "BASIL"')  # case-insensitive
        elif kind == 2:
            keys.append('TO "you@"')
        else:
            keys.append('NOT SUBJECT "cedar"')
    expected = sorted(
        uid for uid, (sender, subject) in messages.items()
        if "amber" in sender and "basil" in sender and "cedar" not in subject
    )
    assert expected and len(expected) < len(messages)
    assert selected.ok("k1 UID SEARCH " + " ".join(keys)) == [b"* SEARCH " + b" ".join(b"%d" % u for u in expected)]
    # Half as many, grouped and mixed with an OR at a deeper level (a NOT counts as a key too).
    grouped = "(" + " ".join(keys[:100]) + ") OR FROM \"zzz\" (" + " ".join(keys[100:200]) + ")"
    assert selected.ok("k2 UID SEARCH " + grouped) == [b"* SEARCH " + b" ".join(b"%d" % u for u in expected)]


def test_a_search_past_its_budget_is_refused_with_limit(
    imap_server: RunningServer, wire, heavy_mail, no_tracebacks, shrunk_budget  # noqa: F811
):
    selected = select(wire)
    imap_server.pools.budget = 0.05
    tagged = selected.no(heavy_search(tag="b1"), code="LIMIT")
    assert "more database time than allowed" in tagged.decode()
    imap_server.pools.budget = 30.0
    assert selected.ok(heavy_search(tag="b2", keys=2)) == [b"* SEARCH " + b" ".join(b"%d" % u for u in heavy_mail)]
    if is_postgresql():
        assert server_queries("needle") == []  # the stopped statement is not running on
    no_tracebacks()
