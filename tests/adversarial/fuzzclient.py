"""A blocking IMAP client for the fuzzer: sends a `Probe` the way a client would and waits for its answer.

It frames a probe as the server will (a line ends at LF, a `{N}` or `{N+}` at its end announces N
octets), sends a synchronising literal only after the server's "+", answers other "+" requests
with the probe's follow-up lines (AUTHENTICATE data, IDLE's DONE), and reads until the answer: a
tagged OK/NO/BAD, an untagged BAD for a line without a valid tag, or `* BYE` and then the end of
the connection. After COMPRESS DEFLATE succeeds, both directions go through raw DEFLATE. Used by
tests/adversarial/test_fuzz.py and bench/fuzz_rate.py.
"""

from __future__ import annotations

import re
import socket
import ssl
import zlib
from dataclasses import dataclass, field

from tests.adversarial.grammar import Probe

_MARKER = re.compile(rb"\{([0-9]{1,20})(\+?)\}\Z")
_LITERAL_IN_ANSWER = re.compile(rb"~?\{([0-9]+)\}\r\n\Z")
MAX_PADDING = 2 * 1024 * 1024  # past this a declared literal is not sent: the connection is given up


class NoAnswer(AssertionError):
    """The server did not answer a command line within the timeout."""


@dataclass
class Outcome:
    status: str  # "OK", "NO", "BAD", "BYE" (then closed), "CLOSED" (without a BYE), "IGNORED" (empty line)
    final: bytes = b""  # the tagged (or untagged BAD) line, or the BYE line
    lines: list[bytes] = field(default_factory=list)  # everything the server sent, answers included
    lines_sent: int = 0  # command lines and continuation lines sent
    usable: bool = True  # False once the connection is closed or its framing was given up


def frames(wire: bytes) -> tuple[list[tuple[bytes, bool]], bool]:
    """The pieces to send, each flagged when a "+" must come before the next; and whether the
    whole command could be sent (False when a declared literal is too large to pad).

    Only the first command of `wire` is kept: text after a line end that announces no literal
    would be a second command."""
    pieces: list[tuple[bytes, bool]] = []
    chunk = bytearray()
    data = wire + b"\r\n"
    pos = 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:  # a literal took the final CRLF: the command still needs its line end
            pieces.append((bytes(chunk + data[pos:] + b"\r\n"), False))
            return pieces, True
        line = data[pos:end]
        marker = _MARKER.search(line[:-1] if line.endswith(b"\r") else line)
        chunk += data[pos : end + 1]
        if marker is None:
            pieces.append((bytes(chunk), False))
            return pieces, True
        size = int(marker[1])
        if size > MAX_PADDING:
            pieces.append((bytes(chunk), marker[2] == b""))
            return pieces, False
        if marker[2] == b"":
            pieces.append((bytes(chunk), True))
            chunk = bytearray()
        octets = data[end + 1 : end + 1 + size]
        chunk += octets + b"x" * (size - len(octets))  # a literal cut short is padded, as a client must
        pos = end + 1 + size


class FuzzClient:
    def __init__(self, host: str, port: int, context: ssl.SSLContext, timeout: float) -> None:
        raw = socket.create_connection((host, port), timeout=timeout)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        self.timeout = timeout
        self.buf = b""
        self.closed = False
        self._deflate: zlib._Compress | None = None
        self._inflate: zlib._Decompress | None = None
        self.greeting = self.readline()

    # -- bytes -------------------------------------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            raise NoAnswer(f"no answer within {self.timeout} s") from None
        except (ssl.SSLError, ConnectionError):
            data = b""
        if not data:
            self.closed = True
            raise EOFError
        self.buf += self._inflate.decompress(data) if self._inflate is not None else data

    def readline(self) -> bytes:
        """One response line with its CRLF, with the literals it announces read inline."""
        out = b""
        while True:
            while (end := self.buf.find(b"\n")) < 0:
                self._fill()
            out += self.buf[: end + 1]
            self.buf = self.buf[end + 1 :]
            marker = _LITERAL_IN_ANSWER.search(out)
            if marker is None:
                return out
            size = int(marker[1])
            while len(self.buf) < size:
                self._fill()
            out += self.buf[:size]
            self.buf = self.buf[size:]

    def compress(self) -> None:
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self._inflate = zlib.decompressobj(-15)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True

    # -- commands ----------------------------------------------------------------------------------

    def run(self, probe: Probe) -> Outcome:
        """Send one probe and read until its answer (see the module docstring)."""
        outcome = Outcome("CLOSED")
        first_line = probe.wire.split(b"\n", 1)[0]
        if not first_line.strip(b" \t\r"):  # an empty line between commands is ignored (iOS sends them)
            self.send(probe.prefix + first_line + b"\r\n")
            return Outcome("IGNORED", lines_sent=1)
        pieces, whole = frames(probe.wire)
        tag = probe.tag
        followups = list(probe.followups)
        try:
            if probe.prefix:
                self.send(probe.prefix)
            for index, (piece, wait) in enumerate(pieces):
                self.send(piece)
                outcome.lines_sent += piece.count(b"\n")
                last = index == len(pieces) - 1
                if (wait or last) and self._await(outcome, tag, followups, until_plus=wait and not last):
                    break
            if not whole:
                outcome.usable = False  # the server skips octets we will never send
        except EOFError:
            outcome.usable = False
            if outcome.status not in ("BYE",):
                outcome.status = "CLOSED"
        except (ssl.SSLError, OSError):
            # The server closed while we were still sending: it said BYE after an earlier answer
            # (too many bad commands) and that BYE is still to be read.
            outcome.usable = False
            outcome.status = "BYE" if self._bye_pending(outcome) else "CLOSED"
        except NoAnswer as silence:
            raise NoAnswer(f"{silence} to {probe!r}; the server said {outcome.lines[-6:]!r}") from None
        if outcome.status == "OK" and probe.wire.split(b" ")[1:2] == [b"COMPRESS"]:
            self.compress()
        return outcome

    def _await(self, outcome: Outcome, tag: bytes, followups: list[bytes], *, until_plus: bool) -> bool:
        """Read until the command's answer (True), or, with `until_plus`, until a "+" (False)."""
        while True:
            line = self.readline()
            outcome.lines.append(line)
            if line.startswith(b"+"):
                if until_plus:
                    return False
                # AUTHENTICATE or IDLE waits for a line: give it the probe's, or cancel with "*".
                reply = followups.pop(0) if followups else b"*"
                self.send(reply + b"\r\n")
                outcome.lines_sent += 1
                continue
            words = line.rstrip(b"\r\n").split(b" ", 2)
            status = words[1].upper() if len(words) > 1 else b""
            if words[0] == b"*" and status == b"BYE":
                outcome.status, outcome.final, outcome.usable = "BYE", line, False
                self._drain()
                return True
            if status in (b"OK", b"NO", b"BAD") and (
                (words[0] == tag and tag != b"*") or (words[0] == b"*" and status == b"BAD")
            ):
                outcome.status, outcome.final = status.decode(), line
                return True

    def _bye_pending(self, outcome: Outcome) -> bool:
        try:
            while True:
                line = self.readline()
                outcome.lines.append(line)
                if line.startswith(b"* BYE "):
                    outcome.final = line
                    return True
        except (EOFError, NoAnswer):
            return False

    def _drain(self) -> None:
        """After BYE: what follows (LOGOUT's tagged OK), then the end of the connection."""
        try:
            while True:
                self.readline()
        except EOFError:
            return
