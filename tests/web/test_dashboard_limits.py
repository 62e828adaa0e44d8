"""Settings → IMAP with the limits of issue 15 (points 1-3, 7), through Django's test client:
the create form's controls and their errors, the list, and changing limits later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from passwords import service
from passwords.models import AppPassword
from tests.web.conftest import PASSWORD, Person, dashboard_actor

pytestmark = pytest.mark.django_db


def create(client: Client, person: Person, **fields):
    data = {"label": "Backup", "mailbox": person.mailbox.pk, "password": PASSWORD, **fields}
    return client.post(reverse("app-password-new"), data)


def test_create_with_every_limit(client_alice: Client, alice: Person) -> None:
    response = create(
        client_alice, alice, scope="read-only", expires="30", allowed_networks="192.0.2.0/24\n2001:db8::/48"
    )
    assert response.status_code == 200 and b"mk_imap_" in response.content
    row = AppPassword.objects.get()
    assert (row.scope, row.allowed_networks) == ("read-only", ["192.0.2.0/24", "2001:db8::/48"])
    page = client_alice.get(reverse("imap-settings")).content.decode()
    assert "Active, expires in 30 days" in page
    assert "Read only · from 192.0.2.0/24, 2001:db8::/48" in page


def test_create_on_a_date(client_alice: Client, alice: Person) -> None:
    day = (timezone.now() + timedelta(days=3)).date()
    create(client_alice, alice, expires="date", expires_on=day.isoformat())
    row = AppPassword.objects.get()
    assert row.expires_at is not None
    assert (row.expires_at.date(), row.expires_at.time()) == (day, timezone.datetime.min.time())
    assert "Active, expires in " in client_alice.get(reverse("imap-settings")).content.decode()


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"expires": "date"}, "expires_on", "Choose the date it should stop working."),
        ({"expires": "date", "expires_on": "2001-01-01"}, "expires_on", "Choose an expiry date after today."),
        ({"expires": "date", "expires_on": "1 May"}, "expires_on", "Enter the date as YYYY-MM-DD."),
        ({"expires": "14"}, "expires", "Select a valid choice. 14 is not one of the available choices."),
        ({"allowed_networks": "192.0.2.0/24, my office"}, "allowed_networks", "“my” is not an IP address"),
        ({"scope": "admin"}, "scope", "Select a valid choice. admin is not one of the available choices."),
    ],
    ids=["date-missing", "date-past", "date-garbled", "days", "network", "scope"],
)
def test_bad_limits_are_form_errors(client_alice: Client, alice: Person, fields, field, message) -> None:
    response = create(client_alice, alice, **fields)
    assert response.status_code == 200
    form = response.context["form"]
    assert any(error.startswith(message) for error in form.errors[field]), form.errors
    assert not AppPassword.objects.exists()


def test_expired_passwords_are_listed_as_expired_not_active(client_alice: Client, alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Old phone", expires="7"
    )
    AppPassword.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(days=2))
    response = client_alice.get(reverse("imap-settings"))
    assert response.context["active"] == []
    assert [p.pk for p in response.context["expired"]] == [row.pk]
    assert "Expired on " in response.content.decode()


def test_limits_can_be_narrowed_freely_and_widened_with_the_password(alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Laptop", expires="90",
        allowed_networks=["192.0.2.0/24"],
    )
    client = Client()
    client.force_login(alice.user)  # no recent re-entry of the account password
    url = reverse("app-password-limits", args=[row.pk])
    assert client.get(url).status_code == 200
    narrowed = client.post(url, {"expires": "7", "allowed_networks": "192.0.2.9", "scope": "read-only"})
    assert narrowed.status_code == 302
    row.refresh_from_db()
    assert (row.allowed_networks, row.scope) == (["192.0.2.9"], "read-only")
    assert row.expires_at is not None and row.expires_at < timezone.now() + timedelta(days=8)
    widened = client.post(url, {"expires": "keep", "allowed_networks": "", "scope": "read-only"})
    assert widened.status_code == 200
    assert widened.context["form"].errors["password"] == [
        "Re-enter your account password to give an app-password a later expiry, more networks or flag rights."
    ]
    confirmed = client.post(
        url, {"expires": "keep", "allowed_networks": "", "scope": "read-and-flag", "password": PASSWORD}
    )
    assert confirmed.status_code == 302
    row.refresh_from_db()
    assert (row.allowed_networks, row.scope) == ([], "read-and-flag")
