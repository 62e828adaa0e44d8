"""Batched login-history writes (issue 15.4; docs/architecture.md "Login history").

A login must not cost its own INSERT: a storm of them would become a storm of write transactions.
Sessions hand each login to LoginHistory.record(), which only appends to an in-memory list. A
task flushes the list every `interval` seconds, or as soon as it holds `batch` logins, with one
store-port call (passwords.logins.write_logins: one bulk INSERT per batch) on the database pool.

The list is bounded (`capacity`): when the database is slow and it is full, further logins are
not recorded and `dropped` counts them (logged once a minute); logins themselves never wait for
the history. A flush that fails (database down) drops its batch and counts it the same way.
close() flushes what is left at shutdown.

IMAP ID often comes after LOGIN. The session keeps its Attempt; name_client() puts the name on
it. If its row is not written yet the name goes in with it; if it is, the next flush updates the
row (Rename). Either way within the session that logged in, and only for successful logins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from imapd import store
from passwords.logins import LoginRow, Rename

log = logging.getLogger("imapd")
DROP_LOG_INTERVAL = 60.0


@dataclass(eq=False)
class Attempt:
    """One login, as a session holds it until (and after) its row is written."""

    key_id: str
    app_password_id: int | None
    ip: str | None
    tls_version: str
    outcome: str
    reason: str = ""
    client_name: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    record_id: int | None = None  # set once written
    baseline: bool = False
    in_flight: bool = False

    def row(self) -> LoginRow:
        return LoginRow(
            key_id=self.key_id,
            app_password_id=self.app_password_id,
            at=self.at,
            ip=self.ip,
            tls_version=self.tls_version,
            outcome=self.outcome,
            reason=self.reason,
            client_name=self.client_name,
        )

    def rename(self) -> Rename:
        assert self.record_id is not None and self.app_password_id is not None
        return Rename(
            record_id=self.record_id,
            app_password_id=self.app_password_id,
            client_name=self.client_name,
            at=self.at,
            ip=self.ip,
            baseline=self.baseline,
        )


class LoginHistory:
    def __init__(
        self,
        run: Callable[..., Awaitable[Any]],
        *,
        interval: float = 1.0,
        batch: int = 500,
        capacity: int = 10_000,
        enabled: bool = True,
    ) -> None:
        self._run = run
        self.interval = interval
        self.batch = batch
        self.capacity = capacity
        self.enabled = enabled
        self._pending: list[Attempt] = []
        self._renames: dict[int, Attempt] = {}  # by id(): an attempt renamed twice is written once
        self._full = asyncio.Event()
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.written = 0  # rows stored: bench/ reads these two
        self.statements = 0  # write_logins calls (one bulk INSERT of records each)
        self._dropped_logged = 0
        self._drop_logged_at = 0.0

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def record(self, attempt: Attempt) -> Attempt | None:
        """Queue a login for the next flush; None when the history is off or full (counted)."""
        if not self.enabled:
            return None
        if len(self._pending) >= self.capacity:
            self._drop(1)
            return None
        self._pending.append(attempt)
        if len(self._pending) >= self.batch:
            self._full.set()
        return attempt

    def name_client(self, attempt: Attempt, name: str) -> None:
        """IMAP ID named the client of this (successful) login."""
        if attempt.client_name == name:
            return
        attempt.client_name = name
        if attempt.record_id is not None:
            self._renames[id(attempt)] = attempt
        # Pending: the row goes out with the name. In flight: flush() sees the change afterwards.

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.interval)
            self._full.clear()
            try:
                await self.flush()
            except Exception:  # never let the writer die: the next interval tries again
                log.exception("login history flush failed")

    async def flush(self, *, drain: bool = False) -> None:
        """Write what is queued now, `batch` logins per write; what arrives meanwhile waits for the
        next interval (else a busy server would write continuously, in small batches). `drain`
        (shutdown) writes until nothing is left."""
        async with self._lock:
            taken, renames = self._take()
            while taken or renames:
                batch, taken = taken[: self.batch], taken[self.batch :]
                await self._write(batch, renames)
                renames = []
                if drain and not taken:
                    taken, renames = self._take()

    def _take(self) -> tuple[list[Attempt], list[Attempt]]:
        taken, self._pending = self._pending, []
        renames = list(self._renames.values())
        self._renames.clear()
        return taken, renames

    async def _write(self, batch: list[Attempt], renames: list[Attempt]) -> None:
        rows = [a.row() for a in batch]
        for attempt in batch:
            attempt.in_flight = True
        try:
            written = await self._run(store.write_logins, rows, [a.rename() for a in renames])
        except Exception:
            log.warning("login history: could not write %d logins", len(rows), exc_info=True)
            self._drop(len(rows))
            return
        finally:
            for attempt in batch:
                attempt.in_flight = False
        self.statements += 1
        for attempt, row, result in zip(batch, rows, written, strict=True):
            attempt.record_id, attempt.baseline = result.record_id, result.baseline
            if result.record_id is not None:
                self.written += 1
                if attempt.client_name != row.client_name:  # ID arrived while the batch was written
                    self._renames[id(attempt)] = attempt

    def _drop(self, count: int) -> None:
        self.dropped += count
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL:
            log.warning(
                "login history: %d logins not recorded (queue full or database unavailable)",
                self.dropped - self._dropped_logged,
            )
            self._dropped_logged, self._drop_logged_at = self.dropped, now

    async def close(self) -> None:
        """Stop the timer and write what is left (shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush(drain=True)
        except Exception:
            log.exception("login history: final flush failed")
