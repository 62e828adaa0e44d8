"""The thread pools through which imapd reaches the database and argon2.

Store-port functions are synchronous Django ORM code. They run on one dedicated pool sized to
the database connection pool (not sync_to_async's single shared thread), with
close_old_connections() around each call so a database restart heals without restarting imapd.
Logins run on a second, smaller pool bounded in threads and in queue length: argon2 is CPU-bound,
and a login storm must neither exhaust memory nor starve the event loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

P = ParamSpec("P")
T = TypeVar("T")


class QueueFull(Exception):
    """More logins are waiting than the login queue allows."""


def _in_fresh_connection(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    close_old_connections()
    try:
        return fn(*args, **kwargs)
    finally:
        close_old_connections()


class Pools:
    def __init__(self, *, db_threads: int, login_threads: int, login_queue: int) -> None:
        self.db = ThreadPoolExecutor(max_workers=db_threads, thread_name_prefix="imapd-db")
        self.login = ThreadPoolExecutor(max_workers=login_threads, thread_name_prefix="imapd-login")
        self.login_queue = login_queue
        self.login_waiting = 0

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        call = functools.partial(_in_fresh_connection, fn, *args, **kwargs)
        return await loop.run_in_executor(self.db, call)

    async def run_login(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self.login_waiting >= self.login_queue:
            raise QueueFull()
        self.login_waiting += 1
        try:
            loop = asyncio.get_running_loop()
            call = functools.partial(_in_fresh_connection, fn, *args, **kwargs)
            return await loop.run_in_executor(self.login, call)
        finally:
            self.login_waiting -= 1

    def shutdown(self) -> None:
        self.db.shutdown(wait=True, cancel_futures=True)
        self.login.shutdown(wait=True, cancel_futures=True)
