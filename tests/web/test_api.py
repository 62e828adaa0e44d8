"""The REST API with DRF's APIClient and real API keys: every answer, every error a problem
document, and each user touching only their own objects."""

from __future__ import annotations

import dataclasses
import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from mailkite.events.models import ChangeCounter
from mailkite.mail import services as mail_services
from passwords import reauth, service
from passwords.models import ApiKey, AppPassword, AuditEntry
from tests.web.conftest import PASSWORD, Person, dashboard_actor

pytestmark = pytest.mark.django_db
URL = "/api/v1/app-passwords/"
PROBLEM = "application/problem+json"


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(f"/api/problems/{code}")
    assert body["title"] and body["detail"]
    assert body["instance"] == response.request["PATH_INFO"]
    return body


def new(client: APIClient, person: Person, label: str = "agent", **extra):
    return client.post(URL, {"label": label, "mailbox": person.address, **extra}, format="json")


def test_create_returns_the_secret_once_with_no_store(api_alice: APIClient, alice: Person) -> None:
    response = new(api_alice, alice, label="Inbox agent")
    assert response.status_code == 201
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["secret"].startswith(f"mk_imap_{body['key_id']}_")
    assert body["identifier"] == f"mk_imap_{body['key_id']}_…"
    assert body["mailbox"] == alice.address and body["status"] == "active"
    assert body["imap"] == {
        "host": "localhost",
        "port": 9993,
        "security": "implicit TLS",
        "username": alice.address,
    }
    assert service.verify_app_password(body["secret"]).address == alice.address
    again = api_alice.get(f"{URL}{body['id']}/").json()
    assert "secret" not in again and body["secret"] not in json.dumps(again)
    assert body["secret"] not in json.dumps(api_alice.get(URL).json())
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.via, entry.api_key_id) == (
        "app_password.created",
        "api",
        alice.user.api_keys.get().key_id,
    )


def test_list_is_paginated_and_only_mine(api_alice: APIClient, alice: Person, bob: Person) -> None:
    for n in range(3):
        service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label=f"a{n}")
    service.user_create_app_password(actor=dashboard_actor(bob), mailbox=bob.mailbox, label="bob's")
    page = api_alice.get(URL, {"per_page": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    rest = api_alice.get(URL, {"per_page": 2, "page": 2}).json()
    labels = {r["label"] for r in page["results"] + rest["results"]}
    assert labels == {"a0", "a1", "a2"}
    problem(api_alice.get(URL, {"page": 9}), 404, "not-found")


def test_status_filter(api_alice: APIClient, alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="old"
    )
    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="new")
    service.user_revoke_app_password(actor=dashboard_actor(alice), app_password=row)
    assert [r["label"] for r in api_alice.get(URL, {"status": "active"}).json()["results"]] == ["new"]
    assert [r["label"] for r in api_alice.get(URL, {"status": "revoked"}).json()["results"]] == ["old"]


def test_other_users_objects_are_404(api_alice: APIClient, bob: Person) -> None:
    theirs, _ = service.user_create_app_password(actor=dashboard_actor(bob), mailbox=bob.mailbox, label="bob")
    problem(api_alice.get(f"{URL}{theirs.pk}/"), 404, "not-found")
    problem(api_alice.delete(f"{URL}{theirs.pk}/"), 404, "not-found")
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    body = problem(new(api_alice, bob), 400, "validation-error")
    assert body["errors"] == [{"pointer": "#/mailbox", "detail": "You have no address bob@bob.example."}]


def test_revoke_is_204_soft_and_idempotent(api_alice: APIClient, alice: Person) -> None:
    row, secret = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="x"
    )
    assert api_alice.delete(f"{URL}{row.pk}/").status_code == 204
    assert api_alice.delete(f"{URL}{row.pk}/").status_code == 204
    assert api_alice.get(f"{URL}{row.pk}/").json()["status"] == "revoked"
    assert AppPassword.objects.filter(pk=row.pk).exists()
    assert (
        ChangeCounter.objects.get(kind="credential", key=row.pk).counter == 1
    )  # one event, for the real change
    with pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(secret)


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({}, [("#/label", "This field is required."), ("#/mailbox", "This field is required.")]),
        ({"label": "  ", "mailbox": "alice@alice.example"}, [("#/label", "This field may not be blank.")]),
        (
            {"label": "x" * 65, "mailbox": "alice@alice.example"},
            [("#/label", "Ensure this field has no more than 64 characters.")],
        ),
        ({"label": "ok", "mailbox": "not an address"}, [("#/mailbox", "Enter a valid email address.")]),
        (
            {"label": "ok", "mailbox": "nobody@alice.example"},
            [("#/mailbox", "You have no address nobody@alice.example.")],
        ),
        (
            {"label": "taken", "mailbox": "alice@alice.example"},
            [("#/label", "You already have an active app-password labelled “taken”.")],
        ),
        (
            {"label": "ok", "mailbox": "off@off.example"},
            [
                (
                    "#/mailbox",
                    "off@off.example cannot use IMAP. Not MX-verified yet: IMAP opens once the domain's MX record points at MailKite and the check has passed.",
                )
            ],
        ),
    ],
    ids=["missing", "blank", "too-long", "bad-address", "unknown-mailbox", "duplicate", "ineligible"],
)
def test_validation_errors_point_at_fields(
    api_alice: APIClient, alice: Person, payload: dict, errors: list
) -> None:
    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="taken")
    off = mail_services.create_domain(name="off.example", owner=alice.user, owner_verified=True)
    mail_services.create_mailbox(domain=off, local_part="off")
    body = problem(api_alice.post(URL, payload, format="json"), 400, "validation-error")
    assert [(e["pointer"], e["detail"]) for e in body["errors"]] == errors
    assert AppPassword.objects.count() == 1


