"""Issue 15 points 1-3 and 7 in the REST API: expiry, allowed networks and scope at creation, in
the list, and changed later; every invalid value a problem document pointing at its field."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from passwords import service
from passwords.models import AppPassword, AuditEntry
from tests.web.conftest import PASSWORD, Person, dashboard_actor
from tests.web.test_api import URL, new, problem

pytestmark = pytest.mark.django_db


def test_create_with_limits_shows_them(api_alice: APIClient, alice: Person) -> None:
    created = new(
        api_alice, alice, expires="7", allowed_networks=["192.0.2.7/24", "2001:db8::1"], scope="read-only"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["status"] == "active"
    assert body["expires"] == "expires in 7 days"
    assert body["allowed_networks"] == ["192.0.2.0/24", "2001:db8::1"]
    assert body["scope"] == "read-only"
    row = AppPassword.objects.get(pk=body["id"])
    assert abs(row.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    listed = api_alice.get(URL).json()["results"][0]
    assert (listed["expires"], listed["scope"]) == ("expires in 7 days", "read-only")


def test_defaults_are_todays_behaviour(api_alice: APIClient, alice: Person) -> None:
    body = new(api_alice, alice).json()
    assert (body["expires_at"], body["expires"], body["allowed_networks"], body["scope"]) == (
        None,
        "",
        [],
        "read-and-flag",
    )


def test_a_date_expires_at_midnight_utc(api_alice: APIClient, alice: Person) -> None:
    day = (timezone.now() + timedelta(days=40)).date().isoformat()
    body = new(api_alice, alice, expires=day).json()
    assert body["expires_at"] == f"{day}T00:00:00Z"


@pytest.mark.parametrize(
    ("extra", "pointer", "detail"),
    [
        ({"expires": "8"}, "#/expires", "Expiry in days must be one of 7, 30, 90, 365; or give a date."),
        ({"expires": "soon"}, "#/expires", "Give the expiry as never, a number of days (7, 30, 90 or 365) "
         "or a date like 2027-03-01."),
        ({"expires": "2020-01-01"}, "#/expires", "Choose an expiry date after today."),
        ({"expires": "2999-01-01"}, "#/expires", "Choose an expiry date within 5 years."),
        ({"allowed_networks": ["10.0.0.0/33"]}, "#/allowed_networks", "“10.0.0.0/33” is not an IP address "
         "or network; write it like 192.0.2.7, 192.0.2.0/24 or 2001:db8::/48."),
        ({"allowed_networks": "10.0.0.0/8"}, "#/allowed_networks", 'Expected a list of items but got type "str".'),
        ({"allowed_networks": [f"10.0.0.{n}" for n in range(21)]}, "#/allowed_networks",
         "Ensure this field has no more than 20 elements."),
        ({"scope": "write"}, "#/scope", '"write" is not a valid choice.'),
    ],
    ids=["days", "words", "past", "far", "cidr", "not-a-list", "too-many", "scope"],
)
def test_invalid_limits_are_problems_naming_the_field(
    api_alice: APIClient, alice: Person, extra: dict, pointer: str, detail: str
) -> None:
    body = problem(new(api_alice, alice, **extra), 400, "validation-error")
    assert [(e["pointer"], e["detail"]) for e in body["errors"]] == [(pointer, detail)]
    assert not AppPassword.objects.exists()


def test_expired_passwords_are_listed_as_expired(api_alice: APIClient, alice: Person) -> None:
    old = new(api_alice, alice, label="old", expires="30").json()
    fresh = new(api_alice, alice, label="fresh").json()
    AppPassword.objects.filter(pk=old["id"]).update(expires_at=timezone.now() - timedelta(days=1))
    shown = {row["label"]: row for row in api_alice.get(URL).json()["results"]}
    assert shown["old"]["status"] == "expired"
    assert shown["old"]["expires"].startswith("expired on ")
    assert shown["fresh"]["status"] == "active"
    assert [r["id"] for r in api_alice.get(URL, {"status": "active"}).json()["results"]] == [fresh["id"]]
    assert [r["id"] for r in api_alice.get(URL, {"status": "expired"}).json()["results"]] == [old["id"]]


def patch(client: APIClient, row_id: int, **fields):
    return client.patch(f"{URL}{row_id}/", fields, format="json")


def test_a_session_may_shorten_and_narrow_but_must_reenter_to_widen(alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="laptop", expires="90",
        allowed_networks=["192.0.2.0/24"],
    )
    client = APIClient()
    client.force_login(alice.user)  # signed in, no recent re-entry of the account password
    shortened = patch(client, row.pk, expires="7", allowed_networks=["192.0.2.8"], scope="read-only")
    assert shortened.status_code == 200, shortened.content
    assert shortened.json()["allowed_networks"] == ["192.0.2.8"]
    for wider in ({"expires": "30"}, {"expires": "never"}, {"allowed_networks": ["192.0.2.0/24"]},
                  {"allowed_networks": []}, {"scope": "read-and-flag"}):
        problem(patch(client, row.pk, **wider), 403, "reauthentication-required")
    widened = patch(client, row.pk, expires="never", scope="read-and-flag", account_password=PASSWORD)
    assert widened.status_code == 200
    assert (widened.json()["expires_at"], widened.json()["scope"]) == (None, "read-and-flag")
    assert AuditEntry.objects.filter(action=AuditEntry.Action.APP_PASSWORD_CHANGED).count() == 2


def test_patch_needs_the_write_scope_and_rejects_bad_values(api_alice: APIClient, alice: Person) -> None:
    row_id = new(api_alice, alice).json()["id"]
    _key, secret = service.create_api_key(owner=alice.user, label="ro", scopes=["app-passwords:read"])
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    problem(patch(reader, row_id, expires="7"), 403, "insufficient-scope")
    body = problem(patch(api_alice, row_id, allowed_networks=["nowhere"]), 400, "validation-error")
    assert body["errors"][0]["pointer"] == "#/allowed_networks"
    assert patch(api_alice, row_id, expires="30").json()["expires"] == "expires in 30 days"
    api_alice.delete(f"{URL}{row_id}/")
    body = problem(patch(api_alice, row_id, expires="7"), 400, "validation-error")
    assert body["errors"][0]["detail"] == "This app-password is revoked; create a new one."


def test_the_schema_describes_the_limits() -> None:
    answer = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schema = json.loads(answer.content)
    create = schema["components"]["schemas"]["AppPasswordCreateRequest"]["properties"]
    assert {"expires", "allowed_networks", "scope"} <= set(create)
    assert "patch" in schema["paths"]["/api/v1/app-passwords/{id}/"]
