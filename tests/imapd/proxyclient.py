"""An imaplib client that connects from a chosen local address and may send bytes (a PROXY header)
before its TLS ClientHello, as a load balancer does."""

from __future__ import annotations

import imaplib
import socket
import ssl


class ProxiedIMAP(imaplib.IMAP4_SSL):
    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext,
        source: str = "127.0.0.1",
        header: bytes = b"",
        timeout: float = 20,
    ) -> None:
        self.source = source
        self.header = header
        super().__init__(host, port, ssl_context=ssl_context, timeout=timeout)

    def _create_socket(self, timeout: float | None) -> ssl.SSLSocket:  # type: ignore[override]
        sock = socket.create_connection((self.host, self.port), timeout, source_address=(self.source, 0))
        if self.header:
            sock.sendall(self.header)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)


def raw_exchange(host: str, port: int, data: bytes, *, source: str = "127.0.0.1", wait: float = 5) -> bytes:
    """Send `data` from `source`, then read until the server closes (or `wait` passes)."""
    with socket.create_connection((host, port), wait, source_address=(source, 0)) as sock:
        if data:
            sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(4096):
                received += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        return received
