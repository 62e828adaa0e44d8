"""Interop fixtures: one real IMAPS server and one realistic mailbox per test module.

Client programs are slow to start, so a module shares one server (`mailroom`) and one delivered
corpus (`tests.interop.corpus`). Tests that change state (flags) take a `fresh` mailbox of their
own on the same server. The module's rows are flushed when the module ends, as
`transactional_db` does after each test.

The `db` fixture is overridden here: its name makes pytest-django create the test database, but
no test runs inside a per-test transaction (on SQLite, `BEGIN IMMEDIATE` would hold the write lock
the server's threads need for flags). Mailboxes are delivered from a helper thread with its own
autocommitted connection.

A client program that is missing skips its tests with the reason, except under CI (`CI` set),
where it fails: CI installs them all with `scripts/install-clients` and must never skip silently.
"""

from __future__ import annotations

import base64
import email
import imaplib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from imapd.server import ServerOptions
from mailkite.mail import ingest, services
from passwords import service
from tests.conftest import Certs, RunningServer
from tests.interop import corpus

_domains = itertools.count(1)


def require(program: str) -> str:
    """The program's path; a missing program skips the test, or fails it under CI."""
    path = shutil.which(program)
    if path:
        return path
    reason = f"{program} is not installed: run scripts/install-clients (apt packages for the interop tests)"
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def run_client(args: list[str], *, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    """Run a client program; one that hangs fails the test with what it printed so far."""
    try:
        return subprocess.run(args, capture_output=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as hung:
        output = (hung.stdout or b"")[-3000:], (hung.stderr or b"")[-3000:]
        pytest.fail(f"{args[0]} hung for {timeout} s; it printed {output!r}", pytrace=False)


@dataclass(frozen=True)
class Delivered:
    folder: str
    uid: int
    raw: bytes

    @property
    def served(self) -> bytes:
        """BODY[] as the server must send it."""
        return corpus.served(self.raw)

    @property
    def subject(self) -> str:
        message = email.message_from_bytes(self.raw, policy=email.policy.default)
        return str(message["Subject"] or "")

    @property
    def message_id(self) -> str:
        return str(email.message_from_bytes(self.raw)["Message-ID"] or "").strip()


@dataclass
class Mailbox:
    address: str
    password: str
    messages: list[Delivered] = field(default_factory=list)

    def folder(self, name: str) -> list[Delivered]:
        return [m for m in self.messages if m.folder == name]


@dataclass
class Mailroom:
    server: RunningServer
    certs: Certs
    mailbox: Mailbox
    new_mailbox: Callable[[], Mailbox]

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return int(self.server.port)

    def imaplib(self, mailbox: Mailbox | None = None) -> imaplib.IMAP4_SSL:
        """A logged-in imaplib client, the reference the programs' results are checked with."""
        client = imaplib.IMAP4_SSL(self.host, self.port, ssl_context=self.certs.client_context(), timeout=20)
        box = mailbox or self.mailbox
        client.login(box.address, box.password)
        return client


def deliver(mailbox: Mailbox, raw: bytes, folder: str = "INBOX") -> Delivered:
    """One more message for `mailbox`, committed at once (as `manage.py deliver` would)."""

    def store() -> Delivered:
        found = services.find_mailbox(mailbox.address)
        assert found is not None
        delivery = ingest.store(mailbox=found, raw=raw, folder=folder)
        connection.close()
        assert delivery.uid is not None
        return Delivered(folder=folder, uid=delivery.uid, raw=raw)

    with ThreadPoolExecutor(1) as pool:
        message = pool.submit(store).result()
    mailbox.messages.append(message)
    return message


def deliver_corpus(address: str) -> Mailbox:
    """A new mailbox on its own domain with the interop corpus delivered, committed at once."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_deliver_corpus, address).result()


def _deliver_corpus(address: str) -> Mailbox:
    domain_name = f"interop-{next(_domains)}-{os.getpid()}.example"
    owner = get_user_model().objects.create_user(username=f"owner-{domain_name}", password="x")
    domain = services.create_domain(name=domain_name, owner=owner, mx_verified=True)
    mailbox = services.create_mailbox(domain=domain, local_part=address)
    _, secret = service.user_create_app_password(
        actor=service.command_line(), mailbox=mailbox, label="Interop client"
    )
    box = Mailbox(address=mailbox.address, password=secret)
    for folder, raw, when in corpus.messages(mailbox.address):
        delivery = ingest.store(mailbox=mailbox, raw=raw, folder=folder, internal_date=when)
        assert delivery.uid is not None
        box.messages.append(Delivered(folder=folder, uid=delivery.uid, raw=raw))
    connection.close()  # this helper thread's own connection
    return box


def lf(data: bytes) -> bytes:
    """Line endings as the Maildir and MDA tools write them."""
    return data.replace(b"\r\n", b"\n")


def _fields(header: bytes) -> list[bytes]:
    fields: list[bytes] = []
    for line in header.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\n" + line
        else:
            fields.append(line)
    return fields


def unwrap(stored: bytes, *, prepended: tuple[str, ...] = (), appended: tuple[str, ...] = ()) -> bytes:
    """`stored` (LF line endings) less the header fields a tool documents adding: `prepended`
    exactly at the top, in that order, and `appended` exactly at the end of the header. Fails
    if they are not where the tool puts them, so nothing else is ever stripped."""
    header, separator, body = stored.partition(b"\n\n")
    fields = _fields(header)
    for name in prepended:
        assert fields and fields[0].lower().startswith(name.lower().encode() + b":"), (name, fields[:3])
        fields.pop(0)
    for name in reversed(appended):
        assert fields and fields[-1].lower().startswith(name.lower().encode() + b":"), (name, fields[-3:])
        fields.pop()
    return b"\n".join(fields) + separator + body


def reserialised(program: str, script: str, messages: list[bytes]) -> list[bytes]:
    """`messages` passed through `script` (reading `data`, setting `out`) in the Python that runs
    `program`: for tools that re-generate every message with the `email` package, so the expected
    bytes come from the same interpreter and library version the tool uses."""
    shebang = Path(require(program)).read_text(errors="replace").split("\n", 1)[0]
    interpreter = shebang[2:].strip().split()
    runner = (
        "import base64, json, sys\nresult = []\n"
        "for item in json.load(sys.stdin):\n    data = base64.b64decode(item)\n"
        + "".join(f"    {line}\n" for line in script.strip().splitlines())
        + "    result.append(base64.b64encode(out).decode())\njson.dump(result, sys.stdout)\n"
    )
    done = subprocess.run(
        [*interpreter, "-c", runner],
        input=json.dumps([base64.b64encode(m).decode() for m in messages]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [base64.b64decode(item) for item in json.loads(done.stdout)]


def assert_same_messages(got: list[bytes], expected: list[Delivered], wanted: list[bytes]) -> None:
    """Each of `wanted` (the tool's form of `expected`'s BODY[]) is among `got` exactly once, and
    nothing else is; on a mismatch, name the messages and where they first differ."""
    remaining = list(got)
    missing = []
    for message, want in zip(expected, wanted, strict=True):
        if want in remaining:
            remaining.remove(want)
        else:
            missing.append((message, want))
    problems = []
    for message, want in missing:
        subject = next((line for line in want.split(b"\n") if line.startswith(b"Subject:")), b"")
        near = next((data for data in remaining if subject and subject in data), None)
        if near is None:
            problems.append(f"{message.folder} UID {message.uid} {message.subject!r}: not delivered")
        else:
            at = next(
                (i for i, (a, b) in enumerate(zip(want, near, strict=False)) if a != b),
                min(len(want), len(near)),
            )
            problems.append(
                f"{message.folder} UID {message.uid} {message.subject!r} differs at octet {at}: "
                f"expected {want[at - 20 : at + 40]!r}, got {near[at - 20 : at + 40]!r}"
            )
    assert not problems and not remaining, "\n".join(problems) + f"\n{len(remaining)} unexpected"


@pytest.fixture(scope="session")
def interop_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """As the shared `certs`, with a subject CN: fetchmail refuses a certificate without one
    ("Server name not specified in certificate!"), however its subjectAltName reads."""
    folder = tmp_path_factory.mktemp("interop-certs")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1", common_name="localhost")
    paths = Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(paths.ca_file))
    leaf.private_key_and_cert_chain_pem.write_to_path(str(paths.cert))
    leaf.private_key_pem.write_to_path(str(paths.key))
    return paths


@pytest.fixture(scope="module")
def mailroom(django_db_setup: None, django_db_blocker, interop_certs: Certs) -> Iterator[Mailroom]:  # type: ignore[no-untyped-def]
    certs = interop_certs
    with django_db_blocker.unblock():
        options = ServerOptions(failure_delay=0.01, shutdown_grace=2.0, event_poll_interval=0.2)
        server = RunningServer(certs, options)
        try:
            yield Mailroom(
                server=server,
                certs=certs,
                mailbox=deliver_corpus("you"),
                new_mailbox=lambda: deliver_corpus("fresh"),
            )
        finally:
            server.stop()
            call_command("flush", verbosity=0, interactive=False, reset_sequences=False)


@pytest.fixture(autouse=True)
def db(django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Overrides pytest-django's `db` (see the module docstring): database access, no transaction."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def fresh(mailroom: Mailroom) -> Mailbox:
    """A mailbox of this test's own on the module's server, for tests that change flags."""
    return mailroom.new_mailbox()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A HOME for client programs, so no user configuration leaks in."""
    home = tmp_path / "home"
    home.mkdir()
    return home
