"""SEARCH keys compiled to one Django query over the precomputed columns (RFC 9051 §6.4.4).

Sequence numbers become UID ranges through the session's view; flags are a small bit field,
so "bit set" is an IN over the values that have it; text keys are case-insensitive substring
matches on the decoded columns of the message's text row (MessageText, reached through the
one-to-one `text`: one join, and on PostgreSQL the trigram indexes sit on that table). The store
port runs the query; nothing loops over messages here.

Cost grows linearly with the keys: the text keys ANDed at one level become one condition on one
MessageText subquery (one row per message, so "this row matches every key" is the same as "each
key matches"). One subquery per key let PostgreSQL's planner and executor multiply them: 200
ANDed FROM keys took 25 s and 400 over a minute on 2,000 messages, growing the backend to 1.5 GB.
Range lists are ORed as a balanced tree, so SQLite's expression tree stays shallow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import BooleanField, Expression, F, Q

from imapd import command as c
from imapd.snapshot import FolderView
from mailkite.mail import flags
from mailkite.mail.models import MessageText

NOTHING = Q(pk__in=[])
_HEADER_COLUMNS = {
    "FROM": "from_text",
    "TO": "to_text",
    "CC": "cc_text",
    "BCC": "bcc_text",
    "SUBJECT": "subject",
}


def _bit(bit: int, present: bool) -> Q:
    return Q(flags__in=[v for v in range(16) if bool(v & bit) == present])


class UidRanges(Expression):
    """`uid` within any of the (low, high) ranges, written as a balanced tree of ORs.

    Django writes ORed conditions as one flat "a OR b OR ...", which SQLite parses into a tree as
    deep as the list is long, and refuses past 1,000 ("Expression tree is too large"): a
    fragmented UID set of a big folder did that. Balanced, the depth is log2 of the ranges. The
    bounds are integers the parser read, so they are written into the SQL, not passed as
    parameters (SQLite allows 32,766 of those per statement)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, ranges: list[tuple[int, int]]) -> None:
        super().__init__()
        self.ranges = ranges
        self.column: Any = F("uid")

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.column)
        return _balanced(column, self.ranges), tuple(params)


def _balanced(column: str, ranges: list[tuple[int, int]]) -> str:
    if len(ranges) == 1:
        low, high = ranges[0]
        return f"({column} = {int(low)})" if low == high else f"({column} BETWEEN {int(low)} AND {int(high)})"
    middle = len(ranges) // 2
    return f"({_balanced(column, ranges[:middle])} OR {_balanced(column, ranges[middle:])})"


def _uid_ranges(ranges: list[tuple[int, int]]) -> Q:
    return Q(UidRanges(ranges)) if ranges else NOTHING


def _uid_list(uids: list[int]) -> Q:
    """Sorted UIDs (a saved result, which can be the whole folder) as ranges."""
    ranges: list[tuple[int, int]] = []
    for uid in uids:
        if ranges and uid == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], uid)
        else:
            ranges.append((uid, uid))
    return _uid_ranges(ranges)


def _seq_ranges(view: FolderView, ranges: list[tuple[int, int]]) -> Q:
    return _uid_ranges([(view.uids[low - 1], view.uids[high - 1]) for low, high in ranges])


def _flag(key: c.SearchFlag) -> Q:
    name = key.flag.lower()
    if name in flags.BITS:
        return _bit(flags.BITS[name], key.present)
    if name in ("\\deleted", "\\recent"):
        return NOTHING if key.present else Q()  # nothing is ever \Deleted or \Recent here
    padded = f" {key.flag.lower()} "
    match = Q(keywords_padded__icontains=padded)
    return match if key.present else ~match


def _day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _date(key: c.SearchDate) -> Q:
    column = "sent_date" if key.sent else "internal_date"
    bound: date | datetime = key.day if key.sent else _day(key.day)
    if key.op == "before":
        return Q(**{f"{column}__lt": bound})
    since = Q(**{f"{column}__gte": bound})
    if key.op == "since" or key.day == date.max:  # nothing is later than 31-Dec-9999: no day after it
        return since
    after = key.day + timedelta(days=1)
    return since & Q(**{f"{column}__lt": after if key.sent else _day(after)})


def _text(condition: Q) -> Q:
    """Text conditions as `id IN (SELECT message_id FROM mail_messagetext WHERE ...)`: the
    subquery can start from the trigram indexes on PostgreSQL (TEXT's two included), where a join
    would have to filter the folder's text rows one by one."""
    return Q(pk__in=MessageText.objects.filter(condition).values("message_id"))


def _text_condition(key: c.SearchKey) -> Q | None:
    """The condition on the message's MessageText row for a text key, None for other keys."""
    if isinstance(key, c.SearchHeader):
        column = _HEADER_COLUMNS.get(key.field.upper())
        if column is not None:
            return Q(**{f"{column}__icontains": key.value})
        # HEADER field value: the value must occur in that field (an empty value: the field exists).
        pattern = r"(^|\n)" + re.escape(key.field) + r":[^\n]*" + re.escape(key.value)
        return Q(headers_text__iregex=pattern)
    if isinstance(key, c.SearchBody):
        return Q(body_text__icontains=key.value)
    if isinstance(key, c.SearchText):
        return Q(headers_text__icontains=key.value) | Q(body_text__icontains=key.value)
    return None


def _and(keys: tuple[c.SearchKey, ...], view: FolderView, saved: list[int] | None) -> Q:
    """ANDed keys: every text key in one MessageText subquery, the others as they are."""
    q = Q()
    text = Q()
    texts = 0
    for part in keys:
        condition = _text_condition(part)
        if condition is None:
            q &= compile_key(part, view, saved)
        else:
            text &= condition
            texts += 1
    return q & _text(text) if texts else q


def compile_key(key: c.SearchKey, view: FolderView, saved: list[int] | None = None) -> Q:
    """The Q for a search key; `saved` is the SEARCHRES result, as UIDs, for `$`."""
    if isinstance(key, c.SearchAll):
        return Q()
    if isinstance(key, c.SearchAnd):
        return _and(key.keys, view, saved)
    if isinstance(key, c.SearchOr):
        return compile_key(key.left, view, saved) | compile_key(key.right, view, saved)
    if isinstance(key, c.SearchNot):
        return ~compile_key(key.key, view, saved)
    if isinstance(key, c.SearchSeq):
        if key.numbers.saved:
            return _uid_list(saved or [])
        return _seq_ranges(view, key.numbers.resolve(len(view)))
    if isinstance(key, c.SearchUid):
        if key.uids.saved:
            return _uid_list(saved or [])
        return _uid_ranges(key.uids.resolve(view.uids[-1] if len(view) else 0))
    if isinstance(key, c.SearchFlag):
        return _flag(key)
    if isinstance(key, c.SearchText):  # alone: two subqueries, each from its own trigram index
        return _text(Q(headers_text__icontains=key.value)) | _text(Q(body_text__icontains=key.value))
    condition = _text_condition(key)
    if condition is not None:
        return _text(condition)
    if isinstance(key, c.SearchDate):
        return _date(key)
    if isinstance(key, c.SearchSize):
        return Q(size__gt=key.size) if key.op == "larger" else Q(size__lt=key.size)
    if isinstance(key, c.SearchModSeq):
        return Q(modseq__gte=key.modseq)
    raise TypeError(f"unknown search key {type(key).__name__}")
