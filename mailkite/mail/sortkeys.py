"""Sort and thread keys for IMAP SORT and THREAD (RFC 5256, RFC 5957), computed once at ingest.

`columns(header)` takes a message's top-level header block and returns the Message columns that
SORT and THREAD read, so neither ever parses a message again. Text keys are stored already
case-mapped with i;ascii-casemap (only a-z become A-Z, RFC 4790 §9.2), so comparing them as Python
strings compares them as that collation does (code point order is UTF-8 octet order).

Pure: bytes in, values out; no ORM, no I/O. Never raises on malformed input.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from mailkite.mail.mime import parse_date
from mailkite.mail.mime_headers import Address, parse_fields
from mailkite.mail.mime_text import bytes_to_text, header_text, storable

_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_MSG_ID = re.compile(r"<[^<>\s]+>")
MAX_REFERENCES = 100  # message-ids kept from one References header: threads never need more
MAX_KEY = 1000  # characters of one text key: enough to order by, bounded in storage

# RFC 5256 §5 ABNF: subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
# subj-blob = "[" *BLOBCHAR "]" *WSP; subj-leader = (*subj-blob subj-refwd) / WSP
_BLOB = r"\[[^\[\]]*\][ \t]*"
_REFWD_LEADER = re.compile(rf"(?:{_BLOB})*(?:re|fwd?)[ \t]*(?:{_BLOB})?:", re.IGNORECASE)
_BLOB_PREFIX = re.compile(_BLOB)
_WSP_RUN = re.compile(r"\s+")


def casemap(text: str) -> str:
    """i;ascii-casemap: a-z to A-Z, nothing else changes."""
    return text.translate(_ASCII_UPPER)


def base_subject(subject: str) -> tuple[str, bool]:
    """RFC 5256 §2.1: the base subject, and whether the subject marked a reply or forward."""
    text = _WSP_RUN.sub(" ", subject)  # step 1: tabs and continuations to one space
    marked = False
    while True:
        while True:  # step 2: trailing "(fwd)" and whitespace
            stripped = text.rstrip(" ")
            if stripped.lower().endswith("(fwd)"):
                stripped = stripped[:-5]
                marked = True
            if stripped == text:
                break
            text = stripped
        while True:  # steps 3-5: leaders, and a blob when something follows it
            before = text
            text = text.lstrip(" ")
            leader = _REFWD_LEADER.match(text)
            if leader:
                text = text[leader.end() :]
                marked = True
            blob = _BLOB_PREFIX.match(text)
            if blob and text[blob.end() :]:
                text = text[blob.end() :]
            if text == before:
                break
        # step 6: "[fwd: ...]" wraps a forwarded subject
        if text[:5].lower() == "[fwd:" and text.endswith("]"):
            text = text[5:-1]
            marked = True
            continue
        return text, marked


def _first_mailbox(addresses: list[Address]) -> Address | None:
    return next((a for a in addresses if a.kind not in ("start", "end")), None)


def _addr_mailbox(addresses: list[Address]) -> str:
    """RFC 5256 §3 FROM/TO/CC: the addr-mailbox (local part) of the first address."""
    first = _first_mailbox(addresses)
    return casemap(bytes_to_text(first.local or b""))[:MAX_KEY] if first else ""


def _display(addresses: list[Address]) -> str:
    """RFC 5957 §3 DISPLAYFROM/DISPLAYTO: the decoded display name, else the addr-spec."""
    first = _first_mailbox(addresses)
    if first is None:
        return ""
    name = header_text(first.name).strip() if first.name else ""
    if not name:
        name = bytes_to_text(first.local or b"")
        if first.domain:
            name += "@" + bytes_to_text(first.domain)
    return casemap(name)[:MAX_KEY]


def references(header_value: bytes | None, in_reply_to: bytes | None) -> list[str]:
    """RFC 5256 §3 REFERENCES step 1A: the References ids, else the first In-Reply-To id."""
    ids = _MSG_ID.findall(bytes_to_text(header_value or b""))
    if not ids:
        ids = _MSG_ID.findall(bytes_to_text(in_reply_to or b""))[:1]
    return ids[-MAX_REFERENCES:]


def message_id(value: str) -> str | None:
    """The first <...> message-id in a stored Message-ID value, or None."""
    found = _MSG_ID.search(value or "")
    return found.group(0) if found else None


def columns(header: bytes) -> dict[str, Any]:
    """The Message sort and thread columns for a message with this header block."""
    sent: datetime.datetime | None = None
    try:
        fields = parse_fields(header)
        sent = parse_date(fields.first(b"date"))
        subject = header_text(fields.first(b"subject") or b"")
        return {
            "sort_subject": storable(casemap(base_subject(subject)[0]))[:MAX_KEY],
            "sort_from": storable(_addr_mailbox(fields.addresses(b"from"))),
            "sort_to": storable(_addr_mailbox(fields.addresses(b"to"))),
            "sort_cc": storable(_addr_mailbox(fields.addresses(b"cc"))),
            "sort_display_from": storable(_display(fields.addresses(b"from"))),
            "sort_display_to": storable(_display(fields.addresses(b"to"))),
            "sort_date": sent,
            "thread_refs": storable(
                " ".join(references(fields.first(b"references"), fields.first(b"in-reply-to")))
            ),
        }
    except Exception:  # a key is an ordering hint: a bug here must never fail a delivery
        return {"sort_date": sent}
