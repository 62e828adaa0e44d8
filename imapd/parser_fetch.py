"""Parse functions for the message commands: FETCH, STORE, COPY, MOVE, EXPUNGE and their UID forms.

FETCH items come back with macros expanded (ALL, FAST, FULL: RFC 9051 §6.4.5) and duplicates
dropped; body sections as `BodySection`. Section specifiers follow RFC 9051 §9 (`section-spec`):
MIME only after a part number, BINARY only with a part path. Flags are checked by the cursor
(system flags canonicalised, \\Recent refused). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from imapd import limits
from imapd.command import BodySection, Command, Copy, Expunge, Fetch, FetchItem, Move, SequenceSet, Store
from imapd.parser_core import Cursor

SIMPLE_ITEMS = frozenset(
    [
        "FLAGS",
        "UID",
        "INTERNALDATE",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
        "BODYSTRUCTURE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "MODSEQ",
    ]
)
MACROS: dict[str, tuple[str, ...]] = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
SECTIONED = {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"}
SPECIFIERS = frozenset({"HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"})
BAD_ITEM = "A FETCH data item is not valid."
BAD_SECTION = "A body section in FETCH is not valid."

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.")
# ftext (RFC 5322 §3.6.8): printable US-ASCII except ":"; header names are echoed, so no others.
_FIELD_CHARS = frozenset(range(0x21, 0x7F)) - {ord(":")}
_DIGITS = frozenset(b"0123456789")

# -- FETCH (RFC 9051 §6.4.5, RFC 3516, RFC 7162 §3.1.4 and §3.2.6) -------------------------------------


def parse_fetch(cur: Cursor, uid: bool) -> Fetch:
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    items: list[FetchItem] = []
    if cur.peek() == 0x28:
        for group in cur.paren_list(lambda: _fetch_att(cur), empty=False):
            items.extend(group)
    else:
        items.extend(_fetch_att(cur))
    changedsince: int | None = None
    vanished = False
    if cur.more():
        for name, value in cur.paren_list(lambda: _fetch_modifier(cur), empty=False):
            if name == "VANISHED":
                vanished = True
            else:
                changedsince = value
    cur.end()
    if vanished and (not uid or changedsince is None):
        cur.fail("VANISHED needs UID FETCH with CHANGEDSINCE.")  # RFC 7162 §3.2.6
    return Fetch(cur.tag, uid, sequence, tuple(dict.fromkeys(items)), changedsince, vanished)


def _fetch_att(cur: Cursor) -> tuple[FetchItem, ...]:
    name = cur.run(_NAME_CHARS).decode("ascii").upper()
    if name in MACROS:
        return MACROS[name]
    if name in SECTIONED and cur.peek() == 0x5B:
        return (_section(cur, name),)
    if name not in SIMPLE_ITEMS:
        cur.fail(BAD_ITEM)
    return (name,)


def _section(cur: Cursor, name: str) -> BodySection:
    """section = "[" [section-spec] "]" then, except for BINARY.SIZE, an optional "<origin.count>"."""
    binary = name.startswith("BINARY")
    cur.expect(b"[")
    part = _part_path(cur)
    specifier = ""
    fields: tuple[str, ...] = ()
    if cur.peek() != 0x5D:
        specifier = cur.run(_NAME_CHARS).decode("ascii").upper()
        if binary or specifier not in SPECIFIERS or (specifier == "MIME" and not part):
            cur.fail(BAD_SECTION)
        if specifier.startswith("HEADER.FIELDS"):
            cur.sp()
            fields = tuple(cur.paren_list(lambda: _header_name(cur), empty=False))
    cur.expect(b"]", BAD_SECTION)
    partial_range = None
    if name != "BINARY.SIZE" and cur.take(b"<"):
        origin = cur.number(text=BAD_SECTION)
        cur.expect(b".", BAD_SECTION)
        partial_range = (origin, cur.nz_number(BAD_SECTION))
        cur.expect(b">", BAD_SECTION)
    peek = name.endswith(".PEEK")
    return BodySection(peek, binary, name == "BINARY.SIZE", part, specifier, fields, partial_range)


def _part_path(cur: Cursor) -> tuple[int, ...]:
    """section-part = nz-number *("." nz-number), then "." before a specifier or "]"."""
    part: list[int] = []
    dotted = False
    while cur.peek() in _DIGITS:
        part.append(cur.nz_number(BAD_SECTION))
        dotted = cur.take(b".")
        if not dotted:
            break
    if part and dotted == (cur.peek() == 0x5D):  # "1.]" ends in a dot; "1TEXT" lacks one
        cur.fail(BAD_SECTION)
    return tuple(part)


def _header_name(cur: Cursor) -> str:
    raw = cur.astring()
    if not raw or any(byte not in _FIELD_CHARS for byte in raw):
        cur.fail(BAD_SECTION)
    return raw.decode("ascii")


def _fetch_modifier(cur: Cursor) -> tuple[str, int | None]:
    """CHANGEDSINCE n (0 accepted: iOS sends it, IMAP-NOTES 12) or VANISHED."""
    name = cur.keyword()
    if name == "VANISHED":
        return name, None
    if name != "CHANGEDSINCE":
        cur.fail("A FETCH modifier is not supported.")
    cur.sp()
    return name, cur.number(limits.MAX_NUMBER64)


# -- STORE (RFC 9051 §6.4.6, RFC 7162 §3.1.3) --------------------------------------------------------

_STORE_ACTIONS: dict[str, Literal["set", "add", "remove"]] = {
    "FLAGS": "set",
    "+FLAGS": "add",
    "-FLAGS": "remove",
}


def parse_store(cur: Cursor, uid: bool) -> Store:
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    unchangedsince = None
    if cur.peek() == 0x28:
        unchangedsince = cur.paren_list(lambda: _store_modifier(cur), empty=False)[-1]
        cur.sp()
    item = cur.atom().decode("ascii").upper()
    silent = item.endswith(".SILENT")
    action = _STORE_ACTIONS.get(item.removesuffix(".SILENT"))
    if action is None:
        cur.fail()
    cur.sp()
    if cur.peek() == 0x28:
        flags = cur.flag_list()
    else:
        found = [cur.flag()]
        while cur.more():
            found.append(cur.flag())
        if len(found) > limits.MAX_FLAGS_PER_COMMAND:
            cur.fail()
        flags = tuple(dict.fromkeys(found))
    cur.end()
    return Store(cur.tag, uid, sequence, action, flags, silent, unchangedsince)


def _store_modifier(cur: Cursor) -> int:
    if cur.keyword() != "UNCHANGEDSINCE":
        cur.fail("A STORE modifier is not supported.")
    cur.sp()
    return cur.number(limits.MAX_NUMBER64)


# -- COPY, MOVE (RFC 9051 §6.4.7-8), EXPUNGE and UID EXPUNGE (RFC 4315) ----------------------------------


def parse_copy(cur: Cursor, uid: bool) -> Copy:
    sequence, mailbox = _set_and_mailbox(cur)
    return Copy(cur.tag, uid, sequence, mailbox)


def parse_move(cur: Cursor, uid: bool) -> Move:
    sequence, mailbox = _set_and_mailbox(cur)
    return Move(cur.tag, uid, sequence, mailbox)


def _set_and_mailbox(cur: Cursor) -> tuple[SequenceSet, str]:
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    mailbox = cur.mailbox()
    cur.end()
    return sequence, mailbox


def parse_expunge(cur: Cursor) -> Expunge:
    cur.end()
    return Expunge(cur.tag)


def parse_uid_expunge(cur: Cursor) -> Expunge:
    cur.sp()
    uids = cur.sequence_set()
    cur.end()
    return Expunge(cur.tag, uids)


Entry = tuple[Callable[[Cursor], Command], str]

_FETCH = "FETCH needs a message set and data items."
_STORE = "STORE needs a message set, FLAGS, +FLAGS or -FLAGS, and flags."
_COPY = "COPY needs a message set and a mailbox name."
_MOVE = "MOVE needs a message set and a mailbox name."

COMMANDS: dict[str, Entry] = {
    "FETCH": (partial(parse_fetch, uid=False), _FETCH),
    "STORE": (partial(parse_store, uid=False), _STORE),
    "COPY": (partial(parse_copy, uid=False), _COPY),
    "MOVE": (partial(parse_move, uid=False), _MOVE),
    "EXPUNGE": (parse_expunge, "EXPUNGE takes no arguments."),
}

UID_COMMANDS: dict[str, Entry] = {
    "FETCH": (partial(parse_fetch, uid=True), "UID " + _FETCH),
    "STORE": (partial(parse_store, uid=True), "UID " + _STORE),
    "COPY": (partial(parse_copy, uid=True), "UID " + _COPY),
    "MOVE": (partial(parse_move, uid=True), "UID " + _MOVE),
    "EXPUNGE": (parse_uid_expunge, "UID EXPUNGE needs a UID set."),
}
