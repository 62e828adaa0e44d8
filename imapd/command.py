"""The parsed form of every IMAP command: frozen dataclasses, one class per command.

Handlers dispatch on the class (`type(command)`), so two commands never share a class; UID forms
are the same class with `uid=True`. Every command has `tag`. Values are already decoded: mailbox
names to str (modified UTF-7 or UTF-8, "INBOX" normalised), flags to their canonical spelling,
numbers to int, dates to `datetime.date`/`datetime.datetime`. Secrets (LOGIN password, SASL data)
are left out of `repr()` so a logged command never shows them. Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

# -- shared values -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequenceSet:
    """A sequence set (RFC 9051 §9): ranges of numbers, None standing for "*".

    `saved` is the SEARCHRES "$" marker (RFC 5182), which has no ranges of its own.
    """

    ranges: tuple[tuple[int | None, int | None], ...] = ()
    saved: bool = False

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Sorted, merged (low, high) ranges within 1..largest; "*" is `largest`.

        A range above `largest` is dropped, but "n:*" always includes `largest` (RFC 9051 §6.4.8).
        """
        if self.saved:
            raise ValueError("the saved search result must be substituted before resolving")
        if largest <= 0:
            return []
        spans = sorted(self._span(r, largest) for r in self.ranges)
        merged: list[tuple[int, int]] = []
        for low, high in spans:
            if high > largest:
                high = largest
            if low > high:
                continue
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        return merged

    def contains(self, n: int, largest: int) -> bool:
        if self.saved:
            raise ValueError("the saved search result must be substituted before testing")
        if n < 1 or n > largest:
            return False
        return any(low <= n <= high for low, high in (self._span(r, largest) for r in self.ranges))

    def __str__(self) -> str:
        """The wire form, e.g. "1:3,7,9:*" or "$"."""
        if self.saved:
            return "$"

        def one(value: int | None) -> str:
            return "*" if value is None else str(value)

        parts = (one(a) if a == b else f"{one(a)}:{one(b)}" for a, b in self.ranges)
        return ",".join(parts)

    @staticmethod
    def _span(rng: tuple[int | None, int | None], largest: int) -> tuple[int, int]:
        low = largest if rng[0] is None else rng[0]
        high = largest if rng[1] is None else rng[1]
        return (low, high) if low <= high else (high, low)


Mailbox = str  # decoded mailbox name; "INBOX" in any case is always "INBOX"


@dataclass(frozen=True)
class Command:
    tag: str


# -- any state (RFC 9051 §6.1, RFC 2971, RFC 5161, RFC 4978) -------------------------------------------


@dataclass(frozen=True)
class Capability(Command):
    pass


@dataclass(frozen=True)
class Noop(Command):
    pass


@dataclass(frozen=True)
class Logout(Command):
    pass


@dataclass(frozen=True)
class Id(Command):
    """`params` is None for `ID NIL`; values may be None (NIL)."""

    params: tuple[tuple[str, str | None], ...] | None


@dataclass(frozen=True)
class Enable(Command):
    capabilities: tuple[str, ...]  # upper case, e.g. ("CONDSTORE", "UTF8=ACCEPT")


@dataclass(frozen=True)
class Compress(Command):
    mechanism: str  # upper case; only "DEFLATE" exists (RFC 4978)


# -- not authenticated (RFC 9051 §6.2, RFC 4959) -------------------------------------------------------


@dataclass(frozen=True)
class Login(Command):
    user: bytes
    password: bytes = field(repr=False)


@dataclass(frozen=True)
class Authenticate(Command):
    """`initial_response` is the decoded SASL-IR data: None when absent, b"" for "="."""

    mechanism: str
    initial_response: bytes | None = field(default=None, repr=False)


# -- authenticated (RFC 9051 §6.3 and extensions) ------------------------------------------------------


@dataclass(frozen=True)
class QResync:
    """SELECT's QRESYNC parameter (RFC 7162 §3.2.5)."""

    uidvalidity: int
    modseq: int
    known_uids: SequenceSet | None = None
    seq_match: tuple[SequenceSet, SequenceSet] | None = None  # (sequence numbers, their UIDs)


