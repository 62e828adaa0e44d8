"""The subscriber side of live events: one per process, fanning out in memory.

Listeners register callbacks for (kind, key). With REDIS_URL the hub keeps one pub/sub
subscription and dispatches each message at once; it subscribes before its first read of the
counters, so nothing published in between is missed. Either way it polls the change counters:
once a second without Redis, every `reconcile_interval` seconds with it (a message can be lost
while Redis restarts). A listener may be woken for a change it already saw: callbacks must be
idempotent ("something changed, look again").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from mailkite.events.models import ChangeCounter
from mailkite.events.publish import CHANNEL

log = logging.getLogger("mailkite.events")
Callback = Callable[[str, int], None]
RunSync = Callable[..., Awaitable[Any]]
CLOCK_SLACK = timedelta(seconds=5)  # writers on other hosts may run a little behind this clock


def _changed_since(since: datetime) -> list[tuple[str, int, int]]:
    rows = ChangeCounter.objects.filter(changed_at__gte=since).values_list("kind", "key", "counter")
    return list(rows)


class EventHub:
    def __init__(
        self,
        *,
        run_sync: RunSync,
        redis_url: str | None,
        poll_interval: float = 1.0,
        reconcile_interval: float = 30.0,
    ) -> None:
        self._run_sync = run_sync
        self._redis_url = redis_url
        self._interval = reconcile_interval if redis_url else poll_interval
        self._listeners: dict[tuple[str, int], set[Callback]] = defaultdict(set)
        self._seen: dict[tuple[str, int], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._since = timezone.now()

    def watch(self, kind: str, key: int, callback: Callback) -> None:
        self._listeners[(kind, key)].add(callback)

    def unwatch(self, kind: str, key: int, callback: Callback) -> None:
        listeners = self._listeners.get((kind, key))
        if listeners is not None:
            listeners.discard(callback)
            if not listeners:
                del self._listeners[(kind, key)]

    def dispatch(self, kind: str, key: int) -> None:
        for callback in list(self._listeners.get((kind, key), ())):
            try:
                callback(kind, key)
            except Exception:
                log.exception("event listener for %s:%s failed", kind, key)

    async def start(self) -> None:
        ready = asyncio.Event()
        if self._redis_url:
            self._tasks.append(asyncio.create_task(self._subscribe(ready)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), 5)
        self._since = timezone.now() - CLOCK_SLACK
        self._tasks.append(asyncio.create_task(self._poll_forever()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def poll_once(self) -> None:
        started = timezone.now()
        rows = await self._run_sync(_changed_since, self._since)
        self._since = started - CLOCK_SLACK
        # Polls overlap by the clock slack, so a change shows up in several; comparing with the
        # previous poll's counters dispatches it once, and keeps memory to the recent changes.
        previous, self._seen = self._seen, {(kind, key): counter for kind, key, counter in rows}
        for (kind, key), counter in self._seen.items():
            if previous.get((kind, key)) != counter and (kind, key) in self._listeners:
                self.dispatch(kind, key)

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception as error:  # the database may be restarting: try again next round
                log.warning("event poll failed: %s", error)
            await asyncio.sleep(self._interval)

    async def _subscribe(self, ready: asyncio.Event) -> None:
        import redis.asyncio as aioredis

        while True:
            try:
                client = aioredis.Redis.from_url(self._redis_url)  # type: ignore[arg-type]
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    ready.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._on_message(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("Redis subscription lost (%s); polling covers the gap", error)
                await asyncio.sleep(1)

    def _on_message(self, data: bytes) -> None:
        kind, _, key = data.decode("ascii", "replace").partition(":")
        if key.isdigit():
            self.dispatch(kind, int(key))
