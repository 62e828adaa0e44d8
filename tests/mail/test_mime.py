"""Tests for mailkite.mail.mime: ENVELOPE / BODY / BODYSTRUCTURE bytes, section offsets, search text.

Expected bytes were checked against Dovecot 2.3.19 answering FETCH for the same messages; where ours
differ on purpose (line counts of a last unterminated line, lower-case types, RFC 2231 decoding, an
invalid Content-Type or a multipart without boundary) the test says so. No database, no Django.
"""

from __future__ import annotations

import datetime
import email
import email.policy
from email.message import EmailMessage, MIMEPart
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailkite.mail import mime
from mailkite.mail.mime import Analysis, analyse, normalise_line_endings
from mailkite.mail.mime_structure import MAX_DEPTH, MAX_PARTS
from mailkite.mail.mime_text import decode_transfer

# ---------------------------------------------------------------------------------------------------
# A small reader for IMAP s-expressions (RFC 3501 §4): atoms, quoted strings, literals, NIL, lists.


class SexpError(ValueError):
    pass


Node = object  # None (NIL) | int | bytes | list[Node]


def read_sexp(data: bytes) -> Node:
    value, position = _read(data, 0)
    if position != len(data):
        raise SexpError(f"trailing data at {position}: {data[position : position + 20]!r}")
    return value


def _read(data: bytes, position: int) -> tuple[Node, int]:
    head = data[position : position + 1]
    if head == b"(":
        return _read_list(data, position + 1)
    if head == b'"':
        return _read_quoted(data, position + 1)
    if head == b"{":
        close = data.index(b"}\r\n", position)
        length = int(data[position + 1 : close])
        start = close + 3
        if start + length > len(data):
            raise SexpError("short literal")
        return data[start : start + length], start + length
    end = position
    while end < len(data) and data[end : end + 1] not in (b" ", b")", b"("):
        end += 1
    atom = data[position:end]
    if atom == b"NIL":
        return None, end
    if atom.isdigit():
        return int(atom), end
    raise SexpError(f"unexpected atom {atom!r} at {position}")


def _read_list(data: bytes, position: int) -> tuple[Node, int]:
    items: list[Node] = []
    while True:
        if data[position : position + 1] == b")":
            return items, position + 1
        if items and not isinstance(items[-1], list):
            if data[position : position + 1] != b" ":
                raise SexpError(f"expected space at {position}")
            position += 1
        elif items and data[position : position + 1] == b" ":
            position += 1  # after a list, a space is optional (multipart children have none)
        item, position = _read(data, position)
        items.append(item)


def _read_quoted(data: bytes, position: int) -> tuple[Node, int]:
    out = bytearray()
    while True:
        char = data[position : position + 1]
        if not char:
            raise SexpError("unterminated quoted string")
        if char in (b"\r", b"\n", b"\x00") or char[0] >= 0x80:
            raise SexpError(f"byte {char!r} inside a quoted string")  # IMAP-NOTES 15
        if char == b"\\":
            out += data[position + 1 : position + 2]
            position += 2
            continue
        if char == b'"':
            return bytes(out), position + 1
        out += char
        position += 1


def test_reader_accepts_imap_syntax_and_rejects_what_breaks_clients() -> None:
    assert read_sexp(b'(("a" NIL 12)("b\\"q" {4}\r\nx\r\ny) "mixed")') == [
        [b"a", None, 12],
        [b'b"q', b"x\r\ny"],
        b"mixed",
    ]
    for bad in (
        b'("a\nb")',
        b'("caf\xc3\xa9")',
        b'("a""b")',
        b'("a" NIL',
        b'("a") x',
        b"(FOO)",
        b"({9}\r\nab)",
    ):
        with pytest.raises((SexpError, ValueError)):
            read_sexp(bad)
    with pytest.raises(AssertionError):
        check_body(read_sexp(b'("text" "plain" NIL NIL NIL "7bit" 3)'), extended=False)  # text needs lines


# ---------------------------------------------------------------------------------------------------
# Shape checks against the RFC 3501 grammar (body, body-type-*, envelope, address).


def _is_nstring(node: Node) -> bool:
    return node is None or isinstance(node, bytes)


def _check_params(node: Node) -> None:
    assert node is None or (
        isinstance(node, list) and node and len(node) % 2 == 0 and all(isinstance(x, bytes) for x in node)
    ), node


def _check_extension(items: list[Node]) -> None:
    """body-fld-dsp, body-fld-lang, body-fld-loc."""
    dsp, lang, loc = items
    assert dsp is None or (isinstance(dsp, list) and len(dsp) == 2 and isinstance(dsp[0], bytes)), dsp
    if isinstance(dsp, list):
        _check_params(dsp[1])
    assert _is_nstring(lang) or (isinstance(lang, list) and all(isinstance(x, bytes) for x in lang)), lang
    assert _is_nstring(loc), loc


def check_address_list(node: Node) -> None:
    if node is None:
        return
    assert isinstance(node, list) and node, node
    depth = 0
    for address in node:
        assert isinstance(address, list) and len(address) == 4 and all(map(_is_nstring, address)), address
        if address[3] is None and address[2] is not None:
            depth += 1
        elif address == [None, None, None, None]:
            depth -= 1
            assert depth >= 0
    assert depth == 0, "unbalanced group markers"


def check_envelope(node: Node) -> None:
    assert isinstance(node, list) and len(node) == 10, node
    for index in (0, 1, 8, 9):
        assert _is_nstring(node[index])
    for index in range(2, 8):
        check_address_list(node[index])


