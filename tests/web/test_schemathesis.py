"""Property-based tests against our own OpenAPI schema (schemathesis): whatever a client sends,
no 5xx, and every answer (errors included) matches what the schema documents.

Requests go in-process to Django's WSGI application, with a real API key, on the test database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from passwords import service
from passwords.models import ApiKey
from tests.web.conftest import Person, dashboard_actor

pytestmark = pytest.mark.django_db


@contextmanager
def keeping_the_test_connection() -> Iterator[None]:
    """Django closes "old" connections around each request; in a test that would close the test's
    own transaction, so, as Django's test client does, leave them alone while we call the app."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


APP = get_wsgi_application()
with keeping_the_test_connection():
    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", APP)


@pytest.fixture
def seeded(alice: Person, bob: Person, api_key: tuple[ApiKey, str], settings: Any) -> Iterator[str]:
    # Something to find: one password each, so retrieve and delete meet both 200s and 404s.
    service.user_create_app_password(actor=dashboard_actor(alice), mailbox=alice.mailbox, label="existing")
    service.user_create_app_password(actor=dashboard_actor(bob), mailbox=bob.mailbox, label="bob's")
    # Many requests in a row: keep throttling out of the way of what is being tested.
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, api_rate_limit="100000/minute")
    with keeping_the_test_connection():
        yield api_key[1]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_conforms_to_its_schema(case: Any, seeded: str) -> None:
    # Every check but "schema-valid data is accepted": a schema cannot say "an address you own" or
    # "a label you have not used", so such requests rightly answer 400 with a problem document.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {seeded}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
