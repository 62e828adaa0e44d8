"""New-login alerts after real IMAP logins over real TLS (issue 15.5): one email the first time a
password is used from a new network (/24) or client name, never a second for the same one; none
for the first login (the baseline) or when the owner turned alerts off; the revoke link asks for
the account password and revokes (the live session gets BYE)."""

from __future__ import annotations

import imaplib
import re
import time
from collections.abc import Callable

import pytest
from django.core import mail
from django.test import Client

from passwords import alerts, tasks
from passwords.models import AppPassword, AuditEntry, LoginRecord, LoginSighting
from tests.adversarial.login_helpers import SourceIMAP
from tests.conftest import Account, Certs, RunningServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def log_in(imap_server: RunningServer, certs: Certs, account: Account) -> Callable[..., imaplib.IMAP4_SSL]:
    """Log in from `source` (127.0.0.1 and 127.0.1.x are different /24 networks), optionally
    sending ID after LOGIN, and wait (bounded) until the batched history holds the login."""
    opened: list[imaplib.IMAP4_SSL] = []

    def login(source: str = "127.0.0.1", name: str | None = None) -> imaplib.IMAP4_SSL:
        before = LoginRecord.objects.count()
        client = SourceIMAP(
            imap_server.host, imap_server.port, source=source, ssl_context=certs.client_context()
        )
        opened.append(client)
        client.login("anyone", account.password)
        if name is not None:
            client.xatom("ID", f'("name" "{name}")')
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            rows = LoginRecord.objects.order_by("-id")
            if rows.count() > before and (name is None or rows.first().client_name == name):  # type: ignore[union-attr]
                break
            time.sleep(0.05)
        return client

    yield login
    for client in opened:
        try:
            client.logout()
        except Exception:
            pass


def run_alert_task() -> None:
    tasks.send_login_alerts.delay()  # eager without a broker, as in development


def test_a_new_network_is_emailed_once_not_twice(log_in, account: Account) -> None:
    log_in("127.0.0.1", "Thunderbird")
    run_alert_task()
    assert mail.outbox == []  # the first login sets the baseline

    log_in("127.0.1.5", "Thunderbird")
    log_in("127.0.1.6", "Thunderbird")  # the same /24, another session
    run_alert_task()
    run_alert_task()
    log_in("127.0.1.9", "Thunderbird")
    run_alert_task()

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [account.mailbox.domain.owner.email]
    assert "Test client" in email.subject
    html = email.alternatives[0][0]
    for body in (email.body, html):
        assert "127.0.1.0/24" in body
        assert "/settings/imap/revoke-link/" in body
        assert account.password not in body
        assert account.password.split("_")[3] not in body  # not even the secret part
    assert "127.0.0.0/24" not in email.body


def test_a_new_client_name_is_emailed(log_in) -> None:
    log_in("127.0.0.1", "Thunderbird")
    log_in("127.0.0.1", "Evil Client")
    run_alert_task()
    assert len(mail.outbox) == 1
    assert "Evil Client" in mail.outbox[0].body
    log_in("127.0.0.1", "Evil Client")
    run_alert_task()
    assert len(mail.outbox) == 1


def test_no_email_when_the_owner_turned_alerts_off(log_in, account: Account) -> None:
    alerts.set_alerts_enabled(account.mailbox.domain.owner, False)
    log_in("127.0.0.1", "Thunderbird")
    log_in("127.0.1.5", "Thunderbird")
    run_alert_task()
    assert mail.outbox == []
    assert LoginSighting.objects.get(value="127.0.1.0/24").alert == LoginSighting.Alert.SKIPPED


def test_the_revoke_link_asks_for_the_account_password_and_revokes(log_in, account: Account) -> None:
    log_in("127.0.0.1", "Thunderbird")
    live = log_in("127.0.1.5", "Thunderbird")
    run_alert_task()
    [email] = mail.outbox
    path = re.search(r"https?://[^/\s]+(/settings/imap/revoke-link/[^\s]+/)", email.body).group(1)  # type: ignore[union-attr]

    browser = Client()  # not signed in: the token and the account password are enough
    page = browser.get(path)
    assert page.status_code == 200 and "Your account password" in page.content.decode()
    wrong = browser.post(path, {"password": "not it"})
    assert "That is not your account password." in wrong.content.decode()
    assert AppPassword.objects.get().revoked_at is None

    done = browser.post(path, {"password": "x"})
    assert done.status_code == 302
    assert AppPassword.objects.get().revoked_at is not None
    entry = AuditEntry.objects.get(action=AuditEntry.Action.APP_PASSWORD_REVOKED)
    assert entry.via == AuditEntry.Via.DASHBOARD
    # The live session ends (events poll every 0.2 s in tests): NOOP gets the BYE.
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            live.noop()
            time.sleep(0.1)


def test_an_altered_revoke_link_is_refused(log_in) -> None:
    log_in("127.0.0.1", "Thunderbird")
    log_in("127.0.1.5")
    run_alert_task()
    path = re.search(r"(/settings/imap/revoke-link/[^\s]+/)", mail.outbox[0].body).group(1)  # type: ignore[union-attr]
    altered = path[:-3] + ("A" if path[-3] != "A" else "B") + path[-2:]
    assert Client().get(altered).status_code == 400
    assert Client().post(altered, {"password": "x"}).status_code == 400
    assert AppPassword.objects.get().revoked_at is None
