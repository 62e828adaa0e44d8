"""The token layer of the command parser: a cursor over one command's bytes (RFC 9051 §9 ABNF).

The cursor reads atoms, numbers, quoted strings, literals, astrings, mailbox names, sequence sets,
flags and dates, and raises `ParseError` at the first thing it cannot read. Invariants: error texts
are fixed sentences chosen here or by the command parsers, never built from client input; every
number is bounded (no huge ints from 10,000 digits); literals are read exactly as the reader framed
them (`{N}` CRLF N octets). Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import NoReturn, TypeVar

from imapd import limits
from imapd.command import SequenceSet

T = TypeVar("T")

# Fixed error sentences for values; command parsers add one usage sentence per command.
BAD_SEQUENCE = "The sequence set is not valid."
BAD_MAILBOX = "The mailbox name is not valid."
BAD_NUMBER = "A number in the command is not valid."
BAD_STRING = "A quoted string in the command is not valid."
BAD_LITERAL = "A literal in the command is not valid."
BAD_FLAG = "A flag in the command is not valid."
BAD_DATE = "A date in the command is not valid."
DATE_OUT_OF_RANGE = "A date in the command is out of range (1-Jan-0001 to 30-Dec-9999)."
TOO_MANY_RANGES = "The sequence set has too many ranges."

SP = 0x20
# ATOM-CHAR: any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" DQUOTE "\" "]" (RFC 9051 §9).
ATOM_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\]')
# ASTRING-CHAR adds "]"; 8-bit octets are let through for clients that send raw UTF-8 unquoted.
ASTRING_CHARS = ATOM_CHARS | {ord("]")} | frozenset(range(0x80, 0x100))
# list-char adds the LIST wildcards "%" and "*".
LIST_CHARS = ASTRING_CHARS | frozenset(b"%*")
_DIGITS = frozenset(b"0123456789")
# The plain characters of a quoted string, taken in one step: a 64 KiB pattern or search string
# byte by byte cost tens of milliseconds of the event loop. One character class: linear.
_QUOTED_RUN = re.compile(rb'[^"\\\r\n\x00]*')
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_MUTF7_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
SYSTEM_FLAGS = {f.upper(): f for f in ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")}


class ParseError(Exception):
    """A command the server cannot read: answered `tag BAD text` (untagged when tag is None)."""

    def __init__(self, tag: str | None, text: str) -> None:
        super().__init__(text)
        self.tag = tag
        self.text = text


class BadCharset(ParseError):
    """SEARCH/SORT/THREAD named a charset other than US-ASCII or UTF-8: `NO [BADCHARSET ...]`."""


class UnknownCommand(ParseError):
    """The command name is not one this server knows."""


class Cursor:
    """Reads one command left to right; `usage` is the sentence for a malformed command."""

    def __init__(self, data: bytes, tag: str, usage: str = "The command is not valid.") -> None:
        self.data = data
        self.pos = 0
        self.tag = tag
        self.usage = usage

    def fail(self, text: str | None = None) -> NoReturn:
        raise ParseError(self.tag, text or self.usage)

    # -- characters ------------------------------------------------------------------------------

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def peek(self) -> int:
        """The next byte, or -1 at the end."""
        return self.data[self.pos] if self.pos < len(self.data) else -1

    def take(self, char: bytes) -> bool:
        """Consume `char` (one byte) if it comes next."""
        if self.data.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    def expect(self, char: bytes, text: str | None = None) -> None:
        if not self.take(char):
            self.fail(text)

    def sp(self) -> None:
        """One or more spaces (one is the norm; more is tolerated)."""
        if self.peek() != SP:
            self.fail()
        while self.peek() == SP:
            self.pos += 1

    def more(self) -> bool:
        """Consume separating spaces; True when another argument follows them."""
        if self.peek() != SP:
            return False
        self.sp()
        return not self.at_end()

    def end(self) -> None:
        while self.peek() == SP:  # trailing spaces are harmless
            self.pos += 1
        if not self.at_end():
            self.fail()

    # -- tokens ----------------------------------------------------------------------------------

    def run(self, chars: frozenset[int]) -> bytes:
        start = self.pos
        data = self.data
        while self.pos < len(data) and data[self.pos] in chars:
            self.pos += 1
        return data[start : self.pos]

    def atom(self, chars: frozenset[int] = ATOM_CHARS, text: str | None = None) -> bytes:
        token = self.run(chars)
        if not token:
            self.fail(text)
        return token

    def keyword(self) -> str:
        """An atom in upper case (command names, options, search keys)."""
        return self.atom().decode("ascii").upper()

    def number(self, maximum: int = limits.MAX_NUMBER, text: str = BAD_NUMBER) -> int:
        digits = self.run(_DIGITS)
        if not digits or len(digits) > 20:
            self.fail(text)
        value = int(digits)
        if value > maximum:
            self.fail(text)
        return value

    def nz_number(self, text: str = BAD_NUMBER) -> int:
        value = self.number(text=text)
        if value == 0:
            self.fail(text)
        return value

    def quoted(self) -> bytes:
        """A quoted string; only \\\\ and \\" are escapes, and CR, LF and NUL cannot appear."""
        self.expect(b'"', BAD_STRING)
        out = bytearray()
        data = self.data
        while self.pos < len(data):
            run = _QUOTED_RUN.match(data, self.pos)
            if run is not None and run.end() > self.pos:
                out += run.group()
                self.pos = run.end()
                continue
            byte = data[self.pos]
            self.pos += 1
            if byte == 0x22:
                return bytes(out)
            if byte == 0x5C:
                if self.pos >= len(data) or data[self.pos] not in b'"\\':
                    self.fail(BAD_STRING)
                byte = data[self.pos]
                self.pos += 1
            elif byte in b"\r\n\x00":
                self.fail(BAD_STRING)
            out.append(byte)
        self.fail(BAD_STRING)

    def literal(self, *, binary: bool = False) -> bytes:
        """`{N}` or `{N+}`, CRLF, N octets; with `binary`, literal8 `~{N}` is accepted too."""
        if binary:
            self.take(b"~")
        self.expect(b"{", BAD_LITERAL)
        size = self.number(text=BAD_LITERAL)
        self.take(b"+")
        self.expect(b"}", BAD_LITERAL)
        self.expect(b"\r\n", BAD_LITERAL)
        if self.pos + size > len(self.data):
            self.fail(BAD_LITERAL)
        octets = self.data[self.pos : self.pos + size]
        self.pos += size
        return octets

    def string(self) -> bytes:
        return self.quoted() if self.peek() == 0x22 else self.literal()

    def astring(self, chars: frozenset[int] = ASTRING_CHARS) -> bytes:
        if self.peek() in (0x22, 0x7B):
            return self.string()
        return self.atom(chars)

    def nstring(self) -> bytes | None:
        if self.peek() in (0x22, 0x7B):
            return self.string()
        if self.atom().upper() != b"NIL":
            self.fail()
        return None

    def paren_list(self, item: Callable[[], T], *, empty: bool = True) -> list[T]:
        """ "(" item *(SP item) ")"; with `empty`, "()" is allowed."""
        self.expect(b"(")
        items: list[T] = []
        self.skip_spaces()
        if self.take(b")"):
            if not empty:
                self.fail()
            return items
        while True:
            items.append(item())
            spaced = self.skip_spaces()
            if self.take(b")"):
                return items
            if not spaced:
                self.fail()

    def skip_spaces(self) -> bool:
        start = self.pos
        while self.peek() == SP:
            self.pos += 1
        return self.pos > start

    # -- IMAP values -----------------------------------------------------------------------------

    def mailbox(self) -> str:
        name = decode_mailbox(self.astring())
        if name is None:
            self.fail(BAD_MAILBOX)
        return name

    def list_mailbox(self) -> str:
        """A LIST pattern: an astring that may also hold the wildcards "%" and "*"."""
        name = decode_mailbox(self.astring(LIST_CHARS))
        if name is None:
            self.fail(BAD_MAILBOX)
        return name

    def sequence_set(self, *, saved: bool = True) -> SequenceSet:
        """sequence-set (RFC 9051 §9), or "$" (RFC 5182) when `saved` is allowed. Zero is invalid."""
        if saved and self.take(b"$"):
            self._end_of_set()
            return SequenceSet(saved=True)
        ranges: list[tuple[int | None, int | None]] = []
        while True:
            low = self._seq_number()
            high = self._seq_number() if self.take(b":") else low
            ranges.append((low, high))
            if not self.take(b","):
                break
            if len(ranges) >= limits.MAX_SEQUENCE_RANGES:
                self.fail(TOO_MANY_RANGES)
        self._end_of_set()
        return SequenceSet(tuple(ranges))

    def _seq_number(self) -> int | None:
        if self.take(b"*"):
            return None
        return self.nz_number(BAD_SEQUENCE)

    def _end_of_set(self) -> None:
        if self.peek() not in (-1, SP, 0x29):
            self.fail(BAD_SEQUENCE)

    def flag(self) -> str:
        """A storable flag: a system flag in its canonical spelling, or a keyword atom.

        \\Recent and other backslash flags cannot be stored (RFC 9051 §2.3.2) and are refused.
        """
        if self.take(b"\\"):
            name = self.atom(text=BAD_FLAG).decode("ascii").upper()
            canonical = SYSTEM_FLAGS.get("\\" + name)
            if canonical is None:
                self.fail(BAD_FLAG)
            return canonical
        keyword = self.atom(text=BAD_FLAG)
        if len(keyword) > limits.MAX_KEYWORD_LENGTH:
            self.fail(BAD_FLAG)
        return keyword.decode("ascii")

    def flag_list(self) -> tuple[str, ...]:
        flags = self.paren_list(self.flag)
        if len(flags) > limits.MAX_FLAGS_PER_COMMAND:
            self.fail(BAD_FLAG)
        return tuple(dict.fromkeys(flags))

    def search_date(self) -> date:
        """date = date-text / DQUOTE date-text DQUOTE; date-text = d[d]-Mon-yyyy."""
        quoted = self.take(b'"')
        day = self.number(text=BAD_DATE)
        self.expect(b"-", BAD_DATE)
        month = _MONTHS.get(self.run(_LETTERS).decode("ascii").upper())
        self.expect(b"-", BAD_DATE)
        year = self.number(text=BAD_DATE)
        if quoted:
            self.expect(b'"', BAD_DATE)
        if not 1 <= year <= 9999:
            self.fail(DATE_OUT_OF_RANGE)
        found = _make_date(self, year, month, day)
        if found == date.max:  # a search on a day also needs the next one, which Python cannot hold
            self.fail(DATE_OUT_OF_RANGE)
        return found

    def date_time(self) -> datetime:
        """APPEND's date-time: "dd-Mon-yyyy hh:mm:ss +zzzz", the day may be space-padded."""
        self.expect(b'"', BAD_DATE)
        self.take(b" ")
        day = self.number(text=BAD_DATE)
        self.expect(b"-", BAD_DATE)
        month = _MONTHS.get(self.run(_LETTERS).decode("ascii").upper())
        self.expect(b"-", BAD_DATE)
        year = self.number(text=BAD_DATE)
        self.expect(b" ", BAD_DATE)
        clock = [self.number(99, BAD_DATE)]
        for _ in range(2):
            self.expect(b":", BAD_DATE)
            clock.append(self.number(99, BAD_DATE))
        self.expect(b" ", BAD_DATE)
        sign = -1 if self.take(b"-") else 1 if self.take(b"+") else self.fail(BAD_DATE)
        zone = self.number(9999, BAD_DATE)
        self.expect(b'"', BAD_DATE)
        day_value = _make_date(self, year, month, day)
        hours, minutes = divmod(zone, 100)
        if clock[0] > 23 or clock[1] > 59 or clock[2] > 60 or minutes > 59:
            self.fail(BAD_DATE)
        offset = timezone(sign * timedelta(hours=hours, minutes=minutes))
        second = min(clock[2], 59)  # a leap second is kept as :59
        return datetime(
            day_value.year, day_value.month, day_value.day, clock[0], clock[1], second, tzinfo=offset
        )


