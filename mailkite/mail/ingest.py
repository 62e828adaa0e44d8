"""Ingest: store raw RFC 5322 messages for a recipient mailbox and folder, one or a batch at a time.

Order of work (DESIGN §3): `prepare` normalises bare LF, encrypts for an encrypted domain, and
precomputes everything FETCH and SEARCH need; the blobs are written durably — all before the
transaction. The transaction then only claims the blob rows (inserts and locks them against the
blob collector, and re-checks their files: mail.blobgc), locks the folder row while taking a
run of UIDs and modseqs with one UPDATE ... RETURNING, inserts the messages, records the change and
commits, so concurrent deliveries become visible in strictly ascending UID order.

`store` is one message (an MTA delivery, the demo); `store_many` a batch (an import), which shares
`prepare` and the write path with `store` and differs only in doing one of each step per batch: one
transaction, one folder-row UPDATE, one blob-directory fsync per folder touched, one change event.
Preparation is pure CPU work (no database, no settings), so a large batch runs it in worker
processes. The steps are public (`Preparation`, `write_blobs`, `write_prepared`) so that an importer
can run them as a pipeline over consecutive batches.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from mailkite.events import publish as events
from mailkite.mail import blobgc, blobstore, encryption, mime, services, sortkeys
from mailkite.mail.models import Domain, Folder, Mailbox, Message, MessageText

# Below this many messages a batch is prepared in this process: handing work to the workers and
# pickling the results back costs more than it saves (mime.analyse is ~2.5 ms a message).
MIN_PARALLEL = 16
# Chunks per worker process: several, so one message with a 5 MB attachment does not leave the other
# workers idle at the end of a batch; few, so each round trip carries tens of messages.
CHUNKS_PER_WORKER = 4


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
    domain = services.owned_domain(domain_name)
    if domain is None:  # nobody, or only pending claims: no account proved ownership yet
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


class Item(NamedTuple):
    """One message of a batch for `store_many`."""

    raw: bytes
    internal_date: datetime | None = None
    source_key: str = ""


@dataclass(frozen=True)
class Prepared:
    """A message ready for the transaction: the bytes to store and everything precomputed from them."""

    data: bytes  # CRLF-normalised, and encrypted for an encrypted domain
    normalised: bool
    analysis: mime.Analysis
    sort_columns: dict[str, Any]


def _encrypts(domain: Domain) -> bool:
    return domain.encryption != Domain.Encryption.NONE


def prepare(raw: bytes, *, domain: Domain | None = None) -> Prepared:
    """Normalise, encrypt (for an encrypted `domain`) and analyse one message.

    Hashing is left to the blob store (`put_many`), in the parent: it is about 1% of this work, and
    it keeps OpenSSL, whose internal locks a fork can copy while another thread holds them, out of
    the worker processes.

    Raises encryption.EncryptionUnavailable when the domain's key cannot encrypt. Without a domain
    that encrypts, this touches neither the database nor settings, so worker processes may run it.
    """
    data, normalised = mime.normalise_line_endings(raw)
    if domain is not None and _encrypts(domain):
        # Encrypt first, in memory: only the outer routing headers are ever stored or indexed.
        data = encryption.encrypt(
            data, kind=domain.encryption, key=domain.encryption_key, protect_subject=domain.protect_subject
        )
    analysis = mime.analyse(data)
    return Prepared(
        data=data,
        normalised=normalised,
        analysis=analysis,
        sort_columns=sortkeys.columns(data[: analysis.header_length]),
    )


def _why_not(error: Exception) -> str:
    if isinstance(error, encryption.EncryptionUnavailable):
        return f"it could not be encrypted ({error})"
    return f"it could not be prepared ({type(error).__name__}: {error})"


def _prepare_or_why(raw: bytes, domain: Domain | None) -> Prepared | str:
    """`prepare`, with a failure turned into the sentence saying why, so it fails only this message."""
    try:
        return prepare(raw, domain=domain)
    except Exception as error:
        return _why_not(error)


def _prepare_chunk(raws: list[bytes]) -> list[Prepared | str]:
    """A worker process's share of a batch (never an encrypting domain's: see Preparation)."""
    results: list[Prepared | str] = []
    for raw in raws:
        prepared = _prepare_or_why(raw, None)
        if isinstance(prepared, Prepared) and not prepared.normalised:
            # The parent still holds these exact bytes: do not pickle them back through the pipe.
            prepared = replace(prepared, data=b"")
        results.append(prepared)
    return results


def uses_workers(*, domain: Domain, count: int) -> bool:
    """Whether a batch of `count` messages for `domain` is worth preparing in worker processes.

    An encrypting domain's batches stay in this process: encryption runs gpg or cryptography with
    the domain's key, which we keep out of forked children.
    """
    return count >= MIN_PARALLEL and not _encrypts(domain)


def preparation_pool() -> ProcessPoolExecutor | None:
    """One worker process per core for `Preparation`, or None where they cannot help.

    The workers are forked: they inherit the imported modules and configured settings instead of
    setting Django up again (a second or so each), and what they run (`_prepare_chunk`) never
    touches the database, so the connections they inherit stay unused; a worker leaves through
    os._exit, which closes nothing of the parent's.
    """
    workers = os.cpu_count() or 1
    if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    # Fork every worker now, while the caller has no threads of its own busy (a fork copies a lock
    # another thread holds, and nothing in the child would ever release it).
    pool.submit(int).result()
    return pool


class Preparation:
    """A batch being prepared, by `pool`'s workers when `uses_workers` says so, else here and now.

    `result()` waits for it and returns, per message in order, its `Prepared` or the sentence saying
    why it could not be prepared. A worker that dies (killed for memory, say) breaks the pool: its
    chunks, and later batches, are then prepared in this process.
    """

    def __init__(self, raws: Sequence[bytes], *, domain: Domain, pool: Executor | None) -> None:
        self._raws = list(raws)
        self._domain = domain
        self._chunks: list[tuple[int, int, Future[list[Prepared | str]]]] = []
        self._done: list[Prepared | str] | None = None
        if pool is not None and uses_workers(domain=domain, count=len(self._raws)):
            workers = os.cpu_count() or 1
            size = math.ceil(len(self._raws) / (workers * CHUNKS_PER_WORKER))
            try:
                for start in range(0, len(self._raws), size):
                    end = min(start + size, len(self._raws))
                    self._chunks.append((start, end, pool.submit(_prepare_chunk, self._raws[start:end])))
                return
            except BrokenProcessPool:
                for _, _, future in self._chunks:
                    future.cancel()
                self._chunks = []
        self._done = [_prepare_or_why(raw, domain) for raw in self._raws]

    def result(self) -> list[Prepared | str]:
        if self._done is not None:
            return self._done
        done: list[Prepared | str] = []
        for start, end, future in self._chunks:
            try:
                chunk = future.result()
            except BrokenProcessPool:
                chunk = [_prepare_or_why(raw, self._domain) for raw in self._raws[start:end]]
            for offset, prepared in enumerate(chunk):
                if isinstance(prepared, Prepared) and not prepared.normalised and not prepared.data:
                    prepared = replace(prepared, data=self._raws[start + offset])
                done.append(prepared)
        self._done = done
        return done


def _moment(internal_date: datetime | None) -> tuple[datetime, int]:
    """INTERNALDATE, aware (a naive one is UTC), and its offset in minutes east of UTC."""
    moment = internal_date or timezone.now()
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_fixed_timezone(0))
    offset = moment.utcoffset()
    return moment, int(offset.total_seconds() // 60) if offset else 0


def _reserve(folder_id: int, count: int, size: int) -> tuple[int, int]:
    """Take `count` consecutive UIDs and modseqs under the folder's row lock; one statement.

    Returns the first UID and the first modseq of the run.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE mail_folder SET uidnext = uidnext + %s, highest_modseq = highest_modseq + %s, "
            "message_count = message_count + %s, total_size = total_size + %s "
            "WHERE id = %s RETURNING uidnext - %s, highest_modseq - %s + 1",
            [count, count, count, size, folder_id, count, count],
        )
        uid, modseq = cursor.fetchone()
    return int(uid), int(modseq)


