"""The web process's EventHub: one per process (per event loop), started on first use.

The dashboard's websocket consumers watch it for logins and revocations. imapd publishes those
events from another process, so an in-memory channel layer could never carry them here: with
REDIS_URL the hub hears them on Redis pub/sub at once, without it it polls the change counters
once a second (DESIGN §5). Database reads run on a small thread pool of their own, with stale
connections closed around each call so a database restart heals.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections

from mailkite.events.hub import EventHub

T = TypeVar("T")
POLL_INTERVAL = 1.0

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="web-events")
_hub: tuple[asyncio.AbstractEventLoop, asyncio.Task[EventHub]] | None = None


def _fresh(fn: Callable[..., T], *args: Any) -> T:
    close_old_connections()
    try:
        return fn(*args)
    finally:
        close_old_connections()


async def _run_sync(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_executor, functools.partial(_fresh, fn, *args))


async def _start() -> EventHub:
    hub = EventHub(run_sync=_run_sync, redis_url=settings.MAILKITE.redis_url, poll_interval=POLL_INTERVAL)
    await hub.start()
    return hub


async def get_hub() -> EventHub:
    """This process's hub, started on the running loop the first time it is asked for.

    Concurrent first callers share one start. A new loop (each test's asyncio.run) gets a new
    hub: the old one's tasks ended with their loop.
    """
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or _hub[0] is not loop:
        _hub = (loop, loop.create_task(_start()))
    return await asyncio.shield(_hub[1])


async def stop_hub() -> None:
    """Stop this loop's hub, if any (the end of a test; a process simply exits)."""
    global _hub
    if _hub is not None and _hub[0] is asyncio.get_running_loop():
        task, _hub = _hub[1], None
        hub = await task
        await hub.stop()
