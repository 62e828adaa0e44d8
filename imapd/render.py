"""IMAP wire syntax for values: strings, literals, lists, flags, dates.

Strings with 8-bit bytes, CR, LF or NUL always go out as literals (as Dovecot does), so a parser
never meets a raw newline inside a quoted string (IMAP-NOTES 15). Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Protocol

_QUOTED_UNSAFE = frozenset(b"\r\n\x00") | frozenset(range(0x80, 0x100))
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


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
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    text = (
        f'"{local.day:02d}-{_MONTHS[local.month - 1]}-{local.year:04d} '
        f'{local.hour:02d}:{local.minute:02d}:{local.second:02d} {sign}{hours:02d}{minutes:02d}"'
    )
    return text.encode("ascii")


def flag_list(bits: int, keywords: Iterable[str]) -> bytes:
    from mailkite.mail import flags

    return ("(" + " ".join([*flags.names(bits), *keywords]) + ")").encode("utf-8")


class HasFlags(Protocol):
    @property
    def flags(self) -> int: ...

    @property
    def keywords(self) -> tuple[str, ...]: ...


def fetch_flags(state: HasFlags) -> bytes:
    """`FLAGS (...)` for a message state."""
    return b"FLAGS " + flag_list(state.flags, state.keywords)
