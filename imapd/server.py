"""Sockets, TLS and the connection lifecycle.

The listener accepts plain TCP and peeks at the first byte before any TLS: a TLS record starts
with 0x16. Anything else, or silence for a few seconds, gets a plaintext BYE explaining that
this port wants TLS from the first byte, instead of a hang (DESIGN §5). On the optional PROXY
listener (imapd.proxylisten) a balancer's PROXY header comes first and names the client, whose
address then stands for the connection's peer everywhere. TLS-wrapped streams
are handed to imapd.connection. Connections over a limit (imapd.admission) are refused with
`* BYE` and a sentence, sent after the TLS handshake so that a TLS client can read it; those
refusals have their own small bounded lane, so a flood of them cannot hold the worker. On
shutdown the server stops accepting, tells every session
`* BYE Server restarting, please reconnect`, lets running commands finish, then exits.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

from imapd import proxyproto
from imapd.admission import Admission, Ticket
from imapd.connection import Connection
from imapd.dbpool import Pools
from imapd.history import LoginHistory
from imapd.proxylisten import Refused, TrustedNetworks, client_address, peek
from imapd.snapshot import SnapshotCache
from imapd.throttle import FailureLog, Penalties
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
# Refused connections still get a TLS handshake (for the BYE to be readable), but at most this
# many at once per worker, each within REFUSAL_TIMEOUT; past that a refused socket is just closed.
REFUSAL_LANE = 32
REFUSAL_TIMEOUT = 5.0


class _UntilClosed(asyncio.Protocol):
    """The protocol of a refused connection: nothing to read, only its end to wait for."""

    def __init__(self, closed: asyncio.Future[None]) -> None:
        self.closed = closed

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


@dataclass
class ServerOptions:
    first_byte_timeout: float = 5.0
    proxy_header_timeout: float = 3.0  # a balancer sends its PROXY header at once (HAProxy does)
    handshake_timeout: float = 15.0
    login_timeout: float = 60.0  # total, from connect to a successful login
    idle_timeout: float = 31 * 60.0  # RFC 9051 §5.4: at least 30 minutes after login
    shutdown_grace: float = 5.0  # then running commands are cancelled, database work included
    write_timeout: float = 300.0  # a client that reads nothing for this long is dropped (Dovecot, mox)
    failure_delay: float = 2.0
    max_failure_delay: float = 15.0
    max_login_failures: int = 3  # per connection, then BYE (Dovecot, Stalwart: 3)
    failure_summary_interval: float = 60.0  # past 3 failed logins an address gets one line per this
    max_connections: int = 10_000  # per worker process
    max_unauthenticated_per_address: int = 20  # per IPv4 address or IPv6 /64
    max_connections_per_mailbox_address: int = 10  # Dovecot's mail_max_userip_connections
    keepalive_interval: float = 120.0  # "* OK Still here" during IDLE: mobile NAT drops silent links
    event_poll_interval: float = 1.0  # without Redis: how often the change counters are read
    event_reconcile_interval: float = 30.0  # with Redis: the poll that catches a lost message
    # Login history (imapd.history): batched writes, at most this often or this many at once.
    login_history: bool = True
    login_history_interval: float = 1.0
    login_history_batch: int = 500
    login_history_capacity: int = 10_000


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
        self.penalties = Penalties(self.options.failure_delay, self.options.max_failure_delay)
        self.failure_log = FailureLog(interval=self.options.failure_summary_interval)
        self.refusal_log = FailureLog(
            what="refused connections", interval=self.options.failure_summary_interval
        )
        self.admission = Admission(
            max_connections=self.options.max_connections,
            unauthenticated_per_address=self.options.max_unauthenticated_per_address,
            per_mailbox_address=self.options.max_connections_per_mailbox_address,
        )
        self._refusing = 0
        self.snapshots = SnapshotCache(pools.run)  # shared by this process's sessions (DESIGN §5)
        self.history = LoginHistory(
            pools.run,
            interval=self.options.login_history_interval,
            batch=self.options.login_history_batch,
            capacity=self.options.login_history_capacity,
            enabled=self.options.login_history,
        )
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
        await self.events.start()
        self.history.start()
        return self.listen(host, port, reuse_port=reuse_port)

    def listen(
        self, host: str, port: int, *, reuse_port: bool = False, proxy: TrustedNetworks | None = None
    ) -> list[tuple[str, int]]:
        """One more listener (start() makes the first); with `proxy`, a PROXY listener that
        believes the headers of those networks (imapd.proxylisten). Returns what it bound."""
        loop = asyncio.get_running_loop()
        added: list[socket.socket] = []
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
            added.append(sock)
            self._accepting.append(loop.create_task(self._accept_loop(sock, proxy)))
            break  # one address family is enough for a given host name
        return [s.getsockname()[:2] for s in added]

    def reload_tls(self, context: ssl.SSLContext) -> None:
        """New connections use the new certificate; live ones keep theirs."""
        self.context = context

    async def _accept_loop(self, listener: socket.socket, proxy: TrustedNetworks | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(listener)
            except OSError as error:
                log.warning("accept failed: %s", error)
                await asyncio.sleep(0.1)
                continue
            task = loop.create_task(self._serve(sock, peer, proxy))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _first_byte(self, sock: socket.socket) -> bytes | None:
        """Peek at the first byte without consuming it; None on timeout."""
        return await peek(sock, 1, self.options.first_byte_timeout)

    async def _serve(self, sock: socket.socket, peer: Any, proxy: TrustedNetworks | None = None) -> None:
        accepted = time.monotonic()
        self._next_id += 1
        conn_id = f"{self.conn_prefix}c{self._next_id}"
        if proxy is not None:
            # Before admission, which counts per client address: the balancer's own address
            # would put every client behind it in one count.
            try:
                client = await client_address(sock, str(peer[0]), proxy, self.options.proxy_header_timeout)
            except (Refused, OSError) as refusal:
                if self.refusal_log.should_log(self.penalties.address(str(peer[0]))):
                    log.info("%s refused %s on the PROXY listener: %s", conn_id, peer[0], refusal)
                sock.close()
                return
            except BaseException:  # cancelled at shutdown: the socket is not ours to leak
                sock.close()
                raise
            if client != str(peer[0]):
                log.debug("%s %s speaks for %s", conn_id, peer[0], client)
            peer = (client, *peer[1:])
        ticket = self.admission.admit(str(peer[0]))
        if isinstance(ticket, str):
            await self._refuse(sock, conn_id, peer, ticket)
            return
        try:
            await self._serve_admitted(sock, conn_id, peer, ticket, accepted, proxy is not None)
        finally:
            self.admission.release(ticket)

    async def _serve_admitted(
        self, sock: socket.socket, conn_id: str, peer: Any, ticket: Ticket, accepted: float, proxy: bool
    ) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        first = await self._first_byte(sock)
        if first is not None and first == b"":
            sock.close()
            return
        if proxy and first is not None and proxyproto.looks_like_proxy(first):
            # An untrusted peer's header (a trusted one's was read already), or a second header.
            if self.refusal_log.should_log(self.penalties.address(str(peer[0]))):
                log.info("%s refused %s: a PROXY header from an untrusted network or twice", conn_id, peer[0])
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
        ssl_object = transport.get_extra_info("ssl_object")
        connection = Connection(
            conn_id=conn_id,
            reader=reader,
            writer=writer,
            peer=str(peer[0]),
            server=self,
            tls_version=(ssl_object.version() or "") if ssl_object is not None else "",
        )
        connection.session.ticket = ticket
        connection.session.login_deadline = accepted + self.options.login_timeout  # handshake included
        self.connections.add(connection)
        try:
            await connection.run()
        finally:
            self.connections.discard(connection)

    async def _refuse(self, sock: socket.socket, conn_id: str, peer: Any, reason: str) -> None:
        """`* BYE reason` after a TLS handshake (plaintext to a non-TLS client), in the lane."""
        if self.refusal_log.should_log(self.penalties.address(str(peer[0]))):
            log.info("%s refused %s: %s", conn_id, peer[0], reason)
        if self._refusing >= REFUSAL_LANE:
            sock.close()
            return
        self._refusing += 1
        try:
            await asyncio.wait_for(self._say_bye(sock, reason), REFUSAL_TIMEOUT)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            pass
        finally:
            self._refusing -= 1
            sock.close()

    async def _say_bye(self, sock: socket.socket, reason: str) -> None:
        first = await self._first_byte(sock)
        if not first:
            return
        if first[0] != TLS_HANDSHAKE_RECORD:
            await self._refuse_plaintext(sock)
            return
        loop = asyncio.get_running_loop()
        closed: asyncio.Future[None] = loop.create_future()
        transport, _ = await loop.connect_accepted_socket(
            lambda: _UntilClosed(closed), sock, ssl=self.context, ssl_handshake_timeout=REFUSAL_TIMEOUT
        )
        transport.write(f"* BYE {reason}\r\n".encode())
        transport.close()  # sends the BYE, then closes TLS and the socket: wait for that
        await closed

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
        await self.history.close()  # the logins of the sessions that just ended, too
        await self.events.stop()
