"""Login throttling that cannot be turned off or turned against others (issue 10, point 2)."""

from __future__ import annotations

import asyncio
import base64
import imaplib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imapd import texts
from imapd.loginpool import FairQueue, ShareExceeded
from imapd.server import ServerOptions
from imapd.throttle import FailureLog, Penalties
from tests.adversarial.login_helpers import ATTACKER, VICTIM, forged_password, read_line
from tests.adversarial.servers import SizedServer
from tests.conftest import Account, Certs, make_account

ROOT = Path(__file__).resolve().parents[2]
FAST = dict(first_byte_timeout=2.0, failure_delay=0.01, max_failure_delay=0.05, shutdown_grace=2.0)


@pytest.fixture
def serve(transactional_db: None, certs: Certs) -> Iterator[Callable[..., SizedServer]]:
    started: list[SizedServer] = []

    def start(options: ServerOptions, **pool: int) -> SizedServer:
        started.append(SizedServer(certs, options, **pool))
        return started[-1]

    yield start
    for running in started:
        running.stop()


def login_error(client: imaplib.IMAP4_SSL, password: str) -> str:
    with pytest.raises(imaplib.IMAP4.error) as failure:
        client.login("anyone", password)
    text = failure.value.args[0]
    return text.decode() if isinstance(text, bytes) else str(text)


# -- the penalty table --------------------------------------------------------------------------


def test_a_million_failures_keep_a_capped_delay():
    penalties = Penalties(2.0)
    for _ in range(10**6):
        penalties.fail("ip:192.0.2.1", "key:AAAAAAAAAA")
    assert penalties.delay("ip:192.0.2.1") == 15.0
    assert penalties.delay("key:AAAAAAAAAA") == 15.0
    assert penalties.delay("ip:192.0.2.2") == 2.0  # another address starts at the base delay


def test_the_penalty_table_is_bounded():
    penalties = Penalties(2.0, max_tracked=1000)
    for n in range(20_000):
        penalties.fail("ip:attacker", f"key:{n:010d}")  # random key ids, one address
    assert len(penalties) <= 1000
    assert penalties.delay("ip:attacker") == 15.0  # the flooding address is never the one evicted


def test_ipv6_counts_per_64():
    penalties = Penalties(2.0)
    assert penalties.address("2001:db8:1:2::1") == penalties.address("2001:db8:1:2:ffff:1:2:3")
    assert penalties.address("2001:db8:1:2::1") != penalties.address("2001:db8:1:3::1")
    assert penalties.address("::ffff:192.0.2.1") == penalties.address("192.0.2.1")


def test_a_million_recorded_failures_still_answer_with_a_delay_not_an_error(serve, account, caplog):
    running = serve(ServerOptions(**{**FAST, "max_failure_delay": 0.3}))

    async def record() -> None:
        penalties = running.server.penalties
        address = penalties.address(ATTACKER)
        for _ in range(10**6):
            penalties.fail(address)

    running.call(record())
    caplog.set_level(logging.INFO, logger="imapd")
    client = running.client(ATTACKER)
    started = time.monotonic()
    assert login_error(client, forged_password()) == f"[AUTHENTICATIONFAILED] {texts.AUTH_FAILED}"
    assert 0.25 <= time.monotonic() - started < 5
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


# -- the fair login pool ------------------------------------------------------------------------


@pytest.fixture
def attacker_account(transactional_db: None) -> Account:
    return make_account("mallory@attacker.example")


@pytest.mark.parametrize("own_key_id", [True, False], ids=["own-key-id", "random-key-ids"])
def test_a_login_flood_from_one_address_does_not_delay_another(
    serve, account, attacker_account, certs, own_key_id
):
    # A small pool, so that a modest flood fills it: 2 threads and 16 places in the queue, as
    # production has cores and IMAP_LOGIN_QUEUE; no connection cap gets in the way of the flood.
    running = serve(
        ServerOptions(
            **{**FAST, "failure_delay": 0.1, "max_failure_delay": 0.5},
            max_unauthenticated_per_address=1000,
            max_login_failures=1000,
        ),
        login_threads=2,
        login_queue=16,
    )
    key_id = attacker_account.password.split("_")[2] if own_key_id else None
    argv = [sys.executable, "-m", "tests.adversarial.login_helpers", running.host, str(running.port)]
    argv += ["--source", ATTACKER, "--connections", "60", "--ca", str(certs.ca_file)]
    argv += ["--key-id", key_id] if key_id else []
    attacker = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert attacker.stdout is not None and attacker.stdout.readline().strip() == "attacking"
        time.sleep(2.0)  # let the flood fill the queue
        waits = []
        for _ in range(8):
            client = running.client(VICTIM)
            started = time.monotonic()
            typ, _ = client.login("me", account.password)  # raises on NO [UNAVAILABLE]
            waits.append(time.monotonic() - started)
            assert typ == "OK"
            client.logout()
        assert attacker.poll() is None, "the flood ran all along"
    finally:
        attacker.kill()
        attacker.wait()
    assert max(waits) < 1.0, waits


def test_a_full_queue_is_refused_and_penalised(serve, account):
    # Refused by the whole queue or by the address's share alike: NO [UNAVAILABLE] after the
    # penalty delay, and the next failure from that address waits longer.
    running = serve(ServerOptions(**{**FAST, "failure_delay": 0.2, "max_failure_delay": 1.0}), login_queue=0)
    client = running.client(ATTACKER)
    started = time.monotonic()
    assert login_error(client, account.password) == f"[UNAVAILABLE] {texts.LOGIN_BUSY}"
    assert time.monotonic() - started >= 0.2, "a full queue is penalised like a failure"
    assert running.server.penalties.delay(running.server.penalties.address(ATTACKER)) > 0.2


