"""The credential service on the real database: create, verify, revoke, last-used."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from passwords import service
from passwords.logging import MaskSecretsFilter, mask
from passwords.models import AppPassword
from tests.conftest import make_account

pytestmark = pytest.mark.django_db


def test_only_an_argon2id_hash_is_stored():
    account = make_account()
    row = AppPassword.objects.get()
    assert row.hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert account.password not in row.hash
    assert account.password.split("_")[2] == row.key_id


def test_verify_returns_the_mailbox():
    account = make_account()
    verified = service.verify_app_password(account.password)
    assert verified.mailbox_id == account.mailbox.pk
    assert verified.address == "you@example.com"


def test_unknown_key_id_costs_one_query_and_no_argon2():
    make_account()
    from passwords import tokens

    with CaptureQueriesContext(connection) as queries, pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(tokens.generate(tokens.IMAP).value)
    assert len(queries) == 1


def test_cached_verification_still_checks_revocation():
    account = make_account()
    service.verify_app_password(account.password)
    assert service.verified_cache.hit(account.password, AppPassword.objects.get().hash)
    service.revoke_app_password(app_password=AppPassword.objects.get())
    with pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(account.password)


def test_revoking_twice_is_harmless():
    make_account()
    row = AppPassword.objects.get()
    assert service.revoke_app_password(app_password=row) is True
    assert service.revoke_app_password(app_password=row) is False


def test_inactive_owner_cannot_log_in():
    account = make_account()
    owner = account.mailbox.domain.owner
    owner.is_active = False
    owner.save()
    with pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(account.password)


def test_last_used_is_written_at_most_once_a_minute():
    make_account()
    row = AppPassword.objects.get()
    assert service.record_use(app_password_id=row.pk, ip="192.0.2.1", client_name="mutt")
    assert not service.record_use(app_password_id=row.pk, ip="192.0.2.2")
    AppPassword.objects.filter(pk=row.pk).update(last_used_at=timezone.now() - timedelta(minutes=2))
    assert service.record_use(app_password_id=row.pk, ip="192.0.2.3")
    row.refresh_from_db()
    assert row.last_used_ip == "192.0.2.3"
    assert row.last_used_client == "mutt"


def test_client_names_are_stripped_of_control_characters_and_capped():
    assert service.clean_client_name("Apple\x00Mail\r\n" + "x" * 500) == "AppleMail" + "x" * 91


def test_secrets_are_masked_in_every_log_record(caplog):
    account = make_account()
    logger = logging.getLogger("test.mask")
    logger.addFilter(MaskSecretsFilter())
    with caplog.at_level(logging.INFO, logger="test.mask"):
        logger.info("user pasted %s into the username", account.password)
        logger.info(f"literal {account.password} in a LOGIN")
    key_id = account.password.split("_")[2]
    for record in caplog.records:
        assert account.password not in record.getMessage()
        assert f"mk_imap_{key_id}_***" in record.getMessage()
    assert mask("mk_api_abcdef") == "mk_api_abcdef_***"
