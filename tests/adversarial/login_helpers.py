"""Helpers for the login-abuse and connection-limit tests: clients from chosen loopback source
addresses (127.0.0.2 and up are separate sources to the server, as on the internet), a server
with a sized login pool, forged credentials, and a flooding attacker in its own process.

Run as a script, this module is the attacker (`python -m tests.adversarial.login_helpers ...`):
it floods LOGIN from one source address until killed, so the test process's GIL serves the
server and the legitimate user only.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import random
import socket
import ssl
import sys
from typing import Any

from passwords import tokens

ATTACKER = "127.0.0.2"
VICTIM = "127.0.0.3"


def forged_password(key_id: str | None = None) -> str:
    """A well-formed app-password with a valid checksum: for `key_id` (a wrong secret for a real
    key id) or for a random key id no account has."""
    alphabet = tokens.ALPHABET
    key_id = key_id or "".join(random.choice(alphabet) for _ in range(tokens.KEY_ID_LENGTH))
    body = f"mk_imap_{key_id}_" + "".join(random.choice(alphabet) for _ in range(tokens.SECRET_LENGTH))
    return body + tokens._checksum(body)


class SourceIMAP(imaplib.IMAP4_SSL):
    """imaplib's IMAP4_SSL from a chosen source address (it has no parameter for one)."""

    def __init__(
        self, host: str, port: int, *, source: str, ssl_context: ssl.SSLContext, timeout: float = 20
    ):
        self.source = source
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout: Any) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def raw_tls(
    host: str, port: int, *, source: str, context: ssl.SSLContext, timeout: float = 20
) -> ssl.SSLSocket:
    """A TLS socket from `source`, its handshake done; the greeting is still to be read."""
    sock = socket.create_connection((host, port), timeout, source_address=(source, 0))
    return context.wrap_socket(sock, server_hostname=host)


def read_line(sock: ssl.SSLSocket | socket.socket) -> bytes:
    """One CRLF-terminated line; b"" if the server closed the connection first."""
    line = b""
    while not line.endswith(b"\r\n"):
        try:
            byte = sock.recv(1)
        except (ConnectionError, ssl.SSLError):
            return line
        if not byte:
            return line
        line += byte
    return line


# -- the attacker process -------------------------------------------------------------------------


async def _attack_one(host: str, port: int, source: str, key_id: str | None, context: ssl.SSLContext) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.bind((source, 0))
            await loop.sock_connect(sock, (host, port))
            reader, writer = await asyncio.open_connection(sock=sock, ssl=context, server_hostname=host)
            await reader.readline()  # greeting (or BYE)
            n = 0
            while True:
                n += 1
                writer.write(b"a%d LOGIN x %s\r\n" % (n, forged_password(key_id).encode()))
                line = await reader.readline()
                if not line or line.startswith(b"* BYE"):
                    break
            writer.close()
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            await asyncio.sleep(0.01)


async def _attack(host: str, port: int, source: str, key_id: str | None, connections: int, ca: str) -> None:
    context = ssl.create_default_context(cafile=ca)
    await asyncio.gather(*(_attack_one(host, port, source, key_id, context) for _ in range(connections)))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--source", default=ATTACKER)
    parser.add_argument("--key-id", default=None, help="a real key id (else random ones)")
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args(argv)
    print("attacking", flush=True)
    asyncio.run(_attack(args.host, args.port, args.source, args.key_id, args.connections, args.ca))


if __name__ == "__main__":
    main(sys.argv[1:])
