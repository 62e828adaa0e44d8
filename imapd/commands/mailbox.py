"""Folder commands: UNSELECT, CLOSE, CHECK, STATUS, LIST, LSUB, XLIST, SUBSCRIBE, UNSUBSCRIBE,
and the refused CREATE, DELETE, RENAME (RFC 9051 §6.3-6.4, RFC 5258 LIST-EXTENDED, RFC 5819
LIST-STATUS, RFC 6154 SPECIAL-USE, RFC 3691). SELECT and EXAMINE live in commands.select.

Every account has exactly two folders, INBOX and Sent (\\Sent), both always subscribed and
without children. The answers follow DESIGN §5's read-mostly matrix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from imapd import render, store, wildcard
from imapd.command import (
    Check,
    Close,
    Create,
    Delete,
    List,
    Lsub,
    Rename,
    Status,
    Subscribe,
    Unselect,
    Unsubscribe,
    Xlist,
)
from imapd.dispatch import AUTHENTICATED, SELECTED, Reply, handles
from imapd.responses import No, Untagged
from mailkite.mail.models import Folder

if TYPE_CHECKING:
    from imapd.session import Session

NONEXISTENT = "There is no such folder: this account has INBOX and Sent."


def attributes(name: str, *, subscribed: bool = False) -> list[str]:
    result = ["\\HasNoChildren"]
    if name == Folder.SENT:
        result.append("\\Sent")
    if subscribed:
        result.append("\\Subscribed")
    return result


def folder_name(name: str) -> str | None:
    """The stored folder a client's name refers to, or None. Only INBOX is case-insensitive."""
    if name.upper() == "INBOX":
        return Folder.INBOX
    return Folder.SENT if name == Folder.SENT else None


def matching(reference: str, patterns: Iterable[str]) -> list[str]:
    """The folders a LIST pattern names; INBOX matches case-insensitively (RFC 9051 §5.1).
    Linear in the patterns' length whatever they hold (imapd.wildcard), so no LIST can hold up
    the event loop."""
    return [
        name
        for name in Folder.NAMES
        if any(wildcard.matches(reference + p, name, ignore_case=name == Folder.INBOX) for p in patterns)
    ]


def _list_line(verb: bytes, name: str, attrs: list[str]) -> Untagged:
    return Untagged(verb + b" (" + " ".join(attrs).encode() + b') "/" ' + render.string(name))


@handles(List, states=AUTHENTICATED)
async def list_(session: Session, command: List) -> AsyncIterator[Reply]:
    if command.patterns == ("",):
        yield Untagged(b'LIST (\\Noselect) "/" ""')
        return
    subscribed = "SUBSCRIBED" in command.selection or "SUBSCRIBED" in command.returns
    names = matching(command.reference, command.patterns)
    if "SPECIAL-USE" in command.selection:
        names = [n for n in names if n == Folder.SENT]
    for name in names:
        yield _list_line(b"LIST", name, attributes(name, subscribed=subscribed))
        if command.status_items:
            yield await status_line(session, name, command.status_items)


@handles(Lsub, states=AUTHENTICATED)
async def lsub(session: Session, command: Lsub) -> AsyncIterator[Reply]:
    for name in matching(command.reference, [command.pattern]):
        yield _list_line(b"LSUB", name, attributes(name))


@handles(Xlist, states=AUTHENTICATED)
async def xlist(session: Session, command: Xlist) -> AsyncIterator[Reply]:
    # Outlook 2013/2016 read special use from XLIST (IMAP-NOTES 9); INBOX gets \Inbox there.
    for name in matching(command.reference, [command.pattern]):
        attrs = attributes(name) + (["\\Inbox"] if name == Folder.INBOX else [])
        yield _list_line(b"XLIST", name, attrs)


@handles(Unselect, Close, states=SELECTED)
async def unselect(session: Session, command: Unselect | Close) -> AsyncIterator[Reply]:
    # CLOSE expunges nothing: no message is ever deleted through IMAP (DESIGN §3).
    session.deselect()
    return
    yield  # pragma: no cover - makes this an async generator


@handles(Check, states=SELECTED)
async def check(session: Session, command: Check) -> AsyncIterator[Reply]:
    for reply in await session.pending_updates():
        yield reply


async def status_line(session: Session, name: str, items: Iterable[str]) -> Untagged:
    """One STATUS line (RFC 9051 §7.3.2); also what LIST-STATUS sends (RFC 5819 §2)."""
    if "HIGHESTMODSEQ" in items:
        session.condstore = True  # a CONDSTORE enabling command (RFC 7162 §3.1)
    info = await session.pools.run(store.folder, session.mailbox_id, name)
    assert info is not None
    unseen = await session.pools.run(store.unseen_count, info.id) if "UNSEEN" in items else 0
    values = {
        "MESSAGES": info.messages,
        "UIDNEXT": info.uidnext,
        "UIDVALIDITY": info.uidvalidity,
        "UNSEEN": unseen,
        "RECENT": 0,
        "DELETED": 0,
        "SIZE": info.size,
        "HIGHESTMODSEQ": info.highest_modseq,
    }
    pairs = " ".join(f"{item} {values[item]}" for item in items if item in values)
    return Untagged(b"STATUS " + render.string(name) + f" ({pairs})".encode())


@handles(Status, states=AUTHENTICATED)
async def status(session: Session, command: Status) -> AsyncIterator[Reply]:
    name = folder_name(command.mailbox)
    if name is None:
        raise No(NONEXISTENT, "NONEXISTENT")
    if session.view is not None and session.view.info.name == name:
        for reply in await session.pending_updates():
            yield reply
    yield await status_line(session, name, command.items)


@handles(Subscribe, Unsubscribe, states=AUTHENTICATED)
async def subscribe(session: Session, command: Subscribe | Unsubscribe) -> AsyncIterator[Reply]:
    # Both folders are always subscribed; saying OK keeps clients' subscription logic happy.
    return
    yield  # pragma: no cover


@handles(Create, states=AUTHENTICATED)
async def create(session: Session, command: Create) -> AsyncIterator[Reply]:
    if folder_name(command.mailbox) is not None:
        raise No("That folder already exists.", "ALREADYEXISTS")
    raise No("This account has only INBOX and Sent; new folders cannot be created.", "CANNOT")
    yield  # pragma: no cover


@handles(Delete, Rename, states=AUTHENTICATED)
async def delete(session: Session, command: Delete | Rename) -> AsyncIterator[Reply]:
    raise No("INBOX and Sent cannot be deleted or renamed, and there are no other folders.", "CANNOT")
    yield  # pragma: no cover
