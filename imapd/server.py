"""Sockets, TLS and the connection lifecycle.

The listener accepts plain TCP and peeks at the first byte before any TLS: a TLS record starts
with 0x16. Anything else, or silence for a few seconds, gets a plaintext BYE explaining that
this port wants TLS from the first byte, instead of a hang (DESIGN §5). TLS-wrapped streams
are handed to imapd.connection. On shutdown the server stops accepting, tells every session
`* BYE Server restarting, please reconnect`, lets running commands finish, then exits.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from imapd.connection import Connection
from imapd.dbpool import Pools
from imapd.snapshot import SnapshotCache
from imapd.throttle import Penalties
from mailkite.events.hub import EventHub

log = logging.getLogger("imapd")

# Python 3.11's asyncio TLS transport gives every connection a zero-filled 256 KiB read buffer
# (asyncio.sslproto.SSLProtocol.max_size), most of an idle connection's memory. A TLS record
# carries at most 16 KiB of plaintext, so reading 16 KiB at a time loses nothing (bench, p4).
asyncio.sslproto.SSLProtocol.max_size = 16 * 1024

CANCEL_WAIT = 2.0  # seconds cancelled sessions get to unwind at shutdown, after shutdown_grace
TLS_HANDSHAKE_RECORD = 0x16
PLAINTEXT_BYE = (
    b"* BYE This port requires TLS from the first byte: use port 993 with SSL/TLS "
    b"(no STARTTLS, no port 143).\r\n"
)


@dataclass
class ServerOptions:
    first_byte_timeout: float = 5.0
    handshake_timeout: float = 15.0
    login_timeout: float = 60.0
    idle_timeout: float = 31 * 60.0  # RFC 9051 §5.4: at least 30 minutes after login
    shutdown_grace: float = 5.0  # then running commands are cancelled, database work included
    failure_delay: float = 2.0
    keepalive_interval: float = 120.0  # "* OK Still here" during IDLE: mobile NAT drops silent links
    event_poll_interval: float = 1.0  # without Redis: how often the change counters are read
    event_reconcile_interval: float = 30.0  # with Redis: the poll that catches a lost message


class ImapServer:
    def __init__(
        self,
        *,
        context: ssl.SSLContext,
        pools: Pools,
        options: ServerOptions | None = None,
        redis_url: str | None = None,
        conn_prefix: str = "",
    ) -> None:
        self.context = context
        # Prepended to connection ids ("w2.c17"), so that the merged log of several worker
        # processes, each counting from c1, still names one connection per id.
        self.conn_prefix = conn_prefix
        self.pools = pools
        self.options = options or ServerOptions()
        self.events = EventHub(
            run_sync=pools.run,
            redis_url=redis_url,
            poll_interval=self.options.event_poll_interval,
            reconcile_interval=self.options.event_reconcile_interval,
        )
        self.penalties = Penalties(self.options.failure_delay)
        self.snapshots = SnapshotCache(pools.run)  # shared by this process's sessions (DESIGN §5)
        self.connections: set[Connection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._listeners: list[socket.socket] = []
        self._accepting: list[asyncio.Task[None]] = []
        self._next_id = 0

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> list[tuple[str, int]]:
        """Bind and start accepting; returns the bound addresses (port 0 picks a free one).

        With `reuse_port`, several processes bind the same address (SO_REUSEPORT) and the kernel
        spreads new connections among their listeners: how `imapd --workers N` shares a port. Only
        sockets of the same user that all set the option can join, so a stranger cannot."""
        loop = asyncio.get_running_loop()
        await self.events.start()
        for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE):
            family, kind, proto, _, address = info
            sock = socket.socket(family, kind, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
                sock.listen(1024)
            except OSError:
                sock.close()
                raise
            sock.setblocking(False)
            self._listeners.append(sock)
            self._accepting.append(loop.create_task(self._accept_loop(sock)))
            break  # one address family is enough for a given host name
        return [s.getsockname()[:2] for s in self._listeners]

    def reload_tls(self, context: ssl.SSLContext) -> None:
        """New connections use the new certificate; live ones keep theirs."""
        self.context = context

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as error:
                log.warning("accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._serve(sock, peer))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _first_byte(self, sock: socket.socket) -> bytes | None:
        """Peek at the first byte without consuming it; None on timeout."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(sock.fileno(), readable)
        try:
            await asyncio.wait_for(ready, self.options.first_byte_timeout)
        except TimeoutError:
            return None
        finally:
            loop.remove_reader(sock.fileno())
        try:
            return sock.recv(1, socket.MSG_PEEK)
        except OSError:
            return b""

    async def _serve(self, sock: socket.socket, peer: Any) -> None:
        self._next_id += 1
        conn_id = f"{self.conn_prefix}c{self._next_id}"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = await self._first_byte(sock)
        if first is not None and first == b"":
            sock.close()
            return
        if first is None or first[0] != TLS_HANDSHAKE_RECORD:
            await self._refuse_plaintext(sock)
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=2**20)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol,
                sock,
                ssl=self.context,
                ssl_handshake_timeout=self.options.handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as error:
            log.info("%s TLS handshake with %s failed: %s", conn_id, peer[0], error)
            sock.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        connection = Connection(conn_id=conn_id, reader=reader, writer=writer, peer=str(peer[0]), server=self)
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    async def _refuse_plaintext(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            await asyncio.wait_for(loop.sock_sendall(sock, PLAINTEXT_BYE), 5)
        sock.close()

    async def close(self) -> None:
        """Stop accepting, say BYE to every session, let commands finish, then return."""
        for task in self._accepting:
            task.cancel()
        for listener in self._listeners:
            listener.close()
        for connection in list(self.connections):
            connection.shutdown("Server restarting, please reconnect")
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.options.shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:  # let them unwind: that cancels their database statements (imapd.dbpool)
                await asyncio.wait(pending, timeout=CANCEL_WAIT)
        await self.events.stop()
