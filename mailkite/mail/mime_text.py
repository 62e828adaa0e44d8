"""Decoding helpers for the ingest-time analysis (see `mime`): charsets, transfer encodings, RFC 2047
encoded words, and HTML to text. Every function is total: bad input degrades to replacement characters
or to the input itself, never to an exception.
"""

from __future__ import annotations

import binascii
import codecs
import html
import re

# Codecs that are not character sets, or whose decoders are slow or strict on hostile input.
_REFUSED_CODECS = frozenset({"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined"})
_ASCII_NAMES = frozenset({"ascii", "us-ascii", "646", "us"})


def decode_charset(data: bytes, charset: str | None) -> str:
    """`data` as text in `charset`, with errors replaced; unknown charsets fall back to UTF-8.

    A part labelled US-ASCII that carries 8-bit bytes is read as UTF-8, its usual real charset.
    """
    name = (charset or "").strip().strip('"').lower()
    if name in _ASCII_NAMES or not name:
        return data.decode("utf-8", "replace")
    try:
        info = codecs.lookup(name)
        if not getattr(info, "_is_text_encoding", True) or info.name.replace("_", "-") in _REFUSED_CODECS:
            raise LookupError(name)
        return data.decode(info.name, "replace")
    except Exception:  # LookupError, and codecs that reject the "replace" handler
        return data.decode("utf-8", "replace")


def storable(text: str) -> str:
    """`text` fit for a PostgreSQL text or JSONB column: no NUL, no lone surrogates (both are refused)."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def bytes_to_text(value: bytes) -> str:
    """Raw header bytes as text: UTF-8 when valid (RFC 6532), else Latin-1, which cannot fail."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")


def decode_base64(data: bytes) -> bytes:
    """Lenient base64: ignore anything outside the alphabet (padding too) and a dangling last character."""
    clean = _BASE64_JUNK.sub(b"", data)
    clean = clean[: len(clean) - 1] if len(clean) % 4 == 1 else clean
    try:
        return binascii.a2b_base64(clean + b"=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def decode_transfer(data: bytes, encoding: str) -> bytes:
    """Undo a Content-Transfer-Encoding; identity for 7bit/8bit/binary and for unknown encodings."""
    if encoding == "base64":
        return decode_base64(data)
    if encoding == "quoted-printable":
        try:
            return binascii.a2b_qp(data)
        except (binascii.Error, ValueError):
            return data
    return data


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([QqBb])\?([^?\s]*)\?=")


def _word_bytes(encoding: str, text: str) -> bytes:
    data = text.encode("utf-8")
    if encoding in "Bb":
        return decode_base64(data)
    try:
        return binascii.a2b_qp(data, header=True)
    except (binascii.Error, ValueError):
        return data


def decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words.

    Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2), and adjacent words in one
    charset are decoded together, because mailers split multi-byte characters across words.
    """
    out: list[str] = []
    charset: str | None = None
    pending = bytearray()
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position : match.start()]
        word_charset = match.group(1).split("*", 1)[0].lower()  # RFC 2231 §5 allows "charset*lang"
        adjacent = charset is not None and not between.strip()
        if charset is not None and (not adjacent or word_charset != charset):
            out.append(decode_charset(bytes(pending), charset))
            pending.clear()
        if not adjacent:
            out.append(between)
        charset = word_charset
        pending += _word_bytes(match.group(2), match.group(3))
        position = match.end()
    if charset is not None:
        out.append(decode_charset(bytes(pending), charset))
    out.append(text[position:])
    return "".join(out)


def header_text(value: bytes) -> str:
    """A header value (already unfolded) as readable text."""
    return decode_words(bytes_to_text(value))


_TAG_START = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9]*)?")
# Tags that break a line, so words either side of them do not run together in the search text.
_BLOCK_TAGS = frozenset(
    {"address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer", "h1", "h2", "h3", "h4"}
    | {"h5", "h6", "header", "hr", "li", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"}
)
_RAW_TEXT_END = {"script": re.compile(r"</script", re.I), "style": re.compile(r"</style", re.I)}


def html_to_text(markup: str) -> str:
    """Visible text of an HTML document: tags, comments, scripts and styles removed, entities resolved.

    A single forward scan with `find`, so hostile markup (thousands of unclosed "<script") stays linear,
    which regular expressions with lazy quantifiers would not.
    """
    out: list[str] = []
    position = 0
    length = len(markup)
    while position < length:
        lt = markup.find("<", position)
        if lt < 0:
            out.append(markup[position:])
            break
        out.append(markup[position:lt])
        if markup.startswith("<!--", lt):
            close = markup.find("-->", lt + 4)
            position = length if close < 0 else close + 3
            continue
        tag = _TAG_START.match(markup, lt)
        if tag is None or (tag.group(2) is None and not markup.startswith("<!", lt)):
            out.append("<")  # a bare "<" in text
            position = lt + 1
            continue
        gt = markup.find(">", lt + 1)  # no ">" ends the scan, so this search runs once per tag at most
        position = length if gt < 0 else gt + 1
        name = (tag.group(2) or "").lower()
        if name in _BLOCK_TAGS:
            out.append("\n")
        if name in _RAW_TEXT_END and not tag.group(1):
            end = _RAW_TEXT_END[name].search(markup, position)
            position = length if end is None else end.start()
    return html.unescape("".join(out))
