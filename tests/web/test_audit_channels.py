"""One audited path for every credential change (issue 11): the command line, `manage.py demo`, the
dashboard and the REST API create and revoke app-passwords through the same service function, with
the same label rules, and each writes an AuditEntry naming its channel."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from mailkite.mail.management.commands import demo
from passwords.models import AppPassword, AuditEntry
from tests.web.conftest import PASSWORD, Person

pytestmark = pytest.mark.django_db


def cli(*args: str) -> str:
    out = io.StringIO()
    call_command("apppassword", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def create_by(channel: str, person: Person, label: str, client: Client, api: APIClient) -> str | None:
    """Create through `channel`; the label as stored, or None when the channel refused it."""
    before = set(AppPassword.objects.values_list("pk", flat=True))
    if channel == "cli":
        try:
            cli("create", "--mailbox", person.address, "--label", label)
        except CommandError:
            return None
    elif channel == "dashboard":
        client.post(
            reverse("app-password-new"), {"label": label, "mailbox": person.mailbox.pk, "password": PASSWORD}
        )
    else:
        api.post("/api/v1/app-passwords/", {"label": label, "mailbox": person.address}, format="json")
    created = AppPassword.objects.exclude(pk__in=before)
    return created.get().label if created.exists() else None


def revoke_by(channel: str, row: AppPassword, client: Client, api: APIClient) -> None:
    if channel == "cli":
        cli("revoke", row.key_id)
    elif channel == "dashboard":
        client.post(reverse("app-password-revoke", args=[row.pk]))
    else:
        assert api.delete(f"/api/v1/app-passwords/{row.pk}/").status_code == 204


def trail() -> list[tuple[str, str, str, str]]:
    rows = AuditEntry.objects.order_by("created_at", "id")
    return [(e.action, e.via, e.target, e.owner.get_username()) for e in rows]


CHANNELS = ["cli", "dashboard", "api"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_channel_audits_create_and_revoke_naming_itself(
    channel: str, alice: Person, client_alice: Client, api_alice: APIClient
) -> None:
    assert create_by(channel, alice, "Laptop", client_alice, api_alice) == "Laptop"
    row = AppPassword.objects.get()
    revoke_by(channel, row, client_alice, api_alice)
    assert trail() == [
        ("app_password.created", channel, "Laptop (alice@alice.example)", "alice"),
        ("app_password.revoked", channel, "Laptop", "alice"),
    ]
    assert AuditEntry.objects.filter(identifier=row.display).count() == 2


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    ("label", "stored"),
    [
        ("  Thunder\x1bbird   on my laptop ", "Thunderbird on my laptop"),  # one cleaning
        ("x" * 65, None),  # too long
        ("   ", None),  # nothing left
        ("LAPTOP", None),  # an active "Laptop" exists: unique in any case
    ],
    ids=["cleaned", "too-long", "blank", "duplicate-any-case"],
)
def test_every_channel_applies_the_same_label_rules(
    channel: str, label: str, stored: str | None, alice: Person, client_alice: Client, api_alice: APIClient
) -> None:
    from passwords import service
    from tests.web.conftest import dashboard_actor

    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Laptop")
    assert create_by(channel, alice, label, client_alice, api_alice) == stored


def test_the_demo_creates_and_replaces_its_password_on_the_audit_trail(db: None) -> None:
    call_command("demo", "--messages", "1", stdout=io.StringIO())
    call_command("demo", "--messages", "1", stdout=io.StringIO())
    assert trail() == [
        ("app_password.created", "cli", f"{demo.DEMO_LABEL} ({demo.DEMO_ADDRESS})", demo.DEMO_USER),
        ("app_password.revoked", "cli", demo.DEMO_LABEL, demo.DEMO_USER),
        ("app_password.created", "cli", f"{demo.DEMO_LABEL} ({demo.DEMO_ADDRESS})", demo.DEMO_USER),
    ]
    assert AppPassword.objects.filter(revoked_at__isnull=True).count() == 1


def test_no_door_calls_the_unaudited_steps() -> None:
    """The unaudited steps stay inside the credential service; every door calls the user_ functions."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    unaudited = re.compile(r"(?<!user_)\b(revoke_app_password|_insert_app_password|create_app_password)\(")
    callers = [
        str(path.relative_to(root))
        for package in ("imapd", "mailkite", "passwords")
        for path in (root / package).rglob("*.py")
        if path != root / "passwords" / "service.py" and unaudited.search(path.read_text())
    ]
    assert callers == []
