"""STORE and UID STORE (RFC 9051 §6.4.6, RFC 7162 UNCHANGEDSINCE). State: selected.

Permanent flags and keywords are persisted with a new modseq and seen by every other session.
\\Deleted is accepted and ignored: the untagged FETCH shows the real flags (DESIGN §5). Under
EXAMINE a STORE answers OK and changes nothing. A new keyword past the folder's or the message's
cap (limits.MAX_KEYWORDS_PER_*) fails the whole STORE with NO [LIMIT] and a sentence. Once
CONDSTORE is on, every untagged FETCH carries UID and MODSEQ, even under .SILENT (RFC 7162 §3.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import limits, render, store, texts
from imapd.command import Store
from imapd.commands.fetch import resolve
from imapd.commands.search import compact
from imapd.dispatch import SELECTED, Reply, handles
from imapd.responses import Done, No, Untagged
from mailkite.events import publish as events
from mailkite.mail import flags as system_flags

if TYPE_CHECKING:
    from imapd.session import Session

FOLDER_FULL = (
    f"This folder already has {limits.MAX_KEYWORDS_PER_FOLDER} different keywords (tags), the most "
    "it can hold; reuse an existing one."
)
MESSAGE_FULL = f"A message can carry at most {limits.MAX_KEYWORDS_PER_MESSAGE} keywords (tags)."


@handles(Store, states=SELECTED)
async def store_(session: Session, command: Store) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    if command.unchangedsince is not None:
        session.condstore = True  # a CONDSTORE enabling command (RFC 7162 §3.1)
    if session.read_only:  # a read-only app-password, even under EXAMINE: it says why (issue 15.3)
        raise No(texts.READ_ONLY_STORE, "NOPERM")
    seqs = resolve(view, command.sequence, uid=command.uid, saved=session.saved_search)
    if view.read_only or not seqs:
        return
    bits = 0
    keywords: list[str] = []
    for flag in command.flags:
        lowered = flag.lower()
        if lowered in system_flags.BITS:
            bits |= system_flags.BITS[lowered]
        elif not flag.startswith("\\"):
            keywords.append(flag)
    # \Deleted is dropped, so the flags differ from what the client asked for: it must hear the real
    # ones even under .SILENT, or (as NeoMutt does) it shows the message as deleted until restart.
    silent = command.silent and not (
        command.action != "remove" and any(flag.lower() == "\\deleted" for flag in command.flags)
    )
    uids = [view.uids[seq - 1] for seq in seqs]
    before = {uid: view.modseqs[seq - 1] for seq, uid in zip(seqs, uids, strict=True)}
    try:
        states, failed = await session.pools.run(
            store.store_flags,
            view.info.id,
            uids,
            mode=command.action,
            bits=bits,
            keywords=keywords,
            unchanged_since=command.unchangedsince,
        )
    except store.KeywordLimit as limit:
        raise No(FOLDER_FULL if limit.scope == "folder" else MESSAGE_FULL, "LIMIT") from None
    if any(state.modseq > view.highest_modseq for state in states):
        session.server.events.dispatch(events.FOLDER, view.info.id)  # this process's other sessions
    for state in states:
        seq = view.set_state(state)
        if seq is None:
            continue
        if silent and state.uid not in failed:
            # .SILENT drops FLAGS, but a CONDSTORE client still learns each new modseq (§3.1.3).
            if session.condstore and state.modseq != before.get(state.uid):
                yield Untagged(b"%d FETCH (UID %d MODSEQ (%d))" % (seq, state.uid, state.modseq))
            continue
        parts = [render.fetch_flags(state)]
        if command.uid or session.condstore:  # IMAP-NOTES "small choices", RFC 7162 §3.1
            parts.append(b"UID %d" % state.uid)
        if session.condstore:
            parts.append(b"MODSEQ (%d)" % state.modseq)
        yield Untagged(b"%d FETCH (" % seq + b" ".join(parts) + b")")
    if failed:
        numbers = failed if command.uid else [view.seq_of(uid) or 0 for uid in failed]
        yield Done("Some messages were changed by another client", f"MODIFIED {compact(sorted(numbers))}")
