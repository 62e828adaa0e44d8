"""The TLS context: implicit TLS only, TLS 1.2 or newer, ALPN "imap", reloadable on SIGHUP."""

from __future__ import annotations

import ssl
from pathlib import Path

# TLS 1.2: forward secrecy (ECDHE) and authenticated encryption (AES-GCM, ChaCha20-Poly1305) only,
# for ECDSA and RSA certificates alike: Mozilla's "intermediate" profile without finite-field DHE.
# Dovecot's default list also admits CBC suites (ECDHE-*-AES-SHA, CAMELLIA, ARIA) and CCM8, which
# issue 10 retired; every client able to do TLS 1.2 has had GCM since about 2014. TLS 1.3 suites are
# all AEAD and are not affected by this list.
CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


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
