"""SEARCH and UID SEARCH (RFC 9051 §6.4.4), with ESEARCH results (RFC 4731) and SEARCHRES
`$` (RFC 5182). State: selected. The key tree is compiled to one database query (imapd.searchq).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import render, searchq, store
from imapd.command import Search, SequenceSet
from imapd.dispatch import SELECTED, Reply, handles
from imapd.responses import Untagged

if TYPE_CHECKING:
    from imapd.session import Session


def compact(numbers: list[int]) -> str:
    """A sorted number list as a sequence set, e.g. 1:3,7."""
    ranges: list[tuple[int, int | None]] = []
    for n in numbers:
        if ranges and ranges[-1][1] == n - 1:
            ranges[-1] = (ranges[-1][0], n)
        else:
            ranges.append((n, n))
    return str(SequenceSet(tuple(ranges)))


@handles(Search, states=SELECTED)
async def search(session: Session, command: Search) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    if not len(view):
        uids: list[int] = []
    else:
        query = searchq.compile_key(command.key, view, session.saved_search)
        uids = await session.pools.run(store.search, view.info.id, query, view.uids[-1])
    numbers = uids if command.uid else [n for n in (view.seq_of(u) for u in uids) if n is not None]
    if command.returns is None:
        yield Untagged(b"SEARCH" + b"".join(b" %d" % n for n in numbers))
        return
    returns = set(command.returns) or {"ALL"}
    if "SAVE" in returns:
        session.saved_search = uids
    parts = [b"(TAG " + render.string(command.tag) + b")"] + ([b"UID"] if command.uid else [])
    if numbers:
        if "MIN" in returns:
            parts.append(b"MIN %d" % numbers[0])
        if "MAX" in returns:
            parts.append(b"MAX %d" % numbers[-1])
        if "ALL" in returns:
            parts.append(b"ALL " + compact(numbers).encode())
    if "COUNT" in returns:
        parts.append(b"COUNT %d" % len(numbers))
    if returns != {"SAVE"}:
        yield Untagged(b"ESEARCH " + b" ".join(parts))
