"""A session's view of its selected folder: UIDs, flags and modseqs in arrays.

Nothing is ever expunged through IMAP and UIDs only go up, so a session's message sequence
numbers are positions in its UID array: seq n is uids[n-1]. The rare expunge from elsewhere
(retention, account deletion: an Expunged tombstone) is removed by `remove()` when the session
reports it, as EXPUNGE or VANISHED. The view changes only when the
session applies updates (on NOOP, CHECK, IDLE, SELECT, STATUS), never in the middle of a
FETCH, SEARCH or STORE, so sequence numbers stay stable while a client iterates.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass, field

from imapd.store import FolderInfo, MessageState


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
