"""Message data for FETCH: slicing BODY[section] and decoding BINARY[section] from the stored
bytes and the part byte ranges precomputed at ingest. Nothing here parses MIME again.

A NUL byte in stored mail goes out as 0x80 outside BINARY (as Dovecot does), so every size stays
exact: RFC822.SIZE always equals the octets of BODY[] (IMAP-NOTES 16).
"""

from __future__ import annotations

import base64
import binascii
import quopri
from collections.abc import Mapping
from typing import Any

from imapd.command import BodySection


class UnknownEncoding(Exception):
    """BINARY asked for a part whose Content-Transfer-Encoding we cannot decode."""


def _fields(header: bytes) -> list[tuple[bytes, bytes]]:
    """Split a header block into (lowercase name, raw field bytes incl. folded lines)."""
    fields: list[tuple[bytes, bytes]] = []
    for line in header.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and fields:
            name, raw = fields[-1]
            fields[-1] = (name, raw + line + b"\r\n")
        else:
            fields.append((line.split(b":", 1)[0].strip().lower(), line + b"\r\n"))
    return fields


def header_fields(header: bytes, names: tuple[str, ...], *, negate: bool) -> bytes:
    """HEADER.FIELDS / HEADER.FIELDS.NOT: the chosen fields followed by the empty line."""
    wanted = {n.lower().encode("ascii", "replace") for n in names}
    kept = [raw for name, raw in _fields(header) if (name in wanted) != negate]
    return b"".join(kept) + b"\r\n"


def _part_ranges(
    parts: Mapping[str, Any], path: tuple[int, ...], header_length: int, size: int
) -> tuple[int, int, int, int] | None:
    """(mime start, body start, inner header end, end) of a part; the whole message for ()."""
    if not path:
        return 0, 0, header_length, size
    info = parts.get(".".join(map(str, path)))
    if info is None:
        return None
    inner = info.get("inner_header_end", info["body"])
    return info["start"], info["body"], inner, info["end"]


def body_section(raw: bytes, row: Mapping[str, Any], section: BodySection) -> bytes:
    """The bytes of BODY[section] (before any partial), with NUL mapped to 0x80."""
    ranges = _part_ranges(row["parts"], section.part, row["header_length"], len(raw))
    if ranges is None:
        return b""
    start, body, inner, end = ranges
    spec = section.specifier
    if spec == "MIME":
        data = raw[start:body]
    elif spec == "" and section.part:
        data = raw[body:end]
    elif spec == "":
        data = raw
    elif spec == "TEXT":
        data = raw[inner:end]
    else:  # HEADER, HEADER.FIELDS, HEADER.FIELDS.NOT: of the message or of a message/rfc822 part
        header = raw[body:inner] if section.part else raw[:inner]
        data = (
            header
            if spec == "HEADER"
            else header_fields(header, section.fields, negate=spec.endswith(".NOT"))
        )
    return data.replace(b"\x00", b"\x80")


def binary_section(raw: bytes, row: Mapping[str, Any], section: BodySection) -> bytes:
    """BINARY[part]: the part's body with its Content-Transfer-Encoding removed (RFC 3516)."""
    if not section.part:
        return raw
    info = row["parts"].get(".".join(map(str, section.part)))
    if info is None:
        return b""
    data = raw[info["body"] : info["end"]]
    encoding = str(info.get("encoding") or "7bit").lower()
    if encoding in ("7bit", "8bit", "binary"):
        return data
    if encoding == "base64":
        try:
            return base64.b64decode(b"".join(data.split()), validate=False)
        except (binascii.Error, ValueError):
            raise UnknownEncoding() from None
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    raise UnknownEncoding()


def partial(data: bytes, section: BodySection) -> bytes:
    if section.partial is None:
        return data
    origin, count = section.partial
    return data[origin : origin + count]
