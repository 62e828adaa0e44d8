"""A small asyncio IMAPS client for the load generator: just enough protocol, and fast.

Responses are read line by line; a line ending in a literal `{n}` continues after n octets. The
client keeps the untagged responses of a command only when asked (a 10,000-message FETCH is counted,
not stored), so the client process stays cheap next to the servers it measures.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from dataclasses import dataclass, field

LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ImapError(Exception):
    pass


@dataclass
class Reply:
    status: str
    text: bytes
    untagged: list[bytes] = field(default_factory=list)
    count: int = 0
    octets: int = 0
    seconds: float = 0.0


def client_context(cafile: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = False  # both servers use the same bench certificate for 127.0.0.1
    return context


class Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.n = 0
        self.greeting = b""

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext, timeout: float = 30) -> Conn:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=context, limit=64 * 2**20), timeout
        )
        conn = cls(reader, writer)
        conn.greeting = await asyncio.wait_for(reader.readline(), timeout)
        if not conn.greeting.startswith(b"* OK"):
            writer.close()
            raise ImapError(f"greeting: {conn.greeting[:200]!r}")
        return conn

    async def read_response(self) -> tuple[bytes, int]:
        """One whole response (a line plus any literals it carries) and its size in octets."""
        line = await self.reader.readline()
        if not line:
            raise ImapError("connection closed by the server")
        parts = [line]
        octets = len(line)
        while True:
            match = LITERAL.search(line)
            if match is None:
                break
            size = int(match.group(1))
            data = await self.reader.readexactly(size)
            line = await self.reader.readline()
            parts.append(data)
            parts.append(line)
            octets += size + len(line)
        return b"".join(parts) if len(parts) > 1 else parts[0], octets

    async def command(
        self, text: str | bytes, *, keep: bool = False, check: bool = True, timeout: float = 600
    ) -> Reply:
        self.n += 1
        tag = b"b%d" % self.n
        payload = text.encode() if isinstance(text, str) else text
        started = time.perf_counter()
        self.writer.write(tag + b" " + payload + b"\r\n")
        reply = await asyncio.wait_for(self._collect(tag, keep), timeout)
        reply.seconds = time.perf_counter() - started
        if check and reply.status != "OK":
            raise ImapError(f"{payload[:80]!r} -> {reply.status} {reply.text[:200]!r}")
        return reply

    async def _collect(self, tag: bytes, keep: bool) -> Reply:
        untagged: list[bytes] = []
        count = 0
        octets = 0
        prefix = tag + b" "
        while True:
            response, size = await self.read_response()
            octets += size
            if response.startswith(prefix):
                status, _, text = response[len(prefix) :].partition(b" ")
                return Reply(status.decode(), text.rstrip(), untagged, count, octets)
            if response.startswith(b"* BYE"):
                raise ImapError(f"BYE: {response[:200]!r}")
            count += 1
            if keep:
                untagged.append(response)

    async def login(self, user: str, password: str) -> Reply:
        return await self.command(f'LOGIN "{user}" "{password}"')

    async def logout(self) -> None:
        try:
            await asyncio.wait_for(self.command("LOGOUT", check=False), 10)
        except (TimeoutError, ImapError, OSError, asyncio.IncompleteReadError):
            pass
        self.close()

    def close(self) -> None:
        try:
            self.writer.close()
        except Exception:
            pass

    # IDLE -------------------------------------------------------------------------------------

    async def idle_start(self) -> None:
        self.n += 1
        self.idle_tag = b"b%d" % self.n
        self.writer.write(self.idle_tag + b" IDLE\r\n")
        while True:
            response, _ = await self.read_response()
            if response.startswith(b"+"):
                return
            if response.startswith(self.idle_tag):
                raise ImapError(f"IDLE refused: {response[:200]!r}")

    async def idle_done(self) -> None:
        self.writer.write(b"DONE\r\n")
        await self._collect(self.idle_tag, False)
