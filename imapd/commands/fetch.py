"""FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ).

State: selected. Works in batches, each one pool call (store.fetch_batch): one bulk query for
the batch's precomputed columns, then its first blobs; never one query per message. Message bytes
are held a window at a time (BlobWindows: two windows of BLOB_WINDOW plus one message), never
read further ahead than the client has taken (issue 10, backpressure). A non-PEEK body
fetch sets \\Seen (not under EXAMINE) in that same call before the batch is rendered, and the new
FLAGS go out inside the same FETCH response as the body, after it, so imaplib's `raw[0][1]` stays
the body.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from imapd import render, sections, store
from imapd.command import BodySection, Fetch, SequenceSet
from imapd.dispatch import SELECTED, Reply, handles
from imapd.responses import Bad, No, Untagged
from mailkite.events import publish as events
from mailkite.mail import flags as system_flags

if TYPE_CHECKING:
    from imapd.session import Session
    from imapd.snapshot import FolderView

BATCH = 1000  # messages per pool call: a header sync of 85,082 messages went 1.31 -> 1.11 s from 200
# Message bytes read from the blob store at a time (see BlobWindows): a slow reader makes the
# server hold two of these plus about one message, not a 1,000-message batch.
BLOB_WINDOW = 256 * 1024
Batch = tuple[list[store.MessageState], dict[int, dict[str, Any]], dict[str, bytes]]
COLUMNS = {
    "INTERNALDATE": ("internal_epoch", "internal_date_offset"),
    "RFC822.SIZE": ("size",),
    "ENVELOPE": ("envelope",),
    "BODY": ("body",),
    "BODYSTRUCTURE": ("bodystructure",),
}
BODY_COLUMNS = ("blob_id", "header_length", "parts", "size")
SETS_SEEN = {"RFC822", "RFC822.TEXT"}
RAW_ITEMS = {
    "RFC822": BodySection(),
    "RFC822.HEADER": BodySection(peek=True, specifier="HEADER"),
    "RFC822.TEXT": BodySection(specifier="TEXT"),
}


def resolve(view: FolderView, sequence: SequenceSet, *, uid: bool, saved: Sequence[int] = ()) -> list[int]:
    """Sequence numbers the set names. UID sets skip UIDs that do not exist (RFC 9051 §6.4.8);
    a message sequence number past the end is an error. "$" is the saved SEARCH result, kept as
    UIDs (RFC 5182 §2.1), so it skips messages that are gone."""
    if sequence.saved:
        return sorted(seq for seq in (view.seq_of(u) for u in saved) if seq is not None)
    if uid:
        largest = view.uids[-1] if len(view) else 0
        seqs: list[int] = []
        for low, high in sequence.resolve(largest):
            seq = view.seq_of_at_least(low) or len(view) + 1
            while seq <= len(view) and view.uids[seq - 1] <= high:
                seqs.append(seq)
                seq += 1
        return seqs
    for bounds in sequence.ranges:
        for number in bounds:
            if number is not None and number > len(view):
                raise Bad("The message set names messages that do not exist in this folder.")
    return [n for low, high in sequence.resolve(len(view)) for n in range(low, high + 1)]


def _needs(command: Fetch) -> tuple[set[str], bool, bool]:
    """(columns to load, whether blobs are needed, whether the fetch sets \\Seen)."""
    columns: set[str] = set()
    blobs = False
    sets_seen = False
    for item in command.items:
        if isinstance(item, BodySection):
            blobs = True
            columns.update(BODY_COLUMNS)
            sets_seen |= not item.peek and not item.size_only
        elif item in RAW_ITEMS:
            blobs = True
            columns.update(BODY_COLUMNS)
            sets_seen |= item in SETS_SEEN
        else:
            columns.update(COLUMNS.get(item, ()))
    return columns, blobs, sets_seen


@handles(Fetch, states=SELECTED)
async def fetch(session: Session, command: Fetch) -> AsyncIterator[Reply]:
    view = session.view
    assert view is not None
    if command.vanished and not session.qresync:
        raise Bad("VANISHED needs ENABLE QRESYNC first.")  # RFC 7162 §3.2.6
    if command.changedsince is not None or "MODSEQ" in command.items:
        session.condstore = True  # CONDSTORE enabling commands (RFC 7162 §3.1)
    seqs = resolve(view, command.sequence, uid=command.uid, saved=session.saved_search)
    if command.changedsince is not None:  # RFC 7162 §3.1.4; CHANGEDSINCE 0 (iOS) means every message
        seqs = [seq for seq in seqs if view.modseqs[seq - 1] > command.changedsince]
        if command.vanished:
            for reply in await _vanished(session, view, command):
                yield reply
    columns, needs_blobs, sets_seen = _needs(command)
    gone: list[int] = []
    # EXAMINE and a read-only app-password: BODY[] behaves like BODY.PEEK[] (issue 15.3).
    sets_seen = sets_seen and not view.read_only and not session.read_only
    names = frozenset(item for item in command.items if isinstance(item, str))

    async def read(batch: list[int], *, first: bool) -> tuple[list[int], Batch]:
        unseen = [seq for seq in batch if not view.flags[seq - 1] & system_flags.SEEN] if sets_seen else []
        if not (columns or unseen):
            return unseen, ([], {}, {})
        uids = [view.uids[seq - 1] for seq in batch]
        found: Batch = await session.pools.run(
            store.fetch_batch,
            view.info.id,
            uids,
            sorted(columns),
            # A batch read ahead carries no bytes: they would wait in memory for a slow client.
            blob_budget=BLOB_WINDOW if needs_blobs and first else 0,
            mark_seen=[view.uids[seq - 1] for seq in unseen],
        )
        return unseen, found

    batches = [seqs[start : start + BATCH] for start in range(0, len(seqs), BATCH)]
    # While one batch is rendered and written, the next is read (the database work runs in the
    # pool's thread). Not when the FETCH sets \Seen: a batch must not be marked read before the
    # one ahead of it reached the client, or a dropped connection would leave unread mail \Seen.
    ahead = not sets_seen
    reading: asyncio.Future[tuple[list[int], Batch]] | None = None
    windows: BlobWindows | None = None
    try:
        for index, batch in enumerate(batches):
            unseen, (states, rows, blobs) = await (reading or read(batch, first=index == 0))
            reading = None
            if ahead and index + 1 < len(batches):
                reading = asyncio.ensure_future(read(batches[index + 1], first=False))
            if unseen:
                _seen(session, view, states)
            seen_now = set(unseen)
            if needs_blobs:
                ordered = [rows[uid] for uid in (view.uids[seq - 1] for seq in batch) if uid in rows]
                windows = BlobWindows(session, ordered, blobs if index == 0 else None)
                blobs = {}  # now the windows' to drop once rendered
            for seq in batch:
                uid = view.uids[seq - 1]
                row = rows.get(uid, {})
                if columns and not row:  # expunged elsewhere (retention) and not yet reported
                    gone.append(uid)
                    continue
                raw = await windows.get(row["blob_id"]) if windows is not None else b""
                items = _items(view, command, names, seq, row, raw, seq in seen_now, session.condstore)
                yield Untagged(b"%d FETCH (" % seq + items + b")")
    finally:
        if reading is not None:  # the client went away mid-FETCH: nobody wants the next batch
            _drop(reading)
        if windows is not None:
            windows.cancel()
    if gone:  # RFC 9051 §7.1: the rest was sent; NOOP will report the expunge
        raise No("Some of those messages were deleted meanwhile; NOOP shows which.", "EXPUNGEISSUED")


def _drop(future: asyncio.Future[Any]) -> None:
    future.cancel()
    if future.done() and not future.cancelled():
        future.exception()  # retrieved, so a failed read is not logged as a lost error


class BlobWindows:
    """The stored bytes of one batch's messages, BLOB_WINDOW at a time, in the batch's order.

    While one window is rendered the next is read, so a fast reader does not wait on the disk;
    the one after that is read only once this one has been rendered, i.e. once the connection
    has written it to a client that takes it. So a slow reader makes the server hold two windows
    and the message being written, whatever the size of the FETCH (issue 10)."""

    def __init__(self, session: Session, rows: list[dict[str, Any]], first: dict[str, bytes] | None) -> None:
        self._session = session
        self._rows = rows
        self._cursor = 0  # the first row no window has covered yet
        self._current: dict[str, bytes] = {}
        self._upcoming: asyncio.Future[dict[str, bytes]] | None = None
        if first is not None:  # the batch's own pool call brought the first window
            self._current = first
            self._cursor = len(store.blob_window(rows, BLOB_WINDOW))
        self._read_next()

    def _read_next(self) -> None:
        self._upcoming = None
        if self._cursor < len(self._rows):
            shas = store.blob_window(self._rows[self._cursor :], BLOB_WINDOW)
            self._cursor += len(shas)
            self._upcoming = asyncio.ensure_future(self._session.pools.run(store.read_blobs, shas))

    async def get(self, sha: str) -> bytes:
        while sha not in self._current and self._upcoming is not None:
            self._current = await self._upcoming  # the window before is rendered and handed on
            self._read_next()
        return self._current.get(sha, b"")

    def cancel(self) -> None:
        if self._upcoming is not None:
            _drop(self._upcoming)


async def _vanished(session: Session, view: FolderView, command: Fetch) -> list[Untagged]:
    """RFC 7162 §3.2.6: `VANISHED (EARLIER)` for the set's UIDs expunged after CHANGEDSINCE."""
    assert command.changedsince is not None
    largest = view.uidnext - 1
    gone = await session.pools.run(store.vanished, view.info.id, command.changedsince)
    if command.sequence.saved:
        gone = [uid for uid in gone if uid in set(session.saved_search)]
    else:
        gone = [uid for uid in gone if command.sequence.contains(uid, largest)]
    return [Untagged(b"VANISHED (EARLIER) " + render.compact_set(gone).encode())] if gone else []


