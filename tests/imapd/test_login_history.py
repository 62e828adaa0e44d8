"""Login history after real IMAP logins over real TLS (issue 15.4): rows appear after the
batched flush (imapd.history), with address, TLS version, ID client name, outcome and reason."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Callable

import pytest

from passwords import tokens
from passwords.models import AppPassword, LoginRecord
from tests.conftest import Account

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for_rows(count: int, timeout: float = 10.0, **filters: object) -> list[LoginRecord]:
    """The history is written about once a second: wait (bounded) until `count` rows are there."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(LoginRecord.objects.filter(**filters).order_by("at", "id"))
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def wrong_secret_for(password: str) -> str:
    body = f"mk_imap_{password.split('_')[2]}_{'x' * tokens.SECRET_LENGTH}"
    return body + tokens._checksum(body)


def test_a_successful_login_is_recorded_with_address_tls_and_id_name(
    connect: Callable[[], imaplib.IMAP4_SSL], account: Account
) -> None:
    client = connect()
    client.login("anyone", account.password)
    # ID after LOGIN, as Apple Mail and most clients send it: the row gets the name.
    client.xatom("ID", '("name" "Thunderbird" "version" "128.0")')
    [row] = wait_for_rows(1, outcome="success")
    assert row.app_password == AppPassword.objects.get()
    assert row.ip == "127.0.0.1"
    assert row.tls_version.startswith("TLSv1.")
    assert row.reason == ""
    deadline = time.monotonic() + 10
    while row.client_name != "Thunderbird" and time.monotonic() < deadline:
        time.sleep(0.05)
        row.refresh_from_db()
    assert row.client_name == "Thunderbird"


def test_an_id_after_the_row_was_written_updates_it(
    connect: Callable[[], imaplib.IMAP4_SSL], account: Account
) -> None:
    client = connect()
    client.login("anyone", account.password)
    [row] = wait_for_rows(1)
    assert row.client_name == ""
    client.xatom("ID", '("name" "K-9 Mail")')
    deadline = time.monotonic() + 10
    while row.client_name == "" and time.monotonic() < deadline:
        time.sleep(0.05)
        row.refresh_from_db()
    assert row.client_name == "K-9 Mail"


def test_a_wrong_secret_for_a_known_key_id_is_recorded_as_refused(
    connect: Callable[[], imaplib.IMAP4_SSL], account: Account
) -> None:
    with pytest.raises(imaplib.IMAP4.error):
        connect().login("anyone", wrong_secret_for(account.password))
    [row] = wait_for_rows(1)
    assert (row.outcome, row.reason) == ("refused", "wrong-secret")
    assert row.app_password == AppPassword.objects.get()


def test_a_revoked_password_is_recorded_with_its_reason(
    connect: Callable[[], imaplib.IMAP4_SSL], account: Account
) -> None:
    AppPassword.objects.update(revoked_at="2026-01-01T00:00:00Z")
    with pytest.raises(imaplib.IMAP4.error):
        connect().login("anyone", account.password)
    [row] = wait_for_rows(1)
    assert (row.outcome, row.reason) == ("refused", "revoked")


def test_unknown_key_ids_are_not_recorded(connect: Callable[[], imaplib.IMAP4_SSL], account: Account) -> None:
    with pytest.raises(imaplib.IMAP4.error):
        connect().login("anyone", tokens.generate(tokens.IMAP).value)
    client = connect()
    client.login("anyone", account.password)  # a row that must appear, so the flush did happen
    rows = wait_for_rows(1)
    assert [r.outcome for r in rows] == ["success"]


def test_an_id_before_login_goes_into_the_row(
    connect: Callable[[], imaplib.IMAP4_SSL], account: Account
) -> None:
    client = connect()
    client.xatom("ID", '("name" "Apple Mail")')
    client.login("anyone", account.password)
    [row] = wait_for_rows(1)
    assert row.client_name == "Apple Mail"
