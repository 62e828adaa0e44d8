"""Hypothesis strategies for IMAP commands: valid but extreme, and malformed (issue 10, "Tests").

A `Probe` is one command as a client puts it on the wire: the tag, then the line with its literals
inline (`{N}` CRLF N octets), and the lines a continuation request asks for (AUTHENTICATE's data,
IDLE's DONE or garbage in its place). Every command the server knows is here, in its normal form
and at its extremes: numbers at and past 2**32 and 2**63, sequence sets like `1:*,*:1,4294967295`,
nesting up to and past the limits, atoms and strings up to the line limit, literals of every kind,
8-bit and NUL bytes, CR without LF, impossible dates, unknown charsets, every FETCH attribute and
section, every SEARCH key. `malformed()` then breaks a valid command: cut short, a byte inserted,
a space dropped or doubled, or a token repeated.

No generated text holds a bare LF outside a literal: that would end the line early and make two
commands of one probe. `CANARY` is mixed into strings, atoms and names, so a test can check that
the server never echoes client input in a response text.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from hypothesis import strategies as st

CANARY = b"zqxCanary"
LINE_LIMIT = 64 * 1024  # imapd.limits.MAX_LINE: long values go up to it and a little past it


@dataclass(frozen=True)
class Probe:
    """One command: `wire` without its final CRLF; `followups` answer "+" requests in order."""

    wire: bytes
    followups: tuple[bytes, ...] = ()
    prefix: bytes = b""  # stray empty lines sent before it (iOS does, IMAP-NOTES 22)

    @property
    def tag(self) -> bytes:
        return self.wire.split(b" ", 1)[0]


def join(*parts: bytes) -> bytes:
    return b" ".join(parts)


# -- values ------------------------------------------------------------------------------------------

_NUMBERS = [
    b"0",
    b"1",
    b"2",
    b"12",
    b"007",
    b"0000000000000000000001",
    b"-1",
    b"+1",
    b"1.5",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551616",
    b"99999999999999999999999",
    b"1" + b"0" * 40,
]
numbers = st.one_of(
    st.sampled_from(_NUMBERS),
    st.integers(0, 2**64).map(lambda n: str(n).encode()),
    st.integers(1, 20).map(lambda n: str(n).encode()),
)
seq_numbers = st.one_of(numbers, st.just(b"*"), st.integers(1, 15).map(lambda n: str(n).encode()))
_SEQ_EXTREMES = [
    b"1:*,*:1,4294967295",
    b"$",
    b"*",
    b"*:*",
    b"1:*",
    b"0",
    b"0:*",
    b"",
    b",",
    b"1,",
    b",1",
    b"1:",
    b":1",
    b"1,,2",
    b"1::2",
    b"1:2:3",
    b"4294967295:1",
    b"4294967296",
    b"1:4294967296",
    b"$,1",
    b"1 2",
]
sequence_sets = st.one_of(
    st.sampled_from(_SEQ_EXTREMES),
    st.lists(
        st.one_of(seq_numbers, st.tuples(seq_numbers, seq_numbers).map(lambda r: r[0] + b":" + r[1])),
        min_size=1,
        max_size=12,
    ).map(b",".join),
    # Thousands of ranges: a UID set of ~10,000 ranges must fit a line (imapd.limits.MAX_LINE).
    st.integers(1, 12_000).map(lambda n: b",".join(b"%d:%d" % (3 * i + 1, 3 * i + 2) for i in range(n))),
)

_ATOM_ALPHABET = b"abcXYZ019-._!#&'+,/;<=>?@^`|~$"
atoms = st.one_of(
    st.sampled_from([b"x", b"NIL", b"nil", CANARY, b"INBOX", b"$", b"\\", b"]", b"&", b"&-", b"\xc3\xa9"]),
    st.binary(min_size=1, max_size=40).map(
        lambda b: bytes(_ATOM_ALPHABET[c % len(_ATOM_ALPHABET)] for c in b)
    ),
    st.integers(1, LINE_LIMIT + 16).map(lambda n: (CANARY + b"a" * n)[:n]),
)


def _quote(raw: bytes) -> bytes:
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


# Bytes a string may carry: 8-bit, NUL, CR without LF, quotes and backslashes (escaped or not).
_odd_bytes = st.binary(max_size=24).map(lambda b: b.replace(b"\n", b"\r"))
quoted = st.one_of(
    st.sampled_from(
        [b'""', b'"' + CANARY + b'"', b'"a\\"b"', b'"\\\\"', b'"a\\b"', b'"unterminated', b'"\x00"']
    ),
    _odd_bytes.map(_quote),
    _odd_bytes.map(lambda b: b'"' + b + b'"'),  # unescaped: may break the string
    st.integers(0, LINE_LIMIT + 16).map(lambda n: b'"' + (CANARY + b"q" * n)[:n] + b'"'),
)


@st.composite
def literals(draw: st.DrawFn, content: st.SearchStrategy[bytes] | None = None) -> bytes:
    """A literal of any kind: synchronising, LITERAL- `{N+}` (to 4096 and past it), literal8 `~{N}`."""
    data = draw(
        content
        if content is not None
        else st.one_of(
            st.binary(max_size=64),
            st.sampled_from([CANARY, b"INBOX", b"DONE", b"\r\n", b"a\r\nb NOOP"]),
            st.integers(0, 9000).map(lambda n: b"L" * n),
        )
    )
    kind = draw(st.sampled_from([b"{%d}", b"{%d+}", b"~{%d}", b"{%d+}"]))
    # Now and then a size that lies, so the octets run into the rest of the command.
    size = draw(st.one_of(st.just(len(data)), st.just(len(data)), st.integers(0, len(data) + 3)))
    return kind % size + b"\r\n" + data


strings = st.one_of(quoted, literals())
astrings = st.one_of(atoms, quoted, literals())
nstrings = st.one_of(st.just(b"NIL"), quoted, literals())

mailboxes = st.one_of(
    st.sampled_from(
        [
            b"INBOX",
            b"inbox",
            b"Sent",
            b"sent",
            b'"Sent"',
            b'""',
            b"&ZeVnLIqe-",
            b"&",
            b"&-",
            b"&AAA",
            b"&Jjo-",
            b"\xe2\x98\x83",
            b"\xff\xfe",
            b"a/b",
            b"INBOX/x",
            b'"\x01"',
            b"Trash",
            CANARY,
        ]
    ),
    astrings,
)
# LIST patterns keep few wildcards: a pathological LIST is a known slow case handled elsewhere
# (issue 10 point 1), and the fuzzer is after tracebacks, not that.
list_patterns = st.one_of(
    st.sampled_from(
        [b'""', b"*", b"%", b"INBOX", b"*/*", b"%/%", b"I*", b"*X", b'"*"', b"&", b"Se%t", b"\xc3*"]
    ),
    mailboxes,
    st.lists(st.sampled_from([b"*", b"%", b"a", b"/", b"Z"]), min_size=1, max_size=6).map(b"".join),
)

_MONTHS = [b"Jan", b"Feb", b"jan", b"FEB", b"Dec", b"Foo", b""]
dates = st.one_of(
    st.sampled_from(
        [
            b"1-Jan-0000",
            b"31-Feb-2024",
            b"1-Jan-99999",
            b"31-Dec-9999",
            b"1-Jan-0001",
            b"0-Jan-2000",
            b"32-Jan-2000",
            b"29-Feb-2023",
            b"29-Feb-2024",
            b'"1-Jan-2000"',
            b'"1-Jan-2000',
            b"01-jan-2000",
            b"1-Jan-2000-1",
            b"-1-Jan-2000",
            b"1-Jan-",
            b"1--2000",
            b"4294967296-Jan-2000",
            b"4294967295-Jan-2000",
            b"2147483648-Feb-2000",
            b"1-Jan-18446744073709551616",
        ]
    ),
    st.tuples(numbers, st.sampled_from(_MONTHS), numbers).map(lambda t: t[0] + b"-" + t[1] + b"-" + t[2]),
)
date_times = st.one_of(
    st.sampled_from(
        [
            b'"01-Jan-2024 10:00:00 +0000"',
            b'" 1-Jan-2024 23:59:60 -1200"',
            b'"31-Dec-9999 23:59:59 -9999"',
            b'"1-Jan-0001 00:00:00 +9999"',
            b'"1-Jan-2024 24:00:00 +0000"',
            b'"1-Jan-2024 10:00:00"',
        ]
    ),
    st.tuples(dates, numbers, numbers).map(lambda t: b'"' + t[0] + b" " + t[1] + b":00:00 +" + t[2] + b'"'),
)
charsets = st.sampled_from(
    [b"US-ASCII", b"UTF-8", b"utf-8", b"ISO-8859-1", b"KOI8-R", b'""', b'"UTF-8"', b"{5}\r\nUTF-8", b"\xff"]
)

_FLAGS = [
    b"\\Seen",
    b"\\seen",
    b"\\Answered",
    b"\\Flagged",
    b"\\Deleted",
    b"\\Draft",
    b"\\Recent",
    b"\\*",
    b"\\",
    b"\\Junk",
    b"$Forwarded",
    b"$MDNSent",
    b"NonJunk",
    b"$label1",
    CANARY,
    b"a" * 129,
    b"\xc3\xa9",
    b"(",
    b"{3}\r\nabc",
]
flags = st.one_of(st.sampled_from(_FLAGS), atoms.filter(lambda a: len(a) < 200))
flag_lists = st.one_of(
    st.lists(flags, max_size=8).map(lambda f: b"(" + b" ".join(f) + b")"),
    st.integers(0, 300).map(lambda n: b"(" + b" ".join(b"$k%d" % i for i in range(n)) + b")"),
    st.sampled_from([b"(", b")", b"(()", b"(\\Seen", b"\\Seen)"]),
)


# -- SEARCH ------------------------------------------------------------------------------------------

_PLAIN_KEYS = [
    b"ALL",
    b"ANSWERED",
    b"DELETED",
    b"DRAFT",
    b"FLAGGED",
    b"SEEN",
    b"RECENT",
    b"NEW",
    b"OLD",
    b"UNANSWERED",
    b"UNDELETED",
    b"UNDRAFT",
    b"UNFLAGGED",
    b"UNSEEN",
    b"all",
    b"NOSUCHKEY",
]
_HEADER_KEYS = [b"FROM", b"TO", b"CC", b"BCC", b"SUBJECT", b"BODY", b"TEXT"]
_DATE_KEYS = [b"BEFORE", b"ON", b"SINCE", b"SENTBEFORE", b"SENTON", b"SENTSINCE"]
search_leaves = st.one_of(
    st.sampled_from(_PLAIN_KEYS),
    sequence_sets.filter(lambda s: len(s) < 200),
    st.tuples(st.sampled_from(_HEADER_KEYS), astrings).map(lambda t: join(*t)),
    st.tuples(astrings, astrings).map(lambda t: join(b"HEADER", *t)),
    st.tuples(st.sampled_from(_DATE_KEYS), dates).map(lambda t: join(*t)),
    st.tuples(st.sampled_from([b"LARGER", b"SMALLER"]), numbers).map(lambda t: join(*t)),
    st.tuples(st.sampled_from([b"KEYWORD", b"UNKEYWORD"]), flags).map(lambda t: join(*t)),
    sequence_sets.filter(lambda s: len(s) < 200).map(lambda s: join(b"UID", s)),
    numbers.map(lambda n: join(b"MODSEQ", n)),
    st.tuples(quoted, st.sampled_from([b"priv", b"shared", b"all", b"x"]), numbers).map(
        lambda t: join(b"MODSEQ", *t)
    ),
    st.sampled_from([b"OR", b"NOT", b"HEADER", b"(", b")", b"()", b"UID", b"SINCE", b"FROM"]),  # lacking args
)
search_keys = st.recursive(
    search_leaves,
    lambda inner: st.one_of(
        inner.map(lambda k: join(b"NOT", k)),
        st.tuples(inner, inner).map(lambda t: join(b"OR", *t)),
        st.lists(inner, min_size=1, max_size=4).map(lambda ks: b"(" + b" ".join(ks) + b")"),
    ),
    max_leaves=12,
)
# Nesting up to and past imapd.limits.MAX_SEARCH_DEPTH (64), and far past it.
deep_keys = st.tuples(st.sampled_from([b"(", b"NOT ", b"OR ALL "]), st.integers(1, 3000)).map(
    lambda t: t[0] * t[1] + b"ALL" + (b")" * t[1] if t[0] == b"(" else b"")
)
many_keys = st.tuples(
    st.sampled_from([b"SEEN", b"UID 1:*", b"1:*", b"NOT DELETED"]), st.integers(1, 400)
).map(lambda t: b" ".join([t[0]] * t[1]))
search_programs = st.tuples(
    st.sampled_from(
        [
            b"",
            b"RETURN () ",
            b"RETURN (MIN MAX COUNT ALL SAVE) ",
            b"RETURN (SAVE) ",
            b"RETURN (X) ",
            b"RETURN (",
            b"return (count) ",
        ]
    ),
    st.one_of(st.just(b""), charsets.map(lambda c: b"CHARSET " + c + b" ")),
    st.one_of(search_keys, search_keys, deep_keys, many_keys),
).map(b"".join)
sort_criteria = st.one_of(
    st.lists(
        st.sampled_from(
            [
                b"ARRIVAL",
                b"CC",
                b"DATE",
                b"FROM",
                b"SIZE",
                b"SUBJECT",
                b"TO",
                b"DISPLAYFROM",
                b"DISPLAYTO",
                b"REVERSE",
                b"X",
            ]
        ),
        max_size=12,
    ).map(lambda c: b"(" + b" ".join(c) + b")"),
    st.sampled_from([b"()", b"(REVERSE)", b"DATE", b"(DATE"]),
)


# -- FETCH and STORE ---------------------------------------------------------------------------------

_SIMPLE_ITEMS = [
    b"FLAGS",
    b"UID",
    b"INTERNALDATE",
    b"RFC822.SIZE",
    b"ENVELOPE",
    b"BODY",
    b"BODYSTRUCTURE",
    b"RFC822",
    b"RFC822.HEADER",
    b"RFC822.TEXT",
    b"MODSEQ",
    b"ALL",
    b"FAST",
    b"FULL",
    b"flags",
    b"X-GM-MSGID",
    b"BINARY",
    b"PREVIEW",
]
part_paths = st.one_of(
    st.just(b""),
    st.lists(
        st.sampled_from([b"1", b"2", b"3", b"0", b"4294967295", b"4294967296"]), min_size=1, max_size=6
    ).map(b".".join),
    st.integers(1, 2000).map(lambda n: b".".join([b"1"] * n)),
)
header_lists = st.one_of(
    st.lists(
        st.sampled_from(
            [
                b"X",
                b"Subject",
                b"FROM",
                b"Date",
                b'"Subject"',
                b"{4}\r\nDate",
                b"a:b",
                CANARY,
                b"\xc3\xa9",
                b"()",
            ]
        ),
        min_size=0,
        max_size=6,
    ).map(lambda h: b"(" + b" ".join(h) + b")"),
    st.integers(1, 3000).map(lambda n: b"(" + b" ".join(b"X-%d" % i for i in range(n)) + b")"),
)
specifiers = st.one_of(
    st.sampled_from(
        [b"", b"HEADER", b"TEXT", b"MIME", b"header", b"X", b"HEADER.FIELDS", b"HEADER.FIELDS.NOT"]
    ),
    st.tuples(st.sampled_from([b"HEADER.FIELDS", b"HEADER.FIELDS.NOT"]), header_lists).map(
        lambda t: join(*t)
    ),
)
partials = st.one_of(
    st.just(b""),
    st.tuples(numbers, numbers).map(lambda t: b"<" + t[0] + b"." + t[1] + b">"),
    st.sampled_from([b"<0.4294967295>", b"<4294967295.1>", b"<0>", b"<1.0>", b"<", b"<0.>", b"<.1>"]),
)


@st.composite
def sections(draw: st.DrawFn) -> bytes:
    name = draw(
        st.sampled_from([b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.PEEK", b"BINARY.SIZE", b"RFC822"])
    )
    part, spec = draw(part_paths), draw(specifiers)
    inside = part + (b"." if part and spec else b"") + spec
    if draw(st.booleans()):
        inside = draw(st.sampled_from([b"1.2.3.HEADER.FIELDS (X)", b"0", b"1.", b".1", b"1..2", b"[", b"]"]))
    return name + b"[" + inside + b"]" + draw(partials)


fetch_items = st.one_of(
    st.sampled_from(_SIMPLE_ITEMS),
    sections(),
    st.sampled_from([b"BODY[1.2.3.HEADER.FIELDS (X)]<0.4294967295>", b"BINARY[0]", b"BINARY.SIZE[1]<0.1>"]),
)
fetch_attributes = st.one_of(
    fetch_items,
    st.lists(fetch_items, min_size=0, max_size=8).map(lambda i: b"(" + b" ".join(i) + b")"),
    st.integers(1, 3000).map(lambda n: b"(" + b" ".join([b"FLAGS"] * n) + b")"),
)
fetch_modifiers = st.one_of(
    st.just(b""),
    st.sampled_from(
        [
            b" (CHANGEDSINCE 0)",
            b" (CHANGEDSINCE 1 VANISHED)",
            b" (VANISHED)",
            b" (CHANGEDSINCE)",
            b" (X 1)",
            b" ()",
        ]
    ),
    numbers.map(lambda n: b" (CHANGEDSINCE " + n + b")"),
)
store_items = st.tuples(
    st.sampled_from([b"", b"(UNCHANGEDSINCE 0) ", b"(UNCHANGEDSINCE 9223372036854775808) ", b"(X 1) "]),
    st.sampled_from(
        [
            b"FLAGS",
            b"+FLAGS",
            b"-FLAGS",
            b"FLAGS.SILENT",
            b"+FLAGS.SILENT",
            b"-flags.silent",
            b"X-FLAGS",
            b"+FLAGS.NOISY",
        ]
    ),
    st.one_of(flag_lists, st.lists(flags, min_size=0, max_size=5).map(b" ".join)),
).map(lambda t: t[0] + t[1] + b" " + t[2])


# -- commands ----------------------------------------------------------------------------------------

_STATUS_ITEMS = [
    b"MESSAGES",
    b"RECENT",
    b"UIDNEXT",
    b"UIDVALIDITY",
    b"UNSEEN",
    b"DELETED",
    b"SIZE",
    b"HIGHESTMODSEQ",
    b"APPENDLIMIT",
    b"X",
]
status_items = st.lists(st.sampled_from(_STATUS_ITEMS), max_size=12).map(lambda i: b"(" + b" ".join(i) + b")")
_base64 = st.one_of(
    st.sampled_from([b"=", b"AHVzZXIAcGFzcw==", b"AAA=", b"!!!!", b"AHVzZXI", b"====", b"*", b"", b"YQ"]),
    st.binary(max_size=48).map(lambda b: base64.b64encode(b)),
    st.binary(max_size=48).map(lambda b: bytes(c for c in b if c != 0x0A)),
)
_CAPS = [
    b"CONDSTORE",
    b"QRESYNC",
    b"UTF8=ACCEPT",
    b"IMAP4rev2",
    b"condstore",
    b"X-UNKNOWN",
    b"IMAP4rev1",
    b"(",
]
_id_pairs = st.one_of(
    st.lists(st.tuples(nstrings, nstrings), max_size=6).map(
        lambda p: b"(" + b" ".join(a + b" " + b for a, b in p) + b")"
    ),
    st.integers(0, 200).map(lambda n: b"(" + b" ".join(b'"f%d" "v%d"' % (i, i) for i in range(n)) + b")"),
    st.just(b'("name" "' + b"n" * 2000 + b'")'),
    st.sampled_from([b"NIL", b"nil", b"()", b'("name")', b"(", b"X"]),
)
_uid = st.sampled_from([b"", b"UID "])


def _command(name: bytes, *args: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    return st.tuples(*args).map(lambda values: join(name, *values) if values else name)


anywhere = st.one_of(
    st.sampled_from(
        [
            b"CAPABILITY",
            b"NOOP",
            b"LOGOUT",
            b"noop",
            b"CAPABILITY x",
            b"NOOP ",
            b"",
            b"UID",
            b"UID NOOP",
            b"XYZZY",
            b"STARTTLS",
            b"X" * 40,
        ]
    ),
    _command(b"ID", _id_pairs),
)
not_authenticated = st.one_of(
    _command(b"LOGIN", astrings, astrings),
    _command(b"AUTHENTICATE", st.sampled_from([b"PLAIN", b"plain", b"LOGIN", b"XOAUTH2", b"CRAM-MD5"])),
    _command(b"AUTHENTICATE PLAIN", _base64),
)
authenticated = st.one_of(
    st.sampled_from([b"NAMESPACE", b"IDLE", b"IDLE", b"LOGIN", b"SELECT"]),
    _command(b"ENABLE", st.lists(st.sampled_from(_CAPS), min_size=1, max_size=5).map(b" ".join)),
    _command(b"COMPRESS", st.sampled_from([b"DEFLATE", b"deflate", b"GZIP", b"DEFLATE DEFLATE"])),
    st.tuples(
        st.sampled_from([b"SELECT", b"EXAMINE"]),
        mailboxes,
        st.sampled_from(
            [
                b"",
                b" (CONDSTORE)",
                b" (QRESYNC (1 1))",
                b" (QRESYNC (4294967295 9223372036854775807 1:* (1 1)))",
                b" (QRESYNC (0 0))",
                b" (QRESYNC ())",
                b" (X)",
                b" ()",
            ]
        ),
    ).map(lambda t: t[0] + b" " + t[1] + t[2]),
    _command(b"CREATE", mailboxes, st.sampled_from([b"", b"(USE (\\Sent))", b"(USE (\\X))", b"(USE"])),
    _command(b"DELETE", mailboxes),
    _command(b"RENAME", mailboxes, mailboxes),
    _command(b"SUBSCRIBE", mailboxes),
    _command(b"UNSUBSCRIBE", mailboxes),
    _command(b"LIST", list_patterns, list_patterns),
    st.tuples(
        st.sampled_from(
            [b"", b"(SUBSCRIBED) ", b"(SPECIAL-USE RECURSIVEMATCH) ", b"(RECURSIVEMATCH) ", b"(X) "]
        ),
        list_patterns,
        st.one_of(
            list_patterns, st.lists(list_patterns, max_size=40).map(lambda p: b"(" + b" ".join(p) + b")")
        ),
        st.sampled_from(
            [
                b"",
                b" RETURN (CHILDREN SPECIAL-USE SUBSCRIBED)",
                b" RETURN (STATUS (MESSAGES UNSEEN))",
                b" RETURN (STATUS ())",
                b" RETURN (X)",
                b" RETURN",
            ]
        ),
    ).map(lambda t: b"LIST " + t[0] + t[1] + b" " + t[2] + t[3]),
    _command(b"LSUB", list_patterns, list_patterns),
    _command(b"XLIST", list_patterns, list_patterns),
    _command(b"STATUS", mailboxes, status_items),
    _command(
        b"APPEND",
        mailboxes,
        st.one_of(st.just(b""), flag_lists),
        st.one_of(st.just(b""), date_times),
        literals(),
    ),
    _command(b"GETQUOTAROOT", mailboxes),
    _command(b"GETQUOTA", astrings),
    _command(
        b"SETQUOTA", astrings, st.sampled_from([b"()", b"(STORAGE 1)", b"(STORAGE 99999999999999999999)"])
    ),
    _command(b"MYRIGHTS", mailboxes),
    _command(b"GETACL", mailboxes),
    _command(b"SETACL", mailboxes, astrings, st.sampled_from([b"lrsw", b"+a", b"-z", b"\xc3\xa9", b'""'])),
    _command(b"DELETEACL", mailboxes, astrings),
    _command(b"LISTRIGHTS", mailboxes, astrings),
)
selected = st.one_of(
    st.sampled_from([b"CHECK", b"CLOSE", b"UNSELECT", b"EXPUNGE", b"FETCH", b"EXPUNGE 1"]),
    st.tuples(_uid, sequence_sets, fetch_attributes, fetch_modifiers).map(
        lambda t: t[0] + b"FETCH " + t[1] + b" " + t[2] + t[3]
    ),
    st.tuples(_uid, sequence_sets, store_items).map(lambda t: t[0] + b"STORE " + t[1] + b" " + t[2]),
    st.tuples(_uid, st.sampled_from([b"COPY", b"MOVE"]), sequence_sets, mailboxes).map(
        lambda t: t[0] + t[1] + b" " + t[2] + b" " + t[3]
    ),
    sequence_sets.map(lambda s: b"UID EXPUNGE " + s),
    st.tuples(_uid, search_programs).map(lambda t: t[0] + b"SEARCH " + t[1]),
    st.tuples(_uid, search_programs).map(lambda t: t[0] + b"SEARCH " + t[1]),
    st.tuples(_uid, sort_criteria, charsets, search_keys).map(lambda t: t[0] + b"SORT " + join(*t[1:])),
    st.tuples(_uid, search_programs).map(lambda t: t[0] + b"SORT RETURN (ALL) (DATE) UTF-8 " + t[1]),
    st.tuples(_uid, st.sampled_from([b"REFERENCES", b"ORDEREDSUBJECT", b"X"]), charsets, search_keys).map(
        lambda t: t[0] + b"THREAD " + join(*t[1:])
    ),
)
# Most commands of a run are the ones its state allows; the others check the state machine.
WEIGHTS = {
    "not authenticated": ((anywhere, 1), (not_authenticated, 3), (authenticated, 1), (selected, 1)),
    "authenticated": ((anywhere, 1), (not_authenticated, 1), (authenticated, 4), (selected, 1)),
    "selected": ((anywhere, 1), (not_authenticated, 1), (authenticated, 2), (selected, 5)),
}


def command_bodies(state: str) -> st.SearchStrategy[bytes]:
    return st.one_of(*(group for group, weight in WEIGHTS[state] for _ in range(weight)))


tags = st.one_of(
    st.integers(1, 10**6).map(lambda n: b"F%d" % n),
    st.sampled_from([b"a", b"A1", b"x.y", b"9", b"t]", b"a" * 200, b"$tag"]),
)
bad_tags = st.sampled_from([b"*", b"+", b"+x", b"(", b'"t"', b"{1}", b"\xff", b"a%", b"", b"a\x00"])


def _idle_followups() -> st.SearchStrategy[tuple[bytes, ...]]:
    """What comes after "+ idling": DONE, or garbage instead of it (issue 10's "IDLE then garbage")."""
    return st.one_of(
        st.just((b"DONE",)),
        st.sampled_from(
            [(b"done",), (b"DONE x",), (b"",), (b"a NOOP",), (b"\x00",), (b"DON",), (b"\xffDONE",)]
        ),
        st.integers(0, LINE_LIMIT + 8).map(lambda n: (b"D" * n,)),
    )


@st.composite
def valid_probes(draw: st.DrawFn, state: str) -> Probe:
    """A well-tagged command, most often well-formed, at the extremes of its grammar."""
    tag = draw(tags)
    body = draw(command_bodies(state))
    followups: tuple[bytes, ...] = ()
    if body == b"IDLE":
        followups = draw(_idle_followups())
    elif body.upper() == b"AUTHENTICATE PLAIN":
        followups = (draw(_base64),)
    prefix = draw(st.sampled_from([b"", b"", b"", b"\r\n", b"\n", b"  \r\n", b"\r\n\r\n"]))
    return Probe(tag + b" " + body if body else tag, followups, prefix)


@st.composite
def malformed(draw: st.DrawFn, state: str) -> Probe:
    """A valid probe broken: cut short, a byte inserted, a space dropped or doubled, a token repeated."""
    probe = draw(valid_probes(state))
    wire = probe.wire
    how = draw(st.sampled_from(["cut", "insert", "space", "repeat", "tag", "bytes"]))
    at = draw(st.integers(0, len(wire)))
    if how == "cut":
        wire = wire[: max(at, 1)]
    elif how == "insert":
        byte = draw(
            st.sampled_from(
                [
                    b"\x00",
                    b"\r",
                    b"\xff",
                    b"(",
                    b")",
                    b'"',
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b"\\",
                    b"*",
                    b"%",
                    b"\t",
                    b"\x7f",
                    b"\x1b",
                    b"~",
                ]
            )
        )
        wire = wire[:at] + byte + wire[at:]
    elif how == "space":
        wire = wire[:at] + draw(st.sampled_from([b"", b" ", b"  "])) + wire[at + 1 :]
    elif how == "repeat":
        words = wire.split(b" ")
        i = draw(st.integers(0, len(words) - 1))
        words.insert(i, words[i] * draw(st.integers(1, 50)))
        wire = b" ".join(words)
    elif how == "tag":
        wire = draw(bad_tags) + b" " + wire.split(b" ", 1)[-1]
    else:
        wire = draw(st.binary(min_size=1, max_size=200).map(lambda b: b.replace(b"\n", b" ")))
    return Probe(wire, probe.followups, probe.prefix)


def probes(state: str) -> st.SearchStrategy[Probe]:
    """Commands for a connection in `state` ("not authenticated", "authenticated", "selected")."""
    return st.one_of(valid_probes(state), valid_probes(state), malformed(state))
