"""Parse functions for SEARCH, SORT and THREAD, and the search-key tree they share.

Keys follow RFC 9051 §6.4.4 plus RFC 3501's RECENT/NEW/OLD and RFC 7162's MODSEQ. Several keys in a
row, or a parenthesised group, are an implicit AND. String arguments are astrings (literals and raw
UTF-8 allowed), decoded with the charset: US-ASCII and UTF-8 are known, and 8-bit text under
US-ASCII is read as UTF-8 (clients send it). Any other charset raises `BadCharset` so the server can
answer NO [BADCHARSET (US-ASCII UTF-8)]. Nesting ("(", NOT, OR) is capped at
`limits.MAX_SEARCH_DEPTH`. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

from imapd import limits
from imapd.command import (
    Command,
    Search,
    SearchAll,
    SearchAnd,
    SearchBody,
    SearchDate,
    SearchFlag,
    SearchHeader,
    SearchKey,
    SearchModSeq,
    SearchNot,
    SearchOr,
    SearchSeq,
    SearchSize,
    SearchText,
    SearchUid,
    Sort,
    SortCriterion,
    Thread,
)
from imapd.parser_core import ATOM_CHARS, BadCharset, Cursor

CHARSETS = {"US-ASCII": "US-ASCII", "UTF-8": "UTF-8"}
SEARCH_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT", "SAVE"})  # RFC 4731, RFC 5182
SORT_RETURNS = frozenset({"MIN", "MAX", "ALL", "COUNT"})  # RFC 5267 ESORT
SORT_KEYS = frozenset(["ARRIVAL", "CC", "DATE", "FROM", "SIZE", "SUBJECT", "TO", "DISPLAYFROM", "DISPLAYTO"])
THREAD_ALGORITHMS = frozenset({"REFERENCES", "ORDEREDSUBJECT"})
BAD_KEY = "A search key is not known or lacks its argument."
BAD_TEXT = "A search string is not valid in its charset."
TOO_DEEP = "The search is nested too deeply."

_SEQ_START = frozenset(b"0123456789*$")

# Keys without arguments.
_PLAIN: dict[str, SearchKey] = {
    "ALL": SearchAll(),
    "ANSWERED": SearchFlag("\\Answered"),
    "DELETED": SearchFlag("\\Deleted"),
    "DRAFT": SearchFlag("\\Draft"),
    "FLAGGED": SearchFlag("\\Flagged"),
    "SEEN": SearchFlag("\\Seen"),
    "RECENT": SearchFlag("\\Recent"),
    "UNANSWERED": SearchFlag("\\Answered", False),
    "UNDELETED": SearchFlag("\\Deleted", False),
    "UNDRAFT": SearchFlag("\\Draft", False),
    "UNFLAGGED": SearchFlag("\\Flagged", False),
    "UNSEEN": SearchFlag("\\Seen", False),
    "NEW": SearchAnd((SearchFlag("\\Recent"), SearchFlag("\\Seen", False))),  # RFC 3501 §6.4.4
    "OLD": SearchFlag("\\Recent", False),
}
_HEADER_KEYS = frozenset({"FROM", "TO", "CC", "BCC", "SUBJECT"})
_DATE_KEYS: dict[str, tuple[Literal["before", "on", "since"], bool]] = {
    "BEFORE": ("before", False),
    "ON": ("on", False),
    "SINCE": ("since", False),
    "SENTBEFORE": ("before", True),
    "SENTON": ("on", True),
    "SENTSINCE": ("since", True),
}


# -- commands ----------------------------------------------------------------------------------------


def parse_search(cur: Cursor, uid: bool) -> Search:
    """SEARCH [RETURN (options)] [CHARSET name] keys (RFC 9051 §6.4.4, RFC 4731)."""
    cur.sp()
    returns = None
    if _take_word(cur, "RETURN"):
        returns = _options(cur, SEARCH_RETURNS, "A SEARCH return option is not supported.")
        cur.sp()
    charset = "US-ASCII"
    if _take_word(cur, "CHARSET"):
        charset = _charset(cur)
        cur.sp()
    key = _keys(cur, charset)
    return Search(cur.tag, uid, key, charset, returns)


def parse_sort(cur: Cursor, uid: bool) -> Sort:
    """SORT [RETURN (options)] (criteria) charset keys (RFC 5256 §3, RFC 5267 §3)."""
    cur.sp()
    returns = None
    if _take_word(cur, "RETURN"):
        returns = _options(cur, SORT_RETURNS, "A SORT return option is not supported.")
        cur.sp()
    criteria = _sort_criteria(cur)
    cur.sp()
    charset = _charset(cur)
    cur.sp()
    key = _keys(cur, charset)
    return Sort(cur.tag, uid, criteria, charset, key, returns)


def parse_thread(cur: Cursor, uid: bool) -> Thread:
    """THREAD algorithm charset keys (RFC 5256 §3)."""
    cur.sp()
    algorithm = cur.keyword()
    if algorithm not in THREAD_ALGORITHMS:
        cur.fail("The THREAD algorithm is not supported.")
    cur.sp()
    charset = _charset(cur)
    cur.sp()
    key = _keys(cur, charset)
    return Thread(cur.tag, uid, algorithm, charset, key)


def _take_word(cur: Cursor, word: str) -> bool:
    """Consume `word` (any case) when it is the next whole token."""
    end = cur.pos + len(word)
    if cur.data[cur.pos : end].upper() == word.encode() and cur.data[end : end + 1] == b" ":
        cur.pos = end
        cur.sp()
        return True
    return False


def _options(cur: Cursor, known: frozenset[str], text: str) -> tuple[str, ...]:
    options = tuple(dict.fromkeys(cur.paren_list(cur.keyword)))
    if not known.issuperset(options):
        cur.fail(text)
    return options


def _charset(cur: Cursor) -> str:
    raw = cur.astring()
    charset = CHARSETS.get(raw.decode("ascii", "replace").upper())
    if charset is None:
        raise BadCharset(cur.tag, "The charset is not supported; use US-ASCII or UTF-8.")
    return charset


def _sort_criteria(cur: Cursor) -> tuple[SortCriterion, ...]:
    words = cur.paren_list(cur.keyword, empty=False)
    criteria: list[SortCriterion] = []
    reverse = False
    for word in words:
        if word == "REVERSE" and not reverse:
            reverse = True
        elif word in SORT_KEYS:
            criteria.append(SortCriterion(word, reverse))
            reverse = False
        else:
            cur.fail("A SORT criterion is not supported.")
    if reverse:
        cur.fail("A SORT criterion is not supported.")
    return tuple(criteria)


# -- keys --------------------------------------------------------------------------------------------


def _keys(cur: Cursor, charset: str) -> SearchKey:
    """One or more keys up to the end of the command (implicit AND)."""
    keys = [_key(cur, charset, 1)]
    while cur.more():
        keys.append(_key(cur, charset, 1))
    cur.end()
    return keys[0] if len(keys) == 1 else SearchAnd(tuple(keys))


def _key(cur: Cursor, charset: str, depth: int) -> SearchKey:
    if depth > limits.MAX_SEARCH_DEPTH:
        cur.fail(TOO_DEEP)
    first = cur.peek()
    if first == 0x28:
        group = cur.paren_list(lambda: _key(cur, charset, depth + 1), empty=False)
        return group[0] if len(group) == 1 else SearchAnd(tuple(group))
    if first in _SEQ_START:
        return SearchSeq(cur.sequence_set())
    word = cur.atom(text=BAD_KEY).decode("ascii").upper()
    plain = _PLAIN.get(word)
    if plain is not None:
        return plain
    with_argument = _WITH_ARGUMENT.get(word)
    if with_argument is None:
        cur.fail(BAD_KEY)
    if not cur.more():
        cur.fail(BAD_KEY)
    return with_argument(cur, charset, word, depth)


def _text(cur: Cursor, charset: str) -> str:
    raw = cur.astring()
    try:
        return raw.decode("utf-8")  # US-ASCII is a subset; 8-bit under US-ASCII is taken as UTF-8
    except UnicodeDecodeError:
        cur.fail(BAD_TEXT)


KeyParser = Callable[[Cursor, str, str, int], SearchKey]


def _header(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    if word != "HEADER":
        return SearchHeader(word, _text(cur, charset))
    name = _text(cur, charset)
    if not name or not name.isascii() or ":" in name:
        cur.fail(BAD_KEY)
    cur.sp()
    return SearchHeader(name.upper(), _text(cur, charset))


def _body(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    value = _text(cur, charset)
    return SearchBody(value) if word == "BODY" else SearchText(value)


def _date(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    op, sent = _DATE_KEYS[word]
    return SearchDate(op, cur.search_date(), sent)


def _size(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    return SearchSize("larger" if word == "LARGER" else "smaller", cur.number())


def _keyword(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    keyword = cur.atom(ATOM_CHARS, BAD_KEY).decode("ascii")
    return SearchFlag(keyword, word == "KEYWORD")


def _not(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    return SearchNot(_key(cur, charset, depth + 1))


def _or(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    left = _key(cur, charset, depth + 1)
    cur.sp()
    return SearchOr(left, _key(cur, charset, depth + 1))


def _uid(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    return SearchUid(cur.sequence_set())


def _modseq(cur: Cursor, charset: str, word: str, depth: int) -> SearchKey:
    """MODSEQ [entry-name SP entry-type-req SP] mod-sequence-valzer (RFC 7162 §3.1.5)."""
    entry = entry_type = None
    if cur.peek() == 0x22:
        entry = cur.quoted().decode("ascii", "replace")
        cur.sp()
        entry_type = cur.keyword().lower()
        if entry_type not in ("priv", "shared", "all"):
            cur.fail(BAD_KEY)
        cur.sp()
    return SearchModSeq(cur.number(limits.MAX_NUMBER64), entry, entry_type)


_WITH_ARGUMENT: dict[str, KeyParser] = {
    **{name: _header for name in (*_HEADER_KEYS, "HEADER")},
    "BODY": _body,
    "TEXT": _body,
    **{name: _date for name in _DATE_KEYS},
    "LARGER": _size,
    "SMALLER": _size,
    "KEYWORD": _keyword,
    "UNKEYWORD": _keyword,
    "NOT": _not,
    "OR": _or,
    "UID": _uid,
    "MODSEQ": _modseq,
}

Entry = tuple[Callable[[Cursor], Command], str]

_SEARCH = "SEARCH needs search keys."
_SORT = "SORT needs sort criteria, a charset and search keys."
_THREAD = "THREAD needs an algorithm, a charset and search keys."

COMMANDS: dict[str, Entry] = {
    "SEARCH": (partial(parse_search, uid=False), _SEARCH),
    "SORT": (partial(parse_sort, uid=False), _SORT),
    "THREAD": (partial(parse_thread, uid=False), _THREAD),
}

UID_COMMANDS: dict[str, Entry] = {
    "SEARCH": (partial(parse_search, uid=True), "UID " + _SEARCH),
    "SORT": (partial(parse_sort, uid=True), "UID " + _SORT),
    "THREAD": (partial(parse_thread, uid=True), "UID " + _THREAD),
}
