"""Settings → IMAP through Django's test client: what the page shows, creating (secret shown
once, never cached, never logged), revoking, addresses, and each user seeing only their own."""

from __future__ import annotations

import base64
import logging
import plistlib
import re

import pytest
from django.test import Client
from django.urls import reverse

from mailkite.events.models import ChangeCounter
from mailkite.mail import services as mail_services
from passwords import service
from passwords.models import AppPassword, AuditEntry
from tests.web.conftest import PASSWORD, Person, dashboard_actor, make_person

pytestmark = pytest.mark.django_db
SECRET = re.compile(rb"mk_imap_[0-9A-Za-z]{10}_[0-9A-Za-z]{36}")


def create(client: Client, person: Person, label: str = "Thunderbird", password: str = PASSWORD):
    return client.post(
        reverse("app-password-new"), {"label": label, "mailbox": person.mailbox.pk, "password": password}
    )


@pytest.mark.parametrize(
    "name",
    [
        "imap-settings",
        "app-password-new",
        "mailbox-new",
        "client-setup",
        "api-keys",
        "api-key-new",
        "password_change",
    ],
)
def test_every_page_needs_sign_in(client: Client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_page_lists_connection_details_from_settings(
    client_alice: Client, alice: Person, settings
) -> None:
    page = client_alice.get(reverse("imap-settings")).content.decode()
    config = settings.MAILKITE
    assert f'<code id="setting-1-c">{config.imap_public_host}</code>' in page
    assert f">{config.imap_public_port}</code>" in page
    assert "implicit TLS" in page
    assert alice.address in page
    assert "INBOX and Sent" in page
    assert 'data-copy="#setting-1-c"' in page  # copy buttons, shown by JavaScript


def test_domains_say_why_they_cannot_use_imap(client_alice: Client, alice: Person) -> None:
    mail_services.create_domain(name="unverified.example", owner=alice.user, mx_verified=False)
    mail_services.create_domain(
        name="passthrough.example", owner=alice.user, mx_verified=True, retention="passthrough"
    )
    encrypted = mail_services.create_domain(name="sealed.example", owner=alice.user, mx_verified=True)
    encrypted.encryption = "pgp"
    encrypted.save()
    page = client_alice.get(reverse("imap-settings")).content.decode()
    assert "Not MX-verified yet" in page
    assert "Zero-retention: mail is passed to your webhook and not stored" in page
    assert (
        "Mail is stored encrypted (OpenPGP (PGP/MIME)); IMAP serves it as stored and your mail client decrypts it"
        in page
    )


def test_creating_shows_the_secret_once_and_never_caches_it(client_alice: Client, alice: Person) -> None:
    response = create(client_alice, alice)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secrets = set(SECRET.findall(response.content))
    assert len(secrets) == 1
    secret = secrets.pop().decode()
    assert "won't be shown again" in response.content.decode()
    assert service.verify_app_password(secret).address == alice.address
    row = AppPassword.objects.get()
    assert secret not in row.hash and row.label == "Thunderbird"
    # Nowhere afterwards: not the list, not the form, not the session.
    for url in (reverse("imap-settings"), reverse("app-password-new")):
        later = client_alice.get(url)
        assert secret.encode() not in later.content
        assert row.display in client_alice.get(reverse("imap-settings")).content.decode()
    assert secret not in str(dict(client_alice.session.items()))
    assert "mk_imap_" not in response.request["PATH_INFO"] + response.request.get("QUERY_STRING", "")


def test_the_secret_never_reaches_a_log(client_alice: Client, alice: Person, caplog) -> None:
    with caplog.at_level(logging.DEBUG):
        response = create(client_alice, alice)
    secret = SECRET.search(response.content).group().decode()
    assert caplog.records  # something was logged (SQL at DEBUG), just never the secret
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert PASSWORD not in record.getMessage()


def test_a_wrong_account_password_creates_nothing(client_alice: Client, alice: Person) -> None:
    response = create(client_alice, alice, password="not it")
    assert response.status_code == 200
    assert "That is not your account password." in response.content.decode()
    assert not SECRET.search(response.content)
    assert not AppPassword.objects.exists()


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("", "This field is required."),
        ("x" * 65, "Ensure this value has at most 64 characters"),
        ("Thunderbird", "You already have an active app-password labelled “Thunderbird”."),
        ("THUNDERBIRD", "You already have an active app-password labelled “THUNDERBIRD”."),
    ],
    ids=["empty", "too-long", "duplicate", "duplicate-any-case"],
)
def test_labels_are_required_short_and_unique(
    client_alice: Client, alice: Person, label: str, message: str
) -> None:
    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Thunderbird")
    response = create(client_alice, alice, label=label)
    assert message in response.content.decode()
    assert AppPassword.objects.count() == 1