def check_body(node: Node, extended: bool) -> None:
    assert isinstance(node, list) and node, node
    if isinstance(node[0], list):  # body-type-mpart
        count = next(i for i, n in enumerate(node) if not isinstance(n, list))
        for child in node[:count]:
            check_body(child, extended)
        rest = node[count:]
        assert isinstance(rest[0], bytes)  # media-subtype
        if extended:
            assert len(rest) == 5, rest
            _check_params(rest[1])
            _check_extension(rest[2:])
        else:
            assert len(rest) == 1, rest
        return
    assert len(node) >= 7, node
    maintype, subtype, params, cid, desc, encoding, size = node[:7]
    assert isinstance(maintype, bytes) and isinstance(subtype, bytes)
    _check_params(params)
    assert _is_nstring(cid) and _is_nstring(desc) and isinstance(encoding, bytes)
    assert isinstance(size, int) and size >= 0
    rest = node[7:]
    if (maintype.lower(), subtype.lower()) == (b"message", b"rfc822"):
        assert len(rest) >= 3, node
        check_envelope(rest[0])
        check_body(rest[1], extended)
        assert isinstance(rest[2], int) and rest[2] >= 0
        rest = rest[3:]
    elif maintype.lower() == b"text":
        assert rest and isinstance(rest[0], int) and rest[0] >= 0, node
        rest = rest[1:]
    if extended:
        assert len(rest) == 4, rest
        assert _is_nstring(rest[0])  # body-fld-md5
        _check_extension(rest[1:])
    else:
        assert rest == [], rest


def strip_extensions(node: Node) -> Node:
    """BODYSTRUCTURE -> BODY, by the grammar: what BODY must equal."""
    assert isinstance(node, list)
    if isinstance(node[0], list):
        count = next(i for i, n in enumerate(node) if not isinstance(n, list))
        return [strip_extensions(child) for child in node[:count]] + [node[count]]
    base = node[:7]
    if (node[0].lower(), node[1].lower()) == (b"message", b"rfc822"):  # type: ignore[union-attr]
        return [*base, node[7], strip_extensions(node[8]), node[9]]
    return base + ([node[7]] if node[0].lower() == b"text" else [])  # type: ignore[union-attr]


def check_analysis(raw: bytes, result: Analysis) -> None:
    """Everything a FETCH will send is well-formed, and every range lies inside the message."""
    check_envelope(read_sexp(result.envelope))
    structure = read_sexp(result.bodystructure)
    check_body(structure, extended=True)
    check_body(read_sexp(result.body), extended=False)
    assert strip_extensions(structure) == read_sexp(result.body)
    assert 0 <= result.header_length <= len(raw)
    assert result.parts, "every message has at least part 1"
    texts = [result.message_id, result.subject, result.from_text, result.to_text, result.cc_text]
    texts += [result.bcc_text, result.headers_text, result.body_text]
    texts += [str(value) for part in result.parts.values() for value in part.values()]
    for text in texts:  # storable in PostgreSQL text / JSONB
        assert "\x00" not in text
        text.encode("utf-8")
    for part in result.parts.values():
        start, body, end = (_offset(part, key) for key in ("start", "body", "end"))
        assert 0 <= start <= body <= end <= len(raw), part
        if "inner_header_end" in part:
            assert body <= _offset(part, "inner_header_end") <= end


def _offset(part: dict[str, object], key: str) -> int:
    value = part[key]
    assert isinstance(value, int)
    return value


def body_section(raw: bytes, result: Analysis, spec: str) -> bytes:
    """BODY[spec] served by slicing, as the FETCH code will do it."""
    if spec == "HEADER":
        return raw[: result.header_length]
    if spec == "TEXT":
        return raw[result.header_length :]
    section, _, what = spec.rpartition(".")
    if what in ("MIME", "HEADER", "TEXT"):
        part = result.parts[section]
        start, body, end = (_offset(part, key) for key in ("start", "body", "end"))
        if what == "MIME":
            return raw[start:body]
        inner = _offset(part, "inner_header_end")
        return raw[body:inner] if what == "HEADER" else raw[inner:end]
    part = result.parts[spec]
    return raw[_offset(part, "body") : _offset(part, "end")]


# ---------------------------------------------------------------------------------------------------
# Hand-written messages, one per MIME shape.

