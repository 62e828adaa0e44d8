"""LIST in every form: RFC 9051 §6.3.9, LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819),
SPECIAL-USE (RFC 6154) through plain LIST, LSUB and XLIST (IMAP-NOTES 9), and NAMESPACE."""

from __future__ import annotations

import pytest

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
