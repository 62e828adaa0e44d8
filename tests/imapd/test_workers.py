"""`manage.py imapd --workers N` as real processes: N workers share the port (SO_REUSEPORT), the
supervisor forwards SIGTERM and SIGHUP, replaces a worker that dies, and live events cross
workers. Which worker serves a connection is read from /proc (the worker process holding the
server end of the client's TCP connection), so nothing about it is told to clients.
"""

from __future__ import annotations

import imaplib
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from django.core.exceptions import ImproperlyConfigured

from mailkite import config
from tests.conftest import Account, Certs, child_environment
from tests.imapd.test_idle import start_idle, stop_idle

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def environment(redis_url: str | None = None) -> dict[str, str]:
    return child_environment(redis_url=redis_url, LOG_LEVEL="INFO")


def imapd(port: int, cert: Path, key: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "manage.py",
        "imapd",
        "--port",
        str(port),
        "--cert",
        str(cert),
        "--key",
        str(key),
        *extra,
    ]


def alive(pid: int) -> bool:
    """Running, and not a zombie that nobody has reaped yet (a container's init may not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def is_worker(pid: int, port: int) -> bool:
    """Still one of ours (a pid can be reused once its process is gone)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return False
    return b"--worker-of-parent" in argv and str(port).encode() in argv


def wait_until(condition: Callable[[], bool], timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Workers:
    """A running supervisor and what a test needs to see of it."""

    process: subprocess.Popen[str]
    port: int
    log: Path
    context: ssl.SSLContext
    clients: list[imaplib.IMAP4_SSL] = field(default_factory=list)
    seen: set[int] = field(default_factory=set)  # every worker pid ever seen, for the clean-up

    def pids(self) -> set[int]:
        """The supervisor's live children: the workers."""
        found: set[int] = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            found.update(int(pid) for pid in (task / "children").read_text().split())
        self.seen |= found
        return {pid for pid in found if alive(pid)}

    def log_count(self, text: str) -> int:
        return self.log.read_text(errors="replace").count(text)

    def connect(self, context: ssl.SSLContext | None = None) -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context or self.context, timeout=20)
        self.clients.append(client)
        return client

    def serving(self, client: imaplib.IMAP4_SSL) -> int:
        """The pid of the worker holding the server end of this client's connection."""
        client_port = client.sock.getsockname()[1]
        inodes = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(end.split(":")[1], 16) for end in fields[1:3])
            if (local, remote) == (self.port, client_port):
                inodes.add(f"socket:[{fields[9]}]")
        for pid in self.pids():
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                try:
                    if os.readlink(fd) in inodes:
                        return pid
                except OSError:  # closed meanwhile
                    continue
        raise AssertionError("no worker holds this connection")

    def on_every_worker(
        self, account: Account, context: ssl.SSLContext | None = None, limit: int = 60
    ) -> dict[int, imaplib.IMAP4_SSL]:
        """A logged-in client on each worker: connect until the kernel has spread them."""
        workers = self.pids()
        chosen: dict[int, imaplib.IMAP4_SSL] = {}
        for _ in range(limit):
            client = self.connect(context)
            pid = self.serving(client)
            if pid not in chosen:
                client.login(account.address, account.password)
                chosen[pid] = client
                if set(chosen) == workers:
                    return chosen
            else:
                client.logout()
        raise AssertionError(f"{limit} connections never reached every worker: {set(chosen)} of {workers}")


