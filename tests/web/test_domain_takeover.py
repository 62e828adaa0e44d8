"""Issue 11, "Domain takeover": a second account must not win a domain by the shared MX record.

Every customer publishes the same MX (MX_INBOUND_HOST), so the MX proves nothing about who owns a
domain. Through the real API and a real DNS server (dnsmasq), an attacker adds and verifies a
domain whose MX already points at MailKite; only the account whose TXT token is published wins it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from passwords import scopes, service
from tests.dnszone import Zone, mx_record, resolve_through, served_zone, txt_record

pytestmark = pytest.mark.django_db
VICTIM = "victim-corp.example"


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zone]:
    yield from served_zone(tmp_path_factory, mx_record(VICTIM))


@pytest.fixture
def dns(settings, zone: Zone) -> Zone:
    zone.publish(mx_record(VICTIM))
    resolve_through(settings, zone.port)
    return zone


def api_client_for(username: str) -> APIClient:
    user = get_user_model().objects.create_user(
        username=username, password="x", email=f"{username}@mail.example"
    )
    _, secret = service.create_api_key(owner=user, label="script", scopes=scopes.ALL)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_second_account_cannot_take_a_domain_by_its_mx_record(dns):
    mallory, victim = api_client_for("mallory"), api_client_for("victim")

    # The attacker adds the name first (MX already points at MailKite) and verifies it.
    added = mallory.post("/api/v1/domains/", {"name": VICTIM}, format="json")
    assert added.status_code == 201
    checked = mallory.post(f"/api/v1/domains/{VICTIM}/verify/").json()
    assert checked["mx_outcome"] == "verified"
    assert checked["imap_eligible"] is False  # the MX alone proves nothing
    assert checked["ownership"] == "pending"
    refused = mallory.post("/api/v1/mailboxes/", {"address": f"ceo@{VICTIM}"}, format="json")
    assert refused.status_code == 400

    # The real owner can still add the name, and is shown the exact record to publish.
    claim = victim.post("/api/v1/domains/", {"name": VICTIM}, format="json")
    assert claim.status_code == 201
    record = claim.json()["txt_record"]
    assert record["type"] == "TXT" and record["name"] == VICTIM
    assert record["value"].startswith("mailkite-verification=")
    assert record["value"] != added.json()["txt_record"]["value"]  # one token per account

    # Whoever proves the TXT first owns the name.
    dns.publish(mx_record(VICTIM), txt_record(VICTIM, record["value"]))
    won = victim.post(f"/api/v1/domains/{VICTIM}/verify/").json()
    assert won["ownership"] == "verified"
    assert won["imap_eligible"] is True
    assert victim.post("/api/v1/mailboxes/", {"address": f"ceo@{VICTIM}"}, format="json").status_code == 201

    # The attacker's claim is closed, in words, and verifying again changes nothing.
    lost = mallory.post(f"/api/v1/domains/{VICTIM}/verify/").json()
    assert lost["ownership"] == "closed"
    assert lost["imap_eligible"] is False
    assert "another MailKite account proved ownership" in lost["imap_reason"]
