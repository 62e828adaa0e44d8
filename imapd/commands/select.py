"""SELECT and EXAMINE (RFC 9051 §6.3.2-3), with CONDSTORE and QRESYNC (RFC 7162 §3.1.8, §3.2.5).

State: authenticated or selected. The answer follows DESIGN §5: SELECT is always [READ-WRITE]
(imaplib, IMAPClient and imap_tools raise on [READ-ONLY], IMAP-NOTES 1), EXAMINE [READ-ONLY] with
PERMANENTFLAGS (). HIGHESTMODSEQ goes with every SELECT (RFC 7162 §3.1.2.1), never 0: folders
start at 1 (IMAP-NOTES 12). After ENABLE IMAP4rev2 there is no RECENT and no [UNSEEN], and a LIST
line names the folder (RFC 9051 §6.3.2); after ENABLE QRESYNC or IMAP4rev2, re-selecting sends
[CLOSED] first. SELECT ... (QRESYNC (uidvalidity modseq [known-uids])) then reports what changed
since modseq: `VANISHED (EARLIER)` from the Expunged tombstones, and FETCH for changed flags.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import limits, render, store
from imapd.command import Examine, QResync, Select
from imapd.commands.mailbox import NONEXISTENT, attributes, folder_name
from imapd.dispatch import AUTHENTICATED, Reply, handles
from imapd.responses import Bad, Done, No, Untagged
from imapd.snapshot import FolderView
from mailkite.mail import flags as system_flags

if TYPE_CHECKING:
    from imapd.session import Session

SYSTEM_FLAGS = "\\Answered \\Flagged \\Deleted \\Seen \\Draft"
NEEDS_ENABLE = "SELECT with QRESYNC needs ENABLE QRESYNC first."


def permanent_flags(view: FolderView, *, read_only_password: bool = False) -> str:
    """PERMANENTFLAGS: none under EXAMINE or for a read-only app-password; `\\*` only while the
    folder can take new keywords."""
    if view.read_only or read_only_password:
        return ""
    keywords = view.info.keywords
    words = [system_flags.PERMANENT, *keywords]
    if len(keywords) < limits.MAX_KEYWORDS_PER_FOLDER:
        words.append("\\*")
    return " ".join(words)


@handles(Select, Examine, states=AUTHENTICATED)
async def select(session: Session, command: Select | Examine) -> AsyncIterator[Reply]:
    if command.qresync is not None and not session.qresync:
        raise Bad(NEEDS_ENABLE)  # RFC 7162 §3.2.5
    was_selected = session.view is not None
    session.deselect()
    if was_selected and (session.qresync or session.rev2):
        yield Untagged(b"OK [CLOSED] Previous mailbox is now closed")  # RFC 7162 §3.2.11
    read_only = isinstance(command, Examine)
    name = folder_name(command.mailbox)
    found = None if name is None else await session.pools.run(store.folder, session.mailbox_id, name)
    if found is None:
        raise No(NONEXISTENT, "NONEXISTENT")
    view = await session.server.snapshots.view(found.id, read_only=read_only)
    info = view.info
    session.selected(view)
    if command.condstore or command.qresync is not None:
        session.condstore = True
    flags = " ".join([SYSTEM_FLAGS, *info.keywords])
    yield Untagged(f"FLAGS ({flags})".encode())
    yield Untagged(b"%d EXISTS" % len(view))
    if session.rev2:
        yield Untagged(
            b"LIST (" + " ".join(attributes(info.name)).encode() + b') "/" ' + render.string(info.name)
        )
    else:
        yield Untagged(b"0 RECENT")
        first_unseen = next(
            (i + 1 for i, bits in enumerate(view.flags) if not bits & system_flags.SEEN), None
        )
        if first_unseen is not None:
            yield Untagged(b"OK [UNSEEN %d] First unseen message" % first_unseen)
    yield Untagged(b"OK [UIDVALIDITY %d] UIDs valid" % info.uidvalidity)
    yield Untagged(b"OK [UIDNEXT %d] Predicted next UID" % view.uidnext)
    permanent = permanent_flags(view, read_only_password=session.read_only)
    yield Untagged(f"OK [PERMANENTFLAGS ({permanent})] Flags you can change".encode())
    yield Untagged(b"OK [HIGHESTMODSEQ %d] Highest mailbox mod-sequence" % view.highest_modseq)
    if command.qresync is not None and command.qresync.uidvalidity == info.uidvalidity:
        for reply in await _resync(session, view, command.qresync):
            yield reply
    # Never [READ-ONLY] for SELECT: imaplib, IMAPClient and imap_tools raise on it (IMAP-NOTES 1).
    yield Done(
        "EXAMINE completed" if read_only else "SELECT completed", "READ-ONLY" if read_only else "READ-WRITE"
    )


async def _resync(session: Session, view: FolderView, qresync: QResync) -> list[Untagged]:
    """RFC 7162 §3.2.5.1: what the client missed since `qresync.modseq`, among its known UIDs.

    Tombstones keep the modseq of each expunge, so the answer is exact and the optional
    sequence-match data (a hint for servers without them, §3.2.5.2) is not needed."""
    largest = view.uidnext - 1
    known = qresync.known_uids

    def wanted(uid: int) -> bool:
        return known is None or known.contains(uid, largest)

    replies: list[Untagged] = []
    gone = [
        uid for uid in await session.pools.run(store.vanished, view.info.id, qresync.modseq) if wanted(uid)
    ]
    if gone:
        replies.append(Untagged(b"VANISHED (EARLIER) " + render.compact_set(gone).encode()))
    for seq in range(1, len(view) + 1):
        state = view.state(seq)
        if state.modseq > qresync.modseq and wanted(state.uid):
            flags = render.fetch_flags(state)
            replies.append(
                Untagged(b"%d FETCH (UID %d %s MODSEQ (%d))" % (seq, state.uid, flags, state.modseq))
            )
    return replies
