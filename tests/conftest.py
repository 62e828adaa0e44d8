"""Shared fixtures: a real IMAPS server on a free port, real TLS, the real test database.

The server runs its own event loop in a thread of the test process, so tests can use blocking
clients (imaplib, IMAPClient, openssl) against it. Tests that talk to it use the transactional
database (`transactional_db`): the server's worker threads must see committed rows.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.contrib.auth import get_user_model

from imapd import tls
from imapd.dbpool import Pools
from imapd.server import ImapServer, ServerOptions
from mailkite.mail import democorpus, ingest, services
from mailkite.mail.models import Mailbox
from passwords import service

# imaplib's xatom() registers an unknown command for the state of its first use, process-wide:
# a test sending ID after LOGIN would make a later test's ID before LOGIN fail in the client.
# RFC 2971 allows ID in every state, so say so once for the whole run.
imaplib.Commands["ID"] = ("NONAUTH", "AUTH", "SELECTED", "LOGOUT")



def child_environment(*, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment for a process a test starts (imapd, deliver, daphne): the production
    settings module on this test's database and data folders, no Redis unless given, one imapd
    worker unless said, and `extra` on top."""
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
        url = f"postgresql://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="mailkite.settings",
        DATABASE_URL=url,
        MAILKITE_DATA_DIR=str(settings.MAILKITE.data_dir),
        BLOB_DIR=str(settings.MAILKITE.blob_dir),
    )
    env.pop("REDIS_URL", None)
    env.pop("IMAP_WORKERS", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env

@dataclass
class Certs:
    ca_file: Path
    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    paths = Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca_file))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(paths.cert))
    leaf.private_key_pem.write_to_path(str(paths.key))
    return paths


class BackgroundLoop:
    """An event loop in a daemon thread, for a server that blocking test clients talk to;
    `stop()` closes the server (`self.server.close()`), the loop and the pools."""

    server: Any
    pools: Pools

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def call(self, coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def stop(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.pools.shutdown()


class RunningServer(BackgroundLoop):
    """An ImapServer on its own loop in a background thread."""

    def __init__(
        self, certs: Certs, options: ServerOptions, redis_url: str | None = None, login_queue: int = 64
    ) -> None:
        super().__init__()
        self.pools = Pools(db_threads=4, login_threads=2, login_queue=login_queue)
        self.server = ImapServer(
            context=tls.server_context(certs.cert, certs.key),
            pools=self.pools,
            options=options,
            redis_url=redis_url,
        )
        bound = self.call(self.server.start("127.0.0.1", 0))
        self.host, self.port = bound[0]


class Calls(list[str]):
    """Wraps a database-pool call (Pools.run, or what SnapshotCache runs) and notes the name of
    each function it runs; the call itself still goes to the real pool."""

    def __init__(self, run: Callable[..., Any]) -> None:
        super().__init__()
        self.run = run

    async def __call__(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.append(function.__name__)
        return await self.run(function, *args, **kwargs)


@pytest.fixture
def imap_options() -> ServerOptions:
    # Every test client connects from 127.0.0.1, and tests such as the state matrix or the shared
    # snapshot's idlers hold dozens of connections to one mailbox open: the per-address caps are
    # lifted here, and the tests of tests/adversarial that are about them set their own.
    return ServerOptions(
        first_byte_timeout=1.0,
        failure_delay=0.01,
        shutdown_grace=2.0,
        event_poll_interval=0.2,
        max_unauthenticated_per_address=1000,
        max_connections_per_mailbox_address=1000,
    )


@pytest.fixture
def redis_url() -> str:
    """A Redis to test the pub/sub path against: CI starts one; elsewhere the test is skipped."""
    import redis

    url = os.environ.get("CI_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no Redis at {url}")
    return url


@pytest.fixture
def imap_server(transactional_db: None, certs: Certs, imap_options: ServerOptions) -> Iterator[RunningServer]:
    running = RunningServer(certs, imap_options)
    yield running
    running.stop()


@dataclass
class Account:
    mailbox: Mailbox
    password: str

    @property
    def address(self) -> str:
        return self.mailbox.address


def make_account(
    address: str = "you@example.com", *, verified: bool = True, retention: str = "retain"
) -> Account:
    local, domain_name = address.split("@")
    owner = get_user_model().objects.create_user(
        username=f"owner-{domain_name}", email=f"owner@{domain_name}", password="x"
    )
    # The account owns its domain (TXT proven); `verified` is about the MX record.
    domain = services.create_domain(
        name=domain_name, owner=owner, mx_verified=verified, owner_verified=True, retention=retention
    )
    mailbox = services.create_mailbox(domain=domain, local_part=local)
    _, secret = service.user_create_app_password(
        actor=service.command_line(), mailbox=mailbox, label="Test client"
    )
    return Account(mailbox=mailbox, password=secret)


@pytest.fixture
def account(transactional_db: None) -> Account:
    return make_account()


@pytest.fixture
def demo_mail(account: Account) -> list[tuple[str, bytes]]:
    """The demo corpus delivered into the account; returns (folder, stored bytes) in order."""
    stored = []
    for folder, raw, when in democorpus.messages(account.address, count=12):
        ingest.store(mailbox=account.mailbox, raw=raw, folder=folder, internal_date=when)
        stored.append((folder, raw))
    return stored


@pytest.fixture
def connect(imap_server: RunningServer, certs: Certs) -> Iterator[Callable[[], imaplib.IMAP4_SSL]]:
    clients: list[imaplib.IMAP4_SSL] = []

    def open_client() -> imaplib.IMAP4_SSL:
        client = imaplib.IMAP4_SSL(
            imap_server.host, imap_server.port, ssl_context=certs.client_context(), timeout=20
        )
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        try:
            client.logout()
        except Exception:
            pass
