"""The credential format: ``mk_<kind>_<key id>_<secret><checksum>``.

- key id: 10 base62 characters, public, indexed; it names the row to check.
- secret: 30 base62 characters from `secrets` (about 178 random bits; DESIGN asks for 160+).
- checksum: CRC32 of everything before it, as 6 base62 characters (as GitHub's tokens do), so a
  mistyped password is rejected without a database query and secret scanners can spot a leak.

Every character is an IMAP atom character, so clients never need quoting or literals for LOGIN.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KEY_ID_LENGTH = 10
SECRET_LENGTH = 30
CHECKSUM_LENGTH = 6
IMAP = "imap"
API = "api"

_SHAPE = re.compile(
    rf"^mk_(?P<kind>imap|api)_(?P<key_id>[0-9A-Za-z]{{{KEY_ID_LENGTH}}})_"
    rf"(?P<secret>[0-9A-Za-z]{{{SECRET_LENGTH}}})(?P<checksum>[0-9A-Za-z]{{{CHECKSUM_LENGTH}}})$"
)

# The patterns to register with secret scanners (docs/api.md "Leaked tokens"), by the `type` name
# they report. Word boundaries keep a scanner from matching inside a longer string; the checksum is
# beyond a regular expression, so our report endpoint checks it before anything else.
_TAIL = SECRET_LENGTH + CHECKSUM_LENGTH
SCANNER_PATTERNS = {
    "mailkite_imap_app_password": rf"\bmk_imap_[0-9A-Za-z]{{{KEY_ID_LENGTH}}}_[0-9A-Za-z]{{{_TAIL}}}\b",
    "mailkite_api_key": rf"\bmk_api_[0-9A-Za-z]{{{KEY_ID_LENGTH}}}_[0-9A-Za-z]{{{_TAIL}}}\b",
}


@dataclass(frozen=True)
class Token:
    kind: str
    key_id: str
    value: str

    @property
    def display(self) -> str:
        """What may be shown after creation: the public part only."""
        return f"mk_{self.kind}_{self.key_id}_…"


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def _random(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate(kind: str) -> Token:
    key_id = _random(KEY_ID_LENGTH)
    body = f"mk_{kind}_{key_id}_{_random(SECRET_LENGTH)}"
    return Token(kind=kind, key_id=key_id, value=body + _checksum(body))


def parse(value: str) -> Token | None:
    """The token if `value` is well formed with a valid checksum, else None (no database needed)."""
    match = _SHAPE.match(value)
    if match is None:
        return None
    body = value[:-CHECKSUM_LENGTH]
    if not secrets.compare_digest(_checksum(body), match["checksum"]):
        return None
    return Token(kind=match["kind"], key_id=match["key_id"], value=value)


def looks_like_api_key(value: str) -> bool:
    return value.startswith("mk_api_")
