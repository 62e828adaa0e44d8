"""The thread pools through which imapd reaches the database and argon2.

Store-port functions are synchronous Django ORM code. They run on one dedicated pool sized to
the database connection pool (not sync_to_async's single shared thread). Each call ends with
close_old_connections(), which hands the connection back: to psycopg's pool on PostgreSQL (so
the login threads and the database threads share DB_POOL_SIZE connections), closed on SQLite. A
thread therefore never starts a call holding a connection, and a connection broken by a database
restart is dropped with the call that found it, so the next call heals without restarting imapd.
Logins run on a second, smaller pool bounded in threads and in queue length: argon2 is CPU-bound,
and a login storm must neither exhaust memory nor starve the event loop. Its queue is fair
(imapd.loginpool): one address or key id holds at most a small share of it.

Every database call has a budget and can be cancelled (issue 10). Each statement may run for
`budget` seconds: PostgreSQL's statement_timeout (set once per connection, with work_mem), SQLite's
progress handler; past it the call raises BudgetExceeded, which the session answers NO [LIMIT].
When the awaiting task is cancelled (the client left, was ended, or the server is stopping) the
statement running for it is cancelled too: psycopg's cancel_safe() on that connection, SQLite's
interrupt(), and any further statement of the call is refused, so no work outlives its command.
A mailbox's commands (OWNER, set by the session) hold at most `share` threads at once.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

from imapd import limits
from imapd.dbcall import BudgetExceeded, Call, Cancelled, in_budget
from imapd.loginpool import FairQueue, QueueFull, ShareExceeded

__all__ = ["Pools", "QueueFull", "ShareExceeded"]

P = ParamSpec("P")
T = TypeVar("T")

# The mailbox whose command is running in this task (the session sets it): the fair-share key.
OWNER: contextvars.ContextVar[int | None] = contextvars.ContextVar("imapd_db_owner", default=None)

__all__ = ["OWNER", "BudgetExceeded", "Cancelled", "Pools", "QueueFull"]


def _in_fresh_connection(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    # Only after the call: with CONN_MAX_AGE = 0 (required by Django's pool support) every
    # connection is "obsolete" as soon as it is opened, so this always releases it, and the next
    # call on this thread starts without one. A second close_old_connections() before the call
    # would find nothing to do; it used to cost a pass over the connection handlers per call.
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


class Pools:
    def __init__(
        self,
        *,
        db_threads: int,
        login_threads: int,
        login_queue: int,
        login_share: int = 8,
        budget: float = limits.COMMAND_BUDGET,
        work_mem_kib: int = limits.DB_WORK_MEM_KIB,
        fair_share: float = limits.DB_FAIR_SHARE,
    ) -> None:
        self.db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="imapd-db")
        self.login = ThreadPoolExecutor(max_workers=login_threads, thread_name_prefix="imapd-login")
        self.login_queue = FairQueue(
            self.login, threads=login_threads, capacity=login_queue, share=login_share
        )
        self.budget = budget  # seconds per statement; read at each call, so a test may shrink it
        self.work_mem_kib = work_mem_kib
        self.share = max(1, int(db_threads * fair_share))
        self._gates: dict[int, tuple[asyncio.Semaphore, list[int]]] = {}  # owner: (gate, [users])

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        owner = OWNER.get()
        if owner is None:
            return await self._run(fn, *args, **kwargs)
        gate, users = self._gates.setdefault(owner, (asyncio.Semaphore(self.share), [0]))
        users[0] += 1
        try:
            async with gate:
                return await self._run(fn, *args, **kwargs)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._gates[owner]

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = Call(self.budget, self.work_mem_kib)
        work = functools.partial(in_budget, call, fn, *args, **kwargs)
        try:
            return await loop.run_in_executor(self.db, functools.partial(_in_fresh_connection, work))
        except asyncio.CancelledError:
            # The thread goes on unless its statement is stopped. psycopg's cancel opens a
            # connection to the server, so it runs off the loop (not on the possibly full pool).
            loop.run_in_executor(None, call.cancel)
            raise

    async def run_login(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self.run_login_for((), fn, *args, **kwargs)

    async def run_login_for(
        self, owners: tuple[str, ...], fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run a login on the login threads, queued fairly by `owners` (source address first,
        then the key id); raises QueueFull (or ShareExceeded) when it may not wait."""
        call = functools.partial(_in_fresh_connection, fn, *args, **kwargs)
        return await self.login_queue.run(owners, call)

    def shutdown(self) -> None:
        self.db.shutdown(wait=True, cancel_futures=True)
        self.login.shutdown(wait=True, cancel_futures=True)
