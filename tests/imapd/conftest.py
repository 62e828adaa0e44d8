"""Fixtures for the imapd tests: raw one-line exchanges (tests.imapd.wire) over real TLS."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from mailkite.mail import ingest
from tests.conftest import Account
from tests.imapd.wire import Wire


@pytest.fixture
def wire(connect: Callable[[], imaplib.IMAP4_SSL], account: Account) -> Wire:
    """A logged-in connection, in the authenticated state."""
    logged_in = Wire(connect())
    logged_in.login(account.password)
    return logged_in


@pytest.fixture
def deliver(account: Account) -> Callable[..., int]:
    """Store one message (headers as keyword arguments, e.g. Subject="Hi"); returns its UID."""

    def store(folder: str = "INBOX", body: str = "Hello\r\n", **headers: str) -> int:
        lines = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
        raw = (lines + "\r\n" + body).encode()
        delivery = ingest.store(mailbox=account.mailbox, raw=raw, folder=folder)
        assert delivery.uid is not None
        return delivery.uid

    return store
