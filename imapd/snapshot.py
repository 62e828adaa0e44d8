"""A session's view of its selected folder: UIDs, flags and modseqs in arrays.

Nothing is ever expunged through IMAP and UIDs only go up, so a session's message sequence
numbers are positions in its UID array: seq n is uids[n-1]. The rare expunge from elsewhere
(retention, account deletion: an Expunged tombstone) is removed by `remove()` when the session
reports it, as EXPUNGE or VANISHED. The view changes only when the
session applies updates (on NOOP, CHECK, IDLE, SELECT, STATUS), never in the middle of a
FETCH, SEARCH or STORE, so sequence numbers stay stable while a client iterates.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from array import array
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from imapd import store
from imapd.store import FolderInfo, MessageState

Changes = tuple[FolderInfo, list[MessageState], list[int]]


@dataclass
class Update:
    """What a refresh found: messages now visible, and flag changes to existing ones."""

    exists: int | None = None
    flag_changes: list[tuple[int, MessageState]] = field(default_factory=list)  # (seq, state)


class FolderView:
    def __init__(self, info: FolderInfo, states: list[MessageState], *, read_only: bool) -> None:
        self.info = info
        self.read_only = read_only
        self.uids = array("Q", (s.uid for s in states))
        self.flags = array("H", (s.flags for s in states))
        self.modseqs = array("Q", (s.modseq for s in states))
        self.keywords: dict[int, tuple[str, ...]] = {s.uid: s.keywords for s in states if s.keywords}
        self.highest_modseq = info.highest_modseq

    def __len__(self) -> int:
        return len(self.uids)

    @property
    def uidnext(self) -> int:
        return max(self.info.uidnext, (self.uids[-1] + 1) if self.uids else 1)

    def seq_of(self, uid: int) -> int | None:
        index = bisect.bisect_left(self.uids, uid)
        return index + 1 if index < len(self.uids) and self.uids[index] == uid else None

    def seq_of_at_least(self, uid: int) -> int | None:
        """The sequence number of the first message whose UID is >= uid."""
        index = bisect.bisect_left(self.uids, uid)
        return index + 1 if index < len(self.uids) else None

    def state(self, seq: int) -> MessageState:
        uid = self.uids[seq - 1]
        return MessageState(uid, self.flags[seq - 1], self.keywords.get(uid, ()), self.modseqs[seq - 1])

    def set_state(self, state: MessageState) -> int | None:
        """Record a message's new flags; returns its sequence number if it is in the view."""
        seq = self.seq_of(state.uid)
        if seq is None:
            return None
        self.flags[seq - 1] = state.flags
        self.modseqs[seq - 1] = state.modseq
        if state.keywords:
            self.keywords[state.uid] = state.keywords
        else:
            self.keywords.pop(state.uid, None)
        return seq

    def remove(self, uids: list[int]) -> list[tuple[int, int]]:
        """Drop expunged UIDs; returns (uid, sequence number at its removal) in EXPUNGE order."""
        removed: list[tuple[int, int]] = []
        for uid in uids:
            seq = self.seq_of(uid)
            if seq is None:
                continue
            del self.uids[seq - 1]
            del self.flags[seq - 1]
            del self.modseqs[seq - 1]
            self.keywords.pop(uid, None)
            removed.append((uid, seq))
        return removed

    def apply(self, info: FolderInfo, changes: list[MessageState]) -> Update:
        """Merge changes read since highest_modseq; new UIDs append, others update flags."""
        update = Update()
        before = len(self.uids)
        for state in changes:
            seq = self.seq_of(state.uid)
            if seq is None:
                if not self.uids or state.uid > self.uids[-1]:
                    self.uids.append(state.uid)
                    self.flags.append(state.flags)
                    self.modseqs.append(state.modseq)
                    if state.keywords:
                        self.keywords[state.uid] = state.keywords
                continue
            old = self.state(seq)
            if (old.flags, old.keywords) != (state.flags, state.keywords):
                update.flag_changes.append((seq, state))
            self.set_state(state)
        if len(self.uids) != before:
            update.exists = len(self.uids)
        self.info = info
        self.highest_modseq = max(self.highest_modseq, info.highest_modseq)
        return update

    def copy(self, *, read_only: bool) -> FolderView:
        """A session's own view of these arrays: copying 100,000 entries is a memcpy."""
        view = FolderView.__new__(FolderView)
        view.info = self.info
        view.read_only = read_only
        view.uids = array("Q", self.uids)
        view.flags = array("H", self.flags)
        view.modseqs = array("Q", self.modseqs)
        view.keywords = dict(self.keywords)
        view.highest_modseq = self.highest_modseq
        return view


