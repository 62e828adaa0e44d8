"""The database side of LMTP delivery: synchronous, run on lmtpd's thread pool, never on its loop.

`check_recipient` runs at RCPT time; `deliver_batch` after DATA, for every message that finished
DATA on any connection while the previous batch was being written (group commit, see `batcher`).

A batch is one transaction: each message's blobs are written (and fsynced) first, then every row
of every recipient of every message in the batch commits at once, or none does. So a message is
stored for all of its recipients or for none of them; nothing is acknowledged before that commit
(the session sends its 250s only after `deliver_batch` returns), and a crash before the commit
leaves only blob files a retry reuses. If the batch fails on something that is not an outage
(one bad row), its messages are retried one transaction each, so one message cannot hold back
the others.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, InterfaceError, OperationalError, transaction

from mailkite.lmtp import replies
from mailkite.mail import blobstore, encryption, ingest
from mailkite.mail.models import Domain, Folder, Mailbox

log = logging.getLogger("mailkite.lmtp")


def check_recipient(address: str) -> Mailbox:
    """The mailbox mail for `address` goes to (created now on a catch-all domain).

    Raises ingest.UnknownRecipient with the sentence saying why no mailbox takes it.
    """
    return ingest.resolve_recipient(address)


@dataclass(frozen=True)
class Incoming:
    """One message after DATA: its bytes (Return-Path included) and its accepted recipients."""

    data: bytes
    recipients: tuple[Mailbox, ...]


@dataclass
class _Plan:
    """What a message needs written: a Prepared per distinct mailbox, or the reply already known."""

    replies: dict[int, str] = field(default_factory=dict)  # mailbox id -> final reply
    prepared: dict[int, ingest.Prepared] = field(default_factory=dict)  # mailbox id -> to store
    mailboxes: dict[int, Mailbox] = field(default_factory=dict)


def failure_reply(error: BaseException) -> str:
    """The reply for every recipient of a message whose delivery raised `error`."""
    if isinstance(error, OperationalError | InterfaceError):
        return replies.DATABASE_DOWN
    if isinstance(error, DatabaseError):  # IntegrityError, DataError: a retry would fail again
        log.exception("lmtp: a message could not be stored", exc_info=error)
        return replies.NOT_STORABLE
    if isinstance(error, OSError):
        log.warning("lmtp: the blob store could not be written: %s", error)
        return replies.BLOB_STORE_DOWN
    log.error("lmtp: unexpected failure", exc_info=error)
    return replies.UNEXPECTED


def _plan(message: Incoming) -> _Plan:
    """Prepare the message once for every recipient on a plain domain, once per encrypting domain."""
    plan = _Plan()
    by_domain: dict[int | None, ingest.Prepared | str] = {}
    for mailbox in message.recipients:
        plan.mailboxes[mailbox.id] = mailbox  # keyed by mailbox: two addresses of one, stored once
        domain = mailbox.domain
        if domain.retention == Domain.Retention.PASSTHROUGH:
            plan.replies[mailbox.id] = replies.DELIVERED_NOT_STORED
            continue
        key = None if domain.encryption == Domain.Encryption.NONE else domain.id
        if key not in by_domain:
            try:
                by_domain[key] = ingest.prepare(message.data, domain=domain)
            except encryption.EncryptionUnavailable as error:
                log.warning("lmtp: cannot encrypt for %s: %s", domain.name, error)
                by_domain[key] = replies.CANNOT_ENCRYPT
            except Exception as error:  # a parser bug fails this message, not the batch
                by_domain[key] = failure_reply(error)
        prepared = by_domain[key]
        if isinstance(prepared, str):
            plan.replies[mailbox.id] = prepared
        else:
            plan.prepared[mailbox.id] = prepared
    return plan


def _write(plans: Sequence[_Plan]) -> None:
    """Blobs first, durably; then every message row of `plans` in one transaction."""
    payloads: dict[int, bytes] = {}
    for plan in plans:
        for prepared in plan.prepared.values():
            payloads[id(prepared)] = prepared.data
    shas = dict(zip(payloads, blobstore.put_many(list(payloads.values())), strict=True))
    # Folder rows are locked in mailbox order, so two batches touching the same mailboxes (another
    # lmtpd process) wait for each other instead of deadlocking.
    groups: dict[int, list[tuple[ingest.Prepared, str]]] = {}
    mailboxes: dict[int, Mailbox] = {}
    for plan in plans:
        for mailbox_id, prepared in plan.prepared.items():
            groups.setdefault(mailbox_id, []).append((prepared, shas[id(prepared)]))
            mailboxes[mailbox_id] = plan.mailboxes[mailbox_id]
    with transaction.atomic():
        for mailbox_id in sorted(groups):
            batch = groups[mailbox_id]
            ingest.write_prepared(
                mailbox=mailboxes[mailbox_id],
                folder=Folder.INBOX,
                items=[ingest.Item(b"") for _ in batch],  # bytes are in `prepared`; date: now
                prepared=[prepared for prepared, _ in batch],
                shas=[sha for _, sha in batch],
            )


def _replies(message: Incoming, plan: _Plan, failure: str | None) -> list[str]:
    """One reply per recipient, in RCPT order."""
    out = []
    for mailbox in message.recipients:
        known = plan.replies.get(mailbox.id)
        out.append(known or failure or replies.DELIVERED)
    return out


def deliver_batch(messages: Sequence[Incoming]) -> list[list[str]]:
    """Store each message for its recipients; per message, one reply per recipient (RCPT order)."""
    plans = [_plan(message) for message in messages]
    try:
        _write(plans)
    except Exception as error:
        reply = failure_reply(error)
        if len(messages) == 1 or reply != replies.NOT_STORABLE:
            # An outage fails every message of the batch alike; the MTA retries them all.
            return [_replies(message, plan, reply) for message, plan in zip(messages, plans, strict=True)]
        return [deliver_batch([message])[0] for message in messages]
    return [_replies(message, plan, None) for message, plan in zip(messages, plans, strict=True)]
