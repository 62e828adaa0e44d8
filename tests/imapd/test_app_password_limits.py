"""Issue 15 points 1-3 over real TLS against the real database: expiry, allowed networks and the
read-only scope, as imaplib, IMAPClient and raw command lines see them."""

from __future__ import annotations

import imaplib
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from imapclient import IMAPClient

from passwords import service
from passwords.models import AppPassword
from tests.adversarial.login_helpers import SourceIMAP
from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)


def new_password(account, **limits) -> str:
    _, secret = service.user_create_app_password(
        actor=service.command_line(), mailbox=account.mailbox, label=f"limited {time.monotonic()}", **limits
    )
    return secret


def key_row(secret: str) -> AppPassword:
    return AppPassword.objects.get(key_id=secret.split("_")[2])


# -- expiry -------------------------------------------------------------------------------------------


def test_expired_password_fails_login_with_its_own_sentence(connect, account):
    secret = new_password(account, expires="7")
    AppPassword.objects.filter(pk=key_row(secret).pk).update(
        expires_at=datetime(2026, 3, 1, tzinfo=UTC)
    )
    wire = Wire(connect())
    reply = wire.no(f"a LOGIN me {secret}", "AUTHENTICATIONFAILED")
    assert reply.endswith(
        b"This app-password expired on 2026-03-01; create a new one in Settings > IMAP."
    ), reply


