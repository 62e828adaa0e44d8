"""SORT and THREAD, and their UID forms (RFC 5256, RFC 5957 DISPLAYFROM/DISPLAYTO). State: selected.

The search keys are compiled to the same single query as SEARCH (imapd.searchq); the query
returns the sort and thread columns ingest precomputed (mailkite.mail.sortkeys), and the
ordering happens here, in Python, so it is the same on SQLite and PostgreSQL whatever their
collations. Text keys are stored i;ascii-casemapped; ties go to the lower sequence number
(RFC 5256 §3). A SORT with a MODSEQ key carries (MODSEQ n), as SEARCH does (RFC 7162 §3.1.5).

Ordering and threading run in a worker thread, not on the event loop: for 20,000 messages
REFERENCES takes ~150 ms, and other sessions must not wait that long (issue 10). The loop only
maps UIDs to sequence numbers, since the session's view may change under a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from imapd import render, threads
from imapd.command import Sort, Thread
from imapd.commands.search import matching_rows, uses_modseq
from imapd.dispatch import SELECTED, Reply, handles
from imapd.responses import No, Untagged
from mailkite.mail.sortkeys import base_subject, message_id

if TYPE_CHECKING:
    from imapd.session import Session

# The columns each criterion reads; DATE falls back to the internal date (RFC 5256 §2.2).
SORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "ARRIVAL": ("internal_date",),
    "CC": ("sort_cc",),
    "DATE": ("sort_date", "internal_date"),
    "FROM": ("sort_from",),
    "SIZE": ("size",),
    "SUBJECT": ("sort_subject",),
    "TO": ("sort_to",),
    "DISPLAYFROM": ("sort_display_from",),
    "DISPLAYTO": ("sort_display_to",),
}
THREAD_COLUMNS = ("sort_date", "internal_date", "sort_subject", "text__subject", "message_id", "thread_refs")


def _entry_key(criterion: str, entry: tuple[int, int, dict[str, Any]]) -> Any:
    values = entry[2]
    if criterion == "DATE":
        return values["sort_date"] or values["internal_date"]
    return values[SORT_COLUMNS[criterion][0]]


@handles(Sort, states=SELECTED)
async def sort(session: Session, command: Sort) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    columns = sorted({column for c in command.criteria for column in SORT_COLUMNS[c.key]})
    with_modseq = uses_modseq(command.key)
    if with_modseq:
        columns.append("modseq")
    rows = await matching_rows(session, command.key, columns)
    seqs = [view.seq_of(row[0]) or 0 for row in rows]
    numbers, highest = await asyncio.to_thread(_sort, command, columns, rows, seqs, with_modseq)
    if command.returns is not None:  # ESORT-style answer (RFC 5267 §3.1), in sort order
        returns = set(command.returns) or {"ALL"}
        yield _esort(command, returns, numbers, highest)
        return
    modseq = b" (MODSEQ %d)" % highest if highest is not None else b""
    yield Untagged(b"SORT" + b"".join(b" %d" % n for n in numbers) + modseq)


def _sort(
    command: Sort, columns: list[str], rows: Sequence[tuple[Any, ...]], seqs: list[int], with_modseq: bool
) -> tuple[list[int], int | None]:
    """The numbers in sort order, and the highest modseq among them when the key uses MODSEQ."""
    entries = [
        (seq, row[0], dict(zip(columns, row[1:], strict=True))) for seq, row in zip(seqs, rows, strict=True)
    ]
    entries.sort(key=lambda entry: entry[0])
    for criterion in reversed(command.criteria):  # stable sorts, last criterion first
        entries.sort(key=partial(_entry_key, criterion.key), reverse=criterion.reverse)
    numbers = [uid if command.uid else seq for seq, uid, _ in entries]
    highest = max((values["modseq"] for _, _, values in entries), default=None) if with_modseq else None
    return numbers, highest


def _esort(command: Sort, returns: set[str], numbers: list[int], modseq: int | None) -> Untagged:
    """RFC 5267 §3.1: MIN and MAX are the first and last in sort order; ALL keeps that order."""
    parts = [b"(TAG " + render.string(command.tag) + b")"] + ([b"UID"] if command.uid else [])
    if numbers:
        if "MIN" in returns:
            parts.append(b"MIN %d" % numbers[0])
        if "MAX" in returns:
            parts.append(b"MAX %d" % numbers[-1])
        if "ALL" in returns:
            parts.append(b"ALL " + ",".join(str(n) for n in numbers).encode())
    if "COUNT" in returns:
        parts.append(b"COUNT %d" % len(numbers))
    if modseq is not None:
        parts.append(b"MODSEQ %d" % modseq)
    return Untagged(b"ESEARCH " + b" ".join(parts))


@handles(Thread, states=SELECTED)
async def thread(session: Session, command: Thread) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    rows = await matching_rows(session, command.key, THREAD_COLUMNS)
    seqs = [view.seq_of(row[0]) or 0 for row in rows]
    try:
        data = await asyncio.to_thread(_thread, command, rows, seqs)
    except threads.TooTangled:
        raise No(
            "These messages' references are too tangled to thread in time; narrow the THREAD "
            "down with search keys, or use ORDEREDSUBJECT.",
            "LIMIT",
        ) from None
    yield Untagged(b"THREAD" + (b" " + data if data else b""))


def _thread(command: Thread, rows: Sequence[tuple[Any, ...]], seqs: list[int]) -> bytes:
    """The THREAD response data for the matching rows."""
    items: list[threads.Item] = []
    for seq, (uid, sent, arrived, sort_subject, subject, mid, refs) in zip(seqs, rows, strict=True):
        date: datetime = sent or arrived
        items.append(
            threads.Item(
                number=uid if command.uid else seq,
                seq=seq,
                date=date,
                base_subject=sort_subject,
                is_reply=base_subject(subject)[1],
                message_id=message_id(mid),
                references=tuple(refs.split()),
            )
        )
    if command.algorithm == "ORDEREDSUBJECT":
        return threads.render(threads.ordered_subject(items))
    return threads.render(threads.references(items))
