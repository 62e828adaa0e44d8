"""Least-privilege API keys (issue 11, "API keys can do more than they say"): scopes chosen at
creation, shown in the dashboard and the schema, enforced on every endpoint; destructive domain
actions need a fresh account-password re-entry from a session, or domains:write from a key."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from mailkite.mail.models import Domain
from passwords import reauth, service
from passwords.models import ApiKey
from tests.web.conftest import PASSWORD, Person, dashboard_actor
from tests.web.test_api import problem

pytestmark = pytest.mark.django_db
SCOPES = ["app-passwords:read", "app-passwords:write", "domains:read", "domains:write"]
DOMAIN = "/api/v1/domains/alice.example"
DESTRUCTIVE = [
    ("put", f"{DOMAIN}/encryption/", {"encryption": "none"}),
    ("post", f"{DOMAIN}/retention/", {"retention": "passthrough"}),
    ("post", f"{DOMAIN}/purge-mail/", {"confirm": True}),
]


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_a_key_for_app_passwords_cannot_touch_domains(alice: Person) -> None:
    """The finding: a key that "may create and revoke app-passwords" changed the encryption key,
    switched retention and purged mail, all 200."""
    _, secret = service.create_api_key(owner=alice.user, label="app-passwords only")
    client = bearer(secret)
    for method, url, body in DESTRUCTIVE:
        response = getattr(client, method)(url, body, format="json")
        answer = problem(response, 403, "insufficient-scope")
        assert "domains:write" in answer["detail"] and answer["scope"] == "domains:write"
        assert response["WWW-Authenticate"] == (
            'Bearer realm="api", error="insufficient_scope", scope="domains:write"'
        )
    problem(client.get("/api/v1/domains/"), 403, "insufficient-scope")
    domain = Domain.objects.get(name="alice.example")
    assert (domain.retention, domain.encryption) == ("retain", "none")
    assert client.get("/api/v1/app-passwords/").status_code == 200


def _operations() -> list[tuple[str, str, str]]:
    spec = json.loads(Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            requirements = [r for r in operation["security"] if "apiKey" in r]
            assert len(requirements) == 1 and len(requirements[0]["apiKey"]) == 1, (method, path)
            found.append((method, path, requirements[0]["apiKey"][0]))
    return found


def test_every_operation_names_its_scope_in_the_schema() -> None:
    operations = _operations()
    assert {scope for _, _, scope in operations} == set(SCOPES)
    assert len(operations) == 15  # 13, the login history (15.4) and PATCH of an app-password (15.1-15.3)
    spec = json.loads(Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    description = spec["components"]["securitySchemes"]["apiKey"]["description"]
    assert all(scope in description for scope in SCOPES)


def test_every_endpoint_refuses_a_key_without_its_scope(alice: Person) -> None:
    """Driven by the schema: each operation, with a key holding every scope but the one it names."""
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="phone"
    )
    for method, path, scope in _operations():
        _, secret = service.create_api_key(
            owner=alice.user,
            label=f"without {scope} {method} {path}",
            scopes=[s for s in SCOPES if s != scope],
        )
        url = path.replace("{id}", str(row.pk)).replace("{name}", "alice.example")
        answer = problem(getattr(bearer(secret), method)(url, {}, format="json"), 403, "insufficient-scope")
        assert answer["scope"] == scope, (method, path)
        assert f"This API key lacks the scope {scope}" in answer["detail"]
    row.refresh_from_db()
    assert row.revoked_at is None  # nothing was changed on the way to the refusals
    domain = Domain.objects.get(name="alice.example")
    assert (domain.retention, domain.encryption) == ("retain", "none")


def test_a_key_with_domains_write_may_act_without_a_password(alice: Person) -> None:
    _, secret = service.create_api_key(
        owner=alice.user, label="ops", scopes=["domains:read", "domains:write"]
    )
    client = bearer(secret)
    assert client.post(f"{DOMAIN}/retention/", {"retention": "passthrough"}, format="json").status_code == 200
    assert client.post(f"{DOMAIN}/purge-mail/", {"confirm": True}, format="json").status_code == 200
    problem(client.get("/api/v1/app-passwords/"), 403, "insufficient-scope")


def test_the_session_api_needs_a_fresh_password_for_destructive_domain_actions(alice: Person) -> None:
    client = APIClient()
    client.force_login(alice.user)
    assert client.get("/api/v1/domains/").status_code == 200  # reading needs nothing more
    for method, url, body in DESTRUCTIVE:
        problem(getattr(client, method)(url, body, format="json"), 403, "reauthentication-required")
    wrong = problem(
        client.post(
            f"{DOMAIN}/retention/", {"retention": "passthrough", "account_password": "guess"}, format="json"
        ),
        400,
        "validation-error",
    )
    assert wrong["errors"] == [
        {"pointer": "#/account_password", "detail": "That is not your account password."}
    ]
    assert Domain.objects.get(name="alice.example").retention == "retain"
    changed = client.post(
        f"{DOMAIN}/retention/", {"retention": "passthrough", "account_password": PASSWORD}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["retention"] == "passthrough"
    # The re-entry counts for REAUTH_MINUTES in that session, as for app-passwords; then it lapses.
    assert client.post(f"{DOMAIN}/purge-mail/", {"confirm": True}, format="json").status_code == 200
    session = client.session
    session[reauth.SESSION_KEY] = "2000-01-01T00:00:00+00:00"
    session.save()
    problem(
        client.post(f"{DOMAIN}/purge-mail/", {"confirm": True}, format="json"),
        403,
        "reauthentication-required",
    )


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("domain-retention", {"confirm": "on"}),
        ("domain-purge", {"confirm": "on"}),
        ("domain-encryption", {"encryption": "none"}),
    ],
    ids=["retention", "purge", "encryption"],
)
def test_dashboard_destructive_domain_actions_ask_for_the_password(
    client_alice: Client, alice: Person, name: str, fields: dict
) -> None:
    Domain.objects.filter(pk=alice.domain.pk).update(
        retention="passthrough", encryption="pgp", encryption_key="k"
    )
    url = reverse(name, args=["alice.example"])
    assert "Your account password" in client_alice.get(url).content.decode()
    for password in ("", "guess"):
        refused = client_alice.post(url, {**fields, "password": password})
        assert refused.status_code == 200, name
        page = refused.content.decode()
        assert "This field is required." in page or "That is not your account password." in page
    domain = Domain.objects.get(pk=alice.domain.pk)
    assert (domain.retention, domain.encryption) == ("passthrough", "pgp")
    done = client_alice.post(url, {**fields, "password": PASSWORD})
    assert done.status_code == 302, done.content.decode()


def test_the_dashboard_picks_scopes_and_lists_them(client_alice: Client, alice: Person) -> None:
    form = client_alice.get(reverse("api-key-new")).content.decode()
    for scope in SCOPES:
        assert f'value="{scope}"' in form
    none = client_alice.post(reverse("api-key-new"), {"label": "CI", "password": PASSWORD})
    assert "Choose at least one scope." in none.content.decode()
    unknown = client_alice.post(
        reverse("api-key-new"), {"label": "CI", "scopes": ["admin"], "password": PASSWORD}
    )
    assert "Select a valid choice." in unknown.content.decode()
    assert not ApiKey.objects.exists()
    created = client_alice.post(
        reverse("api-key-new"),
        {"label": "CI", "scopes": ["domains:read", "app-passwords:read"], "password": PASSWORD},
    )
    assert created.status_code == 200
    assert re.search(rb"mk_api_[0-9A-Za-z]{10}_", created.content)
    assert ApiKey.objects.get().scopes == ["app-passwords:read", "domains:read"]
    listing = client_alice.get(reverse("api-keys")).content.decode()
    assert "app-passwords:read" in listing and "domains:read" in listing and "domains:write" not in listing


def test_existing_keys_migrate_to_app_password_scopes(transactional_db: None) -> None:
    """Keys made before scopes keep what their label promised and nothing more (docs/api.md)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = [("passwords", "0002_audit_entry")], [("passwords", "0003_api_key_scopes")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("passwords", "ApiKey")
    owner = get_user_model().objects.create_user(username="old", password="x")
    old.objects.create(
        owner_id=owner.pk, label="manager", key_id="A" * 10, hash="h", can_manage_app_passwords=True
    )
    old.objects.create(
        owner_id=owner.pk, label="reader", key_id="B" * 10, hash="h", can_manage_app_passwords=False
    )
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    scopes = dict(ApiKey.objects.values_list("label", "scopes"))
    assert scopes == {
        "manager": ["app-passwords:read", "app-passwords:write"],
        "reader": ["app-passwords:read"],
    }