HEAD = (
    b"From: Alice <alice@example.com>\r\nTo: bob@example.org\r\nSubject: Hi\r\n"
    b"Date: Mon, 1 Jan 2024 10:00:00 +0100\r\nMessage-ID: <1@example.com>\r\n"
)
TEXT_PLAIN = HEAD + b"\r\nHello\r\nWorld\r\n"
TEXT_HTML = HEAD + (
    b"Content-Type: TEXT/HTML; CHARSET=utf-8\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\n"
    b"<p>caf=C3=A9 &amp; more</p>\r\n"
)
ALTERNATIVE = HEAD + (
    b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\npreamble\r\n'
    b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n"
    b"--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<b>html</b>\r\n--alt--\r\nepilogue\r\n"
)
MIXED = HEAD + (
    b"Content-Type: multipart/mixed; boundary=mix\r\n\r\n--mix\r\n\r\nSee attached.\r\n"
    b'--mix\r\nContent-Type: application/pdf; name="report.pdf"\r\n'
    b'Content-Disposition: attachment; filename="report.pdf"\r\nContent-Transfer-Encoding: base64\r\n'
    b"Content-Description: The report\r\n\r\nJVBERi0xLjQK\r\n--mix--\r\n"
)
RELATED = HEAD + (
    b'Content-Type: multipart/related; boundary=rel; type="text/html"\r\n\r\n'
    b'--rel\r\nContent-Type: text/html\r\n\r\n<img src="cid:logo@x">\r\n'
    b"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@x>\r\nContent-Location: logo.png\r\n"
    b"Content-Transfer-Encoding: base64\r\nContent-Disposition: inline\r\n\r\niVBORw0KGgo=\r\n--rel--\r\n"
)
SIGNED = HEAD + (
    b"Content-Type: multipart/signed; boundary=sig; micalg=pgp-sha256;\r\n"
    b' protocol="application/pgp-signature"\r\n\r\n'
    b"--sig\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nsigned text\r\n"
    b'--sig\r\nContent-Type: application/pgp-signature; name="signature.asc"\r\nContent-Language: en\r\n\r\n'
    b"-----BEGIN PGP SIGNATURE-----\r\n-----END PGP SIGNATURE-----\r\n--sig--\r\n"
)
ENCRYPTED = HEAD + (
    b'Content-Type: multipart/encrypted; boundary=enc;\r\n protocol="application/pgp-encrypted"\r\n\r\n'
    b"--enc\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n"
    b"--enc\r\nContent-Type: application/octet-stream\r\n\r\n-----BEGIN PGP MESSAGE-----\r\n--enc--\r\n"
)
FORWARD = HEAD + (
    b"Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: text/plain\r\n\r\nForwarded:\r\n"
    b"--out\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n"
    b"From: Carol <carol@example.net>\r\nSubject: Inner\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n"
    b"--in\r\n\r\ninner plain\r\n--in\r\nContent-Type: text/html\r\n\r\n<i>inner</i>\r\n--in--\r\n\r\n--out--\r\n"
)
FORWARD_SIMPLE = HEAD + (
    b"Content-Type: multipart/mixed; boundary=out\r\n\r\n--out\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: carol@example.net\r\nSubject: Inner\r\n\r\nline1\r\nline2\r\n--out--\r\n"
)
DSN = HEAD + (
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=rep\r\n\r\n"
    b"--rep\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
    b"--rep\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
    b"Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\n"
    b"--rep\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: alice@example.com\r\nSubject: Hi\r\n--rep--\r\n"
)
NO_BOUNDARY = HEAD + b"Content-Type: multipart/mixed\r\n\r\n--x\r\nhello\r\n--x--\r\n"
ZERO_PARTS = HEAD + b"Content-Type: multipart/mixed; boundary=b\r\n\r\nno delimiter here\r\n"
TRUNCATED = HEAD + (
    b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nfirst\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\nsecond, cut off"
)
UNKNOWN_ENCODING = HEAD + (
    b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: X-UUENCODE\r\n\r\nbegin 644 x\r\n"
)
INVALID_TYPE = HEAD + b"Content-Type: garbage\r\n\r\nbody\r\n"
RFC2231 = HEAD + (
    b'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: application/pdf; name*0="long"; '
    b"name*1=\"name.pdf\"\r\nContent-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rate.pdf\r\n\r\n"
    b"x\r\n--b--\r\n"
)
DIGEST = HEAD + (
    b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\n"
    b"From: dave@example.com\r\nSubject: One\r\n\r\nfirst\r\n--d--\r\n"
)
PREFIX_BOUNDARY = HEAD + (
    b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x  \r\n\r\nA\r\n--xyz\r\nB\r\n--x--  \r\n"
)

PLAIN_US_ASCII = b'"text" "plain" ("charset" "us-ascii") NIL NIL "7bit"'
FORWARD_ENVELOPE = (
    b'(NIL "Inner" (("Carol" NIL "carol" "example.net")) (("Carol" NIL "carol" "example.net")) '
    b'(("Carol" NIL "carol" "example.net")) NIL NIL NIL NIL NIL)'
)