@pytest.fixture
def start_workers(tmp_path: Path, certs: Certs) -> Iterator[Callable[..., Workers]]:
    started: list[Workers] = []

    def start(
        count: int = 2, redis_url: str | None = None, cert: Path = certs.cert, key: Path = certs.key
    ) -> Workers:
        log = tmp_path / f"imapd-{len(started)}.log"
        process = subprocess.Popen(
            imapd(0, cert, key, "--workers", str(count)),
            cwd=ROOT,
            env=environment(redis_url),
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        assert f"(implicit TLS, {count} workers)" in line, (line, log.read_text())
        port = int(line.split(":")[-1].split()[0])
        workers = Workers(process, port, log, certs.client_context())
        started.append(workers)
        assert len(workers.pids()) == count
        return workers

    yield start
    for workers in started:
        for client in workers.clients:
            try:
                client.shutdown()
            except Exception:
                pass
        if workers.process.poll() is None:
            workers.pids()
            workers.process.send_signal(signal.SIGTERM)
            try:
                workers.process.wait(30)
            except subprocess.TimeoutExpired:
                workers.process.kill()
                workers.process.wait(10)
        for pid in workers.seen:  # only if the supervisor failed to stop them
            if alive(pid) and is_worker(pid, workers.port):
                os.kill(pid, signal.SIGKILL)


def test_workers_share_the_port_and_each_serves_sessions(start_workers, account, demo_mail):
    workers = start_workers(count=2)
    clients = workers.on_every_worker(account)
    assert set(clients) == workers.pids()
    for client in clients.values():
        _, count = client.select("INBOX")
        _, data = client.uid("FETCH", "1", "(BODY.PEEK[])")
        assert data[0][1] == demo_mail[0][1]
        assert count == [str(sum(folder == "INBOX" for folder, _ in demo_mail)).encode()]


def test_sigterm_says_bye_to_every_session_and_every_process_exits(start_workers, account):
    workers = start_workers(count=2)
    clients = workers.on_every_worker(account)
    pids = set(clients)
    for client in clients.values():
        client.select("INBOX")
    start_idle(clients[min(pids)])  # an idler too: it is told at once, not after its command
    workers.process.send_signal(signal.SIGTERM)
    for client in clients.values():
        assert client.readline() == b"* BYE Server restarting, please reconnect\r\n"
    assert workers.process.wait(30) == 0
    wait_until(lambda: not any(alive(pid) for pid in pids), 10, "the workers to exit")


def test_sighup_reloads_the_certificate_in_every_worker(start_workers, account, tmp_path, certs):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    cert.write_bytes(certs.cert.read_bytes())
    key.write_bytes(certs.key.read_bytes())
    workers = start_workers(count=2, cert=cert, key=key)
    renewed = trustme.CA()
    leaf = renewed.issue_cert("localhost", "127.0.0.1")
    leaf.private_key_and_cert_chain_pem.write_to_path(str(cert))
    leaf.private_key_pem.write_to_path(str(key))
    workers.process.send_signal(signal.SIGHUP)
    wait_until(lambda: workers.log_count("TLS certificate reloaded") == 2, 20, "both workers to reload")
    trusting_renewed = ssl.create_default_context()
    renewed.configure_trust(trusting_renewed)
    # Each worker now presents the renewed certificate (the old one would fail verification).
    assert set(workers.on_every_worker(account, trusting_renewed)) == workers.pids()


def test_a_killed_worker_is_replaced(start_workers, account):
    workers = start_workers(count=2)
    victim, survivor = sorted(workers.pids())
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: workers.log_count("exited with code -9") == 1, 20, "the supervisor to notice")
    # Two started at first; the third "started" line comes once the replacement listens.
    wait_until(lambda: workers.log_count(" started (pid ") == 3, 30, "a new worker")
    replacement = (workers.pids() - {survivor}).pop()
    assert replacement != victim
    assert set(workers.on_every_worker(account)) == {survivor, replacement}


def test_workers_stop_when_the_supervisor_is_killed(start_workers):
    workers = start_workers(count=2)
    pids = workers.pids()
    workers.process.kill()  # no chance to forward anything: the workers see their stdin close
    workers.process.wait(10)
    wait_until(lambda: not any(alive(pid) for pid in pids), 20, "the orphaned workers to exit")


@pytest.mark.parametrize("transport", ["polled", "redis"])
def test_idle_on_one_worker_sees_a_flag_change_made_on_another(
    start_workers, account, demo_mail, transport, request
):
    redis_url = request.getfixturevalue("redis_url") if transport == "redis" else None
    workers = start_workers(count=2, redis_url=redis_url)
    idler, writer = workers.on_every_worker(account).values()
    assert workers.serving(idler) != workers.serving(writer)
    idler.select("INBOX")
    writer.select("INBOX")
    start_idle(idler)
    writer.store(b"2", "+FLAGS", "(\\Flagged)")
    assert idler.readline() == b"* 2 FETCH (FLAGS (\\Flagged))\r\n"
    stop_idle(idler)


@pytest.mark.parametrize("count", [1, 2], ids=["one-process", "workers"])
def test_a_port_in_use_is_refused_in_words(count, certs):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            imapd(port, certs.cert, certs.key, "--workers", str(count)),
            cwd=ROOT,
            env=environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_a_second_imapd_does_not_join_the_workers_of_the_first(start_workers, certs):
    # Workers bind with SO_REUSEPORT, which would let a second imapd of the same user share the
    # port silently and take half the connections; the supervisor's plain probe bind refuses.
    workers = start_workers(count=2)
    result = subprocess.run(
        imapd(workers.port, certs.cert, certs.key, "--workers", "2"),
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Address already in use" in result.stderr


@pytest.mark.parametrize(("value", "expected"), [(None, 1), ("4", 4)], ids=["default-one-process", "set"])
def test_imap_workers_setting(value, expected):
    assert config.load({} if value is None else {"IMAP_WORKERS": value}).imap_workers == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("0", "IMAP_WORKERS must be at least 1, not 0."), ("two", "IMAP_WORKERS must be a whole number")],
    ids=["zero", "word"],
)
def test_a_bad_imap_workers_is_refused_in_words(value, message):
    with pytest.raises(ImproperlyConfigured, match=message.replace(".", r"\.")):
        config.load({"IMAP_WORKERS": value})
