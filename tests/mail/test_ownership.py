"""Domain ownership by a per-account TXT token, against a real DNS server (dnsmasq on loopback):
TXT proof wins, rival claims close, a lost TXT record starts the grace clock (DESIGN §7), and the
migration path for domains verified before the challenge existed."""

from __future__ import annotations

import dataclasses
import imaplib
import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from mailkite.mail import domains, ingest, ownership, services
from mailkite.mail.models import Domain
from tests.conftest import make_account
from tests.dnszone import Zone, free_port, mx_record, resolve_through, served_zone, txt_record

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "contested.example"


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Zone]:
    yield from served_zone(tmp_path_factory, mx_record(NAME))


@pytest.fixture
def dns(settings, zone: Zone) -> Zone:
    zone.publish(mx_record(NAME))
    resolve_through(settings, zone.port)
    return zone


def person(username: str):  # type: ignore[no-untyped-def]
    return get_user_model().objects.create_user(
        username=username, password="x", email=f"{username}@mail.example"
    )


def test_txt_proof_wins_and_closes_the_other_claims(dns, mailoutbox):
    first, second = person("first"), person("second")
    early = domains.add_domain(owner=first, name=NAME)
    late = domains.add_domain(owner=second, name=NAME)
    assert early.verification_token != late.verification_token
    assert (early.ownership, late.ownership) == ("pending", "pending")

    # The later claim publishes its token (at the documented _mailkite name) and wins.
    dns.publish(mx_record(NAME), txt_record(f"_mailkite.{NAME}", late.txt_value))
    domains.verify(late)
    assert late.ownership == "verified" and late.imap_refusal() is None
    assert late.txt_detail == f"The TXT record {late.txt_value} is published at _mailkite.{NAME}."
    early.refresh_from_db()
    assert early.ownership == "closed"
    assert early.imap_refusal() == f"another MailKite account proved ownership of the domain {NAME} first"
    assert [m.to for m in mailoutbox] == [["first@mail.example"]]
    assert "your claim on contested.example is closed" in mailoutbox[0].subject

    # Mail for the name reaches the owner's claim only.
    services.create_mailbox(domain=early, local_part="ceo")
    with pytest.raises(ingest.UnknownRecipient):
        ingest.resolve_recipient(f"ceo@{NAME}")
    services.create_mailbox(domain=late, local_part="ceo")
    assert ingest.resolve_recipient(f"ceo@{NAME}").domain_id == late.pk

    # A verified owner is never displaced by a newcomer's record, even a correct one.
    dns.publish(
        mx_record(NAME),
        txt_record(f"_mailkite.{NAME}", late.txt_value),
        txt_record(NAME, early.txt_value),
    )
    domains.verify(early)
    early.refresh_from_db()
    late.refresh_from_db()
    assert (early.ownership, late.ownership) == ("closed", "verified")
    assert "another MailKite account proved ownership of contested.example first" in early.txt_detail


def test_losing_the_txt_record_starts_the_grace_clock(dns, connect, mailoutbox):
    account = make_account(f"me@{NAME}")
    domain = account.mailbox.domain
    dns.publish(mx_record(NAME), txt_record(NAME, domain.txt_value))
    domains.verify(domain)
    assert domain.imap_refusal() is None and domain.txt_failing_since is None
    closed = domains.add_domain(owner=person("rival"), name=NAME)
    dns.publish(mx_record(NAME), txt_record(NAME, domain.txt_value), txt_record(NAME, closed.txt_value))
    domains.verify(closed)  # its record is published too, but the name is owned: closed
    assert closed.ownership == "closed"
    client = connect()
    client.login("me", account.password)

    dns.publish(mx_record(NAME))  # the owner's TXT record disappears
    start = timezone.now()
    domains.verify(domain, now=start)
    assert domain.txt_failing_since == start and domain.ownership == "verified"  # told first
    assert mailoutbox[-1].subject == f"MailKite: {NAME} will lose IMAP unless its TXT record is restored"
    assert domain.txt_value in mailoutbox[-1].body  # the warning names what changed
    domains.verify(domain, now=start + timedelta(hours=23))
    assert domain.ownership == "verified"
    domains.verify(domain, now=start + timedelta(hours=25))
    assert domain.ownership == "pending" and domain.owner_verified_at is None
    assert mailoutbox[-1].subject == f"MailKite: IMAP is off for {NAME}"

    with pytest.raises(imaplib.IMAP4.error) as refused:
        connect().login("me", account.password)
    assert f"lacks this account's TXT record {domain.txt_value}" in str(refused.value)
    assert "CONTACTADMIN" in str(refused.value)

    # Once released, closed claims are pending again, and the name goes to whoever proves it next.
    assert Domain.objects.get(pk=closed.pk).ownership == "pending"
    newcomer = domains.add_domain(owner=person("newcomer"), name=NAME)
    dns.publish(mx_record(NAME), txt_record(NAME, newcomer.txt_value))
    domains.verify(newcomer)
    assert newcomer.ownership == "verified"