def _seen(session: Session, view: FolderView, states: Sequence[store.MessageState]) -> None:
    """The implicit \\Seen is stored: show it in this view and wake this process's other sessions."""
    for state in states:
        view.set_state(state)
    session.server.events.dispatch(events.FOLDER, view.info.id)


def _items(
    view: FolderView,
    command: Fetch,
    names: frozenset[str],
    seq: int,
    row: dict[str, Any],
    raw: bytes,
    seen_now: bool,
    condstore: bool,
) -> bytes:
    out: list[bytes] = []
    if (command.uid or (condstore and seen_now)) and "UID" not in names:
        out.append(b"UID %d" % view.uids[seq - 1])
    for item in command.items:
        out.append(_item(view, seq, row, raw, item))
    if seen_now and "FLAGS" not in names:
        out.append(render.fetch_flags(view.state(seq)))
    # With CONDSTORE on, flags always travel with their modseq (RFC 7162 §3.1 and §3.1.4).
    flags_sent = "FLAGS" in names or seen_now
    if "MODSEQ" not in names and (command.changedsince is not None or (condstore and flags_sent)):
        out.append(b"MODSEQ (%d)" % view.modseqs[seq - 1])
    return b" ".join(out)


def _item(view: FolderView, seq: int, row: dict[str, Any], raw: bytes, item: str | BodySection) -> bytes:
    if isinstance(item, BodySection):
        return _section(row, raw, item)
    if item == "FLAGS":
        return render.fetch_flags(view.state(seq))
    if item == "UID":
        return b"UID %d" % view.uids[seq - 1]
    if item == "MODSEQ":
        return b"MODSEQ (%d)" % view.modseqs[seq - 1]
    if item == "INTERNALDATE":
        return b"INTERNALDATE " + render.internal_date(row["internal_epoch"], row["internal_date_offset"])
    if item == "RFC822.SIZE":
        return b"RFC822.SIZE %d" % row["size"]
    if item in ("ENVELOPE", "BODY", "BODYSTRUCTURE"):
        return item.encode() + b" " + row[item.lower()]
    if item in RAW_ITEMS:
        return item.encode() + b" " + render.literal(sections.body_section(raw, row, RAW_ITEMS[item]))
    raise Bad("That FETCH data item is not supported.")


def _section(row: dict[str, Any], raw: bytes, section: BodySection) -> bytes:
    name = section.response_name().encode()
    if section.binary or section.size_only:
        try:
            data = sections.binary_section(raw, row, section)
        except sections.UnknownEncoding:
            raise No("The part's Content-Transfer-Encoding cannot be decoded.", "UNKNOWN-CTE") from None
        if section.size_only:
            return name + b" %d" % len(data)
        data = sections.partial(data, section)
        return name + b" " + (b"~" + render.literal(data) if b"\x00" in data else render.literal(data))
    return name + b" " + render.literal(sections.partial(sections.body_section(raw, row, section), section))
