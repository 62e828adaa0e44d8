"""LIST in every form: RFC 9051 §6.3.9, LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE (RFC 6154) through plain LIST, LSUB and XLIST (IMAP-NOTES 9), and NAMESPACE."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imapd import wildcard

pytestmark = pytest.mark.django_db(transaction=True)

INBOX = b'* LIST (\\HasNoChildren) "/" "INBOX"'
SENT = b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"'
INBOX_SUBSCRIBED = b'* LIST (\\HasNoChildren \\Subscribed) "/" "INBOX"'
SENT_SUBSCRIBED = b'* LIST (\\HasNoChildren \\Sent \\Subscribed) "/" "Sent"'

EXCHANGES = [
    ('LIST "" ""', [b'* LIST (\\Noselect) "/" ""']),  # RFC 9051 §6.3.9: the delimiter (IMAP-NOTES)
    ('LIST "" "*"', [INBOX, SENT]),  # \Sent in plain LIST (iOS, RFC 6154 §1)
    ('LIST "" "%"', [INBOX, SENT]),
    ('LIST "" "inbox"', [INBOX]),  # INBOX is case-insensitive (RFC 9051 §5.1)
    ('LIST "" "Sent"', [SENT]),
    ('LIST "" "sent"', []),  # other names are case-sensitive
    ('LIST "" "Trash"', []),
    ('LIST "" "S*"', [SENT]),
    ('LIST "" "*/*"', []),
    ('LIST "" ("INBOX" "Sent")', [INBOX, SENT]),  # RFC 5258 §3: several patterns
    ('LIST (SUBSCRIBED) "" "*"', [INBOX_SUBSCRIBED, SENT_SUBSCRIBED]),  # RFC 5258 §3.1
    ('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"', [INBOX_SUBSCRIBED, SENT_SUBSCRIBED]),
    ('LIST (REMOTE) "" "*"', [INBOX, SENT]),
    ('LIST (SPECIAL-USE) "" "*"', [SENT]),  # RFC 6154 §3: only special-use folders
    ('LIST "" "*" RETURN (SPECIAL-USE)', [INBOX, SENT]),  # RFC 6154 §3
    ('LIST "" "*" RETURN (SUBSCRIBED)', [INBOX_SUBSCRIBED, SENT_SUBSCRIBED]),  # RFC 5258 §3.2
    ('LIST "" "*" RETURN (CHILDREN)', [INBOX, SENT]),  # RFC 5258 §4
    ('LIST () "" "*" RETURN ()', [INBOX, SENT]),
    ('LSUB "" "*"', [b'* LSUB (\\HasNoChildren) "/" "INBOX"', b'* LSUB (\\HasNoChildren \\Sent) "/" "Sent"']),
    (
        'XLIST "" "*"',
        [b'* XLIST (\\HasNoChildren \\Inbox) "/" "INBOX"', b'* XLIST (\\HasNoChildren \\Sent) "/" "Sent"'],
    ),
    ("NAMESPACE", [b'* NAMESPACE (("" "/")) NIL NIL']),  # RFC 2342
]


def test_list_forms(wire):
    # One connection for the whole table: each exchange is independent of the others.
    for command, expected in EXCHANGES:
        assert wire.ok("l1 " + command) == expected, command


def test_list_status(wire, demo_mail):
    lines = wire.ok('l1 LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')  # RFC 5819 §2
    assert lines == [
        INBOX,
        b'* STATUS "INBOX" (MESSAGES 10 UNSEEN 10 UIDNEXT 11)',
        SENT,
        b'* STATUS "Sent" (MESSAGES 2 UNSEEN 2 UIDNEXT 3)',
    ]
    lines = wire.ok('l2 LIST (SPECIAL-USE) "" "*" RETURN (SPECIAL-USE STATUS (HIGHESTMODSEQ SIZE))')
    assert lines[0] == SENT and lines[1].startswith(b'* STATUS "Sent" (HIGHESTMODSEQ 3 SIZE ')


def test_list_option_errors_are_bad(wire):
    wire.bad('l1 LIST (RECURSIVEMATCH) "" "*"')  # RFC 5258 §3: RECURSIVEMATCH alone is BAD
    wire.bad('l2 LIST (BOGUS) "" "*"')  # RFC 5258 §3: unknown options are BAD
    wire.bad('l3 LIST "" "*" RETURN (BOGUS)')
    wire.bad('l4 LIST "" "*" RETURN (STATUS (BOGUS))')
    wire.bad('l5 LIST ""')


def test_subscribe_and_unsubscribe_say_ok(wire):
    wire.ok("u1 SUBSCRIBE Trash")
    wire.ok("u2 UNSUBSCRIBE INBOX")
    assert wire.ok('l1 LSUB "" "*"')[0] == b'* LSUB (\\HasNoChildren) "/" "INBOX"'  # both stay subscribed


def _regex_semantics(pattern: str, name: str, ignore_case: bool) -> bool:
    """What LIST matching meant when it was a regular expression: `*` any run, `%` any run
    without "/". Fine for the short inputs below; exponential for hostile ones (issue 10)."""
    parts = [".*" if c == "*" else "[^/]*" if c == "%" else re.escape(c) for c in pattern]
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    return re.compile("".join(parts) + r"\Z", flags).match(name) is not None


@given(
    st.text(alphabet="aAb/*%", max_size=10),
    st.text(alphabet="aAb/", max_size=10),
    st.booleans(),
)
def test_wildcard_matcher_agrees_with_the_regex_semantics(pattern, name, ignore_case):
    assert wildcard.matches(pattern, name, ignore_case=ignore_case) == _regex_semantics(
        pattern, name, ignore_case
    )


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("%", "a/b", False),  # % stops at the delimiter
        ("%/%", "a/b", True),
        ("*", "a/b", True),
        ("a%b%c", "axbyc", True),
        ("a%b%c", "axb/c", False),
        ("%b%/x", "abcb/x", True),  # the second % must extend past a "b", not the first
        ("*a%/b", "a/a/b", True),  # the * takes "a/", then % takes nothing
        ("%a%/b", "a/a/b", False),
        ("*" * 85 + "Z", "INBOX", False),
        ("%" * 50_000 + "Sent", "Sent", True),
        ("IN%" + "*%" * 30_000 + "X", "inbox", True),
    ],
)
def test_wildcard_matcher_cases(pattern, name, expected):
    assert wildcard.matches(pattern, name, ignore_case=True) is expected


def test_wildcard_reduce_keeps_one_wildcard_per_run():
    assert wildcard.reduce("a%%b*%*c%*%d**") == "a%b*c*d*"