def _insert(*, mailbox: Mailbox, folder: str, batch: Sequence[tuple[Item, Prepared, str]]) -> int:
    """Insert a batch whose blobs are written, in one transaction; return the first UID (batch order)."""
    blobs = {sha: prepared.data for _, prepared, sha in batch}
    folder_id = Folder.objects.filter(mailbox=mailbox, name=folder).values_list("id", flat=True).get()
    with transaction.atomic():
        # Blob rows before the folder lock, as for every writer, so two writers never wait on each
        # other in opposite orders; claimed, so the blob collector leaves them (and their files)
        # alone until this commits (the protocol is in mail.blobgc).
        blobgc.claim(blobs)
        first_uid, first_modseq = _reserve(folder_id, len(batch), sum(len(p.data) for _, p, _ in batch))
        rows, texts = [], []
        for index, (item, prepared, sha) in enumerate(batch):
            moment, offset_minutes = _moment(item.internal_date)
            analysis = prepared.analysis
            row = Message(
                folder_id=folder_id,
                uid=first_uid + index,
                modseq=first_modseq + index,
                blob_id=sha,  # Blob's primary key is its SHA-256: no lookup needed
                internal_date=moment,
                internal_date_offset=offset_minutes,
                size=len(prepared.data),
                crlf_normalised=prepared.normalised,
                envelope=analysis.envelope,
                body=analysis.body,
                bodystructure=analysis.bodystructure,
                header_length=analysis.header_length,
                parts=analysis.parts,
                message_id=analysis.message_id[:998],
                sent_date=analysis.sent_date,
                delivered_to=mailbox.address,
                source_key=item.source_key[:200],
                **prepared.sort_columns,
            )
            rows.append(row)
            texts.append(
                MessageText(
                    message=row,
                    subject=analysis.subject,
                    from_text=analysis.from_text,
                    to_text=analysis.to_text,
                    cc_text=analysis.cc_text,
                    bcc_text=analysis.bcc_text,
                    headers_text=analysis.headers_text,
                    body_text=analysis.body_text,
                )
            )
        # Both backends hand back the new ids (INSERT ... RETURNING: PostgreSQL, SQLite 3.35+), and
        # the second bulk_create reads them from `message`; a row without one would make it raise.
        Message.objects.bulk_create(rows)
        MessageText.objects.bulk_create(texts)
        events.publish(events.FOLDER, folder_id)
    return first_uid


