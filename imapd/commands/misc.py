"""Commands valid in any state: CAPABILITY, NOOP, LOGOUT (RFC 9051 §6.1), ID (RFC 2971);
and NAMESPACE (RFC 2342) once authenticated."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import capabilities
from imapd.command import Capability, Id, Logout, Namespace, Noop
from imapd.dispatch import ANY, AUTHENTICATED, Reply, State, handles
from imapd.responses import Untagged

if TYPE_CHECKING:
    from imapd.session import Session


@handles(Capability, states=ANY)
async def capability(session: Session, command: Capability) -> AsyncIterator[Reply]:
    # Exactly one untagged line: aioimaplib reads lines[0] (IMAP-NOTES 19).
    yield Untagged(b"CAPABILITY " + capabilities.line(session.authenticated).encode())


@handles(Noop, states=ANY)
async def noop(session: Session, command: Noop) -> AsyncIterator[Reply]:
    for reply in await session.pending_updates():
        yield reply


@handles(Logout, states=ANY)
async def logout(session: Session, command: Logout) -> AsyncIterator[Reply]:
    yield Untagged(b"BYE MailKite IMAP signing off")
    session.state = State.LOGOUT
    session.logged_out = True


@handles(Id, states=ANY)
async def id_(session: Session, command: Id) -> AsyncIterator[Reply]:
    # Recorded as the password's client name; never changes behaviour (RFC 2971, IMAP-NOTES 21).
    # Only our name goes back, no version strings (as Dovecot does by default).
    for field, value in command.params or ():
        if field.lower() == "name" and value:
            session.client_name = value
            if session.login is not None:  # ID after LOGIN names the login's history row too
                session.server.history.name_client(session.login, value)
            if session.verified is not None:
                await session.record_use(force_client=True)
    yield Untagged(b'ID ("name" "MailKite")')


@handles(Namespace, states=AUTHENTICATED)
async def namespace(session: Session, command: Namespace) -> AsyncIterator[Reply]:
    yield Untagged(b'NAMESPACE (("" "/")) NIL NIL')