@dataclass
class _Query:
    submitted: float  # time.monotonic() when it went to the pool: it sees every earlier commit
    future: asyncio.Future[Any]  # Changes, or a whole snapshot for a load


class SnapshotCache:
    """One snapshot per folder per process, shared by the sessions that select it (DESIGN §5).

    SELECT copies the cached arrays after bringing them up to date with one `changes_since`
    query, instead of reading every row of the folder. And when one delivery wakes a thousand
    idlers of a folder, they share one `changes_since` query instead of queueing a thousand on
    the database pool. A query is shared only with callers whose freshness it satisfies: it was
    submitted after the moment each caller needs to see (the notification that woke an idler,
    or the start of a NOOP), so every change committed before that moment is in its answer.

    The cache keeps the most recently used folders up to `max_messages` messages in all.
    """

    def __init__(self, run: Callable[..., Awaitable[Any]], *, max_messages: int = 2_000_000) -> None:
        self._run = run
        self.max_messages = max_messages
        self._folders: OrderedDict[int, FolderView] = OrderedDict()
        self._loads: dict[int, _Query] = {}
        self._changes: dict[tuple[int, int], _Query] = {}

    def __len__(self) -> int:
        return len(self._folders)

    async def view(self, folder_id: int, *, read_only: bool) -> FolderView:
        """A view of the folder as fresh as a SELECT or EXAMINE starting now must see."""
        asked = time.monotonic()
        cached = self._folders.get(folder_id)
        if cached is None:
            cached, fresh = await self._load(folder_id, asked)
            if fresh:
                return cached.copy(read_only=read_only)
        info, changes, gone = await self.changes(folder_id, cached.highest_modseq, fresh_after=asked)
        if self._folders.get(folder_id) is not cached:  # evicted or reloaded meanwhile: rare
            return await self.view(folder_id, read_only=read_only)
        if info.uidvalidity != cached.info.uidvalidity:  # bumped after a restore: start again
            del self._folders[folder_id]
            return await self.view(folder_id, read_only=read_only)
        # Modseqs commit in order under the folder row lock, so an answer whose HIGHESTMODSEQ is
        # not below the cached one holds the latest state of everything changed since its base,
        # and merging it is right whatever other answers were merged meanwhile; a cached view
        # already past this answer holds all of it.
        if info.highest_modseq >= cached.highest_modseq:
            cached.remove(gone)
            cached.apply(info, changes)
        self._folders.move_to_end(folder_id)
        return cached.copy(read_only=read_only)

    async def _load(self, folder_id: int, asked: float) -> tuple[FolderView, bool]:
        """The whole folder, read once however many sessions ask at the same moment; `fresh`
        says whether the read started after `asked` (if not, the caller brings it up to date)."""
        query = self._loads.get(folder_id)
        if query is None:
            query = _Query(time.monotonic(), asyncio.ensure_future(self._run(store.snapshot, folder_id)))
            self._loads[folder_id] = query
            query.future.add_done_callback(lambda _: self._forget(self._loads, folder_id, query))
        info, states = await asyncio.shield(query.future)
        view = self._folders.get(folder_id)
        if view is None or view.highest_modseq < info.highest_modseq:
            view = FolderView(info, states, read_only=True)
            self._folders[folder_id] = view
            self._evict()
        return view, query.submitted >= asked

    async def changes(self, folder_id: int, modseq: int, *, fresh_after: float | None = None) -> Changes:
        """`store.changes_since(folder_id, modseq)`, shared with identical calls already on their
        way to the database after `fresh_after` (default: now, which shares nothing earlier)."""
        if fresh_after is None:
            fresh_after = time.monotonic()
        key = (folder_id, modseq)
        query = self._changes.get(key)
        if query is None or query.submitted < fresh_after:
            future = asyncio.ensure_future(self._run(store.changes_since, folder_id, modseq))
            query = _Query(time.monotonic(), future)
            self._changes[key] = query
            query.future.add_done_callback(lambda _: self._forget(self._changes, key, query))
        answer: Changes = await asyncio.shield(query.future)
        return answer

    @staticmethod
    def _forget(table: dict[Any, _Query], key: Any, query: _Query) -> None:
        if table.get(key) is query:
            del table[key]

    def _evict(self) -> None:
        total = sum(len(view) for view in self._folders.values())
        while total > self.max_messages and len(self._folders) > 1:
            _, oldest = self._folders.popitem(last=False)
            total -= len(oldest)