def _zero_retention(mailbox: Mailbox, folder: str) -> Delivery:
    return Delivery(
        stored=False,
        address=mailbox.address,
        folder=folder,
        note=f"the domain {mailbox.domain.name} is on zero-retention, so nothing is stored",
    )


def write_blobs(*, mailbox: Mailbox, prepared: Sequence[Prepared | str]) -> list[str]:
    """Write a prepared batch's blobs durably; return their SHA-256s, "" where preparation failed.

    `write_prepared` calls this itself unless given the SHA-256s: an importer calls it apart, to
    write one batch's files while another batch's transaction runs. Blob files go first and
    durable, since a committed Message must never point at a missing file; if the transaction then
    fails they are orphans: harmless (same name, same bytes; a retry reuses them), and collected by
    `manage.py blobs gc` after its grace period.
    """
    if mailbox.domain.retention == Domain.Retention.PASSTHROUGH:
        return ["" for _ in prepared]
    shas = iter(blobstore.put_many([result.data for result in prepared if isinstance(result, Prepared)]))
    return [next(shas) if isinstance(result, Prepared) else "" for result in prepared]


def write_prepared(
    *,
    mailbox: Mailbox,
    folder: str,
    items: Sequence[Item],
    prepared: Sequence[Prepared | str],
    shas: Sequence[str] | None = None,
) -> list[Delivery]:
    """Store what `Preparation` (or `prepare`) made of `items`; one Delivery per item, in order.

    An item whose preparation failed is reported, not stored; the rest go in one transaction, UIDs
    ascending in item order. `shas` says `write_blobs` already wrote the blobs. Honours
    zero-retention by storing nothing. Database and blob-store errors propagate, and then nothing of
    the batch is in the database.
    """
    if mailbox.domain.retention == Domain.Retention.PASSTHROUGH:
        return [_zero_retention(mailbox, folder) for _ in items]
    if shas is None:
        shas = write_blobs(mailbox=mailbox, prepared=prepared)
    triples = list(zip(items, prepared, shas, strict=True))
    ready = [(item, result, sha) for item, result, sha in triples if isinstance(result, Prepared)]
    uid = _insert(mailbox=mailbox, folder=folder, batch=ready) if ready else 0
    encrypted = _encrypts(mailbox.domain)
    deliveries = []
    for _, result, _ in triples:
        if isinstance(result, str):
            deliveries.append(Delivery(stored=False, address=mailbox.address, folder=folder, note=result))
            continue
        deliveries.append(
            Delivery(
                stored=True,
                address=mailbox.address,
                folder=folder,
                uid=uid,
                size=len(result.data),
                normalised=result.normalised,
                encrypted=encrypted,
            )
        )
        uid += 1
    return deliveries


