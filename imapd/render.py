"""IMAP wire syntax for values: strings, literals, lists, flags, dates.

Strings with 8-bit bytes, CR, LF or NUL always go out as literals (as Dovecot does), so a parser
never meets a raw newline inside a quoted string (IMAP-NOTES 15). Pure functions, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Protocol

from mailkite.mail import flags

_QUOTED_UNSAFE = frozenset(b"\r\n\x00") | frozenset(range(0x80, 0x100))
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")


def literal(data: bytes) -> bytes:
    return b"{%d}\r\n" % len(data) + data


def string(value: bytes | str) -> bytes:
    """A quoted string when it can be one, else a literal."""
    data = value.encode("utf-8") if isinstance(value, str) else value
    if any(byte in _QUOTED_UNSAFE for byte in data) or len(data) > 1000:
        return literal(data)
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def nstring(value: bytes | str | None) -> bytes:
    return b"NIL" if value is None else string(value)


def compact_set(numbers: Iterable[int]) -> str:
    """Sorted numbers as a sequence set, e.g. [1, 2, 3, 7] -> "1:3,7" (RFC 9051 §9 sequence-set)."""
    ranges: list[list[int]] = []
    for n in numbers:
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1][1] = n
        elif not ranges or ranges[-1][1] != n:
            ranges.append([n, n])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in ranges)


def plist(items: Iterable[bytes]) -> bytes:
    """A parenthesised list of already-rendered items."""
    return b"(" + b" ".join(items) + b")"


def internal_date(moment: datetime, offset_minutes: int) -> bytes:
    """INTERNALDATE as "dd-Mon-yyyy hh:mm:ss +zzzz", in the offset the message arrived with."""
    zone, suffix = _zone(offset_minutes)
    local = moment.astimezone(zone)
    return b'"%02d-%s-%04d %02d:%02d:%02d %s"' % (
        local.day,
        _MONTHS[local.month - 1],
        local.year,
        local.hour,
        local.minute,
        local.second,
        suffix,
    )


@functools.cache
def _zone(offset_minutes: int) -> tuple[timezone, bytes]:
    # A full sync renders one INTERNALDATE per message, and a folder's mail comes from few zones.
    hours, minutes = divmod(abs(offset_minutes), 60)
    sign = b"+" if offset_minutes >= 0 else b"-"
    return timezone(timedelta(minutes=offset_minutes)), sign + b"%02d%02d" % (hours, minutes)


def flag_list(bits: int, keywords: Iterable[str]) -> bytes:
    if not keywords:  # most messages: the system flags alone, of 32 possible lists
        return _system_flag_list(bits)
    return ("(" + " ".join([*flags.names(bits), *keywords]) + ")").encode("utf-8")


@functools.cache
def _system_flag_list(bits: int) -> bytes:
    return ("(" + " ".join(flags.names(bits)) + ")").encode("ascii")


class HasFlags(Protocol):
    @property
    def flags(self) -> int: ...

    @property
    def keywords(self) -> tuple[str, ...]: ...


def fetch_flags(state: HasFlags) -> bytes:
    """`FLAGS (...)` for a message state."""
    return b"FLAGS " + flag_list(state.flags, state.keywords)
