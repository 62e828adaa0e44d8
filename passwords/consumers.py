"""The dashboard's live last-used updates: a websocket that follows the user's app-passwords.

Fed by this process's EventHub (passwords.live), never by group_send from imapd: imapd is another
process. On connect the consumer watches LOGIN and CREDENTIAL events for each of the user's
active app-passwords; each event re-reads the row (the event only says "look again") and sends
its last-used line and status. Messages the browser sends are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from mailkite.events import publish as events
from passwords import display, live
from passwords.models import AppPassword

UNAUTHORISED = 4401  # a websocket close code in the application range: "sign in first"


@database_sync_to_async
def _watched_ids(user_id: int) -> list[int]:
    return list(
        AppPassword.objects.filter(owner_id=user_id, revoked_at__isnull=True).values_list("pk", flat=True)
    )


@database_sync_to_async
def _payload(user_id: int, app_password_id: int, login_now: bool) -> dict[str, Any] | None:
    row = AppPassword.objects.filter(owner_id=user_id, pk=app_password_id).first()
    return None if row is None else display.live_payload(row, login_now=login_now)


class LastUsedConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=UNAUTHORISED)
            return
        self.user_id: int = user.pk
        self.loop = asyncio.get_running_loop()
        self.pending: set[asyncio.Task[None]] = set()
        self.hub = await live.get_hub()
        self.watched = await _watched_ids(self.user_id)
        for pk in self.watched:
            self.hub.watch(events.LOGIN, pk, self._on_event)
            self.hub.watch(events.CREDENTIAL, pk, self._on_event)
        await self.accept()
        await self.send_json({"type": "hello", "watching": self.watched})

    async def disconnect(self, code: int) -> None:
        hub = getattr(self, "hub", None)
        if hub is not None:
            for pk in self.watched:
                hub.unwatch(events.LOGIN, pk, self._on_event)
                hub.unwatch(events.CREDENTIAL, pk, self._on_event)
        for task in getattr(self, "pending", ()):
            task.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    def _on_event(self, kind: str, key: int) -> None:
        """Called by the hub on its loop; the send happens in a task of our own."""
        self.loop.call_soon_threadsafe(self._schedule, key, kind == events.LOGIN)

    def _schedule(self, key: int, login_now: bool) -> None:
        task = self.loop.create_task(self._push(key, login_now))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _push(self, key: int, login_now: bool) -> None:
        payload = await _payload(self.user_id, key, login_now)
        if payload is not None:
            with contextlib.suppress(Exception):  # the socket may have closed meanwhile
                await self.send_json(payload)
