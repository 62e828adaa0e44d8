"""ENABLE (RFC 5161) and what each extension changes once enabled: CONDSTORE and QRESYNC
(RFC 7162), UTF8=ACCEPT (RFC 6855) and IMAP4rev2 (RFC 9051 Appendix E)."""

from __future__ import annotations

import pytest

from imapd import capabilities
from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)


def test_capabilities_advertise_the_extensions_and_never_the_refused_ones(wire):
    (line,) = wire.ok("a1 CAPABILITY")
    words = line.split()[2:]
    for name in [b"IMAP4rev1", b"IMAP4rev2", b"ENABLE", b"CONDSTORE", b"QRESYNC", b"UTF8=ACCEPT"]:
        assert name in words
    for name in [b"ESEARCH", b"SEARCHRES", b"LIST-EXTENDED", b"LIST-STATUS", b"SPECIAL-USE", b"SORT"]:
        assert name in words
    for name in [b"THREAD=REFERENCES", b"THREAD=ORDEREDSUBJECT", b"COMPRESS=DEFLATE", b"ACL", b"RIGHTS=kxte"]:
        assert name in words
    for name in [b"QUOTA", b"BINARY", b"UNSELECT", b"CHILDREN", b"NAMESPACE", b"LITERAL-"]:
        assert name in words
    for name in [b"UIDONLY", b"MULTIAPPEND", b"CATENATE", b"MOVE", b"LITERAL+"]:
        assert name not in words
    assert not [w for w in words if w.startswith(b"APPENDLIMIT")]


def test_greeting_lists_enable_before_login(connect):
    welcome = connect().welcome
    assert welcome == b"* OK [CAPABILITY " + capabilities.line(False).encode() + b"] MailKite IMAP ready"
    assert b"IMAP4rev2" in welcome and b"ENABLE" in welcome


ENABLES = [
    ("e1 ENABLE CONDSTORE", b"* ENABLED CONDSTORE"),  # RFC 5161 §3.2
    ("e1 ENABLE QRESYNC", b"* ENABLED QRESYNC"),  # RFC 7162 §3.2.3
    ("e1 ENABLE condstore qresync", b"* ENABLED CONDSTORE QRESYNC"),  # names are case-insensitive
    ("e1 ENABLE UTF8=ACCEPT", b"* ENABLED UTF8=ACCEPT"),  # RFC 6855 §3
    ("e1 ENABLE IMAP4rev2", b"* ENABLED IMAP4rev2"),  # RFC 9051 §6.3.1
    ("e1 ENABLE X-UNKNOWN", b"* ENABLED"),  # RFC 5161 §3.1: unknown names are ignored
    ("e1 ENABLE X-UNKNOWN CONDSTORE", b"* ENABLED CONDSTORE"),
]


def test_enable_answers_enabled_with_what_it_switched_on(connect, account):
    for command, enabled in ENABLES:
        client = Wire(connect())  # a fresh session each: what one ENABLE switched on stays on
        client.login(account.password)
        assert client.ok(command) == [enabled], command


def test_enable_twice_lists_it_again(wire):
    wire.ok("e1 ENABLE CONDSTORE")
    assert wire.ok("e2 ENABLE CONDSTORE") == [b"* ENABLED CONDSTORE"]


def test_enable_needs_login_and_an_argument(connect, wire):
    before = Wire(connect())
    assert b"Log in first" in before.bad("e1 ENABLE CONDSTORE")  # RFC 5161 §3.1: authenticated state
    wire.bad("e2 ENABLE")  # RFC 5161 §4: at least one capability


def test_enable_is_accepted_in_the_selected_state(wire):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("e1 ENABLE CONDSTORE") == [b"* ENABLED CONDSTORE"]


def test_rev2_search_answers_esearch(wire, demo_mail):
    wire.ok("e1 ENABLE IMAP4rev2")
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("s2 SEARCH ALL") == [b'* ESEARCH (TAG "s2") ALL 1:10']  # RFC 9051 §6.4.4
    assert wire.ok("s3 UID SEARCH ALL") == [b'* ESEARCH (TAG "s3") UID ALL 1:10']
    assert wire.ok("s4 SEARCH FLAGGED") == [b'* ESEARCH (TAG "s4")']  # RFC 9051 §7.3.4: nothing found
    assert wire.ok("s5 SEARCH RETURN (COUNT) ALL") == [b'* ESEARCH (TAG "s5") COUNT 10']


def test_rev1_search_stays_search(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("s2 SEARCH ALL") == [b"* SEARCH 1 2 3 4 5 6 7 8 9 10"]


def test_rev2_select_has_no_recent_nor_unseen_and_a_list_line(wire, demo_mail):
    wire.ok("e1 ENABLE IMAP4rev2")
    lines = wire.ok("s1 SELECT INBOX", code="READ-WRITE")
    assert not [line for line in lines if b"RECENT" in line or b"[UNSEEN" in line]  # RFC 9051 Appendix E
    assert b'* LIST (\\HasNoChildren) "/" "INBOX"' in lines  # RFC 9051 §6.3.2
    sent = wire.ok("s2 SELECT Sent")
    assert sent[0] == b"* OK [CLOSED] Previous mailbox is now closed"  # RFC 9051 §7.1
    assert b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"' in sent


def test_rev1_select_keeps_recent_and_no_closed(wire, demo_mail):
    lines = wire.ok("s1 SELECT INBOX")
    assert b"* 0 RECENT" in lines
    assert b"* OK [UNSEEN 1] First unseen message" in lines
    assert not [line for line in wire.ok("s2 SELECT Sent") if b"CLOSED" in line]


def test_utf8_accept_keeps_names_and_search_working(wire, deliver):
    deliver(Subject="=?utf-8?q?Gr=C3=BC=C3=9Fe?=", From="a@example.org")
    wire.ok("e1 ENABLE UTF8=ACCEPT")
    wire.ok("s1 SELECT INBOX")
    assert wire.ok('s2 SEARCH SUBJECT "Grüße"'.encode()) == [b"* SEARCH 1"]
    assert wire.ok('l1 LIST "" "*"') == [
        b'* LIST (\\HasNoChildren) "/" "INBOX"',
        b'* LIST (\\HasNoChildren \\Sent) "/" "Sent"',
    ]
