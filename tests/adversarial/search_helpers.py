"""Fixtures and helpers for the SEARCH-cost and cancellation tests (issue 10, points 4 and 5).

`deliver` and `wire` are the imapd tier's own (tests/imapd/conftest.py), imported by the test
modules through here. `heavy_mail` fills the INBOX with messages whose bodies make each BODY key a
long scan, so a valid SEARCH of many such keys costs real database time on either database.
`table_lock` holds a PostgreSQL lock from a second connection, so a statement of the server that
needs the table waits for as long as the test wants: a long query a test can end at will.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from tests.imapd.conftest import deliver, wire  # noqa: F401  (fixtures for the modules that import these)

HEAVY_BODY = "x" * 40_000 + " needle\r\n"  # BODY "needle" must read all of it


def heavy_search(keys: int = 400, tag: str = "h1") -> str:
    """A valid SEARCH whose cost is keys x messages x body length: the word is at each body's end."""
    return f"{tag} UID SEARCH " + " ".join(['BODY "needle"'] * keys)


@pytest.fixture
def heavy_mail(deliver: Callable[..., int]) -> list[int]:  # noqa: F811
    return [deliver(body=HEAVY_BODY, Subject=f"heavy {i}", From=f"s{i}@example.com") for i in range(40)]


@pytest.fixture
def shrunk_budget() -> Iterator[None]:
    """For a test that shrinks a pool's budget: imapd sets statement_timeout on the connections
    it uses, and in a test process the test's own queries (the teardown's flush) share that
    connection pool; so the pool is closed afterwards, and the next test opens fresh ones."""
    yield
    if is_postgresql():
        connection.close()
        connection.close_pool()


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def server_queries(fragment: str) -> list[tuple[Any, ...]]:
    """(pid, state, wait_event_type, query) of other backends on the test database running a
    statement that contains `fragment`."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, state, wait_event_type, query FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND state = 'active' AND query LIKE %s",
            [f"%{fragment}%"],
        )
        return list(cursor.fetchall())


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def table_lock(table: str) -> Iterator[None]:
    """ACCESS EXCLUSIVE on `table`, from a connection of its own, until the block ends."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        dbname=settings["NAME"],
    ) as holder:
        holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        holder.rollback()