def _make_date(cur: Cursor, year: int, month: int | None, day: int) -> date:
    if month is None or not 1 <= year <= 9999:
        cur.fail(BAD_DATE)
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):  # a day past a C int overflows instead of being invalid
        cur.fail(BAD_DATE)


def decode_mailbox(raw: bytes) -> str | None:
    """A mailbox name from the wire, or None when it cannot be a name.

    8-bit names are UTF-8 (UTF8=ACCEPT, RFC 6855) and taken as they are; 7-bit names are modified
    UTF-7 (RFC 3501 §5.1.3) when they decode as such, else taken literally (Thunderbird sends a bare
    "&" under UTF8=ACCEPT, IMAP-NOTES 18). "INBOX" in any case is "INBOX".
    """
    if raw.isascii():
        text = raw.decode("ascii")
        if "&" in text:
            text = decode_modified_utf7(text) or text
    else:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None
    if _CONTROL.search(text):
        return None
    return "INBOX" if text.upper() == "INBOX" else text


def decode_modified_utf7(text: str) -> str | None:
    """RFC 3501 §5.1.3: "&" base64-of-UTF-16BE (with "," for "/") "-", and "&-" for "&"."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        start = text.find("&", pos)
        if start < 0:
            out.append(text[pos:])
            break
        out.append(text[pos:start])
        stop = text.find("-", start + 1)
        if stop < 0:
            return None
        chunk = text[start + 1 : stop]
        if not chunk:
            out.append("&")
        else:
            decoded = _decode_utf16_chunk(chunk)
            if decoded is None:
                return None
            out.append(decoded)
        pos = stop + 1
    return "".join(out)


def _decode_utf16_chunk(chunk: str) -> str | None:
    if any(ch not in _MUTF7_B64 for ch in chunk) or len(chunk) % 4 == 1:
        return None
    b64 = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
    try:
        raw = base64.b64decode(b64, validate=True)
        return raw.decode("utf-16-be") if len(raw) % 2 == 0 else None
    except (binascii.Error, UnicodeDecodeError):
        return None
