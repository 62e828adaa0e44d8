"""The writes this read-mostly server refuses, answered so that no client breaks (DESIGN §5).

COPY, MOVE and APPEND: NO [CANNOT] with a sentence, never [TRYCREATE] (mbsync would CREATE).
APPEND is refused before its literal is uploaded. EXPUNGE and UID EXPUNGE: OK, nothing
expunged (offlineimap asserts OK).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import parser
from imapd.command import Append, Copy, Expunge, Move
from imapd.dispatch import AUTHENTICATED, SELECTED, Reply, State, handles
from imapd.responses import Bad, CommandError, No

if TYPE_CHECKING:
    from imapd.session import Session

NO_COPY = "Messages cannot be copied or moved here: MailKite folders are read-only apart from flags."
NO_APPEND = (
    "Uploading messages is not possible: MailKite keeps only mail it received or sent. "
    "Turn off saving a copy of sent mail on the server in your mail app."
)


def literal_refusal(session: Session, prefix: bytes, size: int) -> CommandError | None:
    """Before a synchronising literal: refuse APPEND's upload, allow LOGIN and SEARCH strings."""
    try:
        parser.parse_append_prefix(prefix)
    except parser.ParseError:
        return None
    if session.state is State.NOT_AUTHENTICATED:
        return Bad("Log in first (LOGIN or AUTHENTICATE PLAIN with an app-password).")
    return No(NO_APPEND, "CANNOT")


@handles(Copy, Move, states=SELECTED)
async def copy(session: Session, command: Copy | Move) -> AsyncIterator[Reply]:
    raise No(NO_COPY, "CANNOT")
    yield  # pragma: no cover


@handles(Append, states=AUTHENTICATED)
async def append(session: Session, command: Append) -> AsyncIterator[Reply]:
    raise No(NO_APPEND, "CANNOT")
    yield  # pragma: no cover


@handles(Expunge, states=SELECTED)
async def expunge(session: Session, command: Expunge) -> AsyncIterator[Reply]:
    # Nothing is ever expunged through IMAP; \Deleted is never set, so OK is the truth.
    return
    yield  # pragma: no cover
