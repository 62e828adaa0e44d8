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
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

from imapd.loginpool import FairQueue, QueueFull, ShareExceeded

__all__ = ["Pools", "QueueFull", "ShareExceeded"]

P = ParamSpec("P")
T = TypeVar("T")


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
        self, *, db_threads: int, login_threads: int, login_queue: int, login_share: int = 8
    ) -> None:
        self.db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="imapd-db")
        self.login = ThreadPoolExecutor(max_workers=login_threads, thread_name_prefix="imapd-login")
        self.login_queue = FairQueue(
            self.login, threads=login_threads, capacity=login_queue, share=login_share
        )

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(_in_fresh_connection, fn, *args, **kwargs)
        return await loop.run_in_executor(self.db, call)

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
