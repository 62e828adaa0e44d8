"""The domain lifecycle: MX verification, retention and encryption settings (DESIGN §7).

A verified domain loses IMAP only after definitive failures (NXDOMAIN, no MX, MX elsewhere)
repeated over GRACE, and only after its owner was told; a timeout or a DNS server failure is
recorded as "could not check" and changes nothing. Every change that affects IMAP publishes a
domain event, so live sessions end at once where they must.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from mailkite.events import publish as events
from mailkite.mail import blobgc, encryption, mx, services
from mailkite.mail.models import Domain, Expunged, Folder, Message

log = logging.getLogger("mailkite.domains")
GRACE = timedelta(days=1)


class DomainError(ValueError):
    """A domain change that cannot be made; `field` names the input, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def add_domain(*, owner: Any, name: str) -> Domain:
    """Add a domain for `owner`; it starts unverified, with the MX record to publish shown."""
    try:
        normalised = services.normalise_domain(name)
    except services.InvalidAddress as error:
        raise DomainError("name", str(error)) from None
    if Domain.objects.filter(name=normalised).exists():
        raise DomainError("name", f"{normalised} is already added to MailKite.")
    try:
        return services.create_domain(name=normalised, owner=owner)
    except IntegrityError:
        raise DomainError("name", f"{normalised} is already added to MailKite.") from None


def mx_record(domain: Domain) -> str:
    """The record the owner must publish, in zone-file form."""
    return f"{domain.name}.  3600  IN  MX  10 {settings.MAILKITE.mx_inbound_host}."


def _tell_owner(domain: Domain, subject: str, body: str) -> None:
    address = domain.owner.email
    if not address:
        log.warning("domain %s: owner has no email address to tell: %s", domain.name, subject)
        return
    send_mail(subject, body, None, [address], fail_silently=True)


def verify(domain: Domain, *, now: datetime | None = None) -> mx.MxCheck:
    """Check the domain's MX now, record the outcome and apply the grace-period policy."""
    config = settings.MAILKITE
    result = mx.check(
        domain.name,
        inbound_host=config.mx_inbound_host,
        nameserver=config.dns_nameserver,
        port=config.dns_port,
        timeout=config.dns_timeout,
    )
    apply_check(domain, result, now=now or timezone.now())
    return result


@transaction.atomic
def apply_check(domain: Domain, result: mx.MxCheck, *, now: datetime) -> None:
    inbound = settings.MAILKITE.mx_inbound_host
    domain.mx_checked_at = now
    domain.mx_outcome = result.outcome.value
    domain.mx_detail = result.sentence(domain.name, inbound)
    changed_imap = False
    if result.outcome is mx.Outcome.VERIFIED:
        changed_imap = domain.mx_verified_at is None
        domain.mx_verified_at = domain.mx_verified_at or now
        domain.mx_failing_since = domain.mx_warned_at = None
    elif result.outcome.definitive and domain.mx_verified_at is not None:
        if domain.mx_failing_since is None:
            domain.mx_failing_since = domain.mx_warned_at = now
            _tell_owner(
                domain,
                f"MailKite: {domain.name} will lose IMAP unless its MX is fixed",
                f"{domain.mx_detail}\n\nIf this is still so in a day, IMAP logins for {domain.name} "
                "will be refused and connected mail apps disconnected.",
            )
        elif now - domain.mx_failing_since >= GRACE and domain.mx_warned_at is not None:
            domain.mx_verified_at = domain.mx_failing_since = domain.mx_warned_at = None
            changed_imap = True
            _tell_owner(domain, f"MailKite: IMAP is off for {domain.name}", domain.mx_detail)
    domain.save()
    if changed_imap:
        events.publish(events.DOMAIN, domain.pk)


@transaction.atomic
def set_retention(domain: Domain, retention: str) -> None:
    """Switching to zero-retention ends live IMAP sessions at once; stored mail stays until the
    owner confirms its deletion with purge_mail. Switching back resurrects nothing."""
    if retention not in Domain.Retention.values:
        raise ValueError(f"retention must be one of {', '.join(Domain.Retention.values)}")
    domain.retention = retention
    domain.save(update_fields=["retention"])
    events.publish(events.DOMAIN, domain.pk)


@transaction.atomic
def purge_mail(domain: Domain) -> int:
    """Delete a zero-retention domain's stored mail, leaving tombstones for QRESYNC; returns the count.

    The blobs no other message references go too, files and rows, once this commits (mail.blobgc).
    """
    if domain.retention != Domain.Retention.PASSTHROUGH:
        raise ValueError("Only a zero-retention domain's mail can be purged.")
    count = 0
    for folder in Folder.objects.select_for_update().filter(mailbox__domain=domain):
        messages = Message.objects.filter(folder=folder)
        rows = list(messages.values_list("uid", "blob_id"))
        if not rows:
            continue
        uids = [uid for uid, _ in rows]
        blobgc.collect_after_commit(sha for _, sha in rows)
        Folder.objects.filter(pk=folder.pk).update(highest_modseq=F("highest_modseq") + 1)
        folder.refresh_from_db(fields=["highest_modseq"])
        Expunged.objects.bulk_create(
            [Expunged(folder=folder, uid=uid, modseq=folder.highest_modseq) for uid in uids]
        )
        messages.delete()
        Folder.objects.filter(pk=folder.pk).update(message_count=0, total_size=0)
        events.publish(events.FOLDER, folder.pk)
        count += len(uids)
    return count


@transaction.atomic
def set_encryption(domain: Domain, *, kind: str, key: str = "", protect_subject: bool = False) -> str:
    """Validate and store the domain's key (raises encryption.InvalidKey in words); returns a
    description of the key. kind "none" turns encryption off for new mail."""
    description = ""
    if kind != Domain.Encryption.NONE:
        description = encryption.validate_key(kind, key).description
    domain.encryption = kind
    domain.encryption_key = key if kind != Domain.Encryption.NONE else ""
    domain.protect_subject = protect_subject
    domain.save(update_fields=["encryption", "encryption_key", "protect_subject"])
    return description
