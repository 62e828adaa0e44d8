"""Fixtures for the dashboard and API tests: users with domains, mailboxes, API keys, clients.

Everything goes through the real services and the real test database; only the settings object
is swapped (dataclasses.replace) where a test needs, say, an SMTP submission host.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from mailkite.mail import services as mail_services
from mailkite.mail.models import Domain, Mailbox
from passwords import scopes, service
from passwords.models import ApiKey

PASSWORD = "correct horse battery staple"


@dataclass
class Person:
    user: Any
    domain: Domain
    mailbox: Mailbox

    @property
    def address(self) -> str:
        return self.mailbox.address


def make_person(username: str, domain: str, *, verified: bool = True, retention: str = "retain") -> Person:
    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@{domain}"
    )
    dom = mail_services.create_domain(  # owned (TXT proven); `verified` is about the MX record
        name=domain, owner=user, mx_verified=verified, owner_verified=True, retention=retention
    )
    mailbox = mail_services.create_mailbox(domain=dom, local_part=username)
    return Person(user=user, domain=dom, mailbox=mailbox)


def make_browser_person(username: str, domain: str) -> Person:
    """make_person for the browser tests: daphne runs the real settings, whose hashers do not
    include the tests' fast MD5 one, so PASSWORD is stored as a (cheap) PBKDF2 hash."""
    person = make_person(username, domain)
    person.user.password = PBKDF2PasswordHasher().encode(PASSWORD, "browser-test", iterations=1000)
    person.user.save(update_fields=["password"])
    return person


def sign_in(page: Any, username: str) -> None:
    """Fill in and send the sign-in form the (Playwright) page shows, with PASSWORD."""
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()  # throttling counts and axes' cache, per test
    yield
    cache.clear()


@pytest.fixture
def alice(db: None) -> Person:
    return make_person("alice", "alice.example")


@pytest.fixture
def bob(db: None) -> Person:
    return make_person("bob", "bob.example")


@pytest.fixture
def client_alice(alice: Person) -> Client:
    client = Client()
    client.force_login(alice.user)
    return client


def dashboard_actor(person: Person) -> service.Actor:
    from django.utils import timezone

    return service.Actor(
        user=person.user, via="dashboard", ip="192.0.2.10", reauthenticated_at=timezone.now()
    )


@pytest.fixture
def api_key(alice: Person) -> tuple[ApiKey, str]:
    return service.create_api_key(owner=alice.user, label="deploy script", scopes=scopes.ALL)


@pytest.fixture
def api_alice(api_key: tuple[ApiKey, str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return client


@pytest.fixture
def smtp(settings: Any) -> Any:
    """An outgoing SMTP submission server, so autoconfig and .mobileconfig are offered."""
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE,
        smtp_submission_host="smtp.mailkite.test",
        smtp_submission_port=465,
        imap_public_host="imap.mailkite.test",
        imap_public_port=993,
        provider_domain="mailkite.test",
    )
    return settings.MAILKITE


@pytest.fixture(autouse=True, scope="session")
def _static_root() -> None:
    from django.conf import settings

    # WhiteNoise warns when STATIC_ROOT is missing; tests serve static files through the finders.
    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
