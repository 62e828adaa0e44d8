"""LOGIN and AUTHENTICATE PLAIN answers (RFC 9051 §6.2, DESIGN §5 login table)."""

from __future__ import annotations

import base64
import imaplib

import pytest

from imapd import texts
from passwords import service
from passwords.models import AppPassword
from tests.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)


def login_error(client: imaplib.IMAP4_SSL, password: str) -> str:
    with pytest.raises(imaplib.IMAP4.error) as failure:
        client.login("anyone@example.com", password)
    text = failure.value.args[0]
    return text.decode() if isinstance(text, bytes) else str(text)


def test_greeting_lists_imap4rev1_and_auth_plain(connect):
    client = connect()
    assert b"IMAP4rev1" in client.welcome
    assert b"AUTH=PLAIN" in client.welcome
    assert client.welcome.startswith(b"* OK [CAPABILITY ")


def test_login_ignores_the_username_and_returns_capabilities(connect, account):
    client = connect()
    typ, data = client.login("whoever", account.password)
    assert typ == "OK"
    assert data[0].startswith(b"[CAPABILITY IMAP4rev1")


def test_wrong_password_gets_the_troubleshooting_sentence(connect, account):
    wrong = account.password[:-8] + "AAAAAAAA"
    assert login_error(connect(), wrong) == f"[AUTHENTICATIONFAILED] {texts.AUTH_FAILED}"


def test_unknown_revoked_and_wrong_secret_fail_alike(connect, account):
    from passwords import tokens

    unknown = tokens.generate(tokens.IMAP).value
    body = f"mk_imap_{account.password.split('_')[2]}_{'x' * tokens.SECRET_LENGTH}"
    wrong_secret = body + tokens._checksum(body)  # well-formed, right key id, wrong secret
    assert tokens.parse(wrong_secret) is not None
    answers = {login_error(connect(), unknown), login_error(connect(), "not-a-password")}
    service.revoke_app_password(app_password=AppPassword.objects.get())
    answers.add(login_error(connect(), account.password))
    answers.add(login_error(connect(), wrong_secret))
    assert answers == {f"[AUTHENTICATIONFAILED] {texts.AUTH_FAILED}"}


def test_api_key_as_password_is_told_so(connect, account):
    _, api_key = service.create_api_key(owner=account.mailbox.domain.owner, label="CI")
    answer = login_error(connect(), api_key)
    assert answer.startswith("[AUTHENTICATIONFAILED] That is an API key, not an IMAP app-password.")


@pytest.mark.parametrize(
    ("verified", "retention", "reason"),
    [
        (False, "retain", "The domain unverified.example is not MX-verified yet."),
        (True, "passthrough", "The domain unverified.example is on zero-retention, so no mail is stored."),
    ],
    ids=["not-mx-verified", "zero-retention"],
)
def test_ineligible_domain_is_refused_with_the_reason(connect, transactional_db, verified, retention, reason):
    other = make_account("me@unverified.example", verified=verified, retention=retention)
    answer = login_error(connect(), other.password)
    assert answer.startswith(
        "[CONTACTADMIN] No mailbox - the domain must carry this account's TXT record, be MX-verified and "
        "not be on zero-retention."
    )
    assert answer.endswith(reason)


def test_authenticate_plain_with_initial_response(connect, account):
    client = connect()
    blob = base64.b64encode(b"\x00me\x00" + account.password.encode()).decode()
    typ, _ = client._simple_command("AUTHENTICATE", "PLAIN", blob)
    assert typ == "OK"


def test_authenticate_plain_with_continuation(connect, account):
    client = connect()
    typ, _ = client.authenticate("PLAIN", lambda _: b"\x00me\x00" + account.password.encode())
    assert typ == "OK"
    assert client.select("INBOX")[0] == "OK"


def test_authenticate_unknown_mechanism_is_refused(connect, account):
    with pytest.raises(imaplib.IMAP4.error, match="CANNOT"):
        connect().authenticate("CRAM-MD5", lambda _: b"x")


def test_commands_before_login_are_refused_with_a_sentence(connect):
    client = connect()  # imaplib itself refuses SELECT before login, so speak raw IMAP
    client.send(b"x1 SELECT INBOX\r\n")
    assert client.readline() == b"x1 BAD Log in first (LOGIN or AUTHENTICATE PLAIN with an app-password).\r\n"


def test_last_used_is_recorded_with_address_and_client_name(connect, account):
    client = connect()
    client.login("x", account.password)
    client.xatom("ID", '("name" "Thunderbird\x01" "version" "153.0")')
    row = AppPassword.objects.get()
    assert row.last_used_at is not None
    assert row.last_used_ip == "127.0.0.1"
    assert row.last_used_client == "Thunderbird"


def test_a_full_login_queue_answers_unavailable_not_a_wrong_password(transactional_db, certs, account):
    from imapd.server import ServerOptions
    from tests.conftest import RunningServer

    running = RunningServer(certs, ServerOptions(failure_delay=0.01), login_queue=0)
    try:
        client = imaplib.IMAP4_SSL(running.host, running.port, ssl_context=certs.client_context())
        assert login_error(client, account.password) == f"[UNAVAILABLE] {texts.LOGIN_BUSY}"
        client.logout()
    finally:
        running.stop()
