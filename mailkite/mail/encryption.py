"""Encryption at ingest for encrypted domains: PGP/MIME (RFC 3156) or S/MIME (RFC 8551).

The whole original message (headers and body, byte-exact) becomes the encrypted inner entity;
the outer message keeps only the routing headers clients need to list mail (From, To, Cc, Date,
Message-ID, and Subject unless the domain protects it). Encryption happens in memory before
anything is stored, indexed, logged or queued. A key that cannot encrypt (expired, revoked)
raises EncryptionUnavailable: delivery then fails temporarily and the MTA retries, rather than
storing plaintext.
"""

from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32

import gnupg
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7

PGP, SMIME = "pgp", "smime"
ROUTING_HEADERS = ("From", "To", "Cc", "Date", "Message-ID", "Subject")
PROTECTED_SUBJECT = "..."  # what Autocrypt/"protected headers" clients show for a hidden subject


class InvalidKey(ValueError):
    """The uploaded key or certificate cannot be used; the message says why, for the user."""


class EncryptionUnavailable(Exception):
    """The domain's key cannot encrypt now (expired, revoked): fail the delivery temporarily."""


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    expires: datetime | None
    description: str


_gpg_lock = threading.Lock()


def _with_gpg(armored: str) -> tuple[gnupg.GPG, str, str]:
    home = tempfile.mkdtemp(prefix="mailkite-gpg-")
    gpg = gnupg.GPG(gnupghome=home)
    result = gpg.import_keys(armored)
    if not result.fingerprints:
        shutil.rmtree(home, ignore_errors=True)
        raise InvalidKey("That is not an ASCII-armoured OpenPGP public key (gpg could not import it).")
    return gpg, home, result.fingerprints[0]


def _pgp_info(armored: str) -> KeyInfo:
    with _gpg_lock:
        gpg, home, fingerprint = _with_gpg(armored)
        try:
            keys = [k for k in gpg.list_keys() if k["fingerprint"] == fingerprint]
        finally:
            shutil.rmtree(home, ignore_errors=True)
    key = keys[0]
    expires = datetime.fromtimestamp(int(key["expires"]), UTC) if key.get("expires") else None
    if key.get("trust") == "r":
        raise InvalidKey("That OpenPGP key is revoked.")
    if expires is not None and expires <= datetime.now(UTC):
        raise InvalidKey(f"That OpenPGP key expired on {expires:%Y-%m-%d}.")
    if "E" not in key.get("cap", ""):  # the key as a whole: some (sub)key can encrypt
        raise InvalidKey("That OpenPGP key has no subkey that can encrypt; add an encryption subkey.")
    uid = key["uids"][0] if key.get("uids") else fingerprint
    return KeyInfo(fingerprint=fingerprint, expires=expires, description=f"OpenPGP {uid}")


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii", "replace"))
    except ValueError:
        raise InvalidKey("That is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----).") from None


def _smime_info(pem: str) -> KeyInfo:
    cert = _certificate(pem)
    now = datetime.now(UTC)
    if cert.not_valid_after_utc <= now:
        raise InvalidKey(f"That certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}.")
    if cert.not_valid_before_utc > now:
        raise InvalidKey("That certificate is not valid yet.")
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise InvalidKey("S/MIME encryption here needs an RSA certificate.")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        if not usage.key_encipherment:
            raise InvalidKey("That certificate's key usage does not allow encryption (keyEncipherment).")
    except x509.ExtensionNotFound:
        pass
    fingerprint = cert.fingerprint(cert.signature_hash_algorithm or _sha256()).hex().upper()
    return KeyInfo(
        fingerprint=fingerprint,
        expires=cert.not_valid_after_utc,
        description=f"S/MIME {cert.subject.rfc4514_string()}",
    )


def _sha256():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def validate_key(kind: str, text: str) -> KeyInfo:
    """Check that `text` parses, can encrypt and has not expired; raise InvalidKey otherwise."""
    if kind == PGP:
        return _pgp_info(text)
    if kind == SMIME:
        return _smime_info(text)
    raise InvalidKey("Choose OpenPGP or S/MIME.")


def _outer_headers(raw: bytes, protect_subject: bool) -> bytes:
    header_block = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    parsed = BytesHeaderParser(policy=compat32).parsebytes(header_block)
    lines = []
    for name in ROUTING_HEADERS:
        for value in parsed.get_all(name, []):
            if name == "Subject" and protect_subject:
                value = PROTECTED_SUBJECT
            text = str(value).replace("\r", "").replace("\n", "\r\n")
            lines.append(f"{name}: {text}".encode("utf-8", "surrogateescape"))
    lines.append(b"MIME-Version: 1.0")
    return b"\r\n".join(lines) + b"\r\n"


def _pgp_encrypt(raw: bytes, armored: str) -> bytes:
    with _gpg_lock:
        gpg, home, fingerprint = _with_gpg(armored)
        try:
            result = gpg.encrypt(raw, fingerprint, always_trust=True, armor=True)
        finally:
            shutil.rmtree(home, ignore_errors=True)
    if not result.ok:
        raise EncryptionUnavailable(f"gpg could not encrypt to {fingerprint}: {result.status}")
    boundary = "mk-pgp-" + secrets.token_hex(12)
    armored_data = str(result).replace("\r\n", "\n").replace("\n", "\r\n").encode("ascii")
    return (
        (
            'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted";\r\n'
            f' boundary="{boundary}"\r\n'
            "\r\n"
            "This is an OpenPGP/MIME encrypted message (RFC 3156).\r\n"
            f"--{boundary}\r\n"
            "Content-Type: application/pgp-encrypted\r\n"
            "Content-Description: PGP/MIME version identification\r\n"
            "\r\n"
            "Version: 1\r\n"
            "\r\n"
            f"--{boundary}\r\n"
            'Content-Type: application/octet-stream; name="encrypted.asc"\r\n'
            "Content-Description: OpenPGP encrypted message\r\n"
            'Content-Disposition: inline; filename="encrypted.asc"\r\n'
            "\r\n"
        ).encode("ascii")
        + armored_data.rstrip(b"\r\n")
        + f"\r\n\r\n--{boundary}--\r\n".encode("ascii")
    )


def _smime_encrypt(raw: bytes, pem: str) -> bytes:
    cert = _certificate(pem)
    if cert.not_valid_after_utc <= datetime.now(UTC):
        raise EncryptionUnavailable("the domain's S/MIME certificate has expired")
    der = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(raw)
        .add_recipient(cert)
        .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        b'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        b"Content-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        b"Content-Description: S/MIME encrypted message\r\n"
        b"\r\n" + body
    )


def encrypt(raw: bytes, *, kind: str, key: str, protect_subject: bool = False) -> bytes:
    """The stored form of `raw` (CRLF-normalised) for an encrypted domain."""
    outer = _outer_headers(raw, protect_subject)
    if kind == PGP:
        return outer + _pgp_encrypt(raw, key)
    if kind == SMIME:
        return outer + _smime_encrypt(raw, key)
    raise ValueError(f"unknown encryption {kind!r}")
