"""The domain lifecycle: ownership (TXT) and MX verification, retention and encryption (DESIGN §7).

Several accounts may add the same name; each gets its own TXT token, and the first to publish it
owns the name (the others' claims are closed). IMAP needs both this account's ownership and the MX.
A verified domain loses ownership or MX only after definitive failures (NXDOMAIN, no MX, MX
elsewhere, this account's TXT record gone) repeated over GRACE, and only after its owner was told;
a timeout or a DNS server failure is recorded as "could not check" and changes nothing. Every
change that affects IMAP publishes a domain event, so live sessions end at once where they must.
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
from mailkite.mail import blobgc, encryption, mx, ownership, services
from mailkite.mail.models import Domain, Expunged, Folder, Message

log = logging.getLogger("mailkite.domains")
GRACE = timedelta(days=1)


class DomainError(ValueError):
    """A domain change that cannot be made; `field` names the input, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def add_domain(*, owner: Any, name: str) -> Domain:
    """Add a domain for `owner` as a pending claim, with its own TXT token to publish.

    A name another account already added (or owns) may be added too: whoever proves the TXT
    record first owns it, so adding reveals nothing and blocks nobody."""
    try:
        normalised = services.normalise_domain(name)
    except services.InvalidAddress as error:
        raise DomainError("name", str(error)) from None
    duplicate = DomainError("name", f"You have already added {normalised}.")
    if Domain.objects.filter(name=normalised, owner_id=owner.pk).exists():
        raise duplicate
    try:
        return services.create_domain(name=normalised, owner=owner)
    except IntegrityError:
        raise duplicate from None


def mx_record(domain: Domain) -> str:
    """The MX record the owner must publish, in zone-file form."""
    return f"{domain.name}.  3600  IN  MX  10 {settings.MAILKITE.mx_inbound_host}."


def txt_record(domain: Domain, *, at_subdomain: bool = False) -> str:
    """The TXT record proving this account owns the domain, in zone-file form."""
    name = f"{ownership.SUBDOMAIN}.{domain.name}" if at_subdomain else domain.name
    return f'{name}.  3600  IN  TXT  "{domain.txt_value}"'


def _tell_owner(domain: Domain, subject: str, body: str) -> None:
    address = domain.owner.email
    if not address:
        log.warning("domain %s: owner has no email address to tell: %s", domain.name, subject)
        return
    send_mail(subject, body, None, [address], fail_silently=True)


def verify(domain: Domain, *, now: datetime | None = None) -> mx.MxCheck:
    """Check the domain's TXT token and MX now, record the outcomes and apply the grace policy."""
    config = settings.MAILKITE
    dns = {"nameserver": config.dns_nameserver, "port": config.dns_port, "timeout": config.dns_timeout}
    txt = ownership.check(domain.name, domain.verification_token, **dns)  # type: ignore[arg-type]
    result = mx.check(domain.name, inbound_host=config.mx_inbound_host, **dns)  # type: ignore[arg-type]
    apply_check(domain, result, now=now or timezone.now(), txt=txt)
    return result


@transaction.atomic
def apply_check(
    domain: Domain, result: mx.MxCheck, *, now: datetime, txt: ownership.TxtCheck | None = None
) -> None:
    """Record an MX check (and a TXT check, when one was made) and apply the grace policy."""
    if txt is not None:
        _apply_txt(domain, txt, now=now)
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


