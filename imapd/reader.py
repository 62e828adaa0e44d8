"""Incremental command framer: bytes in arbitrary chunks → whole commands, literals included.

The connection feeds whatever the TLS socket delivers and pulls events until `next_event()` says
`None` (need more bytes). Invariants:

- Bytes come out in the order they went in and buffered input is never dropped: a chunk holding
  several pipelined commands (iOS, IMAP-NOTES 22) yields them one by one.
- Empty lines between commands (stray CRLFs) are skipped; a bare LF ends a line like CRLF does.
- `Complete.data` is the command exactly as sent (literal octets inline after their `{N}` marker),
  except that the line end after each marker is written as CRLF and the final CRLF is left off.
- Memory is bounded: a line never grows past `max_line`, a command past `max_command`. What passes a
  limit becomes one `TooLarge` event, and the rest of that command is read and thrown away, never
  taken for a new command (RFC 7888 §5: a too-large non-synchronising literal is refused with BAD,
  and its octets must still be consumed).

Pure: no sockets, no asyncio.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from imapd import limits

# A literal marker ends its line: "{" number ["+"] "}" (RFC 9051 §4.3, RFC 7888 §3). Literal8's "~"
# before it does not matter here. The digit cap keeps int() cheap; anything longer is over a limit.
_LITERAL_AT_END = re.compile(rb"\{([0-9]{1,20})(\+?)\}\Z")
# tag = 1*<any ASTRING-CHAR except "+"> (RFC 9051 §9): printable ASCII except atom-specials other
# than "]", and except "+" (which starts a continuation answer).
_TAG_CHARS = frozenset(range(0x21, 0x7F)) - frozenset(b'(){%*"\\+')
_TAIL = 32  # bytes of a discarded line kept to spot a literal marker at its end


@dataclass(frozen=True)
class Complete:
    """One whole command, without its final CRLF."""

    data: bytes


@dataclass(frozen=True)
class LiteralPending:
    """The command so far ends in a synchronising literal `{size}`; the client waits for "+"."""

    prefix: bytes
    size: int
    tag: str | None


@dataclass(frozen=True)
class TooLarge:
    """A line, literal or command passed a limit; the rest of that command is being discarded.

    `what` is a sentence for the client; `command` is the command name (upper case) when the line
    got that far, so APPEND can still be answered NO [CANNOT] rather than BAD.
    """

    tag: str | None
    what: str
    command: str | None = None


Event = Complete | LiteralPending | TooLarge


class LineTooLong(Exception):
    """`read_line()` met a continuation line longer than `max_line`; the line is being discarded."""


class _State(enum.Enum):
    LINE = "line"  # reading a command line (or waiting for the next command)
    LITERAL = "literal"  # copying literal octets into the command
    DECIDE = "decide"  # LiteralPending was returned; waiting for accept/reject
    SKIP_LINE = "skip line"  # discarding the rest of a refused line
    SKIP_LITERAL = "skip literal"  # discarding the octets of a refused non-synchronising literal


def tag_of(line: bytes) -> str | None:
    """The first token of `line` if it is a valid tag, else None."""
    token = line.split(b" ", 1)[0]
    if not token or not all(byte in _TAG_CHARS for byte in token):
        return None
    return token.decode("ascii")


def _command_of(line: bytes) -> str | None:
    """The command name, when a whole one (followed by a space) is in `line`."""
    parts = line.split(b" ", 2)
    if len(parts) < 3 or not parts[1].isalpha() or len(parts[1]) > 32:
        return None
    return parts[1].decode("ascii").upper()


class CommandReader:
    """Splits a byte stream into IMAP commands; see the module docstring for the guarantees."""

    def __init__(
        self,
        *,
        max_line: int = limits.MAX_LINE,
        max_literal: int = limits.MAX_LITERAL,
        max_command: int = limits.MAX_COMMAND,
        max_nonsync_literal: int = limits.MAX_NONSYNC_LITERAL,
        max_literals: int = limits.MAX_LITERALS_PER_COMMAND,
    ) -> None:
        self._max_line = max_line
        self._max_literal = max_literal
        self._max_command = max_command
        self._max_nonsync = min(max_nonsync_literal, max_literal)
        self._max_literals = max_literals
        self._buf = bytearray()
        self._scanned = 0  # bytes of _buf already searched for LF
        self._state = _State.LINE
        self._command = bytearray()  # the command so far (lines and literals)
        self._first_line = b""  # the command's first line, for its tag and name
        self._literals = 0
        self._remaining = 0  # octets left in the current literal (copied or skipped)
        self._tail = b""  # last bytes of the line being skipped
        self._skip_literals = True  # whether a skipped line's final {N+} is followed by octets

    # -- input -------------------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_event(self) -> Event | None:
        """The next command event, or None when more bytes are needed."""
        while True:
            state = self._state
            if state is _State.DECIDE:
                raise RuntimeError("accept_literal() or reject_literal() must answer LiteralPending first")
            if state is _State.LITERAL:
                if not self._copy_literal():
                    return None
            elif state is _State.SKIP_LITERAL:
                if not self._skip_literal():
                    return None
            elif state is _State.SKIP_LINE:
                if not self._skip_line():
                    return None
            else:
                line = self._take_line()
                if line is None:
                    return self._check_partial_line()
                event = self._on_line(line)
                if event is not None:
                    return event

    def accept_literal(self) -> None:
        """The caller sent "+ ..."; the literal octets come next and belong to the command."""
        self._expect_decision()
        self._command += b"\r\n"
        self._state = _State.LITERAL

    def reject_literal(self) -> None:
        """The caller answered the command with a tagged NO/BAD; the client will not send the octets."""
        self._expect_decision()
        self._reset()

    def read_line(self) -> bytes | None:
        """The next line without its line end (AUTHENTICATE data, IDLE's DONE), or None.

        Only between commands. Raises LineTooLong when the line passes `max_line`; the rest of it is
        then discarded and the following bytes are read as usual.
        """
        if self._state is _State.SKIP_LINE and not self._skip_line():
            return None
        if self._state is not _State.LINE or self._command:
            raise RuntimeError("read_line() is only allowed between commands")
        line = self._take_line()
        if line is None and len(self._buf) > self._max_line + 1:
            self._start_skip_line(literals=False)
            raise LineTooLong("The line is too long.")
        if line is not None and len(line) > self._max_line:
            raise LineTooLong("The line is too long.")
        return line

    # -- lines -------------------------------------------------------------------------------------

    def _take_line(self) -> bytes | None:
        end = self._buf.find(b"\n", self._scanned)
        if end < 0:
            self._scanned = len(self._buf)
            return None
        line = bytes(self._buf[:end])
        del self._buf[: end + 1]
        self._scanned = 0
        return line[:-1] if line.endswith(b"\r") else line

    def _check_partial_line(self) -> TooLarge | None:
        """A line still without its LF may already be too long: refuse it now, not at its end.

        Only the line limit is decided early. Whether the command limit is passed is left to the end
        of the line, so the event is the same however the bytes were split into chunks.
        """
        if len(self._buf) <= self._max_line + 1:  # + 1: room for the CR before the LF
            return None
        head = self._first_line if self._command else bytes(self._buf[: self._max_line + 1])
        event = self._too_large("The command line is too long.", head)
        self._start_skip_line(literals=True)
        return event

    def _on_line(self, line: bytes) -> Event | None:
        if not self._command:
            if not line.strip(b" \t\r"):
                return None  # a stray empty line between commands (iOS); RFC-wise harmless
            self._first_line = line
        head = self._first_line
        marker = _LITERAL_AT_END.search(line)
        self._command += line
        if len(line) > self._max_line:
            # The same head as _check_partial_line() sees, so chunking cannot change the event.
            return self._refuse("The command line is too long.", head[: self._max_line + 1], marker)
        if len(self._command) > self._max_command:
            return self._refuse("The command is too long.", head, marker)
        if marker is None:
            event = Complete(bytes(self._command))
            self._reset()
            return event
        return self._on_literal(int(marker[1]), marker[2] == b"+", head, marker)

    def _on_literal(self, size: int, nonsync: bool, head: bytes, marker: re.Match[bytes]) -> Event | None:
        self._literals += 1
        if self._literals > self._max_literals:
            return self._refuse("The command has too many literals.", head, marker)
        if nonsync and size > self._max_nonsync:
            # RFC 7888 §5: BAD [TOOBIG]; the octets follow anyway and are read and dropped.
            return self._refuse("A non-synchronizing literal may be at most 4096 octets.", head, marker)
        if size > self._max_literal:
            return self._refuse("The literal is too large.", head, marker)
        if len(self._command) + 2 + size > self._max_command:
            return self._refuse("The command is too long.", head, marker)
        self._remaining = size
        if nonsync:
            self._command += b"\r\n"
            self._state = _State.LITERAL
            return None
        self._state = _State.DECIDE
        return LiteralPending(bytes(self._command), size, tag_of(head))

    def _refuse(self, what: str, head: bytes, marker: re.Match[bytes] | None) -> TooLarge:
        """Answer a complete line that broke a limit; skip a non-synchronising literal it announced."""
        event = self._too_large(what, head)
        self._reset()
        if marker is not None and marker[2] == b"+":
            self._remaining = int(marker[1])
            self._state = _State.SKIP_LITERAL
        return event

    # -- literals and discarding -------------------------------------------------------------------

    def _copy_literal(self) -> bool:
        take = min(self._remaining, len(self._buf))
        self._command += self._buf[:take]
        del self._buf[:take]
        self._scanned = 0
        self._remaining -= take
        if self._remaining:
            return False
        self._state = _State.LINE
        return True

    def _skip_literal(self) -> bool:
        take = min(self._remaining, len(self._buf))
        del self._buf[:take]
        self._scanned = 0
        self._remaining -= take
        if self._remaining:
            return False
        self._start_skip_line(literals=True)  # the command goes on after the literal: drop it too
        return True

    def _start_skip_line(self, *, literals: bool) -> None:
        self._reset()
        self._state = _State.SKIP_LINE
        self._skip_literals = literals
        self._tail = b""

    def _skip_line(self) -> bool:
        end = self._buf.find(b"\n")
        if end < 0:
            self._tail = (self._tail + bytes(self._buf))[-_TAIL:]
            self._buf.clear()
            self._scanned = 0
            return False
        tail = (self._tail + bytes(self._buf[:end]))[-_TAIL:].rstrip(b"\r")
        del self._buf[: end + 1]
        self._scanned = 0
        self._state = _State.LINE
        marker = _LITERAL_AT_END.search(tail)
        if self._skip_literals and marker is not None and marker[2] == b"+":
            self._remaining = int(marker[1])
            self._state = _State.SKIP_LITERAL
        # A synchronising literal at the end needs no skipping: the client waits for a "+" that
        # never comes, reads our tagged answer instead and abandons the command.
        return True

    # -- helpers -----------------------------------------------------------------------------------

    def _too_large(self, what: str, head: bytes) -> TooLarge:
        # Only a token that ended (a space follows) is a whole tag; the head may be cut short.
        tag = tag_of(head) if b" " in head else None
        return TooLarge(tag, what, _command_of(head))

    def _expect_decision(self) -> None:
        if self._state is not _State.DECIDE:
            raise RuntimeError("no literal is waiting for a decision")

    def _reset(self) -> None:
        self._state = _State.LINE
        self._command = bytearray()
        self._first_line = b""
        self._literals = 0
        self._remaining = 0
