"""IMAP wire syntax for values: strings, literals, lists, flags, dates.

Strings with 8-bit bytes, CR, LF or NUL always go out as literals (as Dovecot does), so a parser
never meets a raw newline inside a quoted string (IMAP-NOTES 15). Pure functions, no I/O.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
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


def internal_date(epoch_seconds: int, offset_minutes: int) -> bytes:
    """INTERNALDATE as "dd-Mon-yyyy hh:mm:ss +zzzz" from seconds since 1970 (UTC), in the offset
    the message arrived with. Plain arithmetic on a struct_time: a full sync renders one per
    message, and building aware datetimes cost more than the rest of the line."""
    local = time.gmtime(epoch_seconds + offset_minutes * 60)
    return b'"%02d-%s-%04d %02d:%02d:%02d %s"' % (
        local.tm_mday,
        _MONTHS[local.tm_mon - 1],
        local.tm_year,
        local.tm_hour,
        local.tm_min,
        local.tm_sec,
        _offset(offset_minutes),
    )


@functools.cache
def _offset(offset_minutes: int) -> bytes:
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (b"+" if offset_minutes >= 0 else b"-") + b"%02d%02d" % (hours, minutes)


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
