"""Command parser: one `Complete.data` from the reader → one command dataclass, or `ParseError`.

`parse()` reads the tag and the command name and hands the rest to that command's parse function,
found in one table keyed by name (UID forms in a second table). Each entry carries the sentence a
malformed command is answered with, so error texts are fixed and never echo client input. The
families live beside this module: mailbox commands in `parser_mailbox`, FETCH/STORE/COPY/MOVE in
`parser_fetch`, SEARCH/SORT/THREAD in `parser_search`; the token layer is `parser_core`.

`parse_append_prefix()` reads an APPEND up to its synchronising literal, so the server can refuse
the upload before the client sends it (DESIGN.md §5). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import datetime

from imapd import limits, parser_fetch, parser_mailbox, parser_search
from imapd.command import (
    Append,
    Authenticate,
    Capability,
    Check,
    Close,
    Command,
    Compress,
    Enable,
    Id,
    Idle,
    Login,
    Logout,
    Namespace,
    Noop,
    Unselect,
)
from imapd.parser_core import BadCharset, Cursor, ParseError, UnknownCommand
from imapd.reader import tag_of

__all__ = ["BadCharset", "ParseError", "UnknownCommand", "command_name", "parse", "parse_append_prefix"]

Entry = tuple[Callable[[Cursor], Command], str]

_NAME_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_SYNC_LITERAL_AT_END = re.compile(rb"(~?)\{([0-9]{1,20})\+?\}\Z")
_UID_USAGE = "UID must be followed by COPY, MOVE, FETCH, SEARCH, SORT, THREAD, STORE or EXPUNGE."


def parse(data: bytes) -> Command:
    """The command in `data` (one whole command, literals inline, without the final CRLF)."""
    cur, name = _start(data)
    if name == "UID":
        cur.usage = _UID_USAGE
        if not cur.more():
            cur.fail()
        entry = _UID_COMMANDS.get(_name(cur, _UID_USAGE))
        if entry is None:
            raise UnknownCommand(cur.tag, _UID_USAGE)
    else:
        found = _COMMANDS.get(name)
        if found is None:
            raise UnknownCommand(cur.tag, "The command is not known.")
        entry = found
    function, cur.usage = entry
    return function(cur)


def parse_append_prefix(prefix: bytes) -> Append:
    """An APPEND read up to its literal marker (`LiteralPending.prefix`); `message` is None."""
    cur, name = _start(prefix)
    cur.usage = _APPEND_USAGE
    marker = _SYNC_LITERAL_AT_END.search(prefix)
    if name != "APPEND":
        cur.fail("The command is not APPEND.")
    if marker is None:
        cur.fail()
    cur.data = prefix[: marker.start()]
    mailbox, flags, internal_date = _append_head(cur)
    cur.end()
    size = int(marker[2])
    return Append(cur.tag, mailbox, flags, internal_date, size, binary=marker[1] == b"~")


def command_name(data: bytes) -> str | None:
    """The upper-case command name ("APPEND", "UID FETCH"), or None when there is none."""
    try:
        cur, name = _start(data)
        if name == "UID" and cur.more():
            return "UID " + _name(cur)
    except ParseError:
        return None
    return name


def _start(data: bytes) -> tuple[Cursor, str]:
    tag = tag_of(data)
    if tag is None:
        raise ParseError(None, "The command must start with a valid tag.")
    cur = Cursor(data, tag, "The command name is missing.")
    cur.pos = len(tag)
    if not cur.more():
        cur.fail()
    return cur, _name(cur)


def _name(cur: Cursor, unknown: str = "The command is not known.") -> str:
    name = cur.run(_NAME_CHARS)
    if not name or cur.peek() not in (-1, 0x20):
        raise UnknownCommand(cur.tag, unknown)
    return name.decode("ascii").upper()


# -- any state ---------------------------------------------------------------------------------------


def _bare(cls: type[Command]) -> Callable[[Cursor], Command]:
    def parse_bare(cur: Cursor) -> Command:
        cur.end()
        return cls(cur.tag)

    return parse_bare


def parse_id(cur: Cursor) -> Id:
    """RFC 2971: ID NIL, or ID ("field" "value" ...) with up to 30 pairs; values may be NIL."""
    cur.sp()
    if cur.peek() != 0x28:
        if cur.nstring() is not None:  # only NIL may stand in for the list
            cur.fail()
        cur.end()
        return Id(cur.tag, None)
    values = cur.paren_list(cur.nstring)
    cur.end()
    if len(values) % 2 or len(values) > 2 * limits.MAX_ID_PAIRS:
        cur.fail()
    pairs: list[tuple[str, str | None]] = []
    for name, value in zip(values[::2], values[1::2], strict=True):
        if name is None or len(name) > limits.MAX_ID_FIELD or len(value or b"") > limits.MAX_ID_FIELD:
            cur.fail()
        text = None if value is None else value.decode("utf-8", "replace")
        pairs.append((name.decode("utf-8", "replace"), text))
    return Id(cur.tag, tuple(pairs))


def parse_enable(cur: Cursor) -> Enable:
    cur.sp()
    names = [cur.keyword()]
    while cur.more():
        names.append(cur.keyword())
    cur.end()
    return Enable(cur.tag, tuple(dict.fromkeys(names)))


def parse_compress(cur: Cursor) -> Compress:
    cur.sp()
    mechanism = cur.keyword()
    cur.end()
    return Compress(cur.tag, mechanism)


# -- not authenticated -------------------------------------------------------------------------------


def parse_login(cur: Cursor) -> Login:
    cur.sp()
    user = cur.astring()
    cur.sp()
    password = cur.astring()
    cur.end()
    return Login(cur.tag, user, password)


def parse_authenticate(cur: Cursor) -> Authenticate:
    """AUTHENTICATE mechanism [initial-response] (RFC 9051 §6.2.2, RFC 4959: "=" is empty)."""
    cur.sp()
    mechanism = cur.keyword()
    initial: bytes | None = None
    if cur.more():
        encoded = cur.atom()
        if encoded == b"=":
            initial = b""
        else:
            try:
                initial = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                cur.fail("The initial response is not valid base64.")
    cur.end()
    return Authenticate(cur.tag, mechanism, initial)


# -- APPEND ------------------------------------------------------------------------------------------

_APPEND_USAGE = "APPEND needs a mailbox name, optional flags and date, and one message literal."


def parse_append(cur: Cursor) -> Append:
    """APPEND mailbox [flags] [date-time] literal (RFC 9051 §6.3.12); one message only."""
    mailbox, flags, internal_date = _append_head(cur)
    binary = cur.peek() == 0x7E
    message = cur.literal(binary=True)
    cur.end()
    return Append(cur.tag, mailbox, flags, internal_date, len(message), binary, message)


def _append_head(cur: Cursor) -> tuple[str, tuple[str, ...], datetime | None]:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    flags: tuple[str, ...] = ()
    if cur.peek() == 0x28:
        flags = cur.flag_list()
        cur.sp()
    internal_date = None
    if cur.peek() == 0x22:
        internal_date = cur.date_time()
        cur.sp()
    return mailbox, flags, internal_date


_COMMANDS: dict[str, Entry] = {
    "CAPABILITY": (_bare(Capability), "CAPABILITY takes no arguments."),
    "NOOP": (_bare(Noop), "NOOP takes no arguments."),
    "LOGOUT": (_bare(Logout), "LOGOUT takes no arguments."),
    "ID": (parse_id, "ID needs NIL or a list of up to 30 field and value pairs."),
    "ENABLE": (parse_enable, "ENABLE needs one or more capability names."),
    "COMPRESS": (parse_compress, "COMPRESS needs a mechanism name."),
    "LOGIN": (parse_login, "LOGIN needs a user name and a password."),
    "AUTHENTICATE": (parse_authenticate, "AUTHENTICATE needs a mechanism and at most one initial response."),
    "NAMESPACE": (_bare(Namespace), "NAMESPACE takes no arguments."),
    "IDLE": (_bare(Idle), "IDLE takes no arguments."),
    "APPEND": (parse_append, _APPEND_USAGE),
    "CHECK": (_bare(Check), "CHECK takes no arguments."),
    "CLOSE": (_bare(Close), "CLOSE takes no arguments."),
    "UNSELECT": (_bare(Unselect), "UNSELECT takes no arguments."),
    **parser_mailbox.COMMANDS,
    **parser_fetch.COMMANDS,
    **parser_search.COMMANDS,
}

_UID_COMMANDS: dict[str, Entry] = {**parser_fetch.UID_COMMANDS, **parser_search.UID_COMMANDS}