def test_a_revoked_label_can_be_used_again(client_alice: Client, alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Phone"
    )
    service.user_revoke_app_password(actor=dashboard_actor(alice), app_password=row)
    assert SECRET.search(create(client_alice, alice, label="Phone").content)


def test_only_own_eligible_mailboxes_are_offered(client_alice: Client, alice: Person, bob: Person) -> None:
    off = mail_services.create_domain(name="off.example", owner=alice.user, mx_verified=False)
    off_box = mail_services.create_mailbox(domain=off, local_part="x")
    page = client_alice.get(reverse("app-password-new")).content.decode()
    assert alice.address in page
    assert off_box.address not in page and bob.address not in page
    for mailbox in (bob.mailbox, off_box):
        response = client_alice.post(
            reverse("app-password-new"), {"label": "sneaky", "mailbox": mailbox.pk, "password": PASSWORD}
        )
        assert "Select a valid choice" in response.content.decode()
    assert not AppPassword.objects.exists()


def test_users_see_only_their_own_passwords(client_alice: Client, alice: Person, bob: Person) -> None:
    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Alice phone")
    theirs, _ = service.user_create_app_password(
        actor=dashboard_actor(bob), mailbox=bob.mailbox, label="Bob laptop"
    )
    page = client_alice.get(reverse("imap-settings")).content.decode()
    assert "Alice phone" in page and "Bob laptop" not in page
    assert client_alice.get(reverse("app-password-revoke", args=[theirs.pk])).status_code == 404
    assert client_alice.post(reverse("app-password-revoke", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_revoking_asks_first_then_takes_effect_at_once(client_alice: Client, alice: Person) -> None:
    row, secret = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Old phone"
    )
    confirm = client_alice.get(reverse("app-password-revoke", args=[row.pk])).content.decode()
    assert (
        "Mail apps using “Old phone” will be disconnected immediately and must be given a new password."
        in confirm
    )
    assert AppPassword.objects.get().revoked_at is None  # a GET changes nothing
    response = client_alice.post(reverse("app-password-revoke", args=[row.pk]), follow=True)
    assert "Revoked “Old phone”" in response.content.decode()
    with pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(secret)
    # imapd hears of it through the change counters (and Redis, when configured).
    assert ChangeCounter.objects.filter(kind="credential", key=row.pk).exists()
    page = client_alice.get(reverse("imap-settings")).content.decode()
    assert "Revoked app-passwords (1)" in page
    again = client_alice.post(reverse("app-password-revoke", args=[row.pk]), follow=True)
    assert "was already revoked" in again.content.decode()


def test_the_audit_trail_records_who_did_what(client_alice: Client, alice: Person) -> None:
    create(client_alice, alice, label="Laptop")
    row = AppPassword.objects.get()
    client_alice.post(reverse("app-password-revoke", args=[row.pk]))
    entries = list(
        AuditEntry.objects.order_by("created_at", "id").values_list("action", "via", "actor__username", "ip")
    )
    assert entries == [
        ("app_password.created", "dashboard", "alice", "127.0.0.1"),
        ("app_password.revoked", "dashboard", "alice", "127.0.0.1"),
    ]
    page = client_alice.get(reverse("imap-settings")).content.decode()
    assert "created the app-password “Laptop (alice@alice.example)”" in page
    assert "revoked the app-password “Laptop”" in page


def test_adding_an_address_before_mail_arrives(client_alice: Client, alice: Person) -> None:
    response = client_alice.post(
        reverse("mailbox-new"), {"local_part": "Agent", "domain": alice.domain.pk}, follow=True
    )
    assert "Added agent@alice.example" in response.content.decode()
    mailbox = mail_services.find_mailbox("agent@alice.example")
    assert mailbox is not None
    assert sorted(mailbox.folders.values_list("name", flat=True)) == ["INBOX", "Sent"]
    again = client_alice.post(reverse("mailbox-new"), {"local_part": "agent", "domain": alice.domain.pk})
    assert "agent@alice.example already exists." in again.content.decode()
    bad = client_alice.post(reverse("mailbox-new"), {"local_part": "a b", "domain": alice.domain.pk})
    assert "cannot start an email address" in bad.content.decode()
    assert AuditEntry.objects.filter(action="mailbox.created", target="agent@alice.example").count() == 1


def test_addresses_only_on_own_eligible_domains(client_alice: Client, alice: Person, bob: Person) -> None:
    off = mail_services.create_domain(name="off.example", owner=alice.user, mx_verified=False)
    for domain in (off, bob.domain):
        response = client_alice.post(reverse("mailbox-new"), {"local_part": "x", "domain": domain.pk})
        assert "Select a valid choice" in response.content.decode()
    assert mail_services.find_mailbox("x@off.example") is None


def test_without_an_eligible_address_there_is_nothing_to_create(client: Client, db) -> None:
    person = make_person("carol", "carol.example", verified=False)
    client.force_login(person.user)
    page = client.get(reverse("imap-settings")).content.decode()
    assert "New app-password" not in page
    assert "you first need an address on a domain that can use IMAP" in page


def test_api_keys_are_created_once_and_revoked(client_alice: Client, alice: Person) -> None:
    response = client_alice.post(
        reverse("api-key-new"), {"label": "CI", "scopes": ["app-passwords:read", "app-passwords:write"], "password": PASSWORD}
    )
    assert response["Cache-Control"] == "no-store"
    key = re.search(rb"mk_api_[0-9A-Za-z]{10}_[0-9A-Za-z]{36}", response.content).group().decode()
    assert service.authenticate_api_key(key=key, ip=None).owner == alice.user
    listing = client_alice.get(reverse("api-keys")).content
    assert key.encode() not in listing and b"CI" in listing
    row = alice.user.api_keys.get()
    client_alice.post(reverse("api-key-revoke", args=[row.pk]))
    with pytest.raises(service.AuthenticationFailed):
        service.authenticate_api_key(key=key, ip=None)
    wrong = client_alice.post(reverse("api-key-new"), {"label": "CI 2", "password": "nope"})
    assert "That is not your account password." in wrong.content.decode()


def test_client_profiles_and_autoconfig_are_hidden_without_smtp(client_alice: Client, alice: Person) -> None:
    response = create(client_alice, alice)
    assert b".mobileconfig" not in response.content
    assert client_alice.get(reverse("mailbox-profile", args=[alice.mailbox.pk])).status_code == 404
    assert Client().get("/.well-known/autoconfig/mail/config-v1.1.xml").status_code == 404
    assert Client().get("/mail/config-v1.1.xml").status_code == 404


def test_the_one_time_page_carries_a_profile_with_the_password(
    client_alice: Client, alice: Person, smtp
) -> None:
    response = create(client_alice, alice)
    secret = SECRET.search(response.content).group().decode()
    link = re.search(
        r'href="data:application/x-apple-aspen-config;base64,([^"]+)" download="([^"]+)"',
        response.content.decode(),
    )
    assert link is not None
    assert link.group(2) == "alice@alice.example.mobileconfig"
    profile = plistlib.loads(base64.b64decode(link.group(1)))
    account = profile["PayloadContent"][0]
    assert account["IncomingPassword"] == secret
    assert account["IncomingMailServerHostName"] == "imap.mailkite.test"
    assert account["OutgoingMailServerHostName"] == "smtp.mailkite.test"


def test_the_password_less_profile_is_there_any_time(
    client_alice: Client, alice: Person, bob: Person, smtp
) -> None:
    response = client_alice.get(reverse("mailbox-profile", args=[alice.mailbox.pk]))
    assert response["Content-Type"] == "application/x-apple-aspen-config"
    assert response["Content-Disposition"] == 'attachment; filename="alice@alice.example.mobileconfig"'
    account = plistlib.loads(response.content)["PayloadContent"][0]
    assert "IncomingPassword" not in account
    assert account["EmailAddress"] == alice.address
    assert client_alice.get(reverse("mailbox-profile", args=[bob.mailbox.pk])).status_code == 404


def test_client_setup_explains_thunderbird_and_apple_mail(client_alice: Client, alice: Person, smtp) -> None:
    page = client_alice.get(reverse("client-setup")).content.decode()
    assert "Place a copy in" in page
    assert "Sent Mailbox" in page
    assert "imap.mailkite.test" in page and "smtp.mailkite.test" in page
    assert reverse("mailbox-profile", args=[alice.mailbox.pk]) in page