# (message, BODYSTRUCTURE). Lines count a last unterminated line (Dovecot does not, so its counts for
# multipart children are one lower); types are lower-cased (Dovecot echoes "TEXT" "HTML").
STRUCTURES = [
    pytest.param(TEXT_PLAIN, b"(" + PLAIN_US_ASCII + b" 14 2 NIL NIL NIL NIL)", id="text-plain"),
    pytest.param(b"\r\nJust a body", b"(" + PLAIN_US_ASCII + b" 11 1 NIL NIL NIL NIL)", id="no-headers"),
    pytest.param(
        TEXT_HTML,
        b'("text" "html" ("charset" "utf-8") NIL NIL "quoted-printable" 29 1 NIL NIL NIL NIL)',
        id="html",
    ),
    pytest.param(
        ALTERNATIVE,
        b'(("text" "plain" ("charset" "utf-8") NIL NIL "7bit" 5 1 NIL NIL NIL NIL)'
        b'("text" "html" ("charset" "utf-8") NIL NIL "7bit" 11 1 NIL NIL NIL NIL) "alternative" ("boundary" "alt") '
        b"NIL NIL NIL)",
        id="alternative",
    ),
    pytest.param(
        MIXED,
        b"((" + PLAIN_US_ASCII + b' 13 1 NIL NIL NIL NIL)("application" "pdf" ("name" "report.pdf") NIL '
        b'"The report" "base64" 12 NIL ("attachment" ("filename" "report.pdf")) NIL NIL) "mixed" ("boundary" "mix") '
        b"NIL NIL NIL)",
        id="mixed-attachment",
    ),
    pytest.param(
        RELATED,
        b'(("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 22 1 NIL NIL NIL NIL)("image" "png" NIL "<logo@x>" '
        b'NIL "base64" 12 NIL ("inline" NIL) NIL "logo.png") "related" ("boundary" "rel" "type" "text/html") '
        b"NIL NIL NIL)",
        id="related",
    ),
    pytest.param(
        SIGNED,
        b"(("
        + PLAIN_US_ASCII
        + b' 11 1 NIL NIL NIL NIL)("application" "pgp-signature" ("name" "signature.asc") '
        b'NIL NIL "7bit" 58 NIL NIL ("en") NIL) "signed" ("boundary" "sig" "micalg" "pgp-sha256" "protocol" '
        b'"application/pgp-signature") NIL NIL NIL)',
        id="signed",
    ),
    pytest.param(
        ENCRYPTED,
        b'(("application" "pgp-encrypted" NIL NIL NIL "7bit" 10 NIL NIL NIL NIL)("application" "octet-stream" NIL '
        b'NIL NIL "7bit" 27 NIL NIL NIL NIL) "encrypted" ("boundary" "enc" "protocol" "application/pgp-encrypted") '
        b"NIL NIL NIL)",
        id="encrypted",
    ),
    pytest.param(
        FORWARD,
        b"(("
        + PLAIN_US_ASCII
        + b' 10 1 NIL NIL NIL NIL)("message" "rfc822" NIL NIL NIL "7bit" 177 '
        + FORWARD_ENVELOPE
        + b" (("
        + PLAIN_US_ASCII
        + b' 11 1 NIL NIL NIL NIL)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" '
        b'12 1 NIL NIL NIL NIL) "alternative" ("boundary" "in") NIL NIL NIL) 12 NIL ("attachment" NIL) NIL NIL) '
        b'"mixed" ("boundary" "out") NIL NIL NIL)',
        id="message-rfc822-multipart",
    ),
    pytest.param(
        FORWARD_SIMPLE,
        b'(("message" "rfc822" NIL NIL NIL "7bit" 55 (NIL "Inner" ((NIL NIL "carol" "example.net")) '
        b'((NIL NIL "carol" "example.net")) ((NIL NIL "carol" "example.net")) NIL NIL NIL NIL NIL) '
        b"("
        + PLAIN_US_ASCII
        + b' 12 2 NIL NIL NIL NIL) 5 NIL NIL NIL NIL) "mixed" ("boundary" "out") NIL NIL NIL)',
        id="message-rfc822-simple",
    ),
    pytest.param(
        DSN,
        b"((" + PLAIN_US_ASCII + b' 16 1 NIL NIL NIL NIL)("message" "delivery-status" NIL NIL NIL "7bit" 92 '
        b'NIL NIL NIL NIL)("text" "rfc822-headers" ("charset" "us-ascii") NIL NIL "7bit" 36 2 NIL NIL NIL NIL) '
        b'"report" ("report-type" "delivery-status" "boundary" "rep") NIL NIL NIL)',
        id="report-dsn",
    ),
    # Ours: opaque text/plain, so the content stays readable. Dovecot: a multipart with one empty child.
    pytest.param(NO_BOUNDARY, b"(" + PLAIN_US_ASCII + b" 19 3 NIL NIL NIL NIL)", id="multipart-no-boundary"),
    # As Dovecot: one empty text/plain child, because body-type-mpart needs at least one body.
    pytest.param(
        ZERO_PARTS,
        b"((" + PLAIN_US_ASCII + b' 0 0 NIL NIL NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)',
        id="multipart-zero-parts",
    ),
    pytest.param(
        TRUNCATED,
        b"(("
        + PLAIN_US_ASCII
        + b" 5 1 NIL NIL NIL NIL)("
        + PLAIN_US_ASCII
        + b' 15 1 NIL NIL NIL NIL) "mixed" '
        b'("boundary" "b") NIL NIL NIL)',
        id="multipart-truncated",
    ),
    pytest.param(
        UNKNOWN_ENCODING,
        b'("application" "octet-stream" NIL NIL NIL "x-uuencode" 13 NIL NIL NIL NIL)',
        id="unknown-encoding",
    ),
    # RFC 2045 §5.2 default; Dovecot sends ("garbage" "" ...).
    pytest.param(INVALID_TYPE, b"(" + PLAIN_US_ASCII + b" 6 1 NIL NIL NIL NIL)", id="invalid-content-type"),
    # Continuations merged (as Dovecot); the charset form decoded (Dovecot keeps "filename*" "utf-8''...").
    pytest.param(
        RFC2231,
        b'(("application" "pdf" ("name" "longname.pdf") NIL NIL "7bit" 1 NIL ("attachment" ("filename" {12}\r\n'
        b'\xe2\x82\xac rate.pdf)) NIL NIL) "mixed" ("boundary" "b") NIL NIL NIL)',
        id="rfc2231",
    ),
    pytest.param(
        DIGEST,
        b'(("message" "rfc822" NIL NIL NIL "7bit" 45 (NIL "One" ((NIL NIL "dave" "example.com")) '
        b'((NIL NIL "dave" "example.com")) ((NIL NIL "dave" "example.com")) NIL NIL NIL NIL NIL) '
        b"("
        + PLAIN_US_ASCII
        + b' 5 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL) "digest" ("boundary" "d") NIL NIL NIL)',
        id="digest-default-rfc822",
    ),
    # "--xyz" is not a delimiter for boundary "x" (RFC 2046 §5.1.1); Dovecot splits there.
    pytest.param(
        PREFIX_BOUNDARY,
        b"((" + PLAIN_US_ASCII + b' 11 3 NIL NIL NIL NIL) "mixed" ("boundary" "x") NIL NIL NIL)',
        id="boundary-prefix-line-is-content",
    ),
]


@pytest.mark.parametrize("raw, bodystructure", STRUCTURES)
def test_bodystructure(raw: bytes, bodystructure: bytes) -> None:
    result = analyse(raw)
    assert result.bodystructure == bodystructure
    check_analysis(raw, result)


