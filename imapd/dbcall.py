"""One database-pool call's budget and its cancellation, on PostgreSQL and SQLite.

`in_budget` runs a store function on a pool thread with the thread's Django connection set up
for it: each statement may run for the call's budget, and `Call.cancel()`, from any thread, stops
the statement running now and refuses the next ones. PostgreSQL enforces the budget itself
(statement_timeout, set once per connection with work_mem, so the backend's memory stays bounded
too) and is stopped with psycopg's cancel_safe(); SQLite has neither, so a progress handler,
called every few thousand virtual-machine steps, aborts a statement past its deadline or once
cancelled (and interrupt() wakes a statement at once).
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import DatabaseError, connection

P = ParamSpec("P")
T = TypeVar("T")

PROGRESS_STEPS = 4096  # SQLite VM steps between two looks at the clock: microseconds apart
CANCEL_TIMEOUT = 5.0  # seconds psycopg may take to deliver a cancel request
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for statement_timeout and for cancel requests

# PostgreSQL connections already set to (budget in ms, work_mem in KiB): the pool reuses them.
_configured: weakref.WeakKeyDictionary[Any, tuple[int, int]] = weakref.WeakKeyDictionary()


class BudgetExceeded(Exception):
    """A statement of the call ran longer than the command budget and was stopped."""


class Cancelled(Exception):
    """The call was cancelled: whoever awaited it is gone."""


class Call:
    def __init__(self, budget: float, work_mem_kib: int) -> None:
        self.budget = budget
        self.work_mem_kib = work_mem_kib
        self.cancelled = False
        self.deadline = math.inf  # of the running statement (SQLite), time.monotonic()
        self._lock = threading.Lock()
        self._raw: Any = None  # the DB-API connection while the call uses it
        self._vendor = ""

    def cancel(self) -> None:
        """Stop the call's database work; any thread. Under the lock, so the connection cannot
        go back to the pool (and to another call) while its cancel request is on the way."""
        with self._lock:
            self.cancelled = True
            if self._raw is None:
                return
            if self._vendor == "postgresql":
                self._raw.cancel_safe(timeout=CANCEL_TIMEOUT)
            elif self._vendor == "sqlite":
                self._raw.interrupt()

    # -- on the pool thread ------------------------------------------------------------------

    def _statement(self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        """Django's execute wrapper: no new statement once cancelled; each has its own budget."""
        if self.cancelled:
            raise Cancelled()
        if self._raw is None:  # the first statement: the connection is open now, not before
            self._attach()
        self.deadline = time.monotonic() + self.budget
        return execute(sql, params, many, context)

    def _progress(self) -> int:
        return 1 if self.cancelled or time.monotonic() > self.deadline else 0

    def _attach(self) -> None:
        raw = connection.connection
        if connection.vendor == "postgresql":
            wanted = (max(1, round(self.budget * 1000)), self.work_mem_kib)
            if _configured.get(raw) != wanted:
                # Outside a transaction, session settings: they stay with the connection in the
                # pool, one round trip per new connection. Inside one they would be undone by a
                # rollback, so they are set for that transaction only, and again next time.
                local = connection.in_atomic_block
                # On the raw connection, so outside Django's error translation: a broken
                # connection must still surface as django.db's OperationalError, which every
                # caller maps to "unavailable" (not as psycopg's own, a server bug to them).
                with connection.wrap_database_errors:
                    raw.execute(
                        "SELECT set_config('statement_timeout', %s, %s), set_config('work_mem', %s, %s)",
                        [f"{wanted[0]}ms", local, f"{wanted[1]}kB", local],
                    )
                if not local:
                    _configured[raw] = wanted
        elif connection.vendor == "sqlite":
            raw.set_progress_handler(self._progress, PROGRESS_STEPS)
        with self._lock:
            self._raw, self._vendor = raw, connection.vendor

    def _detach(self) -> None:
        with self._lock:
            raw, self._raw = self._raw, None
        if raw is not None and self._vendor == "sqlite":
            raw.set_progress_handler(None, 0)


def in_budget(call: Call, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `fn` on this thread's connection under `call`'s budget and cancellation."""
    if call.cancelled:
        raise Cancelled()
    try:
        with connection.execute_wrapper(call._statement):
            return fn(*args, **kwargs)
    except DatabaseError as error:
        if call.cancelled:
            raise Cancelled() from error
        if _ran_out(error):
            raise BudgetExceeded() from error
        raise
    finally:
        call._detach()


def _ran_out(error: DatabaseError) -> bool:
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) == QUERY_CANCELED:  # psycopg: statement_timeout
        return True
    return connection.vendor == "sqlite" and "interrupted" in str(error)  # the progress handler