def test_malformed_and_unsupported_bodies(api_alice: APIClient) -> None:
    problem(api_alice.post(URL, "{not json", content_type="application/json"), 400, "malformed-request")
    problem(
        api_alice.post(URL, "label=x", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported-media-type",
    )
    problem(api_alice.post(URL, "[1, 2]", content_type="application/json"), 400, "validation-error")
    problem(api_alice.get(URL, HTTP_ACCEPT="application/xml"), 406, "not-acceptable")


def test_wrong_method_and_unknown_routes(api_alice: APIClient) -> None:
    body = problem(api_alice.put(URL, {}, format="json"), 405, "method-not-allowed")
    assert "PUT" in body["detail"]
    problem(api_alice.get("/api/v1/nothing-here/"), 404, "not-found")
    problem(api_alice.get(f"{URL}abc/"), 404, "not-found")
    problem(api_alice.get(f"{URL}{2**80}/"), 404, "not-found")


def test_authentication_errors(alice: Person, api_key: tuple[ApiKey, str]) -> None:
    client = APIClient()
    body = problem(client.get(URL), 401, "not-authenticated")
    assert "Bearer" in body["detail"] or "credentials" in body["detail"]
    assert client.get(URL)["WWW-Authenticate"] == 'Bearer realm="api"'
    client.credentials(HTTP_AUTHORIZATION="Bearer mk_api_nonsense")
    problem(client.get(URL), 401, "authentication-failed")
    client.credentials(HTTP_AUTHORIZATION="Bearer")
    problem(client.get(URL), 401, "authentication-failed")
    _, imap_secret = service.user_create_app_password(
        actor=service.command_line(), mailbox=alice.mailbox, label="phone"
    )
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {imap_secret}")
    body = problem(client.get(URL), 401, "authentication-failed")
    assert body["detail"].startswith("That is an IMAP app-password (mk_imap_…), not an API key.")
    key, secret = api_key
    service.user_revoke_api_key(actor=dashboard_actor(alice), api_key=key)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    problem(client.get(URL), 401, "authentication-failed")


def test_api_keys_record_last_use(api_alice: APIClient, api_key: tuple[ApiKey, str]) -> None:
    assert api_key[0].last_used_at is None
    api_alice.get(URL, REMOTE_ADDR="198.51.100.4")
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None and api_key[0].last_used_ip == "198.51.100.4"


def test_a_read_only_key_cannot_create_or_revoke(alice: Person) -> None:
    _key, secret = service.create_api_key(owner=alice.user, label="read only", scopes=["app-passwords:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(URL).status_code == 200
    problem(new(client, alice), 403, "insufficient-scope")
    row, _ = service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="x")
    problem(client.delete(f"{URL}{row.pk}/"), 403, "insufficient-scope")
    problem(
        client.post("/api/v1/mailboxes/", {"address": "new@alice.example"}, format="json"),
        403,
        "insufficient-scope",
    )


def test_a_session_must_reenter_the_account_password(alice: Person) -> None:
    client = APIClient()
    client.force_login(alice.user)
    problem(new(client, alice), 403, "reauthentication-required")
    body = problem(new(client, alice, account_password="wrong"), 400, "validation-error")
    assert body["errors"] == [
        {"pointer": "#/account_password", "detail": "That is not your account password."}
    ]
    created = new(client, alice, account_password=PASSWORD)
    assert created.status_code == 201
    # The re-entry counts for a few minutes in that session, as in the dashboard.
    assert new(client, alice, label="second").status_code == 201
    session = client.session
    session[reauth.SESSION_KEY] = "2000-01-01T00:00:00+00:00"
    session.save()
    problem(new(client, alice, label="third"), 403, "reauthentication-required")


def test_session_requests_need_csrf(alice: Person) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice.user)
    assert client.get(URL).status_code == 200
    body = problem(new(client, alice, account_password=PASSWORD), 403, "permission-denied")
    assert "CSRF" in body["detail"]


def test_throttled_per_key(api_alice: APIClient, alice: Person, settings) -> None:
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, api_rate_limit="3/minute")
    for _ in range(3):
        assert api_alice.get(URL).status_code == 200
    body = problem(api_alice.get(URL), 429, "too-many-requests")
    assert int(api_alice.get(URL)["Retry-After"]) > 0
    assert "throttled" in body["detail"].lower()
    other_key = service.create_api_key(owner=alice.user, label="another")[1]
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {other_key}")
    assert other.get(URL).status_code == 200  # counted per key


