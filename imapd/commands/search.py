"""SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731) and SEARCHRES
`$` (RFC 5182), MODSEQ (RFC 7162 §3.1.5). State: selected. The key tree is compiled to one
database query (imapd.searchq). After ENABLE IMAP4rev2 a plain SEARCH answers ESEARCH, as RFC 9051
§6.4.4 requires.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from imapd import command as c
from imapd import render, searchcost, searchq, store
from imapd.command import Search
from imapd.dispatch import SELECTED, Reply, handles
from imapd.responses import Untagged

if TYPE_CHECKING:
    from imapd.session import Session


compact = render.compact_set


def uses_modseq(key: c.SearchKey) -> bool:
    """Whether the key tree has a MODSEQ key: the answer then carries (MODSEQ n), RFC 7162 §3.1.5."""
    if isinstance(key, c.SearchModSeq):
        return True
    if isinstance(key, c.SearchAnd):
        return any(uses_modseq(part) for part in key.keys)
    if isinstance(key, c.SearchOr):
        return uses_modseq(key.left) or uses_modseq(key.right)
    if isinstance(key, c.SearchNot):
        return uses_modseq(key.key)
    return False


async def matching_rows(session: Session, key: c.SearchKey, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """(uid, *columns) of the selected folder's messages matching `key`, in UID order: one query,
    limited to the messages the session knows of (its view)."""
    view = session.view
    assert view is not None
    searchcost.check(key)
    if not len(view):
        return []
    if uses_modseq(key):
        session.condstore = True  # a CONDSTORE enabling command (RFC 7162 §3.1)
    query = searchq.compile_key(key, view, session.saved_search)
    rows = await session.pools.run(store.search_rows, view.info.id, query, view.uids[-1], columns)
    return [row for row in rows if view.seq_of(row[0]) is not None]


def esearch(tag: str, uid: bool, returns: set[str], numbers: list[int], modseq: int | None) -> Untagged:
    """The ESEARCH response (RFC 4731 §3.1) for `numbers`, already in ascending order."""
    parts = [b"(TAG " + render.string(tag) + b")"] + ([b"UID"] if uid else [])
    if numbers:
        if "MIN" in returns:
            parts.append(b"MIN %d" % numbers[0])
        if "MAX" in returns:
            parts.append(b"MAX %d" % numbers[-1])
        if "ALL" in returns:
            parts.append(b"ALL " + compact(numbers).encode())
    if "COUNT" in returns:
        parts.append(b"COUNT %d" % len(numbers))
    if modseq is not None:
        parts.append(b"MODSEQ %d" % modseq)
    return Untagged(b"ESEARCH " + b" ".join(parts))


@handles(Search, states=SELECTED)
async def search(session: Session, command: Search) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    with_modseq = uses_modseq(command.key)
    rows = await matching_rows(session, command.key, ("modseq",) if with_modseq else ())
    uids = [row[0] for row in rows]
    highest = max((row[1] for row in rows), default=None) if with_modseq else None
    numbers = uids if command.uid else [view.seq_of(u) or 0 for u in uids]
    returns_asked = command.returns
    if returns_asked is None and session.rev2:
        returns_asked = ()  # RFC 9051 §6.4.4: IMAP4rev2 answers SEARCH with ESEARCH
    if returns_asked is None:
        modseq = b" (MODSEQ %d)" % highest if highest is not None else b""
        yield Untagged(b"SEARCH" + b"".join(b" %d" % n for n in numbers) + modseq)
        return
    returns = set(returns_asked) or {"ALL"}
    if "SAVE" in returns:
        session.saved_search = uids
    if returns != {"SAVE"}:
        yield esearch(command.tag, command.uid, returns, numbers, highest)
