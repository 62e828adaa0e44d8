"""The byte-level MIME walk behind `mime.analyse`: an entity tree with offsets into the raw message,
rendered as IMAP BODY / BODYSTRUCTURE and numbered as IMAP sections (RFC 3501 §6.4.5, §7.4.2).

Invariants:
- every entity satisfies start <= body <= end, all within the message;
- a multipart child's range excludes the line break before the next delimiter (RFC 2046 §5.1.1:
  that CRLF belongs to the delimiter); preamble and epilogue belong to no child;
- walking never raises: a multipart without a boundary, or beyond the limits below, is an opaque
  text/plain leaf; a multipart whose boundary never occurs gets one empty text/plain child.

Case: media type, subtype, transfer encoding, parameter names and the disposition type are sent in
lower case (they are case-insensitive; Dovecot echoes them as written, which is lower case in nearly all
mail). Parameter values are sent as written, after RFC 2231 decoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from imapd.render import nstring, plist, string
from mailkite.mail.mime_headers import (
    Fields,
    Params,
    header_end,
    parse_fields,
    parse_value_with_params,
    render_envelope,
    render_params,
)
from mailkite.mail.mime_text import storable

# Limits against abuse. Real mail nests a handful of levels and rarely has more than a few hundred parts;
# these bound the recursion depth (well under Python's default limit) and the size of BODYSTRUCTURE.
MAX_DEPTH = 100  # nesting levels (multipart children and message/rfc822 bodies) that are parsed
MAX_PARTS = 5000  # entities per message; later children are left out, deeper ones become opaque

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_US_ASCII = (b"charset", b"us-ascii")


@dataclass
class Entity:
    """One MIME entity: header at [start, body), body at [body, end)."""

    start: int
    body: int
    end: int
    fields: Fields
    maintype: bytes = b"text"
    subtype: bytes = b"plain"
    params: Params = field(default_factory=list)
    encoding: bytes = b"7bit"
    lines: int = 0
    children: list[Entity] | None = None  # set for a parsed multipart
    inner: Entity | None = None  # the encapsulated message of a parsed message/rfc822

    @property
    def media_type(self) -> str:
        return (self.maintype + b"/" + self.subtype).decode("ascii", "replace")

    def param(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.params if key == name), None)


class _Budget:
    def __init__(self) -> None:
        self.parts = 0


def count_lines(raw: bytes, start: int, end: int) -> int:
    """Lines in raw[start:end]: line breaks, plus a last line without one."""
    if end <= start:
        return 0
    return raw.count(b"\n", start, end) + (raw[end - 1] != 0x0A)


def parse(raw: bytes) -> Entity:
    """The entity tree of a whole message (its header block is the top entity's header)."""
    return _entity(raw, 0, len(raw), (b"text", b"plain"), 0, _Budget())


def _content_type(fields: Fields, default: tuple[bytes, bytes]) -> tuple[bytes, bytes, Params]:
    value = fields.first(b"content-type")
    if value is None:
        return default[0], default[1], []
    main, params = parse_value_with_params(value)
    maintype, slash, subtype = main.partition(b"/")
    if not (slash and _TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        return b"text", b"plain", [_US_ASCII]  # RFC 2045 §5.2: an invalid Content-Type means the default
    return maintype.lower(), subtype.lower(), params


def _entity(
    raw: bytes, start: int, end: int, default: tuple[bytes, bytes], depth: int, budget: _Budget
) -> Entity:
    budget.parts += 1
    body = header_end(raw, start, end)
    fields = parse_fields(raw[start:body])
    maintype, subtype, params = _content_type(fields, default)
    cte = fields.first(b"content-transfer-encoding")
    encoding = parse_value_with_params(cte)[0].lower() if cte else b""
    entity = Entity(start, body, end, fields, maintype, subtype, params, encoding or b"7bit")
    descend = depth < MAX_DEPTH and budget.parts < MAX_PARTS
    if maintype == b"multipart":
        boundary = entity.param(b"boundary")
        if boundary and descend:
            entity.children = _children(raw, entity, boundary, depth, budget)
        else:
            _make_opaque(entity)
    elif (maintype, subtype) == (b"message", b"rfc822"):
        if descend:
            entity.inner = _entity(raw, body, end, (b"text", b"plain"), depth + 1, budget)
        else:
            _make_opaque(entity)
    if entity.maintype == b"text" and entity.param(b"charset") is None:
        entity.params.append(_US_ASCII)  # RFC 2045 §5.2 default, stated explicitly as Dovecot does
    if entity.children is None:
        entity.lines = count_lines(raw, body, end)
    return entity


def _make_opaque(entity: Entity) -> None:
    """Present an entity we will not (or cannot) look inside as a plain text leaf."""
    entity.maintype, entity.subtype, entity.params = b"text", b"plain", [_US_ASCII]


def _delimiters(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int, bool]]:
    """(line start, line end, is close-delimiter) of each boundary delimiter line, up to the first close.

    A delimiter line is "--boundary", optionally "--", then only spaces/tabs to the end of the line
    (RFC 2046 §5.1.1). A line that merely starts with "--boundary" is content.
    """
    needle = b"--" + boundary
    found: list[tuple[int, int, bool]] = []
    position = start
    while (at := raw.find(needle, position, end)) >= 0:
        position = at + 1
        if at != start and raw[at - 1] != 0x0A:
            continue
        cursor = at + len(needle)
        close = raw.startswith(b"--", cursor, end)
        cursor += 2 if close else 0
        while cursor < end and raw[cursor] in b" \t":
            cursor += 1
        if raw.startswith(b"\r\n", cursor, end):
            cursor += 2
        elif raw.startswith(b"\n", cursor, end):
            cursor += 1
        elif cursor < end:
            continue
        found.append((at, cursor, close))
        if close:
            break
        position = cursor
    return found


def _children(raw: bytes, parent: Entity, boundary: bytes, depth: int, budget: _Budget) -> list[Entity]:
    delimiters = _delimiters(raw, parent.body, parent.end, boundary)
    default = (b"message", b"rfc822") if parent.subtype == b"digest" else (b"text", b"plain")
    children: list[Entity] = []
    for index, (_at, line_end, close) in enumerate(delimiters):
        if close or budget.parts >= MAX_PARTS:
            break
        if index + 1 < len(delimiters):
            following = delimiters[index + 1][0]
            child_end = following - (2 if raw[max(0, following - 2) : following] == b"\r\n" else 1)
        else:
            child_end = parent.end  # no closing delimiter: the last part runs to the end
        children.append(_entity(raw, line_end, max(line_end, child_end), default, depth + 1, budget))
    if not children:
        # Dovecot's answer for a multipart with no parts: one empty text/plain child, so parsers that
        # require 1*body still work. It occupies no bytes, at the start of the multipart's body.
        budget.parts += 1
        at = parent.body
        children.append(Entity(at, at, at, parse_fields(b""), params=[_US_ASCII]))
    return children


# ---------------------------------------------------------------------------------------------------
# Rendering


def _disposition(fields: Fields) -> bytes:
    value = fields.first(b"content-disposition")
    if value is None:
        return b"NIL"
    main, params = parse_value_with_params(value)
    return plist([string(main.lower()), render_params(params)]) if main else b"NIL"


def _language(fields: Fields) -> bytes:
    value = fields.first(b"content-language")
    tags = [tag for tag in re.split(rb"[\s,]+", value or b"") if tag]
    return plist(string(tag) for tag in tags) if tags else b"NIL"


def _extension(entity: Entity) -> list[bytes]:
    """body-fld-dsp, body-fld-lang, body-fld-loc, shared by single parts and multiparts."""
    location = entity.fields.first(b"content-location")
    return [_disposition(entity.fields), _language(entity.fields), nstring(location)]


def render(entity: Entity, extended: bool) -> bytes:
    """BODYSTRUCTURE (extended) or BODY (not extended) of an entity."""
    if entity.children is not None:
        kids = b"".join(render(child, extended) for child in entity.children)
        tail = [string(entity.subtype)]
        if extended:
            tail += [render_params(entity.params), *_extension(entity)]
        return b"(" + kids + b" " + b" ".join(tail) + b")"
    items = [
        string(entity.maintype),
        string(entity.subtype),
        render_params(entity.params),
        nstring(entity.fields.first(b"content-id")),
        nstring(entity.fields.first(b"content-description")),
        string(entity.encoding),
        b"%d" % (entity.end - entity.body),
    ]
    if entity.inner is not None:
        items += [render_envelope(entity.inner.fields), render(entity.inner, extended)]
    if entity.inner is not None or entity.maintype == b"text":
        items.append(b"%d" % entity.lines)
    if extended:
        items += [nstring(entity.fields.first(b"content-md5")), *_extension(entity)]
    return plist(items)


# ---------------------------------------------------------------------------------------------------
# Section numbering


def _record(entity: Entity, start: int) -> dict[str, object]:
    charset = entity.param(b"charset") if entity.maintype == b"text" else None
    record: dict[str, object] = {
        "start": start,
        "body": entity.body,
        "end": entity.end,
        "type": entity.media_type,
        "encoding": storable(entity.encoding.decode("latin-1")),
        "charset": None if charset is None else storable(charset.decode("utf-8", "replace")),
    }
    if entity.inner is not None:
        record["inner_header_end"] = entity.inner.body
    return record


def number_sections(top: Entity) -> dict[str, dict[str, object]]:
    """Byte ranges by IMAP section number; see `mime.Analysis.parts`."""
    parts: dict[str, dict[str, object]] = {}
    _number_message(top, "", parts)
    return parts


def _number_message(entity: Entity, prefix: str, parts: dict[str, dict[str, object]]) -> None:
    """Number the body of a message (the top level, or one encapsulated by message/rfc822)."""
    if entity.children is not None:
        _number_children(entity, prefix, parts)
        return
    # A non-multipart message has one part, its body; BODY[1.MIME] is then the message's own
    # header, which carries that part's MIME fields (as Dovecot answers).
    parts[prefix + "1"] = _record(entity, entity.start)
    if entity.inner is not None:
        _number_message(entity.inner, prefix + "1.", parts)


def _number_children(entity: Entity, prefix: str, parts: dict[str, dict[str, object]]) -> None:
    for index, child in enumerate(entity.children or [], 1):
        section = f"{prefix}{index}"
        parts[section] = _record(child, child.start)
        if child.children is not None:
            _number_children(child, section + ".", parts)
        elif child.inner is not None:
            _number_message(child.inner, section + ".", parts)