def test_domains_say_whether_they_can_use_imap(api_alice: APIClient, alice: Person, bob: Person) -> None:
    mail_services.create_domain(
        name="quiet.example", owner=alice.user, mx_verified=True, retention="passthrough"
    )
    results = api_alice.get("/api/v1/domains/").json()["results"]
    assert [(d["name"], d["imap_eligible"]) for d in results] == [
        ("alice.example", True),
        ("quiet.example", False),
    ]
    assert results[0]["mailboxes"] == ["alice@alice.example"] and results[0]["imap_reason"] == ""
    assert results[1]["imap_reason"].startswith("Zero-retention")


def test_mailboxes_can_be_added_before_mail(api_alice: APIClient, alice: Person, bob: Person) -> None:
    response = api_alice.post("/api/v1/mailboxes/", {"address": "Agent@alice.example"}, format="json")
    assert response.status_code == 201
    assert response.json()["address"] == "agent@alice.example"
    assert (
        new(
            api_alice, Person(alice.user, alice.domain, mail_services.find_mailbox("agent@alice.example"))
        ).status_code
        == 201
    )
    body = problem(
        api_alice.post("/api/v1/mailboxes/", {"address": "x@bob.example"}, format="json"),
        400,
        "validation-error",
    )
    assert body["errors"][0]["detail"] == "You have no domain bob.example."
    assert [m["address"] for m in api_alice.get("/api/v1/mailboxes/").json()["results"]] == [
        "agent@alice.example",
        "alice@alice.example",
    ]


def test_the_schema_and_offline_docs() -> None:
    client = Client()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    spec = json.loads(schema.content)
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) == {
        "/api/v1/app-passwords/",
        "/api/v1/app-passwords/{id}/",
        "/api/v1/app-passwords/{id}/logins/",
        "/api/v1/domains/",
        "/api/v1/domains/{name}/",
        "/api/v1/domains/{name}/verify/",
        "/api/v1/domains/{name}/encryption/",
        "/api/v1/domains/{name}/retention/",
        "/api/v1/domains/{name}/purge-mail/",
        "/api/v1/mailboxes/",
    }
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    problem_ref = spec["components"]["responses"]["Problem404"]["content"]
    assert list(problem_ref) == [PROBLEM]
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower() and "https://" not in docs.split("<body")[0]
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs


def test_problem_types_have_pages() -> None:
    page = Client().get("/api/problems/reauthentication-required")
    assert page.status_code == 200 and b"Re-enter your account password" in page.content
    assert Client().get("/api/problems/nope").status_code == 404


def test_bad_query_parameters_are_400_naming_the_parameter(api_alice: APIClient) -> None:
    body = problem(api_alice.get(URL, {"status": "maybe"}), 400, "validation-error")
    assert body["errors"] == [{"parameter": "status", "detail": "status must be active, expired or revoked."}]
    for value in ("0", "101", "abc", ""):
        body = problem(api_alice.get("/api/v1/domains/", {"per_page": value}), 400, "validation-error")
        assert body["errors"][0]["parameter"] == "per_page"
    for value in ("0", "x", ""):
        body = problem(api_alice.get("/api/v1/mailboxes/", {"page": value}), 400, "validation-error")
        assert body["errors"] == [{"parameter": "page", "detail": "page must be a whole number from 1."}]


def test_neither_secret_nor_key_reaches_a_log(
    api_alice: APIClient, api_key: tuple[ApiKey, str], alice: Person, caplog
) -> None:
    import logging

    with caplog.at_level(logging.DEBUG):
        secret = new(api_alice, alice).json()["secret"]
        problem(new(api_alice, alice), 400, "validation-error")  # a logged 4xx, too
    assert caplog.records
    for record in caplog.records:
        assert secret not in record.getMessage() and api_key[1] not in record.getMessage()


def test_wrong_account_passwords_cool_off_in_the_api_too(alice: Person, settings) -> None:
    client = APIClient()
    client.force_login(alice.user)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        problem(new(client, alice, account_password="guess"), 400, "validation-error")
    body = problem(new(client, alice, account_password="guess"), 429, "too-many-attempts")
    assert "Wait 15 minutes" in body["detail"]
    problem(new(client, alice, account_password=PASSWORD), 429, "too-many-attempts")
    assert not AppPassword.objects.exists()
