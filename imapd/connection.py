"""One client connection: framing, timeouts and writing, around a protocol Session.

This is the only module that reads from or writes to a client stream. It turns bytes into
commands with the pure reader and parser, hands each command to the session, and writes the
replies the session yields. Pipelined commands are processed in order; nothing buffered is lost.
After COMPRESS DEFLATE (RFC 4978) every byte both ways goes through imapd.compress, and the
output is flushed once per response batch: when the command or the event loop next waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from imapd import parser, texts
from imapd.commands import refused
from imapd.compress import Bomb, CorruptStream, Deflate
from imapd.reader import CommandReader, Complete, LineTooLong, LiteralPending, TooLarge
from imapd.responses import Bye, tagged
from imapd.session import Session

if TYPE_CHECKING:
    from imapd.server import ImapServer

log = logging.getLogger("imapd")
READ_SIZE = 65536
WRITE_BATCH = 65536
WRITE_WINDOW = 65536
MAX_BAD_BEFORE_LOGIN = 3  # Dovecot disconnects after 3 bad commands before login
MAX_BAD_AFTER_LOGIN = 20  # ... and after 20 once logged in (IMAP-NOTES 4)


class ClientGone(ConnectionError):
    """The client closed the connection or stopped reading (a ConnectionError, so a handler
    reading from the client, as IDLE does, passes it up instead of reporting a server bug)."""


class Connection:
    def __init__(
        self,
        *,
        conn_id: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
        server: ImapServer,
        tls_version: str = "",
    ) -> None:
        self.conn_id = conn_id
        self.reader = reader
        self.writer = writer
        self.frames = CommandReader()
        self.session = Session(
            conn_id=conn_id,
            peer=peer,
            server=server,
            tls_version=tls_version,
            ask=self.ask,
            read_line=self.read_line,
            end=self.end_now,
        )
        self.bad_commands = 0
        self._closing: str | None = None
        self._busy = False
        self._gone = False  # the client left while a command ran; the command was cancelled
        self._task: asyncio.Task[None] | None = None
        self._lost_watch: asyncio.Future[None] | None = None
        self.codec: Deflate | None = None  # set once COMPRESS DEFLATE is active
        # Dovecot's and mox's write timeout is 5 minutes (ServerOptions.write_timeout).
        self.write_timeout = server.options.write_timeout
        # Writes wait (drain) while more than WRITE_WINDOW is buffered, so a connection holds at
        # most that plus the write that crossed it. asyncio's default; set here so it stays so.
        writer.transport.set_write_buffer_limits(high=WRITE_WINDOW)
        self._flush_scheduled = False

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        self._task = asyncio.current_task()
        # Between commands the read loop sees the client leave; during one nobody reads, so the
        # transport's end is watched: a command whose client is gone is cancelled, and with it
        # its database work (imapd.dbpool), instead of running on for nobody. The watcher is
        # never cancelled (that would cancel the protocol's close future, which wait_closed()
        # in `finally` awaits); it ends when the transport closes.
        self._lost_watch = asyncio.ensure_future(self.writer.wait_closed())
        self._lost_watch.add_done_callback(self._lost)
        try:
            await self.write(self.session.greeting())
            while self._closing is None:
                event = self.frames.next_event()
                if event is None:
                    await self._read_more()
                elif isinstance(event, Complete):
                    if self.codec is not None:
                        self.codec.command_read()
                    await self._execute(event.data)
                elif isinstance(event, LiteralPending):
                    await self._literal(event)
                elif isinstance(event, TooLarge):
                    await self._too_large(event)
            if self._closing:
                await self.write(f"* BYE {self._closing}\r\n".encode())
        except Bye as bye:
            with contextlib.suppress(ClientGone):
                await self.write(f"* BYE {bye.text}\r\n".encode())
        except asyncio.CancelledError:
            if self._gone:
                return
            if self._closing is None:
                raise
            with contextlib.suppress(Exception):
                await self.write(f"* BYE {self._closing}\r\n".encode())
        except (ClientGone, ConnectionError, TimeoutError):
            pass
        except Exception:
            log.exception("%s internal error", self.conn_id)
            with contextlib.suppress(Exception):
                await self.write(b"* BYE Internal server error, please reconnect\r\n")
        finally:
            await self.session.close()
            with contextlib.suppress(Exception):
                self._flush()
            self.writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.writer.wait_closed(), 5)

    async def _read_more(self) -> None:
        self._flush()  # the client must hold every response before we wait for its next line
        if self.codec is not None and self.codec.backlog:
            self.frames.feed(self._inflate(b""))
            await asyncio.sleep(0)  # inflating what is left never waits: let other sessions run
            return
        timeout = self.session.timeout()
        try:
            data = await asyncio.wait_for(self.reader.read(READ_SIZE), timeout)
        except TimeoutError:
            raise Bye(self.session.timeout_text()) from None
        if not data:
            raise ClientGone()
        self.frames.feed(self._inflate(data) if self.codec is not None else data)

    def _inflate(self, data: bytes) -> bytes:
        assert self.codec is not None
        try:
            return self.codec.inflate(data, READ_SIZE)
        except CorruptStream:
            raise Bye("The compressed stream could not be read.") from None
        except Bomb as bomb:
            raise Bye(f"{bomb.text} Closing the connection.") from None

    async def _execute(self, data: bytes) -> None:
        started = time.perf_counter()
        try:
            command = parser.parse(data)
        except parser.BadCharset as error:  # RFC 9051 §6.4.4: NO, naming the charsets we know
            await self.write(tagged(error.tag or "*", "NO", error.text, "BADCHARSET (US-ASCII UTF-8)"))
            return
        except parser.ParseError as error:
            await self._bad(error.tag, error.text)
            return
        self._busy = True
        sent = 0
        outcome = "NONE"  # stays so when the command ended without a tagged reply (cancelled, BYE)
        pending: list[bytes] = []
        pending_size = 0
        tag_prefix = f"{command.tag} ".encode()
        try:
            async for chunk in self.session.execute(command):
                sent += len(chunk)
                if chunk.startswith(tag_prefix):
                    outcome = chunk.split(b" ", 2)[1].decode("ascii", "replace")
                # Coalesce untagged lines into ~64 KiB writes: one TLS record batch and one drain
                # per batch instead of per line (bench/README.md, p1). Continuations, the tagged
                # reply and anything pushed while idling go out at once.
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BATCH or not chunk.startswith(b"* ") or self.session.idling:
                    await self.write(b"".join(pending))
                    pending.clear()
                    if pending_size >= WRITE_BATCH:
                        # A fast reader never makes drain() wait, so a long response would keep
                        # the loop from every other session until it ends: yield once per batch.
                        await asyncio.sleep(0)
                    pending_size = 0
            if pending:
                await self.write(b"".join(pending))
        finally:
            self._busy = False
            if self.session.quiet:  # a failed login: its own line (or summary) replaces this one
                self.session.quiet = False
            else:
                log.info(
                    "%s key=%s cmd=%s outcome=%s ms=%.1f bytes=%d",
                    self.conn_id,
                    self.session.key_id or "-",
                    type(command).__name__,
                    outcome,
                    (time.perf_counter() - started) * 1000,
                    sent,
                )
        if self.session.start_compression:  # the tagged OK went out plain; all after it is compressed
            self.session.start_compression = False
            self.session.compressed = True
            self.codec = Deflate()
        if outcome == "BAD":
            self._count_bad()
        if self.session.failed_logins >= self.session.options.max_login_failures:
            raise Bye(texts.TOO_MANY_FAILURES)  # after the tagged NO, as Dovecot does
        if self.session.logged_out:
            self._closing = ""

    async def _literal(self, event: LiteralPending) -> None:
        refusal = self.session.literal_refusal(event.prefix, event.size)
        if refusal is None:
            self.frames.accept_literal()
            await self.write(b"+ Ready for literal data\r\n")
            return
        self.frames.reject_literal()
        await self.write(tagged(event.tag or "*", refusal.status, refusal.text, refusal.code))

    async def _too_large(self, event: TooLarge) -> None:
        # An upload over the literal limit is still a refusal, not BAD; but a line without a valid
        # tag is a syntax error whatever command follows (RFC 9051 §7.1.3: untagged BAD).
        if event.command == "APPEND" and event.tag is not None:
            await self.write(tagged(event.tag or "*", "NO", refused.NO_APPEND, "CANNOT"))
            return
        await self._bad(event.tag, event.what)

    async def _bad(self, tag: str | None, text: str) -> None:
        await self.write(tagged(tag or "*", "BAD", text))
        self._count_bad()

    def _count_bad(self) -> None:
        self.bad_commands += 1
        limit = MAX_BAD_AFTER_LOGIN if self.session.authenticated else MAX_BAD_BEFORE_LOGIN
        if self.bad_commands >= limit:
            raise Bye("Too many invalid commands.")

    # -- what handlers may use --------------------------------------------------------------

    async def write(self, data: bytes) -> None:
        if self.codec is not None:
            data = self.codec.compress(data)
            if not self._flush_scheduled:  # one flush per batch: when this task next waits
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
            if not data:
                return
        self.writer.write(data)
        try:
            await self._drain()
        except ConnectionError:
            raise ClientGone() from None

    async def _drain(self) -> None:
        """Wait until the transport's buffer is below its low-water mark: the client must read what
        was written before the handler may render more (backpressure, issue 10). A client that
        reads nothing for `write_timeout` seconds is dropped; a slow one that keeps reading is not."""
        transport = self.writer.transport
        left = transport.get_write_buffer_size()
        while True:
            try:
                await asyncio.wait_for(self.writer.drain(), self.write_timeout)
                return
            except TimeoutError:
                now = transport.get_write_buffer_size()
                if now >= left:
                    log.info(
                        "%s dropped: the client read nothing for %.0f s", self.conn_id, self.write_timeout
                    )
                    # No goodbye: a TLS close would first try to flush the buffer for up to 30 s.
                    transport.abort()
                    raise ClientGone() from None
                left = now

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self.codec is not None and self.codec.unflushed and not self.writer.is_closing():
            self.writer.write(self.codec.flush())

    async def ask(self, prompt: bytes) -> bytes:
        """Send a continuation request and return the client's next line (AUTHENTICATE)."""
        await self.write(prompt)
        return await self.read_line()

    async def read_line(self) -> bytes:
        """The client's next line, outside command framing (AUTHENTICATE data, IDLE's DONE)."""
        while True:
            try:
                line = self.frames.read_line()
            except LineTooLong:
                raise Bye("That line is too long.") from None
            if line is not None:
                if self.codec is not None:
                    self.codec.command_read()
                return line
            await self._read_more()

    def _lost(self, watcher: asyncio.Future[None]) -> None:
        if not watcher.cancelled():
            watcher.exception()  # retrieved: a reset connection is not worth a log line
        if self._busy and not self._gone and self._task is not None:
            self._gone = True
            self._task.cancel()

    def end_now(self, reason: str) -> None:
        """Close with `* BYE reason` at once, cancelling a running command (revocation)."""
        self._closing = reason
        if self._task is not None:
            self._task.cancel()

    def shutdown(self, reason: str) -> None:
        """Close with `* BYE reason`: now if the client is between commands, else right after."""
        self._closing = reason
        if (not self._busy or self.session.idling) and self._task is not None:
            self._task.cancel()
