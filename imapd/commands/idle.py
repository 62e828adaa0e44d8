"""IDLE (RFC 2177, RFC 9051 §6.3.13). State: authenticated or selected.

Pushes other sessions' and processes' changes to the selected folder as EXISTS and
FETCH (FLAGS ...) the moment the event hub hears of them, sends `* OK Still here` every couple
of minutes (mobile NAT drops silent connections), and ends on DONE. An idle of more than the
autologout time (over 30 minutes, RFC 9051 §5.4) ends the connection; clients re-issue IDLE
every 29 minutes or so.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from imapd.command import Idle
from imapd.dispatch import AUTHENTICATED, Reply, handles
from imapd.responses import Bad, Bye, Continuation, Untagged

if TYPE_CHECKING:
    from imapd.session import Session


@handles(Idle, states=AUTHENTICATED)
async def idle(session: Session, command: Idle) -> AsyncIterator[Reply]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + session.options.idle_timeout
    yield Continuation(b"idling")
    session.idling = True
    line_task = asyncio.ensure_future(session.read_line())
    waiters: list[asyncio.Task[Any]] = []
    fresh_after = None  # the first refresh sees everything up to now
    try:
        while True:
            session.changed.clear()  # clear first: a change during the refresh wakes us again
            for reply in await session.pending_updates(fresh_after=fresh_after):
                yield reply
            changed = asyncio.ensure_future(session.changed.wait())
            waiters.append(changed)
            timeout = max(0.0, min(session.options.keepalive_interval, deadline - loop.time()))
            done, _ = await asyncio.wait(
                {line_task, changed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            changed.cancel()
            waiters.clear()
            if line_task in done:
                break
            # Woken by a notification: a query sent after it sees the change, so this idler
            # may share the one that the first idler it woke sends (SnapshotCache.changes).
            fresh_after = session.woken_at if changed in done else None
            if not done:
                if loop.time() >= deadline:
                    raise Bye("Idle for too long, closing the connection.")
                yield Untagged(b"OK Still here")
    finally:
        session.idling = False
        for waiter in waiters:  # the session was ended mid-wait (revocation, shutdown)
            waiter.cancel()
        if not line_task.done():
            line_task.cancel()
            with contextlib.suppress(BaseException):
                await line_task
    if line_task.result().strip().upper() != b"DONE":
        raise Bad("IDLE ends with DONE.")
