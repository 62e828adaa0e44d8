"""The command parser: every command form → its dataclass, every malformed form → a clean BAD
sentence that never echoes the input (RFC 9051 §6-§9 and the extension RFCs named per row)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from imapd import command as c
from imapd.command import BodySection as Sec
from imapd.command import SequenceSet as Seq
from imapd.parser import BadCharset, ParseError, UnknownCommand, command_name, parse, parse_append_prefix
from imapd.parser_core import decode_mailbox

ALL = c.SearchAll()
SEEN = c.SearchFlag("\\Seen")
S1 = Seq(((1, 1),))
ANY = Seq(((1, None),))

CASES: list[tuple[str, bytes, c.Command]] = [
    # any state: RFC 9051 §6.1, RFC 2971, RFC 5161, RFC 4978
    ("capability", b"a1 CAPABILITY", c.Capability("a1")),
    ("lower-case", b"a1 capability", c.Capability("a1")),
    ("noop", b"a NOOP", c.Noop("a")),
    ("logout", b"a LOGOUT", c.Logout("a")),
    ("tag-with-bracket", b"a]1 NOOP", c.Noop("a]1")),
    ("trailing-space", b"a NOOP ", c.Noop("a")),
    ("id-nil", b"a ID NIL", c.Id("a", None)),
    ("id-pairs", b'a ID ("name" "Thunderbird" "os" NIL)', c.Id("a", (("name", "Thunderbird"), ("os", None)))),
    ("id-empty", b"a ID ()", c.Id("a", ())),
    ("id-literal", b'a ID ({4}\r\nname "x")', c.Id("a", (("name", "x"),))),
    ("enable", b"a ENABLE condstore UTF8=ACCEPT", c.Enable("a", ("CONDSTORE", "UTF8=ACCEPT"))),
    ("compress", b"a COMPRESS deflate", c.Compress("a", "DEFLATE")),
    # not authenticated: RFC 9051 §6.2, RFC 4959
    ("login-atoms", b"a LOGIN fred mk_imap_x", c.Login("a", b"fred", b"mk_imap_x")),
    ("login-quoted", b'a LOGIN "fr\\"ed" "p w"', c.Login("a", b'fr"ed', b"p w")),
    ("login-literals", b"a LOGIN {4}\r\nfred {3+}\r\np\xc3\xa9", c.Login("a", b"fred", "pé".encode())),
    ("auth-plain", b"a AUTHENTICATE plain", c.Authenticate("a", "PLAIN")),
    ("auth-sasl-ir", b"a AUTHENTICATE PLAIN AGZyZWQAcHc=", c.Authenticate("a", "PLAIN", b"\0fred\0pw")),
    ("auth-sasl-ir-empty", b"a AUTHENTICATE PLAIN =", c.Authenticate("a", "PLAIN", b"")),
    # authenticated: RFC 9051 §6.3, RFC 7162
    ("select", b"a SELECT inbox", c.Select("a", "INBOX")),
    ("select-quoted", b'a SELECT "Sent"', c.Select("a", "Sent")),
    ("select-condstore", b"a SELECT INBOX (CONDSTORE)", c.Select("a", "INBOX", condstore=True)),
    (
        "select-qresync-rfc7162",
        b"a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541 (1:10 41:50)))",
        c.Select(
            "a",
            "INBOX",
            qresync=c.QResync(
                67890007,
                20050715194045000,
                Seq(((41, 41), (43, 211), (214, 541))),
                (Seq(((1, 10),)), Seq(((41, 50),))),
            ),
        ),
    ),
    (
        "select-qresync-short",
        b"a SELECT INBOX (QRESYNC (1 0))",
        c.Select("a", "INBOX", qresync=c.QResync(1, 0)),
    ),
    ("examine", b"a EXAMINE Sent", c.Examine("a", "Sent")),
    ("mutf7", b"a SELECT &ZeVnLIqe-", c.Select("a", "日本語")),
    ("utf8-raw", 'a SELECT "Entwürfe"'.encode(), c.Select("a", "Entwürfe")),
    ("bare-ampersand", b'a SELECT "Tom & Jerry"', c.Select("a", "Tom & Jerry")),
    ("create", b"a CREATE Trash", c.Create("a", "Trash")),
    ("create-special-use", b"a CREATE Bin (USE (\\trash))", c.Create("a", "Bin", ("\\Trash",))),
    ("delete", b"a DELETE Trash", c.Delete("a", "Trash")),
    ("rename", b"a RENAME Old New", c.Rename("a", "Old", "New")),
    ("subscribe", b"a SUBSCRIBE Trash", c.Subscribe("a", "Trash")),
    ("unsubscribe", b"a UNSUBSCRIBE Trash", c.Unsubscribe("a", "Trash")),
    ("list", b'a LIST "" *', c.List("a", "", ("*",))),
    ("list-percent", b"a LIST ~/ %", c.List("a", "~/", ("%",))),
    ("list-empty-pattern", b'a LIST "" ""', c.List("a", "", ("",))),
    (
        "list-extended-rfc5258",
        b'a LIST (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" "Sent*") RETURN (CHILDREN STATUS (MESSAGES UNSEEN))',
        c.List(
            "a",
            "",
            ("INBOX", "Sent*"),
            ("SUBSCRIBED", "RECURSIVEMATCH"),
            ("CHILDREN",),
            ("MESSAGES", "UNSEEN"),
            True,
        ),
    ),
    (
        "list-return-special-use",
        b'a LIST "" "*" RETURN (SPECIAL-USE)',
        c.List("a", "", ("*",), returns=("SPECIAL-USE",), extended=True),
    ),
    ("lsub", b'a LSUB "" "*"', c.Lsub("a", "", "*")),
    ("xlist", b'a XLIST "" "*"', c.Xlist("a", "", "*")),
    ("namespace", b"a NAMESPACE", c.Namespace("a")),
    (
        "status",
        b"a STATUS INBOX (messages UIDNEXT HIGHESTMODSEQ SIZE APPENDLIMIT)",
        c.Status("a", "INBOX", ("MESSAGES", "UIDNEXT", "HIGHESTMODSEQ", "SIZE", "APPENDLIMIT")),
    ),
    ("append-bare", b"a APPEND Sent {3+}\r\nabc", c.Append("a", "Sent", (), None, 3, message=b"abc")),
    (
        "append-flags-date",
        b'a APPEND Sent (\\seen $Sent) " 1-Jan-2024 10:00:00 +0100" {2+}\r\nhi',
        c.Append(
            "a",
            "Sent",
            ("\\Seen", "$Sent"),
            datetime(2024, 1, 1, 10, 0, tzinfo=timezone(timedelta(hours=1))),
            2,
            message=b"hi",
        ),
    ),
    ("append-literal8", b"a APPEND Sent ~{2+}\r\n\0\1", c.Append("a", "Sent", (), None, 2, True, b"\0\1")),
    ("getquotaroot", b"a GETQUOTAROOT INBOX", c.GetQuotaRoot("a", "INBOX")),
    ("getquota", b'a GETQUOTA ""', c.GetQuota("a", "")),
    (
        "setquota",
        b'a SETQUOTA "" (STORAGE 512 message 10)',
        c.SetQuota("a", "", (("STORAGE", 512), ("MESSAGE", 10))),
    ),
    ("myrights", b"a MYRIGHTS INBOX", c.MyRights("a", "INBOX")),
    ("getacl", b"a GETACL INBOX", c.GetAcl("a", "INBOX")),
    ("setacl", b"a SETACL INBOX fred +lrs", c.SetAcl("a", "INBOX", "fred", "+lrs")),
    ("deleteacl", b"a DELETEACL INBOX fred", c.DeleteAcl("a", "INBOX", "fred")),
    ("listrights", b"a LISTRIGHTS INBOX fred", c.ListRights("a", "INBOX", "fred")),
    ("idle", b"a IDLE", c.Idle("a")),
    # selected: RFC 9051 §6.4, RFC 4315, RFC 6851
    ("check", b"a CHECK", c.Check("a")),
    ("close", b"a CLOSE", c.Close("a")),
    ("unselect", b"a UNSELECT", c.Unselect("a")),
    ("expunge", b"a EXPUNGE", c.Expunge("a")),
    ("uid-expunge", b"a UID EXPUNGE 3:5,9", c.Expunge("a", Seq(((3, 5), (9, 9))))),
    ("copy", b"a COPY 1:* Sent", c.Copy("a", False, ANY, "Sent")),
    ("uid-copy", b"a uid copy 4 Sent", c.Copy("a", True, Seq(((4, 4),)), "Sent")),
    ("move", b"a MOVE 1 Trash", c.Move("a", False, S1, "Trash")),
    ("uid-move-ios", b"B41 UID MOVE 1 Sent", c.Move("B41", True, S1, "Sent")),
    ("copy-saved", b"a COPY $ Sent", c.Copy("a", False, Seq(saved=True), "Sent")),
    # FETCH: RFC 9051 §6.4.5, RFC 3516, RFC 7162
    ("fetch-flags", b"a FETCH 1 FLAGS", c.Fetch("a", False, S1, ("FLAGS",))),
    ("fetch-list", b"a FETCH 1 (uid rfc822.size)", c.Fetch("a", False, S1, ("UID", "RFC822.SIZE"))),
    (
        "fetch-all",
        b"a FETCH 1 ALL",
        c.Fetch("a", False, S1, ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE")),
    ),
    ("fetch-fast", b"a FETCH 1 fast", c.Fetch("a", False, S1, ("FLAGS", "INTERNALDATE", "RFC822.SIZE"))),
    (
        "fetch-full",
        b"a FETCH 1 FULL",
        c.Fetch("a", False, S1, ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY")),
    ),
    (
        "fetch-simple-items",
        b"a FETCH 1 (ENVELOPE BODY BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT MODSEQ INTERNALDATE)",
        c.Fetch(
            "a",
            False,
            S1,
            (
                "ENVELOPE",
                "BODY",
                "BODYSTRUCTURE",
                "RFC822",
                "RFC822.HEADER",
                "RFC822.TEXT",
                "MODSEQ",
                "INTERNALDATE",
            ),
        ),
    ),
    ("fetch-dedupe", b"a FETCH 1 (FLAGS FLAGS)", c.Fetch("a", False, S1, ("FLAGS",))),
    ("fetch-body-all", b"a FETCH 1 BODY[]", c.Fetch("a", False, S1, (Sec(),))),
    (
        "fetch-peek",
        b"a FETCH 1 BODY.PEEK[TEXT]",
        c.Fetch("a", False, S1, (Sec(peek=True, specifier="TEXT"),)),
    ),
    ("fetch-part", b"a FETCH 1 BODY[1.2.3]", c.Fetch("a", False, S1, (Sec(part=(1, 2, 3)),))),
    ("fetch-mime", b"a FETCH 1 BODY[2.MIME]", c.Fetch("a", False, S1, (Sec(part=(2,), specifier="MIME"),))),
    (
        "fetch-part-header",
        b"a FETCH 1 BODY[3.HEADER]",
        c.Fetch("a", False, S1, (Sec(part=(3,), specifier="HEADER"),)),
    ),
    (
        "fetch-header-fields",
        b"a FETCH 1 BODY.PEEK[HEADER.FIELDS (From Subject)]<0.1024>",
        c.Fetch(
            "a",
            False,
            S1,
            (Sec(True, specifier="HEADER.FIELDS", fields=("From", "Subject"), partial=(0, 1024)),),
        ),
    ),
    (
        "fetch-header-fields-not",
        b"a FETCH 1 BODY[header.fields.not (X-Spam)]",
        c.Fetch("a", False, S1, (Sec(specifier="HEADER.FIELDS.NOT", fields=("X-Spam",)),)),
    ),
    (
        "fetch-binary",
        b"a FETCH 1 BINARY[1]<5.10>",
        c.Fetch("a", False, S1, (Sec(binary=True, part=(1,), partial=(5, 10)),)),
    ),
    ("fetch-binary-peek", b"a FETCH 1 BINARY.PEEK[]", c.Fetch("a", False, S1, (Sec(True, True),))),
    (
        "fetch-binary-size",
        b"a FETCH 1 BINARY.SIZE[1.1]",
        c.Fetch("a", False, S1, (Sec(False, True, True, (1, 1)),)),
    ),
    (
        "uid-fetch-changedsince-vanished",
        b"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)",
        c.Fetch("a", True, ANY, ("FLAGS",), 12345, True),
    ),
    (
        "fetch-changedsince-0-ios",
        b"a FETCH 1:* FLAGS (CHANGEDSINCE 0)",
        c.Fetch("a", False, ANY, ("FLAGS",), 0),
    ),
    ("fetch-star", b"a FETCH * UID", c.Fetch("a", False, Seq(((None, None),)), ("UID",))),
    # STORE: RFC 9051 §6.4.6, RFC 7162 §3.1.3
    ("store-set", b"a STORE 1 FLAGS (\\Seen)", c.Store("a", False, S1, "set", ("\\Seen",))),
    ("store-clear", b"a STORE 1 FLAGS ()", c.Store("a", False, S1, "set", ())),
    (
        "store-add-silent",
        b"a UID STORE 1:3 +flags.silent (\\SEEN $Junk)",
        c.Store("a", True, Seq(((1, 3),)), "add", ("\\Seen", "$Junk"), True),
    ),
    (
        "store-remove-bare",
        b"a STORE 1 -FLAGS \\Flagged NonJunk",
        c.Store("a", False, S1, "remove", ("\\Flagged", "NonJunk")),
    ),
    (
        "store-unchangedsince",
        b"a STORE 1 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
        c.Store("a", False, S1, "add", ("\\Deleted",), True, 320162338),
    ),
    (
        "store-all-system-flags",
        b"a STORE 1 FLAGS (\\answered \\draft \\deleted)",
        c.Store("a", False, S1, "set", ("\\Answered", "\\Draft", "\\Deleted")),
    ),
    # SEARCH: RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 4731, RFC 5182, RFC 7162
    ("search-all", b"a SEARCH ALL", c.Search("a", False, ALL)),
    ("uid-search", b"a UID SEARCH UNSEEN", c.Search("a", True, c.SearchFlag("\\Seen", False))),
    ("search-implicit-and", b"a SEARCH SEEN ALL", c.Search("a", False, c.SearchAnd((SEEN, ALL)))),
    ("search-group", b"a SEARCH (SEEN)", c.Search("a", False, SEEN)),
    (
        "search-or-not",
        b"a SEARCH OR SEEN NOT FLAGGED",
        c.Search("a", False, c.SearchOr(SEEN, c.SearchNot(c.SearchFlag("\\Flagged")))),
    ),
    ("search-seq", b"a SEARCH 1:5,7", c.Search("a", False, c.SearchSeq(Seq(((1, 5), (7, 7)))))),
    ("search-saved", b"a SEARCH $", c.Search("a", False, c.SearchSeq(Seq(saved=True)))),
    ("search-uid", b"a SEARCH UID 10:*", c.Search("a", False, c.SearchUid(Seq(((10, None),))))),
    (
        "search-flags",
        b"a SEARCH ANSWERED DELETED DRAFT UNANSWERED UNDELETED UNDRAFT UNFLAGGED",
        c.Search(
            "a",
            False,
            c.SearchAnd(
                (
                    c.SearchFlag("\\Answered"),
                    c.SearchFlag("\\Deleted"),
                    c.SearchFlag("\\Draft"),
                    c.SearchFlag("\\Answered", False),
                    c.SearchFlag("\\Deleted", False),
                    c.SearchFlag("\\Draft", False),
                    c.SearchFlag("\\Flagged", False),
                )
            ),
        ),
    ),
    ("search-recent", b"a SEARCH RECENT", c.Search("a", False, c.SearchFlag("\\Recent"))),
    (
        "search-new",
        b"a SEARCH NEW",
        c.Search("a", False, c.SearchAnd((c.SearchFlag("\\Recent"), c.SearchFlag("\\Seen", False)))),
    ),
    ("search-old", b"a SEARCH OLD", c.Search("a", False, c.SearchFlag("\\Recent", False))),
    ("search-keyword", b"a SEARCH KEYWORD $Junk", c.Search("a", False, c.SearchFlag("$Junk"))),
    ("search-unkeyword", b"a SEARCH UNKEYWORD $Junk", c.Search("a", False, c.SearchFlag("$Junk", False))),
    ("search-from", b'a SEARCH FROM "alice"', c.Search("a", False, c.SearchHeader("FROM", "alice"))),
    (
        "search-subject-atom",
        b"a SEARCH subject hello",
        c.Search("a", False, c.SearchHeader("SUBJECT", "hello")),
    ),
    (
        "search-bcc",
        b"a SEARCH BCC x CC y TO z",
        c.Search(
            "a",
            False,
            c.SearchAnd((c.SearchHeader("BCC", "x"), c.SearchHeader("CC", "y"), c.SearchHeader("TO", "z"))),
        ),
    ),
    (
        "search-header",
        b'a SEARCH HEADER Message-ID "<x@y>"',
        c.Search("a", False, c.SearchHeader("MESSAGE-ID", "<x@y>")),
    ),
    ("search-body", b"a SEARCH BODY invoice", c.Search("a", False, c.SearchBody("invoice"))),
    ("search-text", b"a SEARCH TEXT invoice", c.Search("a", False, c.SearchText("invoice"))),
    (
        "search-utf8-literal",
        b"a SEARCH CHARSET UTF-8 SUBJECT {6}\r\nd\xc3\xa9j\xc3\xa0",
        c.Search("a", False, c.SearchHeader("SUBJECT", "déjà"), "UTF-8"),
    ),
    (
        "search-since",
        b"a SEARCH SINCE 1-Feb-2024",
        c.Search("a", False, c.SearchDate("since", date(2024, 2, 1))),
    ),
    (
        "search-before-quoted",
        b'a SEARCH BEFORE "01-feb-2024"',
        c.Search("a", False, c.SearchDate("before", date(2024, 2, 1))),
    ),
    ("search-on", b"a SEARCH ON 29-Feb-2024", c.Search("a", False, c.SearchDate("on", date(2024, 2, 29)))),
    (
        "search-sentsince",
        b"a SEARCH SENTSINCE 1-Jan-2020",
        c.Search("a", False, c.SearchDate("since", date(2020, 1, 1), True)),
    ),
    (
        "search-sentbefore",
        b"a SEARCH SENTBEFORE 1-Jan-2020",
        c.Search("a", False, c.SearchDate("before", date(2020, 1, 1), True)),
    ),
    (
        "search-senton",
        b"a SEARCH SENTON 1-Jan-2020",
        c.Search("a", False, c.SearchDate("on", date(2020, 1, 1), True)),
    ),
    ("search-larger", b"a SEARCH LARGER 1000", c.Search("a", False, c.SearchSize("larger", 1000))),
    ("search-smaller", b"a SEARCH SMALLER 10", c.Search("a", False, c.SearchSize("smaller", 10))),
    ("search-modseq", b"a SEARCH MODSEQ 620162338", c.Search("a", False, c.SearchModSeq(620162338))),
    (
        "search-modseq-entry-rfc7162",
        b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338',
        c.Search("a", False, c.SearchModSeq(620162338, "/flags/\\draft", "all")),
    ),
    (
        "search-return-esearch",
        b"a SEARCH RETURN (MIN MAX COUNT) ALL",
        c.Search("a", False, ALL, returns=("MIN", "MAX", "COUNT")),
    ),
    ("search-return-empty", b"a SEARCH RETURN () ALL", c.Search("a", False, ALL, returns=())),
    ("search-return-save", b"a UID SEARCH RETURN (SAVE) SEEN", c.Search("a", True, SEEN, returns=("SAVE",))),
    ("search-charset-ascii", b"a SEARCH CHARSET us-ascii ALL", c.Search("a", False, ALL)),
    # SORT and THREAD: RFC 5256, RFC 5267
    (
        "sort",
        b"a SORT (REVERSE ARRIVAL subject) UTF-8 ALL",
        c.Sort("a", False, (c.SortCriterion("ARRIVAL", True), c.SortCriterion("SUBJECT")), "UTF-8", ALL),
    ),
    (
        "uid-sort-display",
        b"a UID SORT (DISPLAYFROM DISPLAYTO CC DATE FROM SIZE TO) US-ASCII SEEN",
        c.Sort(
            "a",
            True,
            tuple(
                c.SortCriterion(k) for k in ("DISPLAYFROM", "DISPLAYTO", "CC", "DATE", "FROM", "SIZE", "TO")
            ),
            "US-ASCII",
            SEEN,
        ),
    ),
    (
        "esort",
        b"a SORT RETURN (COUNT) (DATE) UTF-8 ALL",
        c.Sort("a", False, (c.SortCriterion("DATE"),), "UTF-8", ALL, ("COUNT",)),
    ),
    ("thread-references", b"a THREAD REFERENCES UTF-8 ALL", c.Thread("a", False, "REFERENCES", "UTF-8", ALL)),
    (
        "uid-thread-orderedsubject",
        b"a UID THREAD orderedsubject US-ASCII SEEN",
        c.Thread("a", True, "ORDEREDSUBJECT", "US-ASCII", SEEN),
    ),
]


@pytest.mark.parametrize(("data", "expected"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_parse(data: bytes, expected: c.Command) -> None:
    assert parse(data) == expected


# Malformed commands: (id, input, tag, sentence). Each input carries the marker "q7z" where it can,
# and no sentence may contain it (client input is never echoed).
SEQ = "The sequence set is not valid."
FLAG = "A flag in the command is not valid."
DATE = "A date in the command is not valid."
SECTION = "A body section in FETCH is not valid."
FETCH = "FETCH needs a message set and data items."
KEY = "A search key is not known or lacks its argument."
UNKNOWN = "The command is not known."

BAD: list[tuple[str, bytes, str | None, str]] = [
    ("no-tag", b"+q7z NOOP", None, "The command must start with a valid tag."),
    ("only-tag", b"q7z", "q7z", "The command name is missing."),
    ("unknown", b"a q7z", "a", UNKNOWN),
    (
        "uid-unknown",
        b"a UID q7z 1",
        "a",
        "UID must be followed by COPY, MOVE, FETCH, SEARCH, SORT, THREAD, STORE or EXPUNGE.",
    ),
    ("noop-args", b"a NOOP q7z", "a", "NOOP takes no arguments."),
    ("capability-args", b"a CAPABILITY q7z", "a", "CAPABILITY takes no arguments."),
    ("login-missing-password", b"a LOGIN q7z", "a", "LOGIN needs a user name and a password."),
    ("login-extra", b"a LOGIN u p q7z", "a", "LOGIN needs a user name and a password."),
    ("login-bad-escape", b'a LOGIN "q7z\\n" p', "a", "A quoted string in the command is not valid."),
    ("login-unterminated", b'a LOGIN "q7z p', "a", "A quoted string in the command is not valid."),
    ("login-short-literal", b"a LOGIN {9}\r\nq7z p", "a", "A literal in the command is not valid."),
    ("auth-bad-base64", b"a AUTHENTICATE PLAIN q7z!", "a", "The initial response is not valid base64."),
    ("id-odd", b'a ID ("q7z")', "a", "ID needs NIL or a list of up to 30 field and value pairs."),
    ("id-nil-field", b'a ID (NIL "q7z")', "a", "ID needs NIL or a list of up to 30 field and value pairs."),
    (
        "id-too-many",
        b"a ID (" + b" ".join(b'"k%d" "q7z"' % i for i in range(31)) + b")",
        "a",
        "ID needs NIL or a list of up to 30 field and value pairs.",
    ),
    (
        "id-field-too-long",
        b'a ID ("k" "' + b"q7z" * 400 + b'")',
        "a",
        "ID needs NIL or a list of up to 30 field and value pairs.",
    ),
    ("fetch-zero", b"a FETCH 0 q7z", "a", SEQ),
    ("fetch-zero-range", b"a FETCH 1:0 FLAGS", "a", SEQ),
    ("fetch-bad-set", b"a FETCH 1,q7z FLAGS", "a", SEQ),
    ("fetch-huge-number", b"a FETCH 99999999999 FLAGS", "a", SEQ),
    ("fetch-no-items", b"a FETCH 1", "a", FETCH),
    ("fetch-unknown-item", b"a FETCH 1 q7z", "a", "A FETCH data item is not valid."),
    ("fetch-empty-list", b"a FETCH 1 ()", "a", FETCH),
    ("fetch-mime-without-part", b"a FETCH 1 BODY[MIME] q7z", "a", SECTION),
    ("fetch-binary-text", b"a FETCH 1 BINARY[TEXT] q7z", "a", SECTION),
    ("fetch-bad-specifier", b"a FETCH 1 BODY[q7z]", "a", SECTION),
    ("fetch-dot-end", b"a FETCH 1 BODY[1.] q7z", "a", SECTION),
    ("fetch-no-dot", b"a FETCH 1 BODY[1TEXT] q7z", "a", SECTION),
    ("fetch-part-zero", b"a FETCH 1 BODY[0] q7z", "a", SECTION),
    ("fetch-header-colon", b"a FETCH 1 BODY[HEADER.FIELDS (q7z:)]", "a", SECTION),
    ("fetch-peek-without-section", b"a FETCH 1 BODY.PEEK q7z", "a", "A FETCH data item is not valid."),
    (
        "fetch-vanished-no-uid",
        b"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)",
        "a",
        "VANISHED needs UID FETCH with CHANGEDSINCE.",
    ),
    (
        "fetch-vanished-alone",
        b"a UID FETCH 1 FLAGS (VANISHED)",
        "a",
        "VANISHED needs UID FETCH with CHANGEDSINCE.",
    ),
    ("fetch-modifier", b"a FETCH 1 FLAGS (q7z)", "a", "A FETCH modifier is not supported."),
    ("uid-fetch-usage", b"a UID FETCH 1", "a", "UID FETCH needs a message set and data items."),
    ("store-recent", b"a STORE 1 +FLAGS (\\Recent q7z)", "a", FLAG),
    ("store-unknown-system-flag", b"a STORE 1 +FLAGS \\q7z", "a", FLAG),
    ("store-wildcard", b"a STORE 1 +FLAGS (\\*)", "a", FLAG),
    (
        "store-bad-item",
        b"a STORE 1 q7z (\\Seen)",
        "a",
        "STORE needs a message set, FLAGS, +FLAGS or -FLAGS, and flags.",
    ),
    (
        "store-no-flags",
        b"a STORE 1 FLAGS",
        "a",
        "STORE needs a message set, FLAGS, +FLAGS or -FLAGS, and flags.",
    ),
    ("store-long-keyword", b"a STORE 1 +FLAGS " + b"q7z" * 50, "a", FLAG),
    ("store-modifier", b"a STORE 1 (q7z 1) FLAGS ()", "a", "A STORE modifier is not supported."),
    ("copy-no-mailbox", b"a COPY 1", "a", "COPY needs a message set and a mailbox name."),
    ("mailbox-control-char", b"a SELECT {4}\r\nq7z\n", "a", "The mailbox name is not valid."),
    ("mailbox-bad-utf8", b'a SELECT "q7z\xff"', "a", "The mailbox name is not valid."),
    (
        "select-param",
        b"a SELECT INBOX (q7z)",
        "a",
        "Only the CONDSTORE and QRESYNC parameters are supported.",
    ),
    (
        "select-qresync-zero-uidvalidity",
        b"a SELECT INBOX (QRESYNC (0 1))",
        "a",
        "A number in the command is not valid.",
    ),
    ("list-selection", b'a LIST (q7z) "" *', "a", "A LIST selection option is not supported."),
    (
        "list-recursivematch-alone",
        b'a LIST (RECURSIVEMATCH) "" q7z',
        "a",
        "A LIST selection option is not supported.",
    ),
    ("list-return", b'a LIST "" * RETURN (q7z)', "a", "A LIST return option is not supported."),
    ("list-missing-pattern", b'a LIST "q7z"', "a", "LIST needs a reference and a mailbox pattern."),
    ("status-item", b"a STATUS INBOX (q7z)", "a", "A STATUS item is not supported."),
    ("status-empty", b"a STATUS INBOX ()", "a", "STATUS needs a mailbox name and a list of status items."),
    ("append-no-literal", b"a APPEND INBOX q7z", "a", "A literal in the command is not valid."),
    (
        "append-two-messages",
        b"a APPEND INBOX {1+}\r\nq {3+}\r\nq7z",
        "a",
        "APPEND needs a mailbox name, optional flags and date, and one message literal.",
    ),
    ("append-bad-date", b'a APPEND INBOX "31-Feb-2024 10:00:00 +0000" {3+}\r\nq7z', "a", DATE),
    ("append-bad-zone", b'a APPEND INBOX "1-Feb-2024 10:00:00 q7z" {1+}\r\nx', "a", DATE),
    ("search-empty", b"a SEARCH", "a", "SEARCH needs search keys."),
    ("search-unknown-key", b"a SEARCH q7z", "a", KEY),
    ("search-missing-argument", b"a SEARCH FROM", "a", KEY),
    ("search-bad-date", b"a SEARCH SINCE q7z", "a", DATE),
    ("search-bad-month", b"a SEARCH SINCE 1-q7z-2024", "a", DATE),
    # A day past a C int raised OverflowError, not ValueError: a traceback and a BYE (issue 10).
    ("search-huge-day", b"a SEARCH SINCE 4294967295-Jan-2024", "a", DATE),
    ("append-huge-day", b'a APPEND INBOX "4294967295-Jan-2024 10:00:00 +0000" {1+}\r\nx', "a", DATE),
    ("search-unclosed", b"a SEARCH (SEEN q7z", "a", KEY),
    ("search-empty-group", b"a SEARCH () q7z", "a", "SEARCH needs search keys."),
    ("search-return", b"a SEARCH RETURN (q7z) ALL", "a", "A SEARCH return option is not supported."),
    (
        "search-bad-utf8",
        b'a SEARCH CHARSET UTF-8 BODY "q7z\xc3"',
        "a",
        "A search string is not valid in its charset.",
    ),
    ("search-too-deep", b"a SEARCH " + b"NOT " * 100 + b"q7z", "a", "The search is nested too deeply."),
    (
        "search-too-deep-parens",
        b"a SEARCH " + b"(" * 100 + b"q7z" + b")" * 100,
        "a",
        "The search is nested too deeply.",
    ),
    ("sort-criterion", b"a SORT (q7z) UTF-8 ALL", "a", "A SORT criterion is not supported."),
    ("sort-reverse-alone", b"a SORT (REVERSE) UTF-8 q7z", "a", "A SORT criterion is not supported."),
    ("sort-no-charset", b"a SORT (DATE)", "a", "SORT needs sort criteria, a charset and search keys."),
    ("thread-algorithm", b"a THREAD q7z UTF-8 ALL", "a", "The THREAD algorithm is not supported."),
    ("uid-expunge-no-set", b"a UID EXPUNGE", "a", "UID EXPUNGE needs a UID set."),
]


@pytest.mark.parametrize(("data", "tag", "text"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_malformed(data: bytes, tag: str | None, text: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse(data)
    assert (caught.value.tag, caught.value.text) == (tag, text)
    assert "q7z" not in caught.value.text and "q7z" not in str(caught.value)


@pytest.mark.parametrize(
    "data",
    [b"a SEARCH CHARSET q7z ALL", b"a UID SORT (DATE) q7z ALL", b"a THREAD REFERENCES KOI8-R ALL"],
    ids=["search", "sort", "thread"],
)
def test_bad_charset_is_distinguishable(data: bytes) -> None:
    """The server answers NO [BADCHARSET (US-ASCII UTF-8)] instead of BAD (RFC 9051 §6.4.4)."""
    with pytest.raises(BadCharset) as caught:
        parse(data)
    assert caught.value.tag == "a" and "q7z" not in caught.value.text


def test_unknown_command_is_distinguishable() -> None:
    with pytest.raises(UnknownCommand):
        parse(b"a XYZZY")


# -- APPEND before its literal (DESIGN.md §5: refused before the upload) -------------------------------

PREFIXES = [
    ("plain", b"a APPEND Sent {310}", c.Append("a", "Sent", (), None, 310)),
    (
        "flags-date",
        b'a append "Sent" (\\Seen) "05-Mar-2024 08:00:00 -0500" {99}',
        c.Append(
            "a", "Sent", ("\\Seen",), datetime(2024, 3, 5, 8, 0, tzinfo=timezone(timedelta(hours=-5))), 99
        ),
    ),
    ("literal-mailbox", b"a APPEND {4}\r\nSent {7}", c.Append("a", "Sent", (), None, 7)),
    ("literal8", b"a APPEND Sent ~{7}", c.Append("a", "Sent", (), None, 7, binary=True)),
]


@pytest.mark.parametrize(("prefix", "expected"), [p[1:] for p in PREFIXES], ids=[p[0] for p in PREFIXES])
def test_parse_append_prefix(prefix: bytes, expected: c.Append) -> None:
    assert parse_append_prefix(prefix) == expected


@pytest.mark.parametrize(
    "prefix", [b"a LOGIN {4}", b"a SEARCH TEXT {4}", b"a APPEND Sent", b"+ APPEND x {1}"]
)
def test_parse_append_prefix_refuses_others(prefix: bytes) -> None:
    with pytest.raises(ParseError):
        parse_append_prefix(prefix)


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"a APPEND x {3}", "APPEND"), (b"a uid fetch 1 FLAGS", "UID FETCH"), (b"a", None), (b"+", None)],
)
def test_command_name(data: bytes, name: str | None) -> None:
    assert command_name(data) == name


# -- values --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "name"),
    [
        (Sec(), "BODY[]"),
        (
            Sec(peek=True, specifier="HEADER.FIELDS", fields=("FROM", "SUBJECT"), partial=(0, 100)),
            "BODY[HEADER.FIELDS (FROM SUBJECT)]<0>",
        ),
        (Sec(part=(1, 2), specifier="MIME"), "BODY[1.2.MIME]"),
        (Sec(part=(3,), partial=(100, 50)), "BODY[3]<100>"),
        (Sec(peek=True, binary=True, part=(1,)), "BINARY[1]"),
        (Sec(binary=True, size_only=True, part=(2,)), "BINARY.SIZE[2]"),
        (Sec(specifier="TEXT"), "BODY[TEXT]"),
    ],
    ids=["all", "fields-partial", "mime", "partial", "binary-peek", "binary-size", "text"],
)
def test_response_name(section: Sec, name: str) -> None:
    """RFC 9051 §7.5.2: the response names the section without .PEEK and with the origin only."""
    assert section.response_name() == name


@pytest.mark.parametrize(
    ("seq", "largest", "resolved"),
    [
        (Seq(((1, None),)), 5, [(1, 5)]),
        (Seq(((None, None),)), 5, [(5, 5)]),
        (Seq(((9, None),)), 5, [(5, 5)]),
        (Seq(((4, 2),)), 5, [(2, 4)]),
        (Seq(((1, 2), (3, 3), (7, 9))), 8, [(1, 3), (7, 8)]),
        (Seq(((10, 12),)), 5, []),
        (Seq(((1, None),)), 0, []),
        (Seq(((5, 6), (1, 2), (2, 3))), 10, [(1, 3), (5, 6)]),
    ],
    ids=["to-star", "star", "star-below", "reversed", "merged-clipped", "above", "empty-mailbox", "unsorted"],
)
def test_sequence_set_resolve(seq: Seq, largest: int, resolved: list[tuple[int, int]]) -> None:
    assert seq.resolve(largest) == resolved
    members = {n for low, high in resolved for n in range(low, high + 1)}
    assert {n for n in range(0, largest + 3) if seq.contains(n, largest)} == members


def test_sequence_set_text() -> None:
    assert str(Seq(((1, 3), (7, 7), (9, None)))) == "1:3,7,9:*"
    assert str(Seq(saved=True)) == "$"
    with pytest.raises(ValueError):
        Seq(saved=True).resolve(3)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"inbox", "INBOX"),
        (b"InBoX", "INBOX"),
        (b"&ZeVnLIqe-", "日本語"),
        (b"Entw&APw-rfe", "Entwürfe"),
        (b"A&-B", "A&B"),
        (b"R&D", "R&D"),
        ("Größe".encode(), "Größe"),
        (b"x\x00", None),
        (b"\xff", None),
    ],
    ids=["inbox", "inbox-mixed", "mutf7-cjk", "mutf7-umlaut", "amp", "bare-amp", "utf8", "nul", "bad-utf8"],
)
def test_decode_mailbox(raw: bytes, name: str | None) -> None:
    assert decode_mailbox(raw) == name


def test_secrets_not_in_repr() -> None:
    """A logged command never shows the password or the SASL data."""
    assert "hunter2" not in repr(parse(b"a LOGIN fred hunter2"))
    assert "AGZy" not in repr(parse(b"a AUTHENTICATE PLAIN AGZyZWQAaHVudGVyMg=="))
    assert "hunter2" not in repr(parse(b"a AUTHENTICATE PLAIN AGZyZWQAaHVudGVyMg=="))