BODIES = [
    pytest.param(TEXT_PLAIN, b"(" + PLAIN_US_ASCII + b" 14 2)", id="text-plain"),
    pytest.param(
        MIXED,
        b"(("
        + PLAIN_US_ASCII
        + b' 13 1)("application" "pdf" ("name" "report.pdf") NIL "The report" "base64" 12) '
        b'"mixed")',
        id="mixed-attachment",
    ),
    pytest.param(
        FORWARD,
        b"(("
        + PLAIN_US_ASCII
        + b' 10 1)("message" "rfc822" NIL NIL NIL "7bit" 177 '
        + FORWARD_ENVELOPE
        + b" (("
        + PLAIN_US_ASCII
        + b' 11 1)("text" "html" ("charset" "us-ascii") NIL NIL "7bit" 12 1) "alternative") 12) '
        b'"mixed")',
        id="message-rfc822",
    ),
    pytest.param(ZERO_PARTS, b"((" + PLAIN_US_ASCII + b' 0 0) "mixed")', id="zero-parts"),
]


@pytest.mark.parametrize("raw, body", BODIES)
def test_body(raw: bytes, body: bytes) -> None:
    assert analyse(raw).body == body


ALICE = b'(("Alice" NIL "alice" "example.com"))'
ENVELOPES = [
    pytest.param(
        TEXT_PLAIN,
        b'("Mon, 1 Jan 2024 10:00:00 +0100" "Hi" '
        + ALICE
        + b" "
        + ALICE
        + b" "
        + ALICE
        + b' ((NIL NIL "bob" "example.org")) NIL NIL NIL "<1@example.com>")',
        id="basic-sender-reply-to-default-to-from",
    ),
    pytest.param(
        b"Subject: x\r\n\r\n", b'(NIL "x" NIL NIL NIL NIL NIL NIL NIL NIL)', id="missing-date-message-id-from"
    ),
    pytest.param(
        b'From: Team: a@x.org, "B" <b@y.org>;\r\nSender: s@x.org\r\nReply-To: empty:;\r\n'
        b"To: c@z.org (C), undisclosed\r\nCc: <>, <@route:u@h>\r\nIn-Reply-To: <p@x>\r\n\r\n",
        b'(NIL NIL ((NIL NIL "Team" NIL)(NIL NIL "a" "x.org")("B" NIL "b" "y.org")(NIL NIL NIL NIL)) '
        b'((NIL NIL "s" "x.org")) ((NIL NIL "empty" NIL)(NIL NIL NIL NIL)) '
        b'(("C" NIL "c" "z.org")(NIL NIL "undisclosed" "MISSING_DOMAIN")) '
        b'((NIL NIL "MISSING_MAILBOX" "MISSING_DOMAIN")(NIL "@route" "u" "h")) NIL "<p@x>" NIL)',
        id="groups-comments-routes-missing-parts",
    ),
    pytest.param(
        b'From: "Doe, John \\"JD\\"" <"john doe"@example.com>, =?utf-8?q?J=C3=B6rg?= <j@x.org>\r\n'
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n  folded\r\n\r\n",
        b'(NIL "=?utf-8?q?Gr=C3=BC=C3=9Fe?=  folded" (("Doe, John \\"JD\\"" NIL "john doe" "example.com")'
        b'("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.org")) (("Doe, John \\"JD\\"" NIL "john doe" "example.com")'
        b'("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.org")) (("Doe, John \\"JD\\"" NIL "john doe" "example.com")'
        b'("=?utf-8?q?J=C3=B6rg?=" NIL "j" "x.org")) NIL NIL NIL NIL NIL)',
        id="encoded-words-stay-encoded-quoted-names",
    ),
    pytest.param(
        "From: Jörg <j@x.org>\r\nSubject: Grüße aus Köln\r\n\r\n".encode(),
        b'(NIL {17}\r\nGr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln (({5}\r\nJ\xc3\xb6rg NIL "j" "x.org")) '
        b'(({5}\r\nJ\xc3\xb6rg NIL "j" "x.org")) (({5}\r\nJ\xc3\xb6rg NIL "j" "x.org")) NIL NIL NIL NIL NIL)',
        id="utf8-headers-as-literals",
    ),
    pytest.param(
        b"From: Andr\xe9 <a@x.org>\r\nSubject: caf\xe9\r\n\r\n",
        b'(NIL {4}\r\ncaf\xe9 (({5}\r\nAndr\xe9 NIL "a" "x.org")) (({5}\r\nAndr\xe9 NIL "a" "x.org")) '
        b'(({5}\r\nAndr\xe9 NIL "a" "x.org")) NIL NIL NIL NIL NIL)',
        id="latin1-headers-as-literals",
    ),
]


@pytest.mark.parametrize("raw, envelope", ENVELOPES)
def test_envelope(raw: bytes, envelope: bytes) -> None:
    result = analyse(raw)
    assert result.envelope == envelope
    check_envelope(read_sexp(result.envelope))


