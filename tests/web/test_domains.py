"""Settings → Domains and the domain API actions: add, verify now, retention, purge, encryption."""

from __future__ import annotations

import dataclasses
import socket

import pytest
from django.urls import reverse

from mailkite.mail import ingest
from mailkite.mail.models import Domain, Message
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_domains_page_lists_status_and_the_mx_record_to_publish(client_alice):
    page = client_alice.get(reverse("domains")).content.decode()
    assert "alice.example" in page
    assert "alice.example.  3600  IN  MX  10 mx.mailkite.dev." in page
    assert "IMAP on." in page


def test_adding_a_domain_starts_unverified(client_alice, alice):
    response = client_alice.post(reverse("domains"), {"name": "New-Shop.Example"}, follow=True)
    assert "Added new-shop.example" in response.content.decode()
    domain = Domain.objects.get(name="new-shop.example")
    assert domain.owner == alice.user and domain.mx_verified_at is None
    assert "not MX-verified yet" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "error"),
    [("not a domain", "is not a valid domain name"), ("alice.example", "You have already added alice.example")],
    ids=["invalid", "duplicate"],
)
def test_adding_a_bad_domain_is_a_form_error(client_alice, name, error):
    response = client_alice.post(reverse("domains"), {"name": name})
    assert response.status_code == 200
    assert error in response.content.decode()


def test_verify_now_reports_could_not_check_in_words(client_alice, settings):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        silent_port = sock.getsockname()[1]
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, dns_nameserver="127.0.0.1", dns_port=silent_port, dns_timeout=1.0
    )
    response = client_alice.post(reverse("domain-verify", args=["alice.example"]), follow=True)
    assert "Could not check alice.example" in response.content.decode()
    assert Domain.objects.get(name="alice.example").mx_verified_at is not None  # nothing changed


def test_other_users_domains_are_not_found(client_alice, bob):
    assert client_alice.post(reverse("domain-verify", args=["bob.example"])).status_code == 404


def test_zero_retention_needs_confirmation_and_keeps_mail_until_purged(client_alice, alice):
    domain = Domain.objects.get(name="alice.example")
    mailbox = domain.mailboxes.first()
    ingest.store(mailbox=mailbox, raw=b"Subject: kept\r\n\r\nhi\r\n")
    url = reverse("domain-retention", args=["alice.example"])
    assert "disconnected now" in client_alice.get(url).content.decode()
    assert client_alice.post(url, {}).status_code == 200  # not confirmed: nothing changes
    assert Domain.objects.get(pk=domain.pk).retention == "retain"
    client_alice.post(url, {"confirm": "on", "password": PASSWORD})
    assert Domain.objects.get(pk=domain.pk).retention == "passthrough"
    assert Message.objects.count() == 1
    client_alice.post(reverse("domain-purge", args=["alice.example"]), {"confirm": "on", "password": PASSWORD})
    assert Message.objects.count() == 0


def test_encryption_form_refuses_a_bad_key_in_words(client_alice):
    url = reverse("domain-encryption", args=["alice.example"])
    response = client_alice.post(url, {"encryption": "pgp", "key": "not a key", "password": PASSWORD})
    assert "not an ASCII-armoured OpenPGP public key" in response.content.decode()
    assert Domain.objects.get(name="alice.example").encryption == "none"
    response = client_alice.post(url, {"encryption": "smime", "key": ""})
    assert "Paste the public key or certificate" in response.content.decode()


# -- the API -----------------------------------------------------------------------------------


def test_api_adds_a_domain_unverified_and_verifies_it(api_alice, settings):
    response = api_alice.post("/api/v1/domains/", {"name": "shop.example"}, format="json")
    assert response.status_code == 201
    assert response.json()["mx_verified_at"] is None
    assert response.json()["imap_reason"]
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, dns_nameserver="127.0.0.1", dns_port=9, dns_timeout=1.0
    )
    checked = api_alice.post("/api/v1/domains/shop.example/verify/").json()
    assert checked["mx_outcome"] in ("timeout", "servfail")
    assert checked["mx_detail"].startswith("Could not check shop.example")


def test_api_domain_errors_are_problem_documents(api_alice, bob):
    duplicate = api_alice.post("/api/v1/domains/", {"name": "alice.example"}, format="json")
    assert duplicate.status_code == 400
    assert duplicate["Content-Type"] == "application/problem+json"
    assert "You have already added alice.example" in duplicate.json()["errors"][0]["detail"]
    assert api_alice.post("/api/v1/domains/bob.example/verify/").status_code == 404
    bad_key = api_alice.put(
        "/api/v1/domains/alice.example/encryption/", {"encryption": "pgp", "key": "nope"}, format="json"
    )
    assert bad_key.status_code == 400
    assert "not an ASCII-armoured OpenPGP public key" in bad_key.json()["errors"][0]["detail"]


def test_api_retention_and_purge(api_alice):
    domain = Domain.objects.get(name="alice.example")
    ingest.store(mailbox=domain.mailboxes.first(), raw=b"Subject: x\r\n\r\nhi\r\n")
    assert (
        api_alice.post(
            "/api/v1/domains/alice.example/purge-mail/", {"confirm": True}, format="json"
        ).status_code
        == 400
    )
    changed = api_alice.post(
        "/api/v1/domains/alice.example/retention/", {"retention": "passthrough"}, format="json"
    )
    assert changed.json()["retention"] == "passthrough"
    assert (
        api_alice.post(
            "/api/v1/domains/alice.example/purge-mail/", {"confirm": False}, format="json"
        ).status_code
        == 400
    )
    assert (
        api_alice.post(
            "/api/v1/domains/alice.example/purge-mail/", {"confirm": True}, format="json"
        ).status_code
        == 200
    )
    assert Message.objects.count() == 0


# -- ownership (the TXT challenge) ---------------------------------------------------------------


def test_domains_page_shows_the_exact_txt_record_with_a_copy_button(client_alice, alice, bob):
    client_alice.post(reverse("domains"), {"name": "bob.example"})  # bob owns it: alice may claim
    claim = Domain.objects.get(name="bob.example", owner=alice.user)
    page = client_alice.get(reverse("domains")).content.decode()
    value = f"mailkite-verification={claim.verification_token}"
    assert f'<code id="txt-{claim.pk}" class="txt-value">{value}</code>' in page
    assert f'data-copy="#txt-{claim.pk}"' in page
    assert f'bob.example.  3600  IN  TXT  &quot;{value}&quot;' in page
    assert f'_mailkite.bob.example.  3600  IN  TXT  &quot;{value}&quot;' in page
    assert "Ownership: Pending" in page and "<script" not in page.split("</head>")[1]
