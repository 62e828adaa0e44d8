"""Django admin: the audit trail is shown read-only, hashes never, and revoking goes through the
credential service (so live sessions end and the trail records it)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from mailkite.events.models import ChangeCounter
from passwords import service
from passwords.models import AppPassword, AuditEntry
from tests.web.conftest import Person, dashboard_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: None) -> Client:
    staff = get_user_model().objects.create_superuser(username="root", password="x", email="root@example.com")
    client = Client()
    client.force_login(staff)
    return client


def test_audit_trail_is_listed_and_read_only(admin_client: Client, alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Laptop"
    )
    page = admin_client.get("/admin/passwords/auditentry/").content.decode()
    assert "app_password.created" in page or "created the app-password" in page
    entry = AuditEntry.objects.get()
    assert admin_client.get(f"/admin/passwords/auditentry/{entry.pk}/change/").status_code == 200
    assert (
        admin_client.post(f"/admin/passwords/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert admin_client.get("/admin/passwords/auditentry/add/").status_code == 403
    detail = admin_client.get(f"/admin/passwords/apppassword/{row.pk}/change/").content.decode()
    assert row.hash not in detail and "argon2" not in detail


def test_admin_revokes_through_the_service(admin_client: Client, alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Lost phone"
    )
    response = admin_client.post(
        "/admin/passwords/apppassword/",
        {"action": "revoke_selected", "_selected_action": [row.pk]},
        follow=True,
    )
    assert "Revoked 1 app-password(s)." in response.content.decode()
    assert AppPassword.objects.get().revoked_at is not None
    assert ChangeCounter.objects.filter(kind="credential", key=row.pk).exists()
    entry = AuditEntry.objects.get(action="app_password.revoked")
    assert (entry.owner, entry.actor.username, entry.via) == (alice.user, "root", "admin")


def test_admin_cannot_widen_a_passwords_limits(admin_client: Client, alice: Person) -> None:
    """The limits change through the service (validated, audited, sessions re-checked), not here."""
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Agent", expires="7",
        allowed_networks=["192.0.2.0/24"], scope="read-only",
    )
    admin_client.post(
        f"/admin/passwords/apppassword/{row.pk}/change/",
        {"label": "Agent", "scope": "read-and-flag", "allowed_networks": "[]", "expires_at_0": "", "expires_at_1": ""},
    )
    row.refresh_from_db()
    assert (row.scope, row.allowed_networks) == ("read-only", ["192.0.2.0/24"])
    assert row.expires_at is not None