# Section slices, as Dovecot answers them.
SECTIONS = [
    pytest.param(TEXT_PLAIN, "1", b"Hello\r\nWorld\r\n", id="single-part-1-is-text"),
    pytest.param(TEXT_PLAIN, "1.MIME", HEAD + b"\r\n", id="single-part-1-mime-is-the-message-header"),
    pytest.param(TEXT_PLAIN, "TEXT", b"Hello\r\nWorld\r\n", id="text"),
    pytest.param(TEXT_PLAIN, "HEADER", HEAD + b"\r\n", id="header-includes-blank-line"),
    pytest.param(ALTERNATIVE, "1", b"plain", id="child-excludes-crlf-before-delimiter"),
    pytest.param(ALTERNATIVE, "2", b"<b>html</b>", id="last-child-before-close"),
    pytest.param(ALTERNATIVE, "2.MIME", b"Content-Type: text/html; charset=utf-8\r\n\r\n", id="child-mime"),
    pytest.param(MIXED, "1.MIME", b"\r\n", id="child-without-headers-mime"),
    pytest.param(MIXED, "2", b"JVBERi0xLjQK", id="attachment"),
    pytest.param(
        FORWARD,
        "2.MIME",
        b"Content-Type: message/rfc822\r\nContent-Disposition: attachment\r\n\r\n",
        id="rfc822-mime",
    ),
    pytest.param(
        FORWARD,
        "2.HEADER",
        b"From: Carol <carol@example.net>\r\nSubject: Inner\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n",
        id="rfc822-header",
    ),
    pytest.param(
        FORWARD,
        "2.TEXT",
        b"--in\r\n\r\ninner plain\r\n--in\r\nContent-Type: text/html\r\n\r\n<i>inner</i>\r\n--in--\r\n",
        id="rfc822-text",
    ),
    pytest.param(FORWARD, "2.1", b"inner plain", id="rfc822-multipart-child-1"),
    pytest.param(FORWARD, "2.2", b"<i>inner</i>", id="rfc822-multipart-child-2"),
    pytest.param(FORWARD, "2.2.MIME", b"Content-Type: text/html\r\n\r\n", id="rfc822-multipart-child-mime"),
    pytest.param(FORWARD_SIMPLE, "1.1", b"line1\r\nline2", id="rfc822-single-part-body"),
    pytest.param(FORWARD_SIMPLE, "1.TEXT", b"line1\r\nline2", id="rfc822-single-part-text"),
    pytest.param(
        FORWARD_SIMPLE, "1.HEADER", b"From: carol@example.net\r\nSubject: Inner\r\n\r\n", id="rfc822-hdr"
    ),
    pytest.param(TRUNCATED, "2", b"second, cut off", id="truncated-last-part-runs-to-end"),
    pytest.param(ZERO_PARTS, "1", b"", id="zero-parts-placeholder"),
    pytest.param(DIGEST, "1.1", b"first", id="digest-inner-body"),
]


@pytest.mark.parametrize("raw, spec, expected", SECTIONS)
def test_section_slices(raw: bytes, spec: str, expected: bytes) -> None:
    assert body_section(raw, analyse(raw), spec) == expected


def test_parts_facts() -> None:
    parts = analyse(FORWARD).parts
    assert sorted(parts) == ["1", "2", "2.1", "2.2"]
    assert parts["2"]["type"] == "message/rfc822" and "inner_header_end" in parts["2"]
    assert parts["2.2"] == {
        "start": parts["2.2"]["start"],
        "body": parts["2.2"]["body"],
        "end": parts["2.2"]["end"],
        "type": "text/html",
        "encoding": "7bit",
        "charset": "us-ascii",
    }
    html = analyse(TEXT_HTML).parts["1"]
    assert (html["type"], html["encoding"], html["charset"]) == ("text/html", "quoted-printable", "utf-8")
    assert analyse(MIXED).parts["2"]["charset"] is None


def test_header_without_blank_line_is_all_header() -> None:
    raw = b"From: a@x.org\r\nSubject: x"
    result = analyse(raw)
    assert result.header_length == len(raw)
    assert result.bodystructure == b"(" + PLAIN_US_ASCII + b" 0 0 NIL NIL NIL NIL)"
    assert result.parts["1"]["start"] == 0
    assert result.parts["1"]["body"] == result.parts["1"]["end"] == len(raw)


# ---------------------------------------------------------------------------------------------------
# Decoded fields for SEARCH


def test_decoded_fields() -> None:
    raw = (
        b'From: =?utf-8?q?J=C3=B6rg?= <j@x.org>, bob@x.org\r\nTo: Team: a@x.org;\r\nCc: "C" <c@x.org>\r\n'
        b"Bcc: d@x.org\r\nSubject: =?utf-8?b?R3LDvA==?=\r\n =?utf-8?b?w59l?= und mehr\r\n"
        b"Date: Mon, 1 Jan 2024 23:30:00 -0500\r\nMessage-ID:   <m@x>  \r\n\r\nbody\r\n"
    )
    result = analyse(raw)
    assert result.subject == "Grüße und mehr"  # adjacent encoded words join, even across a fold
    assert result.from_text == "Jörg <j@x.org>, bob@x.org"
    assert result.to_text == "Team: a@x.org;"
    assert (result.cc_text, result.bcc_text) == ("C <c@x.org>", "d@x.org")
    assert result.message_id == "<m@x>"
    assert result.date == datetime.datetime(
        2024, 1, 1, 23, 30, tzinfo=datetime.timezone(-datetime.timedelta(hours=5))
    )
    assert result.sent_date == datetime.date(2024, 1, 1)  # its own offset; in UTC it is already 2 January
    assert result.headers_text.splitlines()[0] == "From: Jörg <j@x.org>, bob@x.org"
    assert "Subject: Grüße und mehr\n" in result.headers_text
    assert result.headers_text.count("\n") == 7


def test_missing_date_and_message_id() -> None:
    result = analyse(b"Subject: hi\r\n\r\nx")
    assert (result.date, result.sent_date, result.message_id) == (None, None, "")
    assert read_sexp(result.envelope)[0] is None and read_sexp(result.envelope)[9] is None  # type: ignore[index]
    assert analyse(b"Date: someday\r\n\r\n").date is None