def test_a_dns_timeout_changes_no_ownership(settings):
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, dns_nameserver="127.0.0.1", dns_port=free_port(socket.SOCK_DGRAM), dns_timeout=1.0
    )
    domain = make_account(f"me@{NAME}").mailbox.domain
    domains.verify(domain)
    domain.refresh_from_db()
    assert domain.txt_outcome == ownership.Outcome.TIMEOUT
    assert domain.txt_failing_since is None and domain.ownership == "verified"


def test_the_cli_prints_the_record_to_publish(dns, capsys):
    person("carol")
    call_command("createdomain", "real-shop.com", "--owner", "carol", "--mx-verified")
    capsys.readouterr()
    assert Domain.objects.get(name="real-shop.com").ownership == "pending"  # only reserved names
    call_command("createdomain", NAME, "--owner", "carol")
    created = capsys.readouterr().out
    domain = Domain.objects.get(name=NAME)
    assert f'{NAME}.  3600  IN  TXT  "{domain.txt_value}"' in created
    call_command("domain", "verify", NAME)
    checked = capsys.readouterr().out
    assert f"Neither {NAME} nor _mailkite.{NAME} has the TXT record {domain.txt_value}." in checked
    assert f'{NAME}.  3600  IN  TXT  "{domain.txt_value}"' in checked
    dns.publish(mx_record(NAME), txt_record(NAME, domain.txt_value))
    call_command("domain", "verify", NAME)
    assert "(IMAP on)" in capsys.readouterr().out


def test_reserved_test_names_can_be_seeded_as_owned(capsys):
    person("dave")
    call_command("createdomain", "shop.mailkite.test", "--owner", "dave", "--mx-verified")
    assert "TXT" not in capsys.readouterr().out
    assert Domain.objects.get(name="shop.mailkite.test").imap_refusal() is None


# -- domains verified before the TXT challenge existed ------------------------------------------


def test_migration_gives_tokens_and_a_deadline_then_the_policy_applies(dns, mailoutbox):
    executor = MigrationExecutor(connection)
    executor.migrate([("mail", "0005_message_text")])
    old = executor.loader.project_state([("mail", "0005_message_text")]).apps
    owner = old.get_model("auth", "User").objects.create(username="legacy", email="legacy@mail.example")
    old_domain = old.get_model("mail", "Domain")
    old_domain.objects.create(name=NAME, owner_id=owner.pk, mx_verified_at=timezone.now())
    old_domain.objects.create(name="never-verified.example", owner_id=owner.pk)
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    verified, unverified = Domain.objects.get(name=NAME), Domain.objects.get(name="never-verified.example")
    assert len({verified.verification_token, unverified.verification_token}) == 2
    assert unverified.ownership == "pending" and unverified.txt_deadline is None
    assert verified.imap_refusal() is None  # keeps working...
    deadline = verified.txt_deadline
    assert deadline is not None  # ...with a deadline (DOMAIN_TXT_DEADLINE_DAYS) to publish the TXT
    assert timedelta(days=29) < deadline - timezone.now() <= timedelta(days=30)

    # Before the deadline a missing record only reminds, once; no clock runs.
    domains.verify(verified)
    domains.verify(verified)
    assert verified.txt_failing_since is None and verified.ownership == "verified"
    assert [m.subject for m in mailoutbox] == [
        f"MailKite: publish a TXT record for {NAME} by {deadline:%Y-%m-%d}"
    ]
    # After it, the definitive-failure policy applies: warned, then a day later IMAP is off.
    domains.verify(verified, now=deadline + timedelta(minutes=1))
    assert verified.txt_failing_since is not None and verified.ownership == "verified"
    domains.verify(verified, now=deadline + timedelta(days=1, minutes=2))
    assert verified.ownership == "pending"
