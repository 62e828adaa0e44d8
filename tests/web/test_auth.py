"""Sign-in, sign-out, password change, throttled failures with a cool-off, and cookie security."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from passwords import service
from passwords.models import AppPassword
from tests.web.conftest import PASSWORD, Person

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def sign_in(client: Client, password: str, username: str = "alice"):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_sign_in_then_out(client: Client, alice: Person) -> None:
    response = sign_in(client, PASSWORD)
    assert response.status_code == 302 and response["Location"] == reverse("imap-settings")
    assert client.get(reverse("imap-settings")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405  # signing out is a POST (CSRF-protected)
    client.post(reverse("logout"))
    assert client.get(reverse("imap-settings")).status_code == 302


def test_the_login_form_is_csrf_protected(alice: Person) -> None:
    client = Client(enforce_csrf_checks=True)
    assert sign_in(client, PASSWORD).status_code == 403
    page = client.get(reverse("login"))
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("login"), {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_failures_cool_off_then_sign_in_works_again(client: Client, alice: Person) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        response = sign_in(client, "wrong")
        assert response.status_code == 200
        assert "did not match" in response.content.decode()
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429
    assert "Too many wrong passwords" in locked.content.decode()
    assert locked["Retry-After"] == str(settings.MAILKITE.login_cooloff_minutes * 60)
    # During the cool-off even the right password is refused ...
    assert sign_in(client, PASSWORD).status_code == 429
    # ... a different username from the same address is not (per username + address) ...
    assert sign_in(Client(), "whatever", username="bob").status_code == 200
    # ... and it is never permanent: once the cool-off has passed, the right password works.
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    assert sign_in(client, PASSWORD).status_code == 302


def test_password_reentry_is_throttled_like_sign_in(client_alice: Client, alice: Person) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client_alice.post(
            reverse("app-password-new"), {"label": "x", "mailbox": alice.mailbox.pk, "password": "guess"}
        )
        assert response.status_code == 200
    for password in ("guess", PASSWORD):  # the limit is reached; then even the right one waits
        locked = client_alice.post(
            reverse("app-password-new"), {"label": "x", "mailbox": alice.mailbox.pk, "password": password}
        )
        assert locked.status_code == 429
    assert not AppPassword.objects.exists()


def test_changing_the_account_password_keeps_app_passwords(client_alice: Client, alice: Person) -> None:
    from tests.web.conftest import dashboard_actor

    _, secret = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Phone"
    )
    response = client_alice.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a much newer passphrase",
            "new_password2": "a much newer passphrase",
        },
    )
    assert response.status_code == 302 and response["Location"] == reverse("password_change_done")
    assert client_alice.get(reverse("imap-settings")).status_code == 200  # still signed in
    assert service.verify_app_password(secret).address == alice.address


def test_production_cookies_are_secure() -> None:
    env = dict(
        os.environ,
        DEBUG="false",
        SECRET_KEY="x" * 50,
        ALLOWED_HOSTS="mail.example.com",
        TLS_CERT="/etc/ssl/cert.pem",
        TLS_KEY="/etc/ssl/key.pem",
        CSRF_TRUSTED_ORIGINS="https://mail.example.com",
        DJANGO_SETTINGS_MODULE="mailkite.settings",
    )
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_NAME, s.CSRF_TRUSTED_ORIGINS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "True",
        "True",
        "__Host-sessionid",
        "['https://mail.example.com']",
    ]