@dataclass(frozen=True)
class Select(Command):
    mailbox: Mailbox
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True)
class Examine(Command):
    mailbox: Mailbox
    condstore: bool = False
    qresync: QResync | None = None


@dataclass(frozen=True)
class Create(Command):
    mailbox: Mailbox
    special_use: tuple[str, ...] = ()  # RFC 6154 CREATE ... (USE (\Sent))


@dataclass(frozen=True)
class Delete(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class Rename(Command):
    old: Mailbox
    new: Mailbox


@dataclass(frozen=True)
class Subscribe(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class Unsubscribe(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class List(Command):
    """LIST, basic or RFC 5258 LIST-EXTENDED (`extended` when options or several patterns came)."""

    reference: str
    patterns: tuple[str, ...]
    selection: tuple[str, ...] = ()  # SUBSCRIBED REMOTE RECURSIVEMATCH SPECIAL-USE
    returns: tuple[str, ...] = ()  # SUBSCRIBED CHILDREN SPECIAL-USE (STATUS is in status_items)
    status_items: tuple[str, ...] | None = None  # RETURN (STATUS (...)), RFC 5819
    extended: bool = False


@dataclass(frozen=True)
class Lsub(Command):
    reference: str
    pattern: str


@dataclass(frozen=True)
class Xlist(Command):
    reference: str
    pattern: str


@dataclass(frozen=True)
class Namespace(Command):
    pass


@dataclass(frozen=True)
class Status(Command):
    mailbox: Mailbox
    items: tuple[str, ...]  # upper case, in the order asked


@dataclass(frozen=True)
class Append(Command):
    """APPEND of one message. `message` is None when only the part before the literal was parsed."""

    mailbox: Mailbox
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int
    binary: bool = False  # literal8 "~{N}" (RFC 3516)
    message: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GetQuotaRoot(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class GetQuota(Command):
    root: str


@dataclass(frozen=True)
class SetQuota(Command):
    root: str
    limits: tuple[tuple[str, int], ...]  # (resource in upper case, limit)


@dataclass(frozen=True)
class MyRights(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class GetAcl(Command):
    mailbox: Mailbox


@dataclass(frozen=True)
class SetAcl(Command):
    mailbox: Mailbox
    identifier: str
    rights: str  # as sent, with its optional leading "+" or "-"


@dataclass(frozen=True)
class DeleteAcl(Command):
    mailbox: Mailbox
    identifier: str


@dataclass(frozen=True)
class ListRights(Command):
    mailbox: Mailbox
    identifier: str


@dataclass(frozen=True)
class Idle(Command):
    pass


# -- selected (RFC 9051 §6.4 and extensions) -----------------------------------------------------------


@dataclass(frozen=True)
class Check(Command):
    pass


@dataclass(frozen=True)
class Close(Command):
    pass


@dataclass(frozen=True)
class Unselect(Command):
    pass


@dataclass(frozen=True)
class Expunge(Command):
    """EXPUNGE, or UID EXPUNGE (RFC 4315) when `uids` is set."""

    uids: SequenceSet | None = None


# SEARCH keys (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5): a tree of the classes below.


@dataclass(frozen=True)
class SearchAll:
    pass


@dataclass(frozen=True)
class SearchSeq:
    """Message sequence numbers, or "$" (the saved result) when `numbers.saved`."""

    numbers: SequenceSet


@dataclass(frozen=True)
class SearchUid:
    uids: SequenceSet


@dataclass(frozen=True)
class SearchFlag:
    """A system flag (`\\Seen`, also `\\Recent`) or keyword being set (`present`) or not."""

    flag: str
    present: bool = True


@dataclass(frozen=True)
class SearchHeader:
    """FROM/TO/CC/BCC/SUBJECT x (field in upper case) and HEADER field x: substring of that field."""

    field: str
    value: str


@dataclass(frozen=True)
class SearchBody:
    value: str


@dataclass(frozen=True)
class SearchText:
    value: str


@dataclass(frozen=True)
class SearchDate:
    """BEFORE/ON/SINCE on the internal date, or SENT* (`sent`) on the Date: header."""

    op: Literal["before", "on", "since"]
    day: date
    sent: bool = False


@dataclass(frozen=True)
class SearchSize:
    op: Literal["larger", "smaller"]
    size: int


@dataclass(frozen=True)
class SearchModSeq:
    """MODSEQ [entry-name entry-type] n (RFC 7162 §3.1.5): messages with mod-sequence >= n."""

    modseq: int
    entry: str | None = None
    entry_type: str | None = None  # "priv", "shared" or "all"


@dataclass(frozen=True)
class SearchNot:
    key: SearchKey


@dataclass(frozen=True)
class SearchOr:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True)
class SearchAnd:
    keys: tuple[SearchKey, ...]


SearchKey = (
    SearchAll
    | SearchSeq
    | SearchUid
    | SearchFlag
    | SearchHeader
    | SearchBody
    | SearchText
    | SearchDate
    | SearchSize
    | SearchModSeq
    | SearchNot
    | SearchOr
    | SearchAnd
)


@dataclass(frozen=True)
class Search(Command):
    """`returns` is None for a plain SEARCH, else the RFC 4731 options (() means ALL)."""

    uid: bool
    key: SearchKey
    charset: str = "US-ASCII"
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SortCriterion:
    key: str  # ARRIVAL CC DATE FROM SIZE SUBJECT TO DISPLAYFROM DISPLAYTO
    reverse: bool = False


@dataclass(frozen=True)
class Sort(Command):
    """SORT (RFC 5256); `returns` for ESORT (RFC 5267), as in Search."""

    uid: bool
    criteria: tuple[SortCriterion, ...]
    charset: str
    key: SearchKey
    returns: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Thread(Command):
    uid: bool
    algorithm: str  # REFERENCES or ORDEREDSUBJECT
    charset: str
    key: SearchKey


@dataclass(frozen=True)
class BodySection:
    """BODY[...]<...>, BODY.PEEK, BINARY[...], BINARY.PEEK and BINARY.SIZE (RFC 9051 §6.4.5)."""

    peek: bool = False
    binary: bool = False
    size_only: bool = False  # BINARY.SIZE
    part: tuple[int, ...] = ()
    specifier: str = ""  # "", HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT, TEXT, MIME
    fields: tuple[str, ...] = ()  # for HEADER.FIELDS[.NOT], as the client spelled them
    partial: tuple[int, int] | None = None  # (origin octet, octet count)

    def response_name(self) -> str:
        """The name the FETCH response echoes: no .PEEK, and only the origin of a partial."""
        name = "BINARY.SIZE" if self.size_only else "BINARY" if self.binary else "BODY"
        section = ".".join(str(n) for n in self.part)
        if self.specifier:
            section = f"{section}.{self.specifier}" if section else self.specifier
        if self.fields:
            section += " (" + " ".join(self.fields) + ")"
        origin = f"<{self.partial[0]}>" if self.partial is not None else ""
        return f"{name}[{section}]{origin}"


# Plain FETCH items are upper-case names: FLAGS UID INTERNALDATE RFC822.SIZE ENVELOPE BODY
# BODYSTRUCTURE RFC822 RFC822.HEADER RFC822.TEXT MODSEQ. Macros are already expanded.
FetchItem = str | BodySection


@dataclass(frozen=True)
class Fetch(Command):
    uid: bool
    sequence: SequenceSet
    items: tuple[FetchItem, ...]
    changedsince: int | None = None  # RFC 7162 §3.1.4
    vanished: bool = False  # RFC 7162 §3.2.6, UID FETCH only


@dataclass(frozen=True)
class Store(Command):
    uid: bool
    sequence: SequenceSet
    action: Literal["set", "add", "remove"]  # FLAGS, +FLAGS, -FLAGS
    flags: tuple[str, ...]
    silent: bool = False
    unchangedsince: int | None = None  # RFC 7162 §3.1.3


@dataclass(frozen=True)
class Copy(Command):
    uid: bool
    sequence: SequenceSet
    mailbox: Mailbox


@dataclass(frozen=True)
class Move(Command):
    uid: bool
    sequence: SequenceSet
    mailbox: Mailbox
