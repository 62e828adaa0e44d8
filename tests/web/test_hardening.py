"""Web hardening (issue 11, "Web hardening gaps"): failed API keys throttled per address, HSTS,
SSL redirect and a strict CSP in production with `check --deploy` clean, sign-in spraying
throttled per address, and the real client address behind TRUSTED_PROXIES only."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import argon2
import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from passwords.models import ApiKey, AuditEntry
from tests.web.conftest import PASSWORD, Person, make_person
from tests.web.test_api import problem

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
URL = "/api/v1/app-passwords/"
PROXY = "10.0.0.5"


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="mailkite.settings",
        DEBUG="false",
        SECRET_KEY="kF3!x9@Lr#2vQ8$wZ5^nB7&mT1*pY4(hJ6)dS0-gA3_cV9+eR2=uI8~oP5",
        ALLOWED_HOSTS="mail.example.com",
        TLS_CERT="/etc/ssl/cert.pem",
        TLS_KEY="/etc/ssl/key.pem",
        CSRF_TRUSTED_ORIGINS="https://mail.example.com",
        MAILKITE_DATA_DIR=str(tmp_path),
    )
    env.pop("DATABASE_URL", None)
    env.update(extra)
    return env


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=production_env(tmp_path),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="mail.example.com")
plain = client.get("/accounts/login/")
secure = client.get("/accounts/login/", secure=True)
health = client.get("/healthz")
print(json.dumps({
    "redirect": [plain.status_code, plain.get("Location")],
    "hsts": secure.get("Strict-Transport-Security"),
    "csp": secure.get("Content-Security-Policy"),
    "health": health.status_code,
}))
"""


def test_production_answers_with_hsts_redirect_and_a_strict_csp(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True, timeout=300
    )
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == [301, "https://mail.example.com/accounts/login/"]
    assert seen["hsts"] == "max-age=31536000; includeSubDomains"
    policy = dict(part.strip().split(" ", 1) for part in seen["csp"].split(";") if part.strip())
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in seen["csp"]
    assert seen["health"] == 200  # load balancers probe over plain HTTP


def test_development_reports_csp_violations_without_blocking(client: Client) -> None:
    response = client.get(reverse("login"))
    assert "script-src 'self'" in response["Content-Security-Policy-Report-Only"]


def test_no_template_has_inline_script_or_event_handlers() -> None:
    import re

    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), path
        assert not re.search(r"\son[a-z]+\s*=", text), path


# -- API-key failures ----------------------------------------------------------------------------


def test_failed_api_keys_are_throttled_per_address(
    alice: Person, api_key: tuple[ApiKey, str], settings
) -> None:
    """The finding: 200 wrong Bearer keys drew 200 × 401."""
    limit = settings.MAILKITE.api_auth_failure_limit
    wrong = APIClient(REMOTE_ADDR="203.0.113.9")
    wrong.credentials(HTTP_AUTHORIZATION="Bearer mk_api_AAAAAAAAAA_" + "x" * 36 + "000000")
    for _ in range(limit):
        problem(wrong.get(URL), 401, "authentication-failed")
    body = problem(wrong.get(URL), 429, "too-many-requests")
    assert "wrong API keys" in body["detail"]
    assert int(wrong.get(URL)["Retry-After"]) > 0
    # The right key from that address waits too: the address is cooling off, not the key.
    right_here = APIClient(REMOTE_ADDR="203.0.113.9")
    right_here.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    problem(right_here.get(URL), 429, "too-many-requests")
    # Another address is unaffected.
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.20")
    elsewhere.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert elsewhere.get(URL).status_code == 200


def test_unknown_key_ids_cost_no_argon2(alice: Person, api_key: tuple[ApiKey, str], monkeypatch) -> None:
    verified = []
    real_verify = argon2.PasswordHasher.verify

    def counting_verify(self, hash, password):  # type: ignore[no-untyped-def]
        verified.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", counting_verify)
    from passwords import tokens

    unknown = tokens.generate(tokens.API).value  # well-formed, checksum right, id unknown
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {unknown}")
    problem(client.get(URL), 401, "authentication-failed")
    assert verified == []
    _key, secret = api_key
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get(URL).status_code == 200
    assert len(verified) == 1  # a known id is verified, once


# -- Sign-in ------------------------------------------------------------------------------------


def test_spraying_one_password_across_usernames_cools_off_the_address(db: None, settings) -> None:
    for n in range(7):  # fewer than AXES_FAILURE_LIMIT tries per username
        make_person(f"user{n}", f"user{n}.example")
    limit = settings.MAILKITE.login_address_failure_limit
    assert limit > settings.AXES_FAILURE_LIMIT
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for n in range(limit - 1):
        answer = attacker.post(reverse("login"), {"username": f"user{n % 7}", "password": "Summer2026!"})
        assert answer.status_code == 200, n  # fewer than AXES_FAILURE_LIMIT per username+address
    locked = attacker.post(reverse("login"), {"username": "someone-new", "password": "Summer2026!"})
    assert locked.status_code == 429
    # The right password of a real user from that address waits as well; other addresses do not.
    assert attacker.post(reverse("login"), {"username": "user0", "password": PASSWORD}).status_code == 429
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert other.post(reverse("login"), {"username": "user1", "password": PASSWORD}).status_code == 302
    # A cool-off, never a lock: once it has passed, the address signs in again.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert attacker.post(reverse("login"), {"username": "user2", "password": PASSWORD}).status_code == 302


