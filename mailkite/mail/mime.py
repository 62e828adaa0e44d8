"""Ingest-time analysis of a message: everything FETCH and SEARCH will need, computed once.

`analyse(raw)` takes the stored bytes (already CRLF-normalised by `normalise_line_endings`, so that
RFC822.SIZE equals the octets of BODY[], IMAP-NOTES 16) and returns a frozen `Analysis`: the rendered
ENVELOPE, BODY and BODYSTRUCTURE, the byte ranges of every IMAP section, and decoded text for SEARCH.
IMAP then serves BODY[...] and BINARY[...] by slicing `raw` and never parses the message again.

Invariants:
- pure: bytes in, value out; no ORM, no I/O;
- total: `analyse` never raises; malformed MIME degrades (see `mime_structure`), and an unexpected
  internal error yields a minimal text/plain analysis rather than a failed delivery;
- offsets come from our own byte-level walk (the `email` package does not report them), and every part
  satisfies 0 <= start <= body <= end <= len(raw);
- ENVELOPE and BODYSTRUCTURE carry header text as written (encoded words stay encoded); anything with
  8-bit bytes, CR, LF or NUL is sent as a literal (IMAP-NOTES 15, 17).

The work is split: `mime_headers` (header fields, parameters, addresses, ENVELOPE), `mime_structure`
(the MIME tree, BODYSTRUCTURE, section numbers) and `mime_text` (charsets and decoding).
"""

from __future__ import annotations

import datetime
import email.utils
from dataclasses import dataclass

from mailkite.mail.mime_headers import Address, header_end, render_envelope
from mailkite.mail.mime_structure import Entity, count_lines, number_sections, parse, render
from mailkite.mail.mime_text import (
    bytes_to_text,
    decode_charset,
    decode_transfer,
    header_text,
    html_to_text,
    storable,
)

MAX_BODY_TEXT = 1 << 20  # characters of body text kept for SEARCH BODY/TEXT
MAX_TEXT_PART_INPUT = 16 << 20  # encoded octets of one text part decoded for search (bounds the work)
MAX_MESSAGE_ID = 998  # the model's column width, and RFC 5322's line limit


def normalise_line_endings(raw: bytes) -> tuple[bytes, bool]:
    """Rewrite bare LF (an LF not preceded by CR) to CRLF; return (bytes, changed).

    Nothing else changes: CRLF stays, a lone CR stays.
    """
    if raw.count(b"\n") == raw.count(b"\r\n"):
        return raw, False
    # CRLF -> LF -> CRLF turns every bare LF into CRLF and leaves existing CRLFs (and lone CRs) alone.
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), True


@dataclass(frozen=True)
class Analysis:
    """What FETCH and SEARCH need, computed once at ingest.

    - envelope / body / bodystructure: the rendered FETCH values (BODY has no extension data).
    - header_length: octets of the top-level header including its empty line, so BODY[HEADER] is
      raw[:header_length] and BODY[TEXT] raw[header_length:]; len(raw) when there is no empty line.
    - parts: IMAP section ("1", "1.2", ...) -> {"start", "body", "end", "type", "encoding", "charset"},
      with raw[start:body] = BODY[n.MIME] and raw[body:end] = BODY[n]; message/rfc822 parts also have
      "inner_header_end" (BODY[n.HEADER] = raw[body:inner_header_end], BODY[n.TEXT] the rest). The body
      of a single-part message, top-level or encapsulated, has start == body. "charset" is set for
      text/* only ("us-ascii" when unstated), "type" and "encoding" are lower case. JSON-serialisable.
    - the *_text fields and subject are decoded (RFC 2047, 8-bit headers as UTF-8 or else Latin-1);
      sent_date and date are None when the Date header is absent or unparseable.
    """

    envelope: bytes
    body: bytes
    bodystructure: bytes
    header_length: int
    parts: dict[str, dict[str, object]]
    message_id: str
    subject: str
    from_text: str
    to_text: str
    cc_text: str
    bcc_text: str
    headers_text: str
    body_text: str
    sent_date: datetime.date | None
    date: datetime.datetime | None


def analyse(raw: bytes) -> Analysis:
    """Analyse a stored (CRLF-normalised) message. Never raises."""
    try:
        return _analyse(raw)
    except Exception:  # a bug must not lose mail: store it with a minimal, valid structure
        return _fallback(raw)