def test_eight_bit_subject_is_decoded() -> None:
    assert analyse("Subject: Grüße\r\n\r\n".encode()).subject == "Grüße"
    assert analyse(b"Subject: caf\xe9\r\n\r\n").subject == "café"
    assert analyse(b"From: Andr\xe9 <a@x.org>\r\n\r\n").from_text == "André <a@x.org>"


def test_text_fields_are_storable_in_postgresql() -> None:
    """PostgreSQL text and JSONB refuse NUL (and psycopg cannot encode lone surrogates)."""
    raw = (
        b"Subject: a\x00b\r\nFrom: N\x00ame <a@x.org>\r\nX-Odd: =?utf-7?q?+2D3-?=\r\n"
        b'Content-Type: text/plain; charset="ut\x00f-7"\r\nContent-Transfer-Encoding: 7\x00bit\r\n\r\nbo\x00dy +2D3-'
    )
    result = analyse(raw)
    texts = [result.message_id, result.subject, result.from_text, result.headers_text, result.body_text]
    texts += [str(value) for part in result.parts.values() for value in part.values()]
    for text in texts:
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates
    assert result.subject == "ab"
    assert b"{3}\r\na\x00b" in result.envelope  # IMAP still gets the bytes as stored, as a literal


def test_body_text() -> None:
    raw = HEAD + (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"caf=E9 au=\r\n lait\r\n"
        b"--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        b"PHA+Q2FmJmVhY3V0ZTsgJmFtcDsgPGI+Y3LDqG1lPC9iPjwvcD48c2NyaXB0PnZhciB4PTE8L3NjcmlwdD4=\r\n"
        b"--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nc2VjcmV0\r\n"
        b"--b\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nfallback \xc3\xa9\r\n--b--\r\n"
    )
    text = analyse(raw).body_text
    assert "café au lait" in text
    assert "Café & crème" in text and "var x" not in text and "<b>" not in text
    assert "secret" not in text
    assert "fallback é" in text


def test_body_text_is_capped() -> None:
    raw = b"Subject: big\r\n\r\n" + b"0123456789abcdef\r\n" * 100_000
    assert len(analyse(raw).body_text) == mime.MAX_BODY_TEXT


# ---------------------------------------------------------------------------------------------------
# Line endings


def test_normalise_line_endings_examples() -> None:
    assert normalise_line_endings(b"a\nb\r\nc\rd\n") == (b"a\r\nb\r\nc\rd\r\n", True)
    assert normalise_line_endings(b"a\r\nb\r\n") == (b"a\r\nb\r\n", False)
    assert normalise_line_endings(b"\r\r\n\n") == (b"\r\r\n\r\n", True)
    assert normalise_line_endings(b"") == (b"", False)


def test_bare_lf_message_normalises_then_analyses() -> None:
    raw, changed = normalise_line_endings(b"From: a@x.org\nSubject: lf\n\nline1\nline2\n")
    assert changed
    result = analyse(raw)
    assert result.header_length == len(b"From: a@x.org\r\nSubject: lf\r\n\r\n")
    assert result.bodystructure == b"(" + PLAIN_US_ASCII + b" 14 2 NIL NIL NIL NIL)"


def test_bare_lf_input_without_normalising_still_analyses() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\n\n--b\n\nA\n--b\n\nB\n--b--\n"
    result = analyse(raw)
    assert [body_section(raw, result, s) for s in ("1", "2")] == [b"A", b"B"]


# ---------------------------------------------------------------------------------------------------
# Limits


def test_absurd_nesting_is_cut_at_max_depth() -> None:
    raw = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(300)
    )
    raw += b"\r\nbottom\r\n"
    result = analyse(raw)
    check_analysis(raw, result)
    assert max(section.count(".") + 1 for section in result.parts) == MAX_DEPTH
    nested = b"Content-Type: message/rfc822\r\n\r\n" * 300 + b"Subject: deep\r\n\r\nx"
    check_analysis(nested, analyse(nested))


def test_part_count_is_capped() -> None:
    raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * (MAX_PARTS + 50)
    raw += b"--b--\r\n"
    result = analyse(raw)
    assert len(result.parts) == MAX_PARTS - 1  # the top-level multipart is the 5,000th entity
    check_analysis(raw, result)


def test_internal_error_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: bytes) -> Analysis:
        raise RuntimeError("bug")

    monkeypatch.setattr(mime, "_analyse", broken)
    raw = b"Subject: x\r\n\r\nbody\r\n"
    result = analyse(raw)
    check_analysis(raw, result)
    assert result.header_length == 14 and body_section(raw, result, "1") == b"body\r\n"


# ---------------------------------------------------------------------------------------------------
# Generated messages: the email package builds them; our structure must agree with its parse.

# Letters, digits, punctuation, symbols, spaces and LF (the email package's 8bit generator chokes on C1 controls).
_TEXTS = st.text(
    st.characters(whitelist_categories=("L", "N", "P", "S", "Zs"), whitelist_characters="\n"), max_size=60
)
_LEAVES = st.one_of(
    st.tuples(
        st.just("text"),
        st.sampled_from(["plain", "html"]),
        _TEXTS,
        st.sampled_from([None, "base64", "quoted-printable"]),
    ),
    st.tuples(
        st.just("attachment"),
        st.binary(max_size=80),
        st.sampled_from(["a.pdf", "Résumé €.bin", 'q"uote;d.txt']),
    ),
)
_TREES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.tuples(
            st.just("multipart"),
            st.sampled_from(["mixed", "alternative", "related"]),
            st.lists(children, min_size=1, max_size=3),
        ),
        st.tuples(st.just("message"), children),
    ),
    max_leaves=8,
)


