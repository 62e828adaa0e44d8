"""STORE (RFC 9051 §6.4.6) against the read-mostly matrix (DESIGN §5) and the keyword caps
(IMAP-NOTES "Abuse seen at other servers", imapd.limits)."""

from __future__ import annotations

import pytest

from imapd import limits
from mailkite.mail.models import Folder

pytestmark = pytest.mark.django_db(transaction=True)


def fill_folder(account, count: int = limits.MAX_KEYWORDS_PER_FOLDER) -> None:
    Folder.objects.filter(mailbox=account.mailbox, name="INBOX").update(
        keywords=" ".join(f"k{i}" for i in range(count))
    )


def test_store_persists_flags_and_keywords(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("t1 STORE 1 +FLAGS ($Forwarded \\Flagged)") == [
        b"* 1 FETCH (FLAGS (\\Flagged $Forwarded))"
    ]
    assert wire.ok("t2 UID STORE 1 -FLAGS ($Forwarded)") == [
        b"* 1 FETCH (FLAGS (\\Flagged) UID 1)"
    ]  # IMAP-NOTES
    assert wire.ok("t3 STORE 2 FLAGS.SILENT (\\Seen $label1)") == []  # RFC 9051 §6.4.6
    assert wire.ok("f1 FETCH 2 (FLAGS)") == [b"* 2 FETCH (FLAGS (\\Seen $label1))"]


def test_keywords_are_case_insensitive_and_keep_the_first_spelling(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    wire.ok("t1 STORE 1 +FLAGS ($Label1)")
    assert wire.ok("t2 STORE 2 +FLAGS ($label1)") == [b"* 2 FETCH (FLAGS ($Label1))"]
    assert wire.ok("t3 STORE 1 -FLAGS ($LABEL1)") == [b"* 1 FETCH (FLAGS ())"]
    assert wire.ok("s2 SELECT INBOX")[0] == b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)"


def test_deleted_is_accepted_and_ignored(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("t1 STORE 1 +FLAGS (\\Deleted)") == [b"* 1 FETCH (FLAGS ())"]  # DESIGN §5
    assert wire.ok("x1 EXPUNGE") == []
    assert wire.ok("q1 SEARCH DELETED") == [b"* SEARCH"]


def test_store_under_examine_changes_nothing(wire, demo_mail):
    wire.ok("s1 EXAMINE INBOX", code="READ-ONLY")
    assert wire.ok("t1 STORE 1 +FLAGS (\\Flagged)") == []
    assert wire.ok("f1 FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())"]


def test_a_folder_full_of_keywords_drops_permanentflags_star_and_refuses_new_ones(wire, account, demo_mail):
    lines = wire.ok("s1 SELECT INBOX")
    assert b"* OK [PERMANENTFLAGS (\\Seen \\Flagged \\Answered \\Draft \\*)] Flags you can change" in lines
    fill_folder(account)
    lines = wire.ok("s2 SELECT INBOX")
    (permanent,) = [line for line in lines if b"PERMANENTFLAGS" in line]
    assert b"\\*" not in permanent and b" k255" in permanent  # RFC 9051 §7.1: no new keywords
    text = wire.no("t1 STORE 1 +FLAGS (brandnew)", code="LIMIT")
    assert b"already has 256 different keywords" in text
    assert wire.ok("t2 STORE 1 +FLAGS (k7 \\Seen)") == [
        b"* 1 FETCH (FLAGS (\\Seen k7))"
    ]  # known ones still work
    assert wire.ok("f1 FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS (\\Seen k7))"]


def test_the_folder_cap_counts_new_keywords_together(wire, account, demo_mail):
    fill_folder(account, limits.MAX_KEYWORDS_PER_FOLDER - 1)
    wire.ok("s1 SELECT INBOX")
    wire.no("t1 STORE 1 +FLAGS (new1 new2)", code="LIMIT")
    assert wire.ok("f1 FETCH 1 (FLAGS)") == [b"* 1 FETCH (FLAGS ())"]  # nothing of it was stored
    wire.ok("t2 STORE 1 +FLAGS (new1)")


def test_a_message_full_of_keywords_refuses_more(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    first = " ".join(f"a{i}" for i in range(40))
    second = " ".join(f"b{i}" for i in range(limits.MAX_KEYWORDS_PER_MESSAGE - 40 + 1))
    wire.ok(f"t1 STORE 1 +FLAGS ({first})")
    text = wire.no(f"t2 STORE 1 +FLAGS ({second})", code="LIMIT")
    assert b"at most 64 keywords" in text
    wire.ok(f"t3 STORE 2 +FLAGS ({second})")  # another message may still take them


def test_silent_store_of_deleted_still_reports_the_real_flags(connect, account, demo_mail):
    # RFC 9051 §6.4.6 lets .SILENT skip the FETCH, but \Deleted is dropped here (DESIGN §5), so
    # the client must learn the flags it really has (NeoMutt otherwise shows it deleted).
    client = connect()
    client.login("me", account.password)
    client.select("INBOX")
    typ, data = client.store(b"1", "+FLAGS.SILENT", "(\\Deleted)")
    assert typ == "OK"
    assert data == [b"1 (FLAGS ())"]