def store_many(
    *, mailbox: Mailbox, folder: str = Folder.INBOX, items: Sequence[Item], pool: Executor | None = None
) -> list[Delivery]:
    """Store a batch in `mailbox`'s `folder`: one Delivery per item, in order (see write_prepared).

    A message that cannot be prepared (its domain's key cannot encrypt, say) is reported in its
    Delivery and the others are stored. A large batch is prepared by `pool`'s workers, or by a pool
    made for this call when none is given.
    """
    if mailbox.domain.retention == Domain.Retention.PASSTHROUGH:
        return [_zero_retention(mailbox, folder) for _ in items]
    own = None
    if pool is None and uses_workers(domain=mailbox.domain, count=len(items)):
        own = pool = preparation_pool()
    try:
        prepared = Preparation([item.raw for item in items], domain=mailbox.domain, pool=pool).result()
    finally:
        if own is not None:
            own.shutdown()
    return write_prepared(mailbox=mailbox, folder=folder, items=items, prepared=prepared)


def store(
    *,
    mailbox: Mailbox,
    raw: bytes,
    folder: str = Folder.INBOX,
    internal_date: datetime | None = None,
    source_key: str = "",
) -> Delivery:
    """Store `raw` in `mailbox`'s `folder`. Honours zero-retention by storing nothing.

    Raises encryption.EncryptionUnavailable when an encrypted domain's key cannot encrypt, so the
    MTA retries later instead of us storing plaintext.
    """
    if mailbox.domain.retention == Domain.Retention.PASSTHROUGH:
        return _zero_retention(mailbox, folder)
    prepared = prepare(raw, domain=mailbox.domain)
    item = Item(raw, internal_date, source_key)
    return write_prepared(mailbox=mailbox, folder=folder, items=[item], prepared=[prepared])[0]


def deliver(*, address: str, raw: bytes, folder: str = Folder.INBOX) -> Delivery:
    """An MTA's delivery: resolve the recipient (or raise UnknownRecipient), then store."""
    if folder not in Folder.NAMES:
        raise ValueError(f"folder must be one of {', '.join(Folder.NAMES)}")
    return store(mailbox=resolve_recipient(address), raw=raw, folder=folder)