def test_expired_password_fails_even_after_a_cached_verification(connect, account):
    secret = new_password(account, expires="30")
    first = connect()
    assert first.login("me", secret)[0] == "OK"  # the verification is now cached in this process
    AppPassword.objects.filter(pk=key_row(secret).pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(imaplib.IMAP4.error, match="expired on"):
        connect().login("me", secret)


def test_live_session_ends_with_bye_at_the_moment_of_expiry(connect, account, demo_mail):
    secret = new_password(account, expires="7")
    expires_at = timezone.now() + timedelta(seconds=2)
    AppPassword.objects.filter(pk=key_row(secret).pk).update(expires_at=expires_at)
    client = connect()
    wire = Wire(client)
    wire.login(secret)
    wire.ok("s SELECT INBOX")
    wire.send("i IDLE")
    assert wire.response().startswith(b"+ ")
    bye = wire.response()  # no command from the client: the server speaks at expiry
    ended = timezone.now()
    day = expires_at.date().isoformat()
    assert bye == f"* BYE This app-password expired on {day}; create a new one in Settings > IMAP.".encode()
    assert expires_at <= ended < expires_at + timedelta(seconds=1.5)


# -- allowed networks ---------------------------------------------------------------------------------


def from_source(imap_server, certs, source: str) -> SourceIMAP:
    return SourceIMAP(imap_server.host, imap_server.port, source=source, ssl_context=certs.client_context())


def test_login_from_outside_the_allowlist_names_the_address_seen(imap_server, certs, account):
    secret = new_password(account, allowed_networks=["127.0.0.1/32", "2001:db8::/48"])
    outside = from_source(imap_server, certs, "127.0.0.2")
    with pytest.raises(imaplib.IMAP4.error) as refused:
        outside.login("me", secret)
    assert str(refused.value) == (
        "b'[AUTHENTICATIONFAILED] This app-password may not be used from 127.0.0.2.'"
    )
    inside = from_source(imap_server, certs, "127.0.0.1")
    assert inside.login("me", secret)[0] == "OK"
    inside.logout()


def test_narrowing_the_list_ends_a_session_from_outside_it(imap_server, certs, account):
    secret = new_password(account, allowed_networks=["127.0.0.0/8"])
    client = from_source(imap_server, certs, "127.0.0.2")
    client.login("me", secret)
    wire = Wire(client)
    wire.ok("s SELECT INBOX")
    service.user_update_app_password(
        actor=service.command_line(), app_password=key_row(secret), allowed_networks=["127.0.0.1"]
    )
    wire.send("i IDLE")
    assert wire.response().startswith(b"+ ")
    assert wire.response() == b"* BYE This app-password may no longer be used from 127.0.0.2."


# -- read-only ----------------------------------------------------------------------------------------


def test_read_only_seed_loop_completes_without_setting_seen(connect, account, demo_mail):
    client = connect()
    assert client.login(account.address, new_password(account, scope="read-only"))[0] == "OK"
    typ, data = client.select("INBOX")  # plain select(): [READ-WRITE] as for everyone
    assert typ == "OK"
    _, data = client.search(None, "UNSEEN")
    numbers = data[0].split()
    assert numbers
    fetched = 0
    for number in numbers:  # the seed's loop: fetch each unseen message, then try to mark it
        typ, raw = client.fetch(number, "(RFC822)")
        assert typ == "OK" and raw[0][1]
        assert b"\\Seen" not in raw[0][0]
        typ, answer = client.store(number, "+FLAGS", "(\\Seen)")
        assert typ == "NO"
        assert answer[0].startswith(b"[NOPERM] This app-password is read-only")
        fetched += 1
    assert fetched == len(numbers)
    _, data = client.search(None, "UNSEEN")
    assert data[0].split() == numbers  # nothing was marked read


def test_read_only_answers_on_the_wire(connect, account, demo_mail):
    wire = Wire(connect())
    wire.login(new_password(account, scope="read-only"))
    untagged = wire.ok("s SELECT INBOX", "READ-WRITE")
    assert b"* OK [PERMANENTFLAGS ()] Flags you can change" in untagged
    assert wire.ok("r MYRIGHTS INBOX") == [b'* MYRIGHTS "INBOX" lr']
    fetched = wire.ok("f FETCH 1 (BODY[])")
    assert b"\\Seen" not in b"".join(fetched)
    wire.no("st UID STORE 1:* +FLAGS (\\Flagged)", "NOPERM")
    assert b"\\Flagged" not in b"".join(wire.ok("g FETCH 1:* (FLAGS)"))


def test_read_and_flag_is_the_default_and_unchanged(connect, account, demo_mail):
    wire = Wire(connect())
    wire.login(account.password)
    untagged = wire.ok("s SELECT INBOX", "READ-WRITE")
    assert any(line.startswith(b"* OK [PERMANENTFLAGS (\\") for line in untagged), untagged
    assert wire.ok("r MYRIGHTS INBOX") == [b'* MYRIGHTS "INBOX" lrsw']
    assert b"\\Seen" in b"".join(wire.ok("f FETCH 1 (BODY[])"))


def test_read_only_with_imapclient(imap_server, certs, account, demo_mail):
    client = IMAPClient(imap_server.host, port=imap_server.port, ssl_context=certs.client_context(), timeout=20)
    client.login(account.address, new_password(account, scope="read-only"))
    client.select_folder("INBOX")
    uids = client.search("UNSEEN")
    bodies = client.fetch(uids, ["BODY[]", "FLAGS"])
    assert all(b"\\Seen" not in data[b"FLAGS"] for data in bodies.values())
    with pytest.raises(IMAPClient.Error, match="NOPERM"):
        client.add_flags(uids[:1], [b"\\Flagged"])
    assert client.search("UNSEEN") == uids
    client.logout()


def test_making_a_password_read_only_ends_its_flagging_sessions(connect, account):
    wire = Wire(connect())
    wire.login(account.password)
    wire.ok("s SELECT INBOX")
    service.user_update_app_password(
        actor=service.command_line(), app_password=key_row(account.password), scope="read-only"
    )
    wire.send("i IDLE")
    assert wire.response().startswith(b"+ ")
    assert wire.response() == b"* BYE This app-password was made read-only; log in again to continue."


def test_a_sooner_expiry_moves_the_live_sessions_timer(connect, account):
    """A changed expiry reaches live sessions through the credential event, as the service sends it."""
    from mailkite.events import publish as events

    secret = new_password(account, expires="30")
    wire = Wire(connect())
    wire.login(secret)
    wire.ok("s SELECT INBOX")
    row = key_row(secret)
    soon = timezone.now() + timedelta(seconds=1.5)
    AppPassword.objects.filter(pk=row.pk).update(expires_at=soon)
    events.publish(events.CREDENTIAL, row.pk)
    wire.send("i IDLE")
    assert wire.response().startswith(b"+ ")
    assert wire.response().startswith(b"* BYE This app-password expired on ")
    assert timezone.now() >= soon
