"""Work does not outlive its client (issue 10, point 5), and one user's expensive commands do not
stall another's (point 4, fair share).

A long statement is made the way a real deployment meets one: the test holds a lock from a second
PostgreSQL connection, so the server's SEARCH waits on it for as long as the test wants. Those
scenarios are PostgreSQL's (CI runs them); the database pool's own cancellation and budget are
checked on both databases with a long recursive query.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from imapd.dbpool import OWNER, BudgetExceeded, Pools
from tests.adversarial.search_helpers import (  # noqa: F401  (fixtures)
    deliver,
    server_queries,
    shrunk_budget,
    table_lock,
    wait_until,
    wire,
)
from tests.conftest import Account, RunningServer, child_environment, make_account
from tests.imapd.wire import Wire
from tests.processes import start_imapd

LOCKED = "mail_messagetext"  # what a text SEARCH reads; SELECT, NOOP and FETCH FLAGS do not
postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_stat_activity and table locks are PostgreSQL's"
)

# A statement that runs for half a minute or more on either database unless it is stopped.
ENDLESS = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000000) "
    "SELECT count(*) FROM n"
)


def _endless() -> int:
    with connection.cursor() as cursor:
        cursor.execute(ENDLESS)
        return int(cursor.fetchone()[0])


def _one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return int(cursor.fetchone()[0])


@pytest.fixture
def one_thread_pool(transactional_db: None, shrunk_budget: None):  # noqa: F811
    loop = asyncio.new_event_loop()
    pools = Pools(db_threads=1, login_threads=1, login_queue=1, budget=60.0)
    yield loop, pools
    pools.shutdown()
    loop.close()


def test_a_cancelled_call_stops_its_statement(one_thread_pool):
    # The pool's only thread runs the endless statement; cancelling the awaiting task must free
    # it at once, or the next call waits for minutes.
    loop, pools = one_thread_pool

    async def scenario() -> float:
        endless = asyncio.ensure_future(pools.run(_endless))
        await asyncio.sleep(0.5)
        endless.cancel()
        started = time.monotonic()
        assert await asyncio.wait_for(pools.run(_one), 20) == 1
        return time.monotonic() - started

    assert loop.run_until_complete(scenario()) < 5


def test_a_statement_past_the_budget_is_stopped(one_thread_pool):
    loop, pools = one_thread_pool
    pools.budget = 0.3
    with pytest.raises(BudgetExceeded):
        loop.run_until_complete(asyncio.wait_for(pools.run(_endless), 20))
    assert loop.run_until_complete(pools.run(_one)) == 1  # the thread and its connection go on


def test_one_mailbox_holds_at_most_half_the_database_threads(transactional_db, shrunk_budget):  # noqa: F811
    # Two threads: mailbox 1's two endless statements may take one; mailbox 2 gets the other.
    loop = asyncio.new_event_loop()
    pools = Pools(db_threads=2, login_threads=1, login_queue=1, budget=60.0)

    async def as_owner(owner: int, fn):  # type: ignore[no-untyped-def]
        OWNER.set(owner)  # what a session does for its mailbox
        return await pools.run(fn)

    async def scenario() -> float:
        greedy = [asyncio.ensure_future(as_owner(1, _endless)) for _ in range(2)]
        await asyncio.sleep(0.5)
        started = time.monotonic()
        try:
            assert await asyncio.wait_for(as_owner(2, _one), 10) == 1
            return time.monotonic() - started
        finally:
            for task in greedy:
                task.cancel()
            await asyncio.gather(*greedy, return_exceptions=True)

    try:
        assert loop.run_until_complete(scenario()) < 3
    finally:
        pools.shutdown()
        loop.close()


@contextlib.contextmanager
def searching_behind_a_lock(imap_server: RunningServer, wire: Wire, deliver) -> Iterator[None]:  # noqa: F811
    """For the body of the `with`: `wire`'s SEARCH of its INBOX waits on a lock this test holds
    (with a minute's budget, so only the test ends it)."""
    deliver(From="someone@example.com")
    wire.ok("s1 SELECT INBOX")
    imap_server.pools.budget = 60.0
    with table_lock(LOCKED):
        wire.send('x1 UID SEARCH FROM "someone"')
        wait_until(lambda: server_queries(LOCKED), 10, "the SEARCH to wait for the lock")
        yield


@postgresql_only
def test_a_client_that_leaves_mid_search_leaves_no_query_running(
    imap_server: RunningServer, wire: Wire, deliver  # noqa: F811
):
    with searching_behind_a_lock(imap_server, wire, deliver):
        wire.client.shutdown()  # the client gives up
        wait_until(lambda: not server_queries(LOCKED), 5, "the SEARCH to be cancelled")
        assert server_queries(LOCKED) == []


@postgresql_only
def test_a_revoked_password_cancels_the_running_search(
    imap_server: RunningServer, wire: Wire, deliver, account: Account  # noqa: F811
):
    from passwords import service
    from passwords.models import AppPassword

    with searching_behind_a_lock(imap_server, wire, deliver):
        service.revoke_app_password(app_password=AppPassword.objects.get(mailbox=account.mailbox))
        assert wire.response().startswith(b"* BYE ")
        wait_until(lambda: not server_queries(LOCKED), 5, "the SEARCH to be cancelled")


@postgresql_only
def test_one_users_stuck_searches_do_not_stall_another_user(
    imap_server: RunningServer, connect, account: Account, deliver  # noqa: F811
):
    # The server has four database threads. One user runs a SEARCH that waits on the lock on
    # each of four connections; without a fair share all four threads wait with them and the
    # other user's SELECT waits for the lock too.
    deliver(From="someone@example.com")
    other = make_account("other@example.org")
    imap_server.pools.budget = 60.0
    greedy = []
    for _ in range(4):
        client = Wire(connect())
        client.login(account.password)
        client.ok("s1 SELECT INBOX")
        greedy.append(client)
    neighbour = Wire(connect())
    neighbour.login(other.password)
    with table_lock(LOCKED):
        for client in greedy:
            client.send('x1 UID SEARCH FROM "someone"')
        wait_until(lambda: len(server_queries(LOCKED)) >= 2, 10, "the searches to wait for the lock")
        time.sleep(0.3)  # the other two are queued behind the user's share, not in a thread
        started = time.monotonic()
        neighbour.ok("n1 SELECT INBOX")
        neighbour.ok("n2 NOOP")
        neighbour.ok("n3 STATUS INBOX (MESSAGES UNSEEN)")
        took = time.monotonic() - started
        waiting = len(server_queries(LOCKED))
    for client in greedy:
        client.exchange("x2 NOOP")  # their searches finish once the lock is gone
    assert waiting == 2, "one mailbox held more than half of the database threads"
    assert took < 3.0, f"another user's SELECT, NOOP and STATUS took {took:.1f} s"


@pytest.fixture
def imapd_process(transactional_db: None, tmp_path: Path, certs):
    # The default budget (5 s) would end the stuck SEARCH by itself; a minute leaves it to SIGTERM.
    env = child_environment(IMAP_COMMAND_BUDGET_MS="60000")
    process, port = start_imapd(certs, env, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    threading.Thread(target=process.stdout.read, daemon=True).start()  # never a full pipe
    yield process, port
    if process.poll() is None:
        process.kill()
        process.wait(10)


@postgresql_only
def test_sigterm_during_a_long_query_exits_within_seconds(imapd_process, certs, account: Account, deliver):  # noqa: F811
    process, port = imapd_process
    deliver(From="someone@example.com")
    client = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=certs.client_context(), timeout=30)
    stuck = Wire(client)
    stuck.login(account.password)
    stuck.ok("s1 SELECT INBOX")
    with table_lock(LOCKED):
        stuck.send('x1 UID SEARCH FROM "someone"')
        wait_until(lambda: server_queries(LOCKED), 10, "the SEARCH to wait for the lock")
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail("imapd did not exit within 30 s of SIGTERM while a query ran")
        took = time.monotonic() - started
        assert server_queries(LOCKED) == []
    assert process.returncode == 0
    assert took < 12, f"imapd took {took:.1f} s to exit"  # the 5 s grace, then the cancel
    assert stuck.response() == b"* BYE Server restarting, please reconnect"