def _apply_txt(domain: Domain, result: ownership.TxtCheck, *, now: datetime) -> None:
    """Ownership from a TXT check: claim the name when free, keep it, or lose it after GRACE."""
    domain.txt_outcome = result.outcome.value
    domain.txt_detail = result.sentence(domain.name, domain.verification_token)
    if result.outcome is ownership.Outcome.VERIFIED:
        if domain.owner_verified_at is None:
            _claim(domain, now=now)
        else:
            domain.txt_deadline = domain.txt_failing_since = domain.txt_warned_at = None
        domain.save()
        return
    if not result.outcome.definitive or domain.owner_verified_at is None:
        domain.save()
        return
    if domain.txt_deadline is not None and now < domain.txt_deadline:
        # Verified before the TXT challenge existed: reminded once, no clock until the deadline.
        if domain.txt_warned_at is None:
            domain.txt_warned_at = now
            _tell_owner(
                domain,
                f"MailKite: publish a TXT record for {domain.name} by {domain.txt_deadline:%Y-%m-%d}",
                f"MailKite now asks every domain owner to prove ownership with a TXT record:\n\n"
                f"    {txt_record(domain)}\n\n(or the same record at {ownership.SUBDOMAIN}.{domain.name}). "
                f"IMAP keeps working until {domain.txt_deadline:%Y-%m-%d %H:%M} UTC; after that, a day "
                "without the record turns IMAP off for this domain.",
            )
    elif domain.txt_failing_since is None:
        domain.txt_failing_since = domain.txt_warned_at = now
        _tell_owner(
            domain,
            f"MailKite: {domain.name} will lose IMAP unless its TXT record is restored",
            f"{domain.txt_detail}\n\nWithout that record MailKite can no longer tell that your account "
            f"owns {domain.name}. If this is still so in a day, IMAP logins for {domain.name} will be "
            "refused, connected mail apps disconnected, and another account may prove ownership.",
        )
    elif now - domain.txt_failing_since >= GRACE and domain.txt_warned_at is not None:
        domain.owner_verified_at = domain.txt_deadline = None
        domain.txt_failing_since = domain.txt_warned_at = None
        domain.save()
        events.publish(events.DOMAIN, domain.pk)
        # The name is free again: closed claims become pending, and the next proof wins it.
        Domain.objects.filter(name=domain.name, claim_closed_at__isnull=False).update(
            claim_closed_at=None,
            txt_detail=f"The owner's proof for {domain.name} lapsed; this claim is pending again.",
        )
        _tell_owner(
            domain,
            f"MailKite: IMAP is off for {domain.name}",
            f"{domain.txt_detail}\n\nYour account no longer counts as the owner of {domain.name}. "
            "Publish the record again and verify to get it back, unless another account proves "
            "ownership first.",
        )
        return
    domain.save()


def _claim(domain: Domain, *, now: datetime) -> None:
    """This account's TXT token is published: it owns the name unless another account does."""
    rivals = Domain.objects.select_for_update().filter(name=domain.name).exclude(pk=domain.pk)
    owner = next((rival for rival in rivals if rival.owner_verified_at is not None), None)
    if owner is None:
        domain.owner_verified_at = now
        domain.claim_closed_at = domain.txt_failing_since = domain.txt_warned_at = None
        domain.txt_deadline = None
        try:
            with transaction.atomic():  # a savepoint: a racing claim hits "domain_one_owner"
                domain.save()
        except IntegrityError:
            domain.owner_verified_at = None
        else:
            events.publish(events.DOMAIN, domain.pk)
            _close_rival_claims(domain, now=now)
            return
    # A verified owner loses the name only through its own grace period, never to a newcomer.
    domain.claim_closed_at = domain.claim_closed_at or now
    domain.txt_detail += (
        f" But another MailKite account proved ownership of {domain.name} first; it keeps the domain "
        "unless its own TXT record disappears for more than a day."
    )


def _close_rival_claims(domain: Domain, *, now: datetime) -> None:
    rivals = Domain.objects.select_related("owner").filter(
        name=domain.name, owner_verified_at__isnull=True, claim_closed_at__isnull=True
    )
    for rival in rivals.exclude(pk=domain.pk):
        rival.claim_closed_at = now
        rival.txt_detail = (
            f"Another MailKite account proved ownership of {domain.name} on {now:%Y-%m-%d}, so this "
            "claim is closed."
        )
        rival.save(update_fields=["claim_closed_at", "txt_detail"])
        _tell_owner(rival, f"MailKite: your claim on {domain.name} is closed", rival.txt_detail)


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