def _analyse(raw: bytes) -> Analysis:
    top = parse(raw)
    fields = top.fields
    date = parse_date(fields.first(b"date"))
    # Every str is made storable: PostgreSQL refuses NUL in text and JSONB, and a NUL in a header
    # must not make delivery fail.
    return Analysis(
        envelope=render_envelope(fields),
        body=render(top, extended=False),
        bodystructure=render(top, extended=True),
        header_length=top.body,
        parts=number_sections(top),
        message_id=storable(bytes_to_text(fields.first(b"message-id") or b"")).strip()[:MAX_MESSAGE_ID],
        subject=storable(header_text(fields.first(b"subject") or b"")),
        from_text=storable(addresses_text(fields.addresses(b"from"))),
        to_text=storable(addresses_text(fields.addresses(b"to"))),
        cc_text=storable(addresses_text(fields.addresses(b"cc"))),
        bcc_text=storable(addresses_text(fields.addresses(b"bcc"))),
        headers_text=storable(
            "".join(f"{_one_line(bytes_to_text(n))}: {_one_line(header_text(v))}\n" for n, v in fields.items)
        ),
        body_text=storable(body_text(raw, top)),
        sent_date=date.date() if date else None,
        date=date,
    )


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


def parse_date(value: bytes | None) -> datetime.datetime | None:
    """The Date header as an aware datetime in its own offset; "-0000" and no zone read as UTC."""
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_tz(bytes_to_text(value))
        if parsed is None:
            return None
        year, month, day, hour, minute, second = parsed[:6]
        zone = datetime.timezone(datetime.timedelta(seconds=parsed[9] or 0))
        return datetime.datetime(year, month, day, hour, minute, min(second, 59), tzinfo=zone)
    except Exception:  # parsedate_tz has raised on odd input in some Python versions; out-of-range fields
        return None


def addresses_text(addresses: list[Address]) -> str:
    """Decoded addresses for SEARCH: "Alice <a@x.org>, b@y.org, Team: c@z.org;"."""
    items: list[str] = []
    group: tuple[str, list[str]] | None = None
    for address in addresses:
        if address.kind == "start":
            group = (header_text(address.name or b""), [])
        elif address.kind == "end":
            if group is not None:
                items.append(f"{group[0]}: {', '.join(group[1])};")
            group = None
        else:
            (group[1] if group is not None else items).append(_address_text(address))
    if group is not None:
        items.append(f"{group[0]}: {', '.join(group[1])};")
    return ", ".join(items)


def _address_text(address: Address) -> str:
    spec = bytes_to_text(address.local or b"")
    if address.domain:
        spec += "@" + bytes_to_text(address.domain)
    return f"{header_text(address.name)} <{spec}>" if address.name else spec


def _leaves(top: Entity) -> list[Entity]:
    """Leaf entities in document order, message/rfc822 contents included (iterative: no recursion)."""
    leaves: list[Entity] = []
    stack = [top]
    while stack:
        entity = stack.pop()
        if entity.children is not None:
            stack.extend(reversed(entity.children))
        elif entity.inner is not None:
            stack.append(entity.inner)
        else:
            leaves.append(entity)
    return leaves


def body_text(raw: bytes, top: Entity) -> str:
    """Decoded text of the text/* parts, HTML reduced to its visible text, capped at MAX_BODY_TEXT."""
    texts: list[str] = []
    total = 0
    for leaf in _leaves(top):
        if leaf.maintype != b"text" or leaf.end <= leaf.body:
            continue
        data = raw[leaf.body : min(leaf.end, leaf.body + MAX_TEXT_PART_INPUT)]
        data = decode_transfer(data, leaf.encoding.decode("latin-1"))
        text = decode_charset(data, bytes_to_text(leaf.param(b"charset") or b""))
        if leaf.subtype == b"html":
            text = html_to_text(text)
        texts.append(text[: MAX_BODY_TEXT - total])
        total += len(texts[-1]) + 1
        if total >= MAX_BODY_TEXT:
            break
    return "\n".join(texts)[:MAX_BODY_TEXT]


def _fallback(raw: bytes) -> Analysis:
    """A minimal analysis that cannot fail: the body is one opaque text/plain part."""
    length = header_end(raw, 0, len(raw))
    fields = b'"text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d %d' % (
        len(raw) - length,
        count_lines(raw, length, len(raw)),
    )
    part: dict[str, object] = {
        "start": length,
        "body": length,
        "end": len(raw),
        "type": "text/plain",
        "encoding": "7bit",
        "charset": "us-ascii",
    }
    return Analysis(
        envelope=b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)",
        body=b"(" + fields + b")",
        bodystructure=b"(" + fields + b" NIL NIL NIL NIL)",
        header_length=length,
        parts={"1": part},
        message_id="",
        subject="",
        from_text="",
        to_text="",
        cc_text="",
        bcc_text="",
        headers_text="",
        body_text="",
        sent_date=None,
        date=None,
    )
