"""Byte-level RFC 5322 / RFC 2045 header parsing for the ingest-time analysis (see `mime`).

Everything here works on raw bytes so that the IMAP ENVELOPE and BODYSTRUCTURE can send header text
exactly as written (RFC 2047 encoded words stay encoded, 8-bit bytes go out as literals). Nothing here
raises on malformed input: unparseable pieces are skipped or replaced by the RFC 2045 defaults.

Address and parameter quirks follow Dovecot 2.3, checked against its answers: a missing local part or
domain becomes "MISSING_MAILBOX" / "MISSING_DOMAIN" (a NIL host would read as a group marker), a quoted
local part is sent unquoted, and a comment stands in for a missing display name.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import unquote_to_bytes

from imapd.render import nstring, plist, string
from mailkite.mail.mime_text import decode_charset

MISSING_MAILBOX = b"MISSING_MAILBOX"
MISSING_DOMAIN = b"MISSING_DOMAIN"

_BLANK_LINE = re.compile(rb"\n\r?\n")
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]+")
_WSP = b" \t"


def header_end(raw: bytes, start: int, end: int) -> int:
    """Offset just past the empty line that ends the header block at `start`, or `end` if there is none."""
    if raw.startswith(b"\r\n", start, end):
        return start + 2
    if raw.startswith(b"\n", start, end):
        return start + 1
    match = _BLANK_LINE.search(raw, start, end)
    return match.end() if match else end


class Fields:
    """The fields of one header block, unfolded and trimmed, in order; lookups by lower-case name."""

    def __init__(self, items: list[tuple[bytes, bytes]]) -> None:
        self.items = items
        self._first: dict[bytes, bytes] = {}
        self._addresses: dict[bytes, list[Address]] = {}
        for name, value in items:
            self._first.setdefault(name.lower(), value)

    def first(self, name: bytes) -> bytes | None:
        return self._first.get(name)

    def addresses(self, name: bytes) -> list[Address]:
        """The parsed address list of the first such field; cached, as ENVELOPE and SEARCH both need it."""
        if name not in self._addresses:
            self._addresses[name] = parse_addresses(self.first(name))
        return self._addresses[name]


def parse_fields(block: bytes) -> Fields:
    """Split a header block into (name, unfolded value) pairs.

    Lines without a valid field name (an mbox "From " line, stray garbage) are skipped, along with their
    continuation lines. Unfolding removes the line breaks and keeps the whitespace (RFC 5322 §2.2.3).
    """
    items: list[tuple[bytes, bytes]] = []
    name: bytes | None = None
    chunks: list[bytes] = []
    for line in block.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]
        if line[:1] in (b" ", b"\t"):
            if name is not None:
                chunks.append(line)
            continue
        if name is not None:
            items.append((name, b"".join(chunks).strip(_WSP)))
            name = None
        colon = line.find(b":")
        candidate = line[:colon].rstrip(_WSP) if colon > 0 else b""
        if _FIELD_NAME.fullmatch(candidate):
            name, chunks = candidate, [line[colon + 1 :]]
    if name is not None:
        items.append((name, b"".join(chunks).strip(_WSP)))
    return Fields(items)


# ---------------------------------------------------------------------------------------------------
# Content-Type style values: "main; attr=value; attr*0*=charset'lang'%xx ..."

_PARAM_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[()]|;|[^"();]+', re.S)
_QUOTED_PAIR = re.compile(rb"\\(.)", re.S)
_RFC2231_NAME = re.compile(rb"([^*]+)\*(?:(\d{1,4})(\*)?)?")
Params = list[tuple[bytes, bytes]]


def unquote(quoted: bytes) -> bytes:
    """The content of a quoted-string token (closing quote optional), with quoted-pairs resolved."""
    inner = quoted[1:-1] if len(quoted) > 1 and quoted.endswith(b'"') else quoted[1:]
    return _QUOTED_PAIR.sub(rb"\1", inner)


def _segments(value: bytes) -> list[list[tuple[bool, bytes]]]:
    """Split at top-level semicolons into pieces (is_quoted, bytes), dropping comments."""
    segments: list[list[tuple[bool, bytes]]] = [[]]
    depth = 0
    for token in _PARAM_TOKEN.findall(value):
        if token == b"(":
            depth += 1
        elif token == b")":
            depth = max(0, depth - 1)
        elif depth:
            continue
        elif token == b";":
            segments.append([])
        elif token.startswith(b'"'):
            segments[-1].append((True, unquote(token)))
        else:
            segments[-1].append((False, token))
    return segments


def _param(pieces: list[tuple[bool, bytes]]) -> tuple[bytes, bytes] | None:
    """One "attribute=value" segment; the value keeps the spaces inside quotes and loses those outside."""
    for index, (quoted, text) in enumerate(pieces):
        if quoted:
            return None
        eq = text.find(b"=")
        if eq < 0:
            continue
        name = (b"".join(t for _, t in pieces[:index]) + text[:eq]).strip(b" \t\r\n").lower()
        rest = [(False, text[eq + 1 :]), *pieces[index + 1 :]]
        if not rest[0][0]:
            rest[0] = (False, rest[0][1].lstrip(b" \t\r\n"))
        if not rest[-1][0]:
            rest[-1] = (False, rest[-1][1].rstrip(b" \t\r\n"))
        return (name, b"".join(t for _, t in rest)) if name else None
    return None


def parse_value_with_params(value: bytes) -> tuple[bytes, Params]:
    """("main", params) of a Content-Type / Content-Disposition value; names lower-cased, RFC 2231 applied."""
    segments = _segments(value)
    main = b"".join(text for _, text in segments[0]).translate(None, b" \t\r\n")
    params = [p for p in (_param(seg) for seg in segments[1:]) if p is not None]
    return main, _merge_rfc2231(params)


def _merge_rfc2231(params: Params) -> Params:
    """Join RFC 2231 continuations and decode their charset into one plain parameter.

    `name*0="ab"; name*1="cd"` becomes `name="abcd"`, and `name*=utf-8''%E2%82%AC` becomes `name` with
    the UTF-8 bytes of the text (sent as a literal when 8-bit). Dovecot 2.3 merges continuations but
    leaves the `name*` charset form for the client; plain parameters are what most clients understand.
    When both `name` and `name*` are given, the RFC 2231 form wins (RFC 2231 §4 is its reason to exist).
    """
    order: list[bytes] = []
    plain: dict[bytes, bytes] = {}
    sections: dict[bytes, dict[int, tuple[bytes, bool]]] = {}
    for name, value in params:
        match = _RFC2231_NAME.fullmatch(name)
        base = match.group(1) if match else name
        if base not in plain and base not in sections:
            order.append(base)
        if match is None:
            plain.setdefault(name, value)
        elif match.group(2) is None:
            sections.setdefault(base, {}).setdefault(0, (value, True))
        else:
            sections.setdefault(base, {}).setdefault(int(match.group(2)), (value, match.group(3) is not None))
    merged: Params = []
    for base in order:
        if base in sections:
            merged.append((base, _join_sections(sections[base])))
        elif base in plain:
            merged.append((base, plain[base]))
    return merged


def _join_sections(sections: dict[int, tuple[bytes, bool]]) -> bytes:
    charset = b""
    data = bytearray()
    order = sorted(sections)
    for index in order:
        value, extended = sections[index]
        if extended and index == order[0] and value.count(b"'") >= 2:  # charset'language' leads section 0
            charset, _language, value = value.split(b"'", 2)
        data += unquote_to_bytes(value) if extended else value
    if not charset:
        return bytes(data)
    return decode_charset(bytes(data), charset.decode("ascii", "replace")).encode("utf-8")


def render_params(params: Params) -> bytes:
    """body-fld-param: NIL or ("name" "value" ...)."""
    if not params:
        return b"NIL"
    return plist(string(item) for pair in params for item in pair)


# ---------------------------------------------------------------------------------------------------
# Addresses (RFC 5322 §3.4, with the obsolete forms real mail uses)


class Address(NamedTuple):
    """One ENVELOPE address; kind "start"/"end" are the RFC 3501 group markers (name holds the group)."""

    kind: str
    name: bytes | None = None
    route: bytes | None = None
    local: bytes | None = None
    domain: bytes | None = None


class _Token(NamedTuple):
    kind: str  # "atom", "quoted", "literal", "comment" or the special character itself
    text: bytes  # quoted: unquoted content; comment: content without the parentheses
    spaced: bool  # whitespace or a comment came before it


# Dots belong to atoms ("example.com", "john.doe", "Q." are one token each): fewer tokens, same text.
_ADDR_TOKEN = re.compile(
    rb'(?P<ws>[ \t\r\n]+)|(?P<quoted>"(?:[^"\\]|\\.)*"?)|(?P<literal>\[(?:[^\]\\]|\\.)*\]?)'
    rb'|(?P<open>\()|(?P<close>\))|(?P<special>[<>:;@,])|(?P<atom>[^ \t\r\n"\[()<>:;@,]+)',
    re.S,
)


def _address_tokens(value: bytes) -> list[_Token]:
    tokens: list[_Token] = []
    spaced = False
    depth = 0
    comment = bytearray()
    for match in _ADDR_TOKEN.finditer(value):
        kind, text = match.lastgroup or "atom", match.group()
        if kind == "open":
            if depth:
                comment += text
            depth += 1
        elif depth:
            if kind == "close":
                depth -= 1
                if depth == 0:
                    tokens.append(_Token("comment", bytes(comment).strip(), spaced))
                    comment.clear()
                    spaced = True
                    continue
            comment += text
        elif kind == "ws":
            spaced = True
        elif kind != "close":
            if kind == "quoted":
                text = unquote(text)
            tokens.append(_Token(text.decode("latin-1") if kind == "special" else kind, text, spaced))
            spaced = False
    return tokens


def _phrase(tokens: list[_Token]) -> bytes:
    """A display name as written: words joined by one space where the source had whitespace."""
    out = bytearray()
    for token in tokens:
        if out and token.spaced:
            out += b" "
        out += token.text
    return bytes(out)


def _addr_spec(tokens: list[_Token]) -> tuple[bytes | None, bytes | None]:
    """(local part, domain) of an addr-spec, split at its last "@"; whitespace and comments dropped."""
    at = max((i for i, t in enumerate(tokens) if t.kind == "@"), default=-1)
    local = b"".join(t.text for t in (tokens[:at] if at >= 0 else tokens))
    domain = b"".join(t.text for t in tokens[at + 1 :]) if at >= 0 else b""
    return local or None, domain or None


_Angle = tuple[bytes | None, bytes | None, bytes | None]  # route, local part, domain of "<...>"


class _Pending:
    """The address being read: its phrase, angle-addr and first comment."""

    def __init__(self) -> None:
        self.phrase: list[_Token] = []
        self.angle: _Angle | None = None
        self.comment: bytes | None = None

    def finish(self) -> Address | None:
        if self.angle is not None:
            route, local, domain = self.angle
            return Address("addr", _phrase(self.phrase) or self.comment, route, local, domain)
        if not self.phrase:
            return None
        local, domain = _addr_spec(self.phrase)
        return Address("addr", self.comment or None, None, local, domain)


def _read_angle(tokens: list[_Token], index: int) -> tuple[_Angle, int]:
    """Parse "<[route:]addr-spec>" from just after "<"; return ((route, local, domain), next index)."""
    inner: list[_Token] = []
    while index < len(tokens) and tokens[index].kind != ">":
        if tokens[index].kind != "comment":
            inner.append(tokens[index])
        index += 1
    colon = max((i for i, t in enumerate(inner) if t.kind == ":"), default=-1)
    route = b"".join(t.text for t in inner[:colon]) if colon >= 0 else b""
    local, domain = _addr_spec(inner[colon + 1 :])
    return (route or None, local, domain), index + 1


def parse_addresses(value: bytes | None) -> list[Address]:
    """An address-list, groups included, read leniently (never raises)."""
    if not value:
        return []
    tokens = _address_tokens(value)
    out: list[Address] = []
    pending = _Pending()
    in_group = False
    index = 0

    def flush() -> None:
        nonlocal pending
        address = pending.finish()
        if address is not None:
            out.append(address)
        pending = _Pending()

    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token.kind == "," or (token.kind == ";" and not in_group):
            flush()
        elif token.kind == ":" and not in_group and pending.angle is None:
            out.append(Address("start", _phrase(pending.phrase)))
            pending, in_group = _Pending(), True
        elif token.kind == ";":
            flush()
            out.append(Address("end"))
            in_group = False
        elif token.kind == "<":
            angle, index = _read_angle(tokens, index)
            pending.angle = pending.angle or angle
        elif token.kind == "comment":
            pending.comment = pending.comment or token.text or None
        elif pending.angle is None:
            pending.phrase.append(token)
    flush()
    if in_group:
        out.append(Address("end"))
    return out


def render_addresses(addresses: list[Address]) -> bytes:
    """An ENVELOPE address list: NIL when empty, else "((...)(...))" with no spaces between addresses."""
    if not addresses:
        return b"NIL"
    rendered = []
    for a in addresses:
        if a.kind == "start":
            rendered.append(plist([b"NIL", b"NIL", string(a.name or b""), b"NIL"]))
        elif a.kind == "end":
            rendered.append(b"(NIL NIL NIL NIL)")
        else:
            local, domain = a.local or MISSING_MAILBOX, a.domain or MISSING_DOMAIN
            rendered.append(plist([nstring(a.name), nstring(a.route), string(local), string(domain)]))
    return b"(" + b"".join(rendered) + b")"


def render_envelope(fields: Fields) -> bytes:
    """The ENVELOPE (RFC 3501 §7.4.2) from raw header values; Sender and Reply-To default to From."""
    from_ = fields.addresses(b"from")
    sender = fields.addresses(b"sender") or from_
    reply_to = fields.addresses(b"reply-to") or from_
    return plist(
        [
            nstring(fields.first(b"date")),
            nstring(fields.first(b"subject")),
            render_addresses(from_),
            render_addresses(sender),
            render_addresses(reply_to),
            render_addresses(fields.addresses(b"to")),
            render_addresses(fields.addresses(b"cc")),
            render_addresses(fields.addresses(b"bcc")),
            nstring(fields.first(b"in-reply-to")),
            nstring(fields.first(b"message-id")),
        ]
    )
