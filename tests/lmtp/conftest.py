"""Fixtures for the LMTP tests: a real lmtpd on a free port, in this process or as `manage.py lmtpd`.

The in-process server runs its own event loop in a thread, as the IMAP server of tests/conftest.py
does, so tests talk to it with the blocking smtplib.LMTP; its database threads see committed rows
only, hence the transactional database.
"""

from __future__ import annotations

import smtplib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imapd.dbpool import Pools
from mailkite.lmtp.server import LmtpServer, Options
from tests.conftest import BackgroundLoop

REPO = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024  # the test servers' message size limit


class RunningLmtp(BackgroundLoop):
    def __init__(self, options: Options) -> None:
        super().__init__()
        self.pools = Pools(db_threads=4, login_threads=1, login_queue=1)
        self.server = self.call(self._make(options))
        self.host, self.port = self.call(self.server.start("127.0.0.1", 0))[0]

    async def _make(self, options: Options) -> LmtpServer:
        return LmtpServer(pools=self.pools, options=options)


@pytest.fixture
def lmtp_server(transactional_db: None) -> Iterator[RunningLmtp]:
    running = RunningLmtp(Options(max_message_bytes=LIMIT, hostname="lmtp.test"))
    yield running
    running.stop()


@pytest.fixture
def lmtp(lmtp_server: RunningLmtp) -> Iterator[Callable[[], smtplib.LMTP]]:
    """Opens LMTP connections to the in-process server (greeted, LHLO sent); closes them after."""
    clients: list[smtplib.LMTP] = []

    def open_client() -> smtplib.LMTP:
        client = smtplib.LMTP(lmtp_server.host, lmtp_server.port, timeout=30)
        code, _ = client.ehlo("client.test")  # smtplib.LMTP sends LHLO for ehlo()
        assert code == 250
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()


class LmtpdProcess:
    """`manage.py lmtpd` in its own process, with the environment a test gives it."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "lmtpd", "--port", "0", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if " listening on " not in line:
            self.process.kill()
            _, err = self.process.communicate(timeout=30)
            raise AssertionError(f"lmtpd did not start: {line!r} {err[-3000:]}")
        self.port = int(line.split(" listening on ")[1].split()[0].rsplit(":", 1)[1])

    def connect(self) -> smtplib.LMTP:
        client = smtplib.LMTP("127.0.0.1", self.port, timeout=60)
        client.ehlo("client.test")
        return client

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as an init system stops it; returns the exit code and what it wrote to stderr."""
        self.process.terminate()
        _, err = self.process.communicate(timeout=60)
        return self.process.returncode, err


@pytest.fixture
def start_lmtpd() -> Iterator[Callable[..., LmtpdProcess]]:
    started: list[LmtpdProcess] = []

    def start(env: dict[str, str], *args: str) -> LmtpdProcess:
        process = LmtpdProcess(env, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.communicate(timeout=30)