def test_the_queue_is_fair_across_addresses_and_caps_each_share():
    order: list[str] = []
    gate = threading.Event()

    def job(name: str) -> str:
        if name == "a1":
            gate.wait(10)
        order.append(name)
        return name

    async def scenario() -> None:
        with ThreadPoolExecutor(max_workers=1) as executor:
            queue = FairQueue(executor, threads=1, capacity=10, share=3)
            first = asyncio.ensure_future(queue.run(("ip:a", "key:k"), lambda: job("a1")))
            await asyncio.sleep(0.05)
            more_a = [asyncio.ensure_future(queue.run(("ip:a",), lambda n=n: job(n))) for n in ("a2", "a3")]
            await asyncio.sleep(0.05)
            with pytest.raises(ShareExceeded):  # a holds 3: one running, two waiting
                await queue.run(("ip:a",), lambda: job("a4"))
            # Nor may other addresses hold more than the share of one key id (a1 holds one already).
            c = [asyncio.ensure_future(queue.run(("ip:c", "key:k"), lambda: job("c"))) for _ in range(3)]
            await asyncio.sleep(0.05)
            assert isinstance(c[2].exception(), ShareExceeded)
            other = asyncio.ensure_future(queue.run(("ip:b",), lambda: job("b1")))
            await asyncio.sleep(0.05)
            gate.set()
            await asyncio.gather(first, *more_a, *c[:2], other)

    asyncio.run(scenario())
    # One login per address per turn: b, the last to come, waited for one of a's and one of c's,
    # not behind all of them.
    assert order == ["a1", "a2", "c", "b1", "a3", "c"], order


# -- per connection -----------------------------------------------------------------------------


def test_bye_after_three_failed_logins_on_one_connection(serve, account):
    running = serve(ServerOptions(**FAST))
    client = running.client(ATTACKER)
    wrong = forged_password(account.password.split("_")[2])
    sock = client.socket()
    sock.sendall(f"a1 LOGIN me {wrong}\r\n".encode())
    assert read_line(sock).startswith(b"a1 NO [AUTHENTICATIONFAILED]")
    sock.sendall(b"a2 AUTHENTICATE PLAIN " + base64.b64encode(f"\0me\0{wrong}".encode()) + b"\r\n")
    assert read_line(sock).startswith(b"a2 NO [AUTHENTICATIONFAILED]")
    sock.sendall(f"a3 LOGIN me {wrong}\r\n".encode())
    assert read_line(sock).startswith(b"a3 NO [AUTHENTICATIONFAILED]")
    assert read_line(sock) == f"* BYE {texts.TOO_MANY_FAILURES}\r\n".encode()
    assert read_line(sock) == b"", "then the connection is closed"
    # A connection that succeeds after two failures is not ended.
    other = running.client(ATTACKER)
    for _ in range(2):
        login_error(other, wrong)
    assert other.login("me", account.password)[0] == "OK"


# -- the log ------------------------------------------------------------------------------------


def test_a_flood_is_summarised_in_the_log_without_tracebacks(serve, account, caplog):
    caplog.set_level(logging.INFO, logger="imapd")
    running = serve(ServerOptions(**FAST, failure_summary_interval=2.0, max_login_failures=1000))
    client = running.client(ATTACKER)
    sock = client.socket()
    failures = 60
    for n in range(failures):  # pipelined, random key ids (no argon2): as fast as the server answers
        sock.sendall(f"a{n} LOGIN me {forged_password()}\r\n".encode())
    for _ in range(failures):
        assert b" NO [AUTHENTICATIONFAILED] " in read_line(sock)
    time.sleep(4.5)  # the summary timer: at most two intervals after the last failure
    lines = [r.getMessage() for r in caplog.records if r.name == "imapd"]
    one_by_one = [line for line in lines if "login failed from" in line]
    summaries = [line for line in lines if line.startswith("login failures from ip:127.0.0.2")]
    assert len(one_by_one) <= 3 * (len(summaries) + 1), lines  # the first 3 of each interval
    assert len(one_by_one) < failures / 3, lines
    assert summaries, lines
    logged = len(one_by_one) + sum(int(line.split(", ")[1].split(" of")[0]) for line in summaries)
    assert logged == failures, lines  # every failure accounted for, one way or the other
    assert not [line for line in lines if "cmd=Login" in line], "no access line per failed LOGIN"
    assert not [r for r in caplog.records if r.exc_info], "no traceback"


def test_failure_log_counts():
    async def run() -> list[bool]:
        log = FailureLog(first=2, interval=60.0)
        return [log.should_log("ip:a") for _ in range(5)] + [log.should_log("ip:b")]

    assert asyncio.run(run()) == [True, True, False, False, False, True]


def test_an_unknown_key_id_waits_like_a_wrong_secret(serve, account):
    running = serve(ServerOptions(**{**FAST, "failure_delay": 0.3, "max_failure_delay": 0.3}))
    for password in (forged_password(), forged_password(account.password.split("_")[2])):
        client = running.client(VICTIM)
        started = time.monotonic()
        assert login_error(client, password) == f"[AUTHENTICATIONFAILED] {texts.AUTH_FAILED}"
        assert time.monotonic() - started >= 0.3