def test_signing_in_to_ones_own_account_does_not_reset_the_address(db: None, settings) -> None:
    make_person("mallory", "mallory.example")
    for n in range(7):
        make_person(f"victim{n}", f"victim{n}.example")
    limit = settings.MAILKITE.login_address_failure_limit
    attacker = Client(REMOTE_ADDR="203.0.113.66")
    for n in range(limit - 1):
        attacker.post(reverse("login"), {"username": f"victim{n % 7}", "password": "guess"})
    assert attacker.post(reverse("login"), {"username": "mallory", "password": PASSWORD}).status_code == 302
    attacker.post(reverse("logout"))
    assert attacker.post(reverse("login"), {"username": "victim0", "password": "guess"}).status_code == 429


# -- TRUSTED_PROXIES ---------------------------------------------------------------------------


@pytest.fixture
def behind_proxy(settings):
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, trusted_proxies=("10.0.0.0/24",))
    return settings.MAILKITE


def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    behind_proxy, alice: Person, api_key: tuple[ApiKey, str]
) -> None:
    key, secret = api_key
    spoofer = APIClient(REMOTE_ADDR="203.0.113.50", HTTP_X_FORWARDED_FOR="192.0.2.1")
    spoofer.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert spoofer.get(URL).status_code == 200
    key.refresh_from_db()
    assert key.last_used_ip == "203.0.113.50"
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=None)
    # Through the proxy: the address it appended, not what the client claimed before it.
    proxied = APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.77")
    proxied.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    created = proxied.post(URL, {"label": "agent", "mailbox": alice.address}, format="json")
    assert created.status_code == 201
    key.refresh_from_db()
    assert key.last_used_ip == "198.51.100.77"
    assert AuditEntry.objects.get().ip == "198.51.100.77"


def test_api_key_failures_behind_the_proxy_count_per_real_address(
    behind_proxy, alice: Person, settings
) -> None:
    limit = settings.MAILKITE.api_auth_failure_limit
    bad = "Bearer mk_api_AAAAAAAAAA_" + "x" * 36 + "000000"
    for _ in range(limit):
        APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1", HTTP_AUTHORIZATION=bad).get(URL)
    throttled = APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1", HTTP_AUTHORIZATION=bad)
    problem(throttled.get(URL), 429, "too-many-requests")
    neighbour = APIClient(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2", HTTP_AUTHORIZATION=bad)
    problem(neighbour.get(URL), 401, "authentication-failed")


def test_sign_in_behind_the_proxy_cools_off_the_real_address_only(
    behind_proxy, alice: Person, settings
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1").post(
            reverse("login"), {"username": "alice", "password": "guess"}
        )
    assert AccessAttempt.objects.get().ip_address == "198.51.100.1"
    locked = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.1")
    assert locked.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 429
    neighbour = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert neighbour.post(reverse("login"), {"username": "alice", "password": PASSWORD}).status_code == 302


def test_dashboard_audit_records_the_real_address(behind_proxy, alice: Person) -> None:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.33")
    client.force_login(alice.user)
    response = client.post(
        reverse("app-password-new"), {"label": "x", "mailbox": alice.mailbox.pk, "password": PASSWORD}
    )
    assert response.status_code == 200
    assert AuditEntry.objects.get().ip == "198.51.100.33"


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        ("203.0.113.50", "192.0.2.1", "203.0.113.50"),  # not a proxy: the header is anyone's
        (PROXY, "198.51.100.9", "198.51.100.9"),
        (PROXY, "192.0.2.1, 198.51.100.9", "198.51.100.9"),  # what the client wrote is left of it
        (PROXY, "192.0.2.1, 198.51.100.9, 10.0.0.7", "198.51.100.9"),  # past a second trusted hop
        (PROXY, "10.0.0.8, 10.0.0.7", "10.0.0.8"),  # all trusted: the leftmost is all we have
        (PROXY, "", PROXY),
        ("::ffff:10.0.0.5", "198.51.100.9", "198.51.100.9"),  # IPv4-mapped peer
    ],
)
def test_the_client_address_walks_past_trusted_proxies_only(
    behind_proxy, remote, forwarded, expected
) -> None:
    from django.test import RequestFactory

    from passwords.clientip import client_ip

    meta = {"REMOTE_ADDR": remote}
    if forwarded:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    assert client_ip(RequestFactory().get("/", **meta)) == expected
