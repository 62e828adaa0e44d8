"""Ingest: store one raw RFC 5322 message for a recipient address and folder.

Order of work (DESIGN §3): normalise bare LF, precompute everything FETCH and SEARCH need, write
the blob durably — all before the transaction. The transaction then only locks the folder row
while taking the next UID and modseq with one UPDATE ... RETURNING, inserts the message, and
commits, so concurrent deliveries become visible in strictly ascending UID order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mailkite.events import publish as events
from mailkite.mail import blobstore, encryption, mime, services, sortkeys
from mailkite.mail.models import Blob, Domain, Folder, Mailbox, Message


class UnknownRecipient(Exception):
    """No mailbox will take this address; the sentence says why (EX_NOUSER for an MTA)."""


@dataclass(frozen=True)
class Delivery:
    stored: bool
    address: str
    folder: str
    uid: int | None = None
    size: int = 0
    normalised: bool = False
    encrypted: bool = False
    note: str = ""

    def report(self) -> str:
        if not self.stored:
            return f"not stored for {self.address}: {self.note}"
        extra = "; bare LF line endings normalised to CRLF" if self.normalised else ""
        extra += "; encrypted to the domain's key" if self.encrypted else ""
        return f"stored for {self.address} in {self.folder} as UID {self.uid} ({self.size} octets){extra}"


def resolve_recipient(address: str) -> Mailbox:
    """The mailbox for `address`, created on first delivery only where the domain is catch-all."""
    try:
        local, domain_name = services.split_address(address)
    except services.InvalidAddress as error:
        raise UnknownRecipient(str(error)) from None
    domain = Domain.objects.filter(name=domain_name).first()
    if domain is None:
        raise UnknownRecipient(f"no domain {domain_name} is set up at MailKite")
    if domain.mx_verified_at is None:
        raise UnknownRecipient(f"the domain {domain_name} is not MX-verified")
    mailbox = services.find_mailbox(address)
    if mailbox is None:
        if not domain.catch_all:
            raise UnknownRecipient(f"no mailbox {local}@{domain_name}")
        try:
            mailbox = services.create_mailbox(domain=domain, local_part=local)
        except IntegrityError:  # a concurrent first delivery created it a moment ago
            mailbox = services.find_mailbox(address)
            if mailbox is None:
                raise
    return mailbox


def _next_uid(folder_id: int, size: int) -> tuple[int, int]:
    """Take the next UID and modseq under the folder's row lock; one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mail_folder SET uidnext = uidnext + 1, highest_modseq = highest_modseq + 1, "
            "message_count = message_count + 1, total_size = total_size + %s "
            "WHERE id = %s RETURNING uidnext - 1, highest_modseq",
            [size, folder_id],
        )
        uid, modseq = cursor.fetchone()
    return int(uid), int(modseq)


def store(
    *,
    mailbox: Mailbox,
    raw: bytes,
    folder: str = Folder.INBOX,
    internal_date: datetime | None = None,
    source_key: str = "",
) -> Delivery:
    """Store `raw` in `mailbox`'s `folder`. Honours zero-retention by storing nothing."""
    address = mailbox.address
    if mailbox.domain.retention == Domain.Retention.PASSTHROUGH:
        return Delivery(
            stored=False,
            address=address,
            folder=folder,
            note=f"the domain {mailbox.domain.name} is on zero-retention, so nothing is stored",
        )
    data, normalised = mime.normalise_line_endings(raw)
    domain = mailbox.domain
    if domain.encryption != Domain.Encryption.NONE:
        # Encrypt first, in memory: only the outer routing headers are ever stored or indexed.
        data = encryption.encrypt(
            data, kind=domain.encryption, key=domain.encryption_key, protect_subject=domain.protect_subject
        )
    analysis = mime.analyse(data)
    sort_columns = sortkeys.columns(data[: analysis.header_length])
    moment = internal_date or timezone.now()
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_fixed_timezone(0))
    offset = moment.utcoffset()
    offset_minutes = int(offset.total_seconds() // 60) if offset else 0
    sha = blobstore.put(data)
    folder_row = Folder.objects.only("id").get(mailbox=mailbox, name=folder)
    with transaction.atomic():
        blob, _ = Blob.objects.get_or_create(sha256=sha, defaults={"size": len(data)})
        uid, modseq = _next_uid(folder_row.pk, len(data))
        Message.objects.create(
            folder_id=folder_row.pk,
            uid=uid,
            modseq=modseq,
            blob=blob,
            internal_date=moment,
            internal_date_offset=offset_minutes,
            size=len(data),
            crlf_normalised=normalised,
            envelope=analysis.envelope,
            body=analysis.body,
            bodystructure=analysis.bodystructure,
            header_length=analysis.header_length,
            parts=analysis.parts,
            message_id=analysis.message_id[:998],
            subject=analysis.subject,
            from_text=analysis.from_text,
            to_text=analysis.to_text,
            cc_text=analysis.cc_text,
            bcc_text=analysis.bcc_text,
            headers_text=analysis.headers_text,
            body_text=analysis.body_text,
            sent_date=analysis.sent_date,
            delivered_to=address,
            source_key=source_key[:200],
            **sort_columns,
        )
        events.publish(events.FOLDER, folder_row.pk)
    return Delivery(
        stored=True,
        address=address,
        folder=folder,
        uid=uid,
        size=len(data),
        normalised=normalised,
        encrypted=domain.encryption != Domain.Encryption.NONE,
    )


def deliver(*, address: str, raw: bytes, folder: str = Folder.INBOX) -> Delivery:
    """An MTA's delivery: resolve the recipient (or raise UnknownRecipient), then store."""
    if folder not in Folder.NAMES:
        raise ValueError(f"folder must be one of {', '.join(Folder.NAMES)}")
    return store(mailbox=resolve_recipient(address), raw=raw, folder=folder)
