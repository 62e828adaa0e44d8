"""Issue 10, "TLS 1.2 offers CBC-mode suites": TLS 1.2 is AEAD only (ECDHE with AES-GCM or
ChaCha20-Poly1305), TLS 1.3 as before. The test certificate (trustme) has an ECDSA key, so the
clients below offer ECDSA suites: with an RSA-only list, a refusal would prove nothing."""

from __future__ import annotations

import socket
import ssl

import pytest

from imapd import tls

pytestmark = pytest.mark.django_db(transaction=True)

CBC_ONLY = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384"
CAMELLIA_ARIA_CCM8 = "ECDHE-ECDSA-CAMELLIA128-SHA256:ECDHE-ECDSA-ARIA128-GCM-SHA256:ECDHE-ECDSA-AES128-CCM8"
AEAD = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"]


def _tls12_client(certs, ciphers: str) -> ssl.SSLContext:
    context = certs.client_context()
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    return context


def _handshake(imap_server, context: ssl.SSLContext) -> tuple[str, str, bytes]:
    """(protocol, cipher, greeting) of one connection."""
    raw = socket.create_connection((imap_server.host, imap_server.port), timeout=10)
    with raw, context.wrap_socket(raw, server_hostname="localhost") as sock:
        cipher = sock.cipher()
        assert cipher is not None
        return cipher[1], cipher[0], sock.recv(1024)


def test_a_tls12_client_offering_only_cbc_suites_is_refused(imap_server, certs):
    for offer in (CBC_ONLY, CAMELLIA_ARIA_CCM8):
        with pytest.raises(ssl.SSLError):
            _handshake(imap_server, _tls12_client(certs, offer))


@pytest.mark.parametrize("suite", AEAD)
def test_a_tls12_client_with_an_aead_suite_works(imap_server, certs, suite):
    protocol, cipher, greeting = _handshake(imap_server, _tls12_client(certs, suite))
    assert (protocol, cipher) == ("TLSv1.2", suite)
    assert greeting.startswith(b"* OK")


def test_tls13_is_still_negotiated(imap_server, certs):
    protocol, _, greeting = _handshake(imap_server, certs.client_context())
    assert protocol == "TLSv1.3" and greeting.startswith(b"* OK")


def test_every_tls12_suite_the_server_enables_is_ecdhe_and_aead(certs):
    context = tls.server_context(certs.cert, certs.key)
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    for cipher in tls12:
        assert cipher["aead"] and cipher["kea"] == "kx-ecdhe", cipher["name"]
        assert "GCM" in cipher["name"] or "CHACHA20" in cipher["name"], cipher["name"]
