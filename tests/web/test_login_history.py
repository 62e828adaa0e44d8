"""The login history in the API and the dashboard, its pruning, and the new-login alert switch
(issue 15.4-15.5). Rows are written through passwords.logins.write_logins, the path imapd's batch
takes (tests/imapd/test_login_history.py covers the real logins)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from passwords import alerts, logins, service, tasks
from passwords.models import AppPassword, LoginRecord
from tests.web.conftest import Person, dashboard_actor
from tests.web.test_api import problem

pytestmark = pytest.mark.django_db


def password_of(person: Person, label: str = "Laptop") -> AppPassword:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(person), mailbox=person.mailbox, label=label
    )
    return row


def history(row: AppPassword, count: int, *, start=None) -> None:  # type: ignore[no-untyped-def]
    start = start or timezone.now() - timedelta(minutes=count)
    logins.write_logins(
        [
            logins.LoginRow(
                key_id=row.key_id,
                app_password_id=row.pk,
                at=start + timedelta(minutes=i),
                ip=f"198.51.100.{i % 250}",
                tls_version="TLSv1.3",
                outcome="success" if i % 2 else "refused",
                reason="" if i % 2 else "wrong-secret",
                client_name=f"client {i}",
            )
            for i in range(count)
        ]
    )


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_the_api_pages_the_history_newest_first(alice: Person) -> None:
    row = password_of(alice)
    history(row, 60)
    _, secret = service.create_api_key(owner=alice.user, label="reader", scopes=["app-passwords:read"])
    client = bearer(secret)
    first = client.get(f"/api/v1/app-passwords/{row.pk}/logins/")
    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 60 and len(body["results"]) == 50
    newest = body["results"][0]
    assert newest["client"] == "client 59" and newest["outcome"] == "success"
    assert set(newest) == {"id", "at", "ip", "client", "tls_version", "outcome", "reason"}
    assert newest["tls_version"] == "TLSv1.3"
    second = client.get(f"/api/v1/app-passwords/{row.pk}/logins/?page=2").json()
    assert [r["client"] for r in second["results"]] == [f"client {i}" for i in range(9, -1, -1)]
    refused = second["results"][-1]
    assert (refused["outcome"], refused["reason"]) == ("refused", "wrong-secret")


def test_the_api_needs_app_passwords_read(alice: Person) -> None:
    row = password_of(alice)
    _, secret = service.create_api_key(owner=alice.user, label="domains", scopes=["domains:read"])
    answer = problem(bearer(secret).get(f"/api/v1/app-passwords/{row.pk}/logins/"), 403, "insufficient-scope")
    assert answer["scope"] == "app-passwords:read"


def test_another_users_password_is_a_404(alice: Person, bob: Person) -> None:
    row = password_of(bob)
    history(row, 3)
    _, secret = service.create_api_key(owner=alice.user, label="reader", scopes=["app-passwords:read"])
    problem(bearer(secret).get(f"/api/v1/app-passwords/{row.pk}/logins/"), 404, "not-found")
    client = Client()
    client.force_login(alice.user)
    assert client.get(f"/settings/imap/{row.pk}/logins/").status_code == 404


def test_a_bad_page_is_a_problem_document(alice: Person) -> None:
    row = password_of(alice)
    _, secret = service.create_api_key(owner=alice.user, label="reader", scopes=["app-passwords:read"])
    problem(bearer(secret).get(f"/api/v1/app-passwords/{row.pk}/logins/?page=x"), 400, "validation-error")


def test_the_schema_lists_the_logins_endpoint(alice: Person) -> None:
    client = Client()
    client.force_login(alice.user)
    spec = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    operation = spec["paths"]["/api/v1/app-passwords/{id}/logins/"]["get"]
    assert {"apiKey": ["app-passwords:read"]} in operation["security"]


def test_the_dashboard_shows_fifty_a_page(client_alice: Client, alice: Person) -> None:
    row = password_of(alice)
    history(row, 60)
    page = client_alice.get(f"/settings/imap/{row.pk}/logins/").content.decode()
    assert page.count("<time datetime=") == 50
    assert "client 59" in page and "client 9<" not in page
    assert "Refused" in page and "the rest of the password is wrong" in page
    older = client_alice.get(f"/settings/imap/{row.pk}/logins/?page=2").content.decode()
    assert older.count("<time datetime=") == 10 and "client 0<" in older
    settings_page = client_alice.get("/settings/imap/").content.decode()
    assert f'href="/settings/imap/{row.pk}/logins/"' in settings_page


def test_pruning_keeps_the_configured_days(alice: Person) -> None:
    row = password_of(alice)
    now = timezone.now()
    history(row, 2, start=now - timedelta(days=91))
    history(row, 2, start=now - timedelta(days=89))
    assert tasks.prune_login_history.delay().get() == 2
    assert LoginRecord.objects.count() == 2
    assert all(r.at > now - timedelta(days=90) for r in LoginRecord.objects.all())
    assert logins.prune(days=1) == 2


def test_the_alert_switch_in_settings(client_alice: Client, alice: Person) -> None:
    page = client_alice.get("/settings/imap/").content.decode()
    assert 'name="new_login_alerts" id="id_new_login_alerts" checked' in page
    client_alice.post("/settings/imap/alerts/", {})
    assert not alerts.alerts_enabled(alice.user)
    assert 'id="id_new_login_alerts" checked' not in client_alice.get("/settings/imap/").content.decode()
    client_alice.post("/settings/imap/alerts/", {"new_login_alerts": "on"})
    assert alerts.alerts_enabled(alice.user)
