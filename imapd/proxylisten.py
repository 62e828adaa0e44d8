"""The PROXY listener's side of a connection: whom to believe, and reading the header off the socket.

On a listener with PROXY_TRUSTED_NETWORKS (docs/imap.md "Behind a load balancer"), a connection
from a trusted network must start with a PROXY header and one from anywhere else must not:

    trusted peer,   header     -> served as the address in the header (LOCAL: as the peer)
    trusted peer,   no header  -> refused: a balancer that forgot `send-proxy-v2` would otherwise
                                  make every client look like the balancer, one address to throttle
    untrusted peer, header     -> refused: anyone could claim any address
    untrusted peer, no header  -> served as itself, as on the plain listener

The header is read before the TLS ClientHello, without reading a byte past it (the TLS layer
reads the socket next): bytes are peeked, and only those that imapd.proxyproto says are header
are consumed. Reads are bounded by proxyproto.MAX_HEADER and by a deadline.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from imapd import proxyproto
from imapd.addresses import Network, in_networks


class Refused(Exception):
    """Why a connection on the PROXY listener is closed; a sentence for the log, never client bytes."""


class TrustedNetworks:
    def __init__(self, networks: tuple[str, ...] | list[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def __contains__(self, address: str) -> bool:
        return in_networks(address, self.networks)


async def client_address(sock: socket.socket, peer: str, trusted: TrustedNetworks, timeout: float) -> str:
    """The address to serve this connection as; raises Refused (the caller closes and logs)."""
    if peer not in trusted:
        # Nothing read: TLS detection sees the connection as it came, and refuses a PROXY
        # header there (imapd.server), as it refuses any other plaintext.
        return peer
    header = await read_header(sock, asyncio.get_running_loop().time() + timeout)
    return header.source or peer


async def read_header(sock: socket.socket, deadline: float) -> proxyproto.Header:
    """Consume exactly one PROXY header from the socket, or raise Refused."""
    consumed = b""
    while True:
        peeked = await _peek(sock, proxyproto.MAX_HEADER - len(consumed), deadline)
        if not peeked:
            raise Refused("closed inside the PROXY header" if consumed else "closed before a PROXY header")
        try:
            header = proxyproto.parse(consumed + peeked)
        except proxyproto.Malformed as error:
            if consumed or proxyproto.looks_like_proxy(peeked):
                raise Refused(str(error)) from None
            raise Refused("no PROXY header from a trusted network") from None
        # All that was peeked is header while the header is incomplete; once complete, only its length.
        take = len(peeked) if header is None else header.length - len(consumed)
        consumed += _recv_exactly(sock, take)
        if header is not None:
            return header


async def _peek(sock: socket.socket, size: int, deadline: float) -> bytes:
    """Up to `size` bytes already received, without consuming them; b"" once the peer has closed.
    Waits for readability (never spins on bytes already seen: the caller consumes them)."""
    peeked = await peek(sock, size, max(0.0, deadline - asyncio.get_running_loop().time()))
    if peeked is None:
        raise Refused("no complete PROXY header in time")
    return peeked


async def peek(sock: socket.socket, size: int, timeout: float) -> bytes | None:
    """Once `sock` is readable, up to `size` bytes of it without consuming them (b"" once the
    peer has closed or the socket fails); None if it is not readable within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(sock.fileno(), readable)
    try:
        await asyncio.wait_for(ready, timeout)
    except TimeoutError:
        return None
    finally:
        loop.remove_reader(sock.fileno())
    try:
        return sock.recv(size, socket.MSG_PEEK)
    except OSError:
        return b""


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Consume `size` bytes that a peek has already shown are there."""
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except BlockingIOError:
            raise Refused("the PROXY header vanished after a peek") from None
        if not chunk:
            raise Refused("closed inside the PROXY header")
        data += chunk
    return data