def _build(tree: tuple) -> MIMEPart:  # type: ignore[type-arg]
    part = MIMEPart(policy=email.policy.SMTP)
    if tree[0] == "text":
        part.set_content(tree[2], subtype=tree[1], cte=tree[3])
    elif tree[0] == "attachment":
        part.set_content(tree[1], maintype="application", subtype="octet-stream", filename=tree[2])
    elif tree[0] == "multipart":
        part["Content-Type"] = f"multipart/{tree[1]}"
        for child in tree[2]:
            part.attach(_build(child))
    else:
        inner = EmailMessage(policy=email.policy.SMTP)
        inner["From"] = "Inner Sender <inner@example.org>"
        inner["Subject"] = "inner ünïcode"
        _adopt(inner, _build(tree[1]))
        part.set_content(inner)
    return part


def _adopt(message: EmailMessage, part: MIMEPart) -> None:
    for name, value in part.items():
        message[name] = value
    # The raw payload: get_payload() would turn set_content's surrogate-escaped 8bit text into real
    # Unicode, which the bytes generator then cannot write.
    message.set_payload(part._payload)  # type: ignore[attr-defined]


def _generated(tree: tuple) -> bytes:  # type: ignore[type-arg]
    top = EmailMessage(policy=email.policy.SMTP)
    top["From"] = '"Ann, Example" <ann@example.com>'
    top["To"] = "Team: x@example.com, y@example.com;"
    top["Subject"] = "Grüße"
    _adopt(top, _build(tree))
    return top.as_bytes()


def _email_sections(message: email.message.Message, prefix: str = "") -> dict[str, email.message.Message]:
    """IMAP section numbers computed from the email package's own parse."""
    if message.get_content_maintype() == "multipart":
        return _children_sections(message, prefix)
    sections = {prefix + "1": message}
    if message.get_content_type() == "message/rfc822":
        sections.update(_email_sections(cast(email.message.Message, message.get_payload(0)), prefix + "1."))
    return sections


def _children_sections(message: email.message.Message, prefix: str) -> dict[str, email.message.Message]:
    sections: dict[str, email.message.Message] = {}
    for index, child in enumerate(message.get_payload(), 1):
        section = f"{prefix}{index}"
        sections[section] = child
        if child.get_content_maintype() == "multipart":
            sections.update(_children_sections(child, section + "."))
        elif child.get_content_type() == "message/rfc822":
            sections.update(_email_sections(cast(email.message.Message, child.get_payload(0)), section + "."))
    return sections


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TREES)
def test_generated_messages_agree_with_email_package(tree: tuple) -> None:  # type: ignore[type-arg]
    raw = _generated(tree)
    result = mime._analyse(raw)  # the strict path: a bug must fail here, not hide in the fallback
    check_analysis(raw, result)
    expected = _email_sections(email.message_from_bytes(raw, policy=email.policy.default))
    assert sorted(result.parts) == sorted(expected)
    for section, part in expected.items():
        ours = result.parts[section]
        assert ours["type"] == part.get_content_type()
        if part.get_content_maintype() not in ("multipart", "message"):
            data = raw[_offset(ours, "body") : _offset(ours, "end")]
            decoded = decode_transfer(data, str(ours["encoding"]))
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            assert decoded.replace(b"\r\n", b"\n") == payload.replace(b"\r\n", b"\n")


# ---------------------------------------------------------------------------------------------------
# Property tests: never raise, ranges valid, line-ending normalisation

_SAMPLES = [cast(bytes, p.values[0]) for p in STRUCTURES + ENVELOPES]
_MIME_BITS = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--",
    b"--b",
    b"--mix",
    b"--out--",
    b":",
    b";",
    b"=",
    b'"',
    b"(",
    b")",
    b"<",
    b">",
    b"@",
    b",",
    b"\x00",
    b"\xff",
    b"=?utf-8?q?",
    b"?=",
    b"Content-Type: multipart/mixed; boundary=b\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"name*0*=utf-8''%",
]


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(_SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(raw)))
        action = draw(st.sampled_from(["insert", "delete", "bytes"]))
        if action == "insert":
            raw[position:position] = draw(st.sampled_from(_MIME_BITS))
        elif action == "delete":
            del raw[position : position + draw(st.integers(1, 40))]
        else:
            raw[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(raw)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    check_analysis(raw, mime._analyse(raw))
    analyse(raw)


@settings(max_examples=600, deadline=None)
@given(mutated_messages())
def test_never_raises_on_mutated_messages(raw: bytes) -> None:
    check_analysis(raw, mime._analyse(raw))


@settings(max_examples=200, deadline=None)
@given(mutated_messages())
def test_never_raises_on_normalised_mutated_messages(raw: bytes) -> None:
    normalised, _ = normalise_line_endings(raw)
    check_analysis(normalised, mime._analyse(normalised))


_LINE_BYTES = st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"a", b"\x00", b"\xff"]), max_size=40).map(
    b"".join
)


@settings(max_examples=300)
@given(st.one_of(_LINE_BYTES, st.binary(max_size=200)))
def test_normalise_is_idempotent_and_only_touches_bare_lf(raw: bytes) -> None:
    normalised, changed = normalise_line_endings(raw)
    bare_lf = raw.count(b"\n") - raw.count(b"\r\n")
    assert changed == (bare_lf > 0)
    assert len(normalised) == len(raw) + bare_lf
    assert normalised.replace(b"\r\n", b"\n") == raw.replace(
        b"\r\n", b"\n"
    )  # only CRs were added, before LFs
    assert normalised.count(b"\n") == normalised.count(b"\r\n")
    assert normalise_line_endings(normalised) == (normalised, False)
