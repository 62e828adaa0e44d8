"""lmtpd's listening socket: one aiosmtpd LMTP session per connection, one shared handler."""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from dataclasses import dataclass

from imapd.dbpool import Pools
from mailkite.lmtp.protocol import LmtpSession
from mailkite.lmtp.session import Handler

# aiosmtpd logs every command line at INFO: five lines a message, hundreds a second under load.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Options:
    max_message_bytes: int
    hostname: str = ""  # the name in the greeting; the machine's own by default
    timeout: float = 300.0  # RFC 5321 4.5.3.2's server timeout, in seconds, per command
    shutdown_grace: float = 30.0  # how long a stop waits for messages being written


class LmtpServer:
    def __init__(self, *, pools: Pools, options: Options) -> None:
        self.pools = pools
        self.options = options
        self.handler = Handler(pools)
        # Once, here: aiosmtpd would otherwise ask the resolver for it on every connection.
        self.hostname = options.hostname or socket.getfqdn()
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[LmtpSession] = weakref.WeakSet()

    def _session(self) -> LmtpSession:
        session = LmtpSession(
            self.handler,
            data_size_limit=self.options.max_message_bytes,
            hostname=self.hostname,
            ident="MailKite LMTP",
            enable_SMTPUTF8=True,  # addresses and headers in UTF-8 (RFC 6531) are stored as bytes
            timeout=self.options.timeout,
            loop=asyncio.get_running_loop(),
        )
        self._sessions.add(session)
        return session

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> list[tuple[str, int]]:
        """Listen on host:port (0: any free port); return the addresses bound.

        `reuse_port`: other processes started the same way may listen on the same port
        (SO_REUSEPORT), and the kernel spreads connections among them: one process uses about
        one core (bench/README.md).
        """
        self._server = await asyncio.get_running_loop().create_server(
            self._session, host, port, reuse_port=reuse_port or None
        )
        return [sock.getsockname()[:2] for sock in self._server.sockets]

    async def close(self) -> None:
        """Stop accepting; let messages past DATA be written and answered; then close every connection.

        A connection closed in the middle of a transaction is one the MTA retries: nothing of it
        was acknowledged.
        """
        if self._server is None:
            return
        self._server.close()
        try:
            await asyncio.wait_for(self.handler.idle(), self.options.shutdown_grace)
        except TimeoutError:
            pass
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
