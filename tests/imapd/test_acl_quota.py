"""ACL (RFC 4314) and QUOTA (RFC 9208): fixed rights `lrsw`, one quota root with real usage."""

from __future__ import annotations

import pytest

from imapd import limits
from mailkite.mail.models import Folder

pytestmark = pytest.mark.django_db(transaction=True)


def test_myrights_is_lrsw(wire):
    assert wire.ok("a1 MYRIGHTS INBOX") == [b'* MYRIGHTS "INBOX" lrsw']  # RFC 4314 §3.5, DESIGN §5
    assert wire.ok("a2 MYRIGHTS Sent") == [b'* MYRIGHTS "Sent" lrsw']
    wire.no("a3 MYRIGHTS Trash", code="NONEXISTENT")


def test_getacl_and_listrights_for_the_users_own_identifier(wire, account):
    assert wire.ok("a1 GETACL INBOX") == [b'* ACL "INBOX" "you@example.com" lrsw']  # RFC 4314 §3.3
    assert wire.ok("a2 LISTRIGHTS INBOX you@example.com") == [
        b'* LISTRIGHTS "INBOX" "you@example.com" "lrsw"'
    ]  # §3.4
    assert wire.ok("a3 LISTRIGHTS Sent anyone") == [b'* LISTRIGHTS "Sent" "anyone" ""']
    wire.no("a4 GETACL Trash", code="NONEXISTENT")


def test_setacl_and_deleteacl_are_refused_in_words(wire):
    assert b"Sharing cannot be changed" in wire.no("a1 SETACL INBOX bob lrs", code="NOPERM")  # RFC 4314 §3.1
    wire.no("a2 SETACL INBOX bob +w", code="NOPERM")
    wire.no("a3 DELETEACL INBOX bob", code="NOPERM")  # §3.2
    wire.bad("a4 SETACL INBOX bob lrQ")  # §3.1: an unknown right is BAD


def test_getquotaroot_reports_real_usage(wire, account, demo_mail):
    size = sum(f.total_size for f in Folder.objects.filter(mailbox=account.mailbox))
    kib = (size + 1023) // 1024
    quota = b'* QUOTA "" (STORAGE %d %d MESSAGE 12 %d)' % (
        kib,
        limits.QUOTA_STORAGE_KIB,
        limits.QUOTA_MESSAGES,
    )
    assert wire.ok("q1 GETQUOTAROOT INBOX") == [b'* QUOTAROOT "INBOX" ""', quota]  # RFC 9208 §4.1.2
    assert wire.ok('q2 GETQUOTA ""') == [quota]  # §4.1.1
    wire.no("q3 GETQUOTA other", code="NONEXISTENT")
    wire.no("q4 GETQUOTAROOT Trash", code="NONEXISTENT")


def test_empty_mailbox_quota(wire):
    assert wire.ok('q1 GETQUOTA ""') == [
        b'* QUOTA "" (STORAGE 0 %d MESSAGE 0 %d)' % (limits.QUOTA_STORAGE_KIB, limits.QUOTA_MESSAGES)
    ]


def test_setquota_is_refused(wire):
    assert b"set by MailKite" in wire.no('q1 SETQUOTA "" (STORAGE 100)', code="NOPERM")  # RFC 9208 §4.1.3
