"""ENABLE (RFC 5161) and COMPRESS (RFC 4978). State: authenticated or selected.

ENABLE switches on CONDSTORE, QRESYNC (which implies CONDSTORE, RFC 7162 §3.2.3), UTF8=ACCEPT
(RFC 6855) and IMAP4rev2 (RFC 9051), answering `* ENABLED` with each of them that is on; names
it does not know are ignored (RFC 5161 §3.1). COMPRESS DEFLATE asks the connection to wrap the
stream once the tagged OK is out; a second COMPRESS is refused with NO [COMPRESSIONACTIVE].
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import capabilities
from imapd.command import Compress, Enable
from imapd.dispatch import AUTHENTICATED, Reply, handles
from imapd.responses import Bad, Done, No, Untagged

if TYPE_CHECKING:
    from imapd.session import Session

_ENABLEABLE = {name.upper(): name for name in capabilities.ENABLEABLE}


@handles(Enable, states=AUTHENTICATED)
async def enable(session: Session, command: Enable) -> AsyncIterator[Reply]:
    on: list[str] = []
    for requested in command.capabilities:
        name = _ENABLEABLE.get(requested.upper())
        if name is None:
            continue
        session.enabled.add(name)
        if name in ("CONDSTORE", "QRESYNC"):
            session.condstore = True
        on.append(name)
    # Listed even when already on: a client may rely on the extension only once it sees ENABLED.
    yield Untagged(b"ENABLED" + b"".join(b" " + name.encode() for name in on))


@handles(Compress, states=AUTHENTICATED)
async def compress(session: Session, command: Compress) -> AsyncIterator[Reply]:
    if command.mechanism != "DEFLATE":
        raise Bad("The only compression mechanism is DEFLATE.")
    if session.compressed or session.start_compression:
        raise No("Compression is already active on this connection.", "COMPRESSIONACTIVE")
    session.start_compression = True
    yield Done("DEFLATE active")
