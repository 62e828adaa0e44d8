"""Raw IMAP exchanges over an imaplib client's TLS socket, for tests written as one-line exchanges.

    wire.ok("a1 SELECT INBOX")                  -> the untagged lines; the tagged reply was OK
    wire.no("a2 SETQUOTA \"\" ()", code="NOPERM") -> the tagged line, which was NO [NOPERM]
    wire.bad("a3 FETCH")                        -> the tagged line, which was BAD

Lines come back without their CRLF; a literal in a response stays inline (`{5}\\r\\nhello`), so
a FETCH of a body is still one item of the list. The tag is the command line's first word.
"""

from __future__ import annotations

import imaplib
import re

_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\}\r\n\Z")


class Wire:
    def __init__(self, client: imaplib.IMAP4_SSL) -> None:
        self.client = client

    def send(self, line: bytes | str) -> None:
        data = line.encode() if isinstance(line, str) else line
        self.client.send(data + b"\r\n")

    def response(self) -> bytes:
        """One server response: a line, with any literals it announces read inline."""
        out = b""
        while True:
            line = self.client.readline()
            if not line:
                raise ConnectionError("the server closed the connection")
            out += line
            marker = _LITERAL_AT_END.search(line)
            if marker is None:
                return out.removesuffix(b"\r\n")
            out += self.client.read(int(marker[1]))

    def exchange(self, line: bytes | str) -> tuple[list[bytes], bytes]:
        """Send one command; (untagged and continuation lines, the tagged reply)."""
        data = line.encode() if isinstance(line, str) else line
        tag = data.split(b" ", 1)[0]
        self.send(data)
        untagged: list[bytes] = []
        while True:
            reply = self.response()
            if reply.startswith(tag + b" "):
                return untagged, reply
            untagged.append(reply)

    def _expect(self, line: bytes | str, status: bytes, code: str | None) -> tuple[list[bytes], bytes]:
        untagged, tagged = self.exchange(line)
        words = tagged.split(b" ", 2)
        assert words[1] == status, (line, untagged, tagged)
        if code is not None:
            assert words[2].startswith(b"[" + code.encode() + b"]"), (line, tagged)
            assert len(words[2]) > len(code) + 3, "a response code comes with a sentence"
        return untagged, tagged

    def ok(self, line: bytes | str, code: str | None = None) -> list[bytes]:
        return self._expect(line, b"OK", code)[0]

    def no(self, line: bytes | str, code: str | None = None) -> bytes:
        return self._expect(line, b"NO", code)[1]

    def bad(self, line: bytes | str) -> bytes:
        return self._expect(line, b"BAD", None)[1]

    def login(self, password: str) -> None:
        self.ok(f"L1 LOGIN me {password}")
