"""The TLS context: implicit TLS only, TLS 1.2 or newer, ALPN "imap", reloadable on SIGHUP."""

from __future__ import annotations

import ssl
from pathlib import Path

# Dovecot's default cipher preferences for TLS 1.2 (ssl-settings.c); TLS 1.3 suites are fixed.
CIPHERS = "ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """Build a server context; raises a clear error naming the file that cannot be used."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.set_alpn_protocols(["imap"])
    context.options |= ssl.OP_NO_COMPRESSION
    for path, variable in ((cert, "TLS_CERT"), (key, "TLS_KEY")):
        if not path.exists():
            raise FileNotFoundError(
                f"{variable} points at {path}, which does not exist "
                "(run `manage.py devcert` for a development certificate)."
            )
    try:
        context.load_cert_chain(str(cert), str(key))
    except ssl.SSLError as error:
        raise ValueError(
            f"TLS_CERT/TLS_KEY could not be loaded as a certificate and key: {error.reason}"
        ) from None
    return context
