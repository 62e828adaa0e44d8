"""SEARCH keys compiled to one Django query over the precomputed columns (RFC 9051 §6.4.4).

Sequence numbers become UID ranges through the session's view; flags are a small bit field,
so "bit set" is an IN over the values that have it; text keys are case-insensitive substring
matches on the decoded columns of the message's text row (MessageText, reached through the
one-to-one `text`: one join, and on PostgreSQL the trigram indexes sit on that table). The store
port runs the query; nothing loops over messages here.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Q

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


def _uid_ranges(ranges: list[tuple[int, int]]) -> Q:
    q = NOTHING
    for low, high in ranges:
        q |= Q(uid__gte=low, uid__lte=high)
    return q


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


def _text(**lookup: str) -> Q:
    """A text key as `id IN (SELECT message_id FROM mail_messagetext WHERE ...)`: each such
    subquery can start from its own trigram index on PostgreSQL (TEXT's two included), where a
    join would have to filter the folder's text rows one by one."""
    return Q(pk__in=MessageText.objects.filter(**lookup).values("message_id"))


def _header(key: c.SearchHeader) -> Q:
    column = _HEADER_COLUMNS.get(key.field.upper())
    if column is not None:
        return _text(**{f"{column}__icontains": key.value})
    # HEADER field value: the value must occur in that field (an empty value: the field exists).
    pattern = r"(^|\n)" + re.escape(key.field) + r":[^\n]*" + re.escape(key.value)
    return _text(headers_text__iregex=pattern)


def compile_key(key: c.SearchKey, view: FolderView, saved: list[int] | None = None) -> Q:
    """The Q for a search key; `saved` is the SEARCHRES result, as UIDs, for `$`."""
    if isinstance(key, c.SearchAll):
        return Q()
    if isinstance(key, c.SearchAnd):
        q = Q()
        for part in key.keys:
            q &= compile_key(part, view, saved)
        return q
    if isinstance(key, c.SearchOr):
        return compile_key(key.left, view, saved) | compile_key(key.right, view, saved)
    if isinstance(key, c.SearchNot):
        return ~compile_key(key.key, view, saved)
    if isinstance(key, c.SearchSeq):
        if key.numbers.saved:
            return Q(uid__in=saved or [])
        return _seq_ranges(view, key.numbers.resolve(len(view)))
    if isinstance(key, c.SearchUid):
        if key.uids.saved:
            return Q(uid__in=saved or [])
        return _uid_ranges(key.uids.resolve(view.uids[-1] if len(view) else 0))
    if isinstance(key, c.SearchFlag):
        return _flag(key)
    if isinstance(key, c.SearchHeader):
        return _header(key)
    if isinstance(key, c.SearchBody):
        return _text(body_text__icontains=key.value)
    if isinstance(key, c.SearchText):
        return _text(headers_text__icontains=key.value) | _text(body_text__icontains=key.value)
    if isinstance(key, c.SearchDate):
        return _date(key)
    if isinstance(key, c.SearchSize):
        return Q(size__gt=key.size) if key.op == "larger" else Q(size__lt=key.size)
    if isinstance(key, c.SearchModSeq):
        return Q(modseq__gte=key.modseq)
    raise TypeError(f"unknown search key {type(key).__name__}")
