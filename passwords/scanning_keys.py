"""The public keys of secret scanners allowed to report leaked tokens, and their signatures.

A report is signed as GitHub's secret-scanning partner program signs it: ECDSA over P-256 with
SHA-256 (`ECDSA-NIST-P256V1-SHA256`), over the raw request body, the signature base64-encoded DER in
`Github-Public-Key-Signature` and the signing key named by `Github-Public-Key-Identifier`.

SECRET_SCANNING_PUBLIC_KEYS holds the keys, as JSON or as the path of a JSON file, in one of two
shapes: `{"<key identifier>": "<PEM>"}`, or the document GitHub publishes at
https://api.github.com/meta/public_keys/secret_scanning (`{"public_keys": [{"key_identifier": …,
"key": …}]}`), so an operator can save that file as it is. Keys are checked at start-up
(mailkite.config); nothing here fetches keys over the network: a key we trust is one we chose.

Only the standard library and `cryptography` are imported: mailkite.config uses this module while
Django's settings are still loading.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

KeyPairs = tuple[tuple[str, str], ...]  # (key identifier, PEM), as settings.MAILKITE keeps them


class BadKeys(ValueError):
    """The configured keys cannot be used; the message says why, for the start-up error."""


def read_setting(raw: str) -> KeyPairs:
    """SECRET_SCANNING_PUBLIC_KEYS as (identifier, PEM) pairs; empty text means no keys."""
    text = raw.strip()
    if not text:
        return ()
    if not text.startswith("{"):
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as error:
            raise BadKeys(f"cannot read the file {raw.strip()!r} ({error.strerror})") from None
    try:
        document = json.loads(text)
    except ValueError:
        raise BadKeys("is not valid JSON") from None
    pairs = _pairs(document)
    for identifier, pem in pairs:
        _load(identifier, pem)  # fail now, at start-up, not on the first report
    return pairs


def _pairs(document: object) -> KeyPairs:
    if isinstance(document, dict) and isinstance(document.get("public_keys"), list):
        listed = document["public_keys"]
        if not all(isinstance(entry, dict) for entry in listed):
            raise BadKeys("lists public_keys that are not objects")
        found = [(entry.get("key_identifier"), entry.get("key")) for entry in listed]
    elif isinstance(document, dict):
        found = list(document.items())
    else:
        raise BadKeys("must be a JSON object")
    if not all(isinstance(i, str) and i and isinstance(k, str) for i, k in found):
        raise BadKeys("must map each key identifier to a PEM public key, both strings")
    return tuple((str(i), str(k)) for i, k in found)


def _load(identifier: str, pem: str) -> ec.EllipticCurvePublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise BadKeys(f"has a key {identifier!r} that is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadKeys(f"has a key {identifier!r} that is not an ECDSA P-256 key")
    return key


@lru_cache(maxsize=4)
def _keys(pairs: KeyPairs) -> dict[str, ec.EllipticCurvePublicKey]:
    return {identifier: _load(identifier, pem) for identifier, pem in pairs}


class UnknownKey(Exception):
    pass


class BadSignature(Exception):
    pass


def verify(*, pairs: KeyPairs, key_identifier: str, signature: str, body: bytes) -> None:
    """Return if `signature` is the named key's signature of `body`; raise UnknownKey or BadSignature."""
    key = _keys(pairs).get(key_identifier)
    if key is None:
        raise UnknownKey(key_identifier)
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("not base64") from None
    try:
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise BadSignature("does not verify") from None
