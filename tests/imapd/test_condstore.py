"""CONDSTORE and QRESYNC (RFC 7162), one exchange per line. The demo INBOX holds 10 messages,
UIDs 1-10 with modseqs 2-11 (a folder starts at HIGHESTMODSEQ 1 and each delivery takes one).
Nothing is expunged through IMAP, so VANISHED is tested with tombstones written as retention
would write them: the message row goes, an Expunged row with a new modseq comes."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.models import F

from imapd import store
from mailkite.mail.models import Expunged, Folder, Message

pytestmark = pytest.mark.django_db(transaction=True)


def inbox(account) -> Folder:
    return Folder.objects.get(mailbox=account.mailbox, name="INBOX")


def expunge(account, *uids: int) -> None:
    """What retention does: remove the rows and leave tombstones, each with a new modseq."""
    folder = inbox(account)
    for uid in uids:
        with transaction.atomic():
            Folder.objects.filter(pk=folder.pk).update(highest_modseq=F("highest_modseq") + 1)
            modseq = Folder.objects.get(pk=folder.pk).highest_modseq
            Message.objects.filter(folder=folder, uid=uid).delete()
            Expunged.objects.create(folder=folder, uid=uid, modseq=modseq)


def flag_elsewhere(account, uid: int) -> None:
    """Another client flags a message, through the store port."""
    store.store_flags(inbox(account).pk, [uid], mode="add", bits=4, keywords=())


def test_highestmodseq_in_select_examine_and_status(wire, demo_mail):
    assert b"* OK [HIGHESTMODSEQ 11] Highest mailbox mod-sequence" in wire.ok("s1 SELECT INBOX")  # §3.1.2.1
    assert b"* OK [HIGHESTMODSEQ 3] Highest mailbox mod-sequence" in wire.ok("s2 EXAMINE Sent")
    assert wire.ok("s3 STATUS INBOX (HIGHESTMODSEQ MESSAGES)") == [
        b'* STATUS "INBOX" (HIGHESTMODSEQ 11 MESSAGES 10)'
    ]


def test_an_empty_folder_reports_modseq_1_never_0(wire):
    assert wire.ok("s1 STATUS Sent (HIGHESTMODSEQ)") == [
        b'* STATUS "Sent" (HIGHESTMODSEQ 1)'
    ]  # IMAP-NOTES 12
    assert b"* OK [HIGHESTMODSEQ 1] Highest mailbox mod-sequence" in wire.ok("s2 SELECT Sent (CONDSTORE)")


def test_fetch_modseq(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("f1 FETCH 1 (MODSEQ)") == [b"* 1 FETCH (MODSEQ (2))"]  # §3.1.4.1
    assert wire.ok("f2 UID FETCH 10 (MODSEQ FLAGS)") == [b"* 10 FETCH (UID 10 MODSEQ (11) FLAGS ())"]


def test_fetch_changedsince(wire, account, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert len(wire.ok("f1 FETCH 1:* (FLAGS) (CHANGEDSINCE 0)")) == 10  # iOS sends 0 (IMAP-NOTES 12)
    assert wire.ok("f2 FETCH 1:* (FLAGS) (CHANGEDSINCE 10)") == [
        b"* 10 FETCH (FLAGS () MODSEQ (11))"
    ]  # §3.1.4
    assert wire.ok("f3 FETCH 1:* (FLAGS) (CHANGEDSINCE 11)") == []
    wire.ok("f4 STORE 3 +FLAGS.SILENT (\\Flagged)")
    assert wire.ok("f5 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 11)") == [
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged) MODSEQ (12))"
    ]


def test_store_reports_uid_and_modseq_once_condstore_is_on(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("t1 STORE 3 +FLAGS (\\Flagged)") == [b"* 3 FETCH (FLAGS (\\Flagged))"]  # not enabled yet
    wire.ok("e1 ENABLE CONDSTORE")
    assert wire.ok("t2 STORE 4 +FLAGS (\\Flagged)") == [
        b"* 4 FETCH (FLAGS (\\Flagged) UID 4 MODSEQ (13))"
    ]  # §3.1
    assert wire.ok("t3 STORE 5 +FLAGS.SILENT (\\Seen)") == [
        b"* 5 FETCH (UID 5 MODSEQ (14))"
    ]  # §3.1.3 example
    assert wire.ok("t4 UID STORE 5 -FLAGS (\\Seen)") == [b"* 5 FETCH (FLAGS () UID 5 MODSEQ (15))"]


def test_select_condstore_parameter_enables_it(wire, demo_mail):
    wire.ok("s1 SELECT INBOX (CONDSTORE)")  # §3.1.8
    assert wire.ok("t1 STORE 1 +FLAGS (\\Answered)") == [b"* 1 FETCH (FLAGS (\\Answered) UID 1 MODSEQ (12))"]


def test_implicit_seen_carries_uid_and_modseq(wire, demo_mail):
    wire.ok("e1 ENABLE CONDSTORE")
    wire.ok("s1 SELECT INBOX")
    (line,) = wire.ok("f1 FETCH 2 (BODY[TEXT]<0.5>)")
    assert line.startswith(b"* 2 FETCH (UID 2 BODY[TEXT]<0> {5}\r\n")
    assert line.endswith(b" FLAGS (\\Seen) MODSEQ (12))")  # §3.1: a FETCH that set \Seen


def test_store_unchangedsince(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    lines, tagged = wire.exchange("t1 STORE 1,6 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)")  # §3.1.3
    assert lines == [
        b"* 1 FETCH (FLAGS (\\Seen) UID 1 MODSEQ (12))",
        b"* 6 FETCH (FLAGS () UID 6 MODSEQ (7))",
    ]
    assert tagged.startswith(b"t1 OK [MODIFIED 6] ")
    _, tagged = wire.exchange("t2 UID STORE 2:3 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)")  # 0 always fails
    assert tagged.startswith(b"t2 OK [MODIFIED 2:3] ")
    assert wire.ok("f1 FETCH 2:3 (FLAGS)") == [
        b"* 2 FETCH (FLAGS () MODSEQ (3))",
        b"* 3 FETCH (FLAGS () MODSEQ (4))",
    ]


def test_search_modseq(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("q1 SEARCH MODSEQ 10") == [b"* SEARCH 9 10 (MODSEQ 11)"]  # §3.1.5
    assert wire.ok('q2 SEARCH MODSEQ "/flags/\\\\seen" all 11') == [b"* SEARCH 10 (MODSEQ 11)"]
    assert wire.ok("q3 SEARCH MODSEQ 12") == [b"* SEARCH"]  # nothing found: no MODSEQ
    assert wire.ok("q4 UID SEARCH RETURN (MAX COUNT) MODSEQ 10") == [
        b'* ESEARCH (TAG "q4") UID MAX 10 COUNT 2 MODSEQ 11'
    ]
    # SEARCH MODSEQ enabled CONDSTORE: STORE now reports MODSEQ
    assert wire.ok("t1 STORE 1 +FLAGS (\\Seen)") == [b"* 1 FETCH (FLAGS (\\Seen) UID 1 MODSEQ (12))"]


def test_vanished_needs_qresync(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert b"ENABLE QRESYNC" in wire.bad("f1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")  # §3.2.6
    wire.bad("f2 FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")  # UID FETCH only
    assert b"ENABLE QRESYNC" in wire.bad("s2 SELECT INBOX (QRESYNC (1 1))")  # §3.2.5


def test_uid_fetch_vanished_reports_tombstones(wire, account, demo_mail):
    expunge(account, 2, 7)  # modseqs 12 and 13
    wire.ok("e1 ENABLE QRESYNC")
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("f1 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 11 VANISHED)") == [
        b"* VANISHED (EARLIER) 2,7"
    ]  # §3.2.6
    assert wire.ok("f2 UID FETCH 1:5 (FLAGS) (CHANGEDSINCE 11 VANISHED)") == [b"* VANISHED (EARLIER) 2"]
    assert wire.ok("f3 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12 VANISHED)") == [b"* VANISHED (EARLIER) 7"]
    lines = wire.ok("f4 UID FETCH 9:* (FLAGS) (CHANGEDSINCE 9 VANISHED)")
    assert lines == [b"* 7 FETCH (UID 9 FLAGS () MODSEQ (10))", b"* 8 FETCH (UID 10 FLAGS () MODSEQ (11))"]


def test_select_qresync_reports_what_changed(wire, account, demo_mail):
    uidvalidity = inbox(account).uidvalidity
    expunge(account, 2, 7)  # modseqs 12, 13
    flag_elsewhere(account, 5)  # modseq 14
    wire.ok("e1 ENABLE QRESYNC")
    lines = wire.ok(f"s1 SELECT INBOX (QRESYNC ({uidvalidity} 11))")  # §3.2.5
    assert lines[-3:] == [
        b"* OK [HIGHESTMODSEQ 14] Highest mailbox mod-sequence",
        b"* VANISHED (EARLIER) 2,7",
        b"* 4 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (14))",
    ]
    assert b"* 8 EXISTS" in lines
    lines = wire.ok(f"s2 SELECT INBOX (QRESYNC ({uidvalidity} 11 1:4))")  # known UIDs limit both
    assert lines[0] == b"* OK [CLOSED] Previous mailbox is now closed"  # §3.2.11
    assert lines[-2:] == [b"* OK [HIGHESTMODSEQ 14] Highest mailbox mod-sequence", b"* VANISHED (EARLIER) 2"]
    lines = wire.ok(f"s3 EXAMINE INBOX (QRESYNC ({uidvalidity} 12 1:* (1:3 1,3,4)))")
    assert lines[-2:] == [b"* VANISHED (EARLIER) 7", b"* 4 FETCH (UID 5 FLAGS (\\Flagged) MODSEQ (14))"]


def test_select_qresync_with_another_uidvalidity_reports_nothing(wire, account, demo_mail):
    expunge(account, 2)
    wire.ok("e1 ENABLE QRESYNC")
    lines = wire.ok("s1 SELECT INBOX (QRESYNC (1 1))")  # the client must resync fully (§3.2.5)
    assert lines[-1] == b"* OK [HIGHESTMODSEQ 12] Highest mailbox mod-sequence"


def test_an_expunge_elsewhere_reaches_a_selected_session(wire, connect, account, demo_mail):
    wire.ok("s1 SELECT INBOX")
    expunge(account, 3)
    assert wire.ok("n1 NOOP") == [b"* 3 EXPUNGE"]  # RFC 9051 §7.5.1
    assert wire.ok("f1 FETCH 3 (UID)") == [b"* 3 FETCH (UID 4)"]


def test_an_expunge_elsewhere_is_vanished_under_qresync(wire, account, demo_mail):
    wire.ok("e1 ENABLE QRESYNC")
    wire.ok("s1 SELECT INBOX")
    expunge(account, 3, 4)
    assert wire.ok("n1 NOOP") == [b"* VANISHED 3:4"]  # §3.2.10
    assert wire.ok("s2 SEARCH ALL") == [b"* SEARCH 1 2 3 4 5 6 7 8"]


def test_fetch_of_a_message_expunged_meanwhile_says_expungeissued(wire, account, demo_mail):
    wire.ok("s1 SELECT INBOX")
    expunge(account, 2)
    untagged, tagged = wire.exchange("f1 FETCH 1:3 (RFC822.SIZE)")
    assert [line.split(b" (")[0] for line in untagged] == [b"* 1 FETCH", b"* 3 FETCH"]
    assert tagged.startswith(b"f1 NO [EXPUNGEISSUED] ")  # RFC 9051 §7.1
    assert wire.ok("n1 NOOP") == [b"* 2 EXPUNGE"]
