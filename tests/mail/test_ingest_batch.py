"""ingest.store_many on the real database: the same rows as store() one by one, in one transaction per
batch, with worker processes doing the analysis; dedupe, failures, encryption, concurrent deliveries."""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from django.db import connection, connections
from django.db.models import Count, Max

from mailkite.events.models import ChangeCounter
from mailkite.mail import blobstore, democorpus, domains, ingest, mime
from mailkite.mail.models import Blob, Domain, Folder, Message
from tests.conftest import make_account
from tests.mail.test_domains import smime_identity
from tests.mail.test_ingest import AWKWARD, crlf_message

pytestmark = pytest.mark.django_db

ADDRESS = "you@example.com"
WHEN = datetime(2026, 9, 3, 10, 0, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
# Every column a store writes, except the row id and the folder (the two paths write two folders).
COLUMNS = [f.attname for f in Message._meta.concrete_fields if f.attname not in ("id", "folder_id")]


def corpus() -> list[ingest.Item]:
    """Awkward MIME, bare LF, 8-bit headers, a 5 MB attachment, the demo mail: more than MIN_PARALLEL."""
    raws = [*AWKWARD.values(), *(raw for _, raw, _ in democorpus.messages(ADDRESS, count=16))]
    raws += [crlf_message(subject=f"plain {n}", Cc="Grace <grace@navy.example>") for n in range(4)]
    assert len(raws) >= 2 * ingest.MIN_PARALLEL
    items = [ingest.Item(raw, WHEN + timedelta(minutes=n), f"test:{n}") for n, raw in enumerate(raws)]
    items.append(ingest.Item(b"Subject: naive date\r\n\r\nx\r\n", datetime(2026, 9, 1, 12, 0), "naive"))
    return items


def rows(folder: str) -> list[dict]:
    return list(Message.objects.filter(folder__name=folder).order_by("uid").values(*COLUMNS))


def counter(folder: Folder) -> int:
    row = ChangeCounter.objects.filter(kind="folder", key=folder.pk).first()
    return row.counter if row else 0


class CountingPool(ProcessPoolExecutor):
    """Real worker processes; counts what is handed to them."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted = 0

    def submit(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self.submitted += 1
        return super().submit(*args, **kwargs)


# ---------------------------------------------------------------------------------------------------
# Same rows as store()


def test_a_batch_stores_the_same_rows_as_store_one_by_one():
    account = make_account()
    items = corpus()
    singles = [
        ingest.store(
            mailbox=account.mailbox, raw=i.raw, internal_date=i.internal_date, source_key=i.source_key
        )
        for i in items
    ]
    batch = ingest.store_many(mailbox=account.mailbox, folder=Folder.SENT, items=items)
    one_by_one, batched = rows(Folder.INBOX), rows(Folder.SENT)
    assert len(batched) == len(items)
    for single, many in zip(one_by_one, batched, strict=True):
        assert many == single, single["source_key"]
    assert [(d.uid, d.size, d.normalised, d.stored) for d in batch] == [
        (d.uid, d.size, d.normalised, d.stored) for d in singles
    ]
    assert [d.report().replace("Sent", "INBOX") for d in batch] == [d.report() for d in singles]
    # The bytes the rows point at are the stored (CRLF-normalised) message, byte for byte.
    sent = Message.objects.filter(folder__name=Folder.SENT).order_by("uid")
    for message, item in zip(sent, items, strict=True):
        assert blobstore.get(message.blob_id) == mime.normalise_line_endings(item.raw)[0]
    # The second copy of each message shares the first one's blob.
    assert Blob.objects.count() == len({mime.normalise_line_endings(i.raw)[0] for i in items})


def test_workers_prepare_large_batches_exactly_as_this_process_does():
    account = make_account()
    raws = [item.raw for item in corpus()]
    here = ingest.Preparation(raws, domain=account.mailbox.domain, pool=None).result()
    with CountingPool() as pool:
        there = ingest.Preparation(raws, domain=account.mailbox.domain, pool=pool).result()
        chunks = pool.submitted
        assert 2 <= chunks <= ingest.CHUNKS_PER_WORKER * (os.cpu_count() or 1)  # to the workers, in chunks
        small = ingest.Preparation(raws[:3], domain=account.mailbox.domain, pool=pool).result()
        assert small == here[:3]
        assert pool.submitted == chunks  # a tiny batch stays in this process
    assert there == here
    assert all(isinstance(p, ingest.Prepared) for p in there)


def test_a_broken_worker_pool_falls_back_to_this_process():
    account = make_account()
    raws = [item.raw for item in corpus()]
    pool = ProcessPoolExecutor(max_workers=2)
    try:
        with pytest.raises(Exception):  # noqa: B017 - the worker dies; the pool says so
            pool.submit(os._exit, 1).result()
        prepared = ingest.Preparation(raws, domain=account.mailbox.domain, pool=pool).result()
    finally:
        pool.shutdown()
    assert prepared == ingest.Preparation(raws, domain=account.mailbox.domain, pool=None).result()


# ---------------------------------------------------------------------------------------------------
# UIDs, modseqs, counters, events


def test_a_batch_takes_contiguous_uids_and_modseqs_after_earlier_mail():
    account = make_account()
    inbox = Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX)
    for n in range(3):
        ingest.store(mailbox=account.mailbox, raw=crlf_message(subject=f"before {n}"))
    events_before = counter(inbox)
    items = [ingest.Item(crlf_message(subject=f"batch {n}")) for n in range(20)]
    deliveries = ingest.store_many(mailbox=account.mailbox, items=items)
    assert [d.uid for d in deliveries] == list(range(4, 24))
    stored = list(
        Message.objects.filter(folder=inbox).order_by("uid").values_list("uid", "modseq", "text__subject")
    )
    assert [uid for uid, _, _ in stored] == list(range(1, 24))
    assert [modseq for _, modseq, _ in stored] == list(range(2, 25))  # highest_modseq starts at 1
    assert [subject for _, _, subject in stored[3:]] == [f"batch {n}" for n in range(20)]  # source order
    inbox.refresh_from_db()
    assert (inbox.uidnext, inbox.highest_modseq, inbox.message_count) == (24, 24, 23)
    assert inbox.total_size == sum(Message.objects.filter(folder=inbox).values_list("size", flat=True))
    assert counter(inbox) == events_before + 1  # one change event for the whole batch
    after = ingest.store(mailbox=account.mailbox, raw=crlf_message(subject="after"))
    assert after.uid == 24


def test_identical_messages_in_a_batch_share_one_blob():
    account = make_account()
    same = crlf_message(subject="twice")
    earlier = crlf_message(subject="stored before")
    ingest.store(mailbox=account.mailbox, raw=earlier)
    items = [ingest.Item(raw) for raw in (same, crlf_message(subject="other"), same, earlier, same)]
    deliveries = ingest.store_many(mailbox=account.mailbox, items=items)
    assert [d.uid for d in deliveries] == [2, 3, 4, 5, 6]
    assert Blob.objects.count() == 3
    blob_ids = list(Message.objects.order_by("uid").values_list("blob_id", flat=True))
    assert blob_ids[1] == blob_ids[3] == blob_ids[5] and blob_ids[0] == blob_ids[4]
    assert Blob.objects.get(pk=blob_ids[1]).size == len(same)


def test_an_empty_batch_stores_nothing():
    account = make_account()
    assert ingest.store_many(mailbox=account.mailbox, items=[]) == []
    assert not Message.objects.exists()
    assert Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX).uidnext == 1


# ---------------------------------------------------------------------------------------------------
# Failures and policies


@pytest.mark.parametrize("size", [3, 2 * ingest.MIN_PARALLEL], ids=["in this process", "in workers"])
def test_a_message_that_cannot_be_prepared_fails_alone(size: int):
    account = make_account()
    items = [ingest.Item(crlf_message(subject=f"good {n}")) for n in range(size)]
    items[1] = ingest.Item("text, not bytes")  # type: ignore[arg-type]
    deliveries = ingest.store_many(mailbox=account.mailbox, items=items)
    assert deliveries[1].stored is False and deliveries[1].uid is None
    assert deliveries[1].note.startswith("it could not be prepared (TypeError: ")
    assert [d.uid for d in deliveries if d.stored] == list(range(1, size))
    subjects = list(Message.objects.order_by("uid").values_list("text__subject", flat=True))
    assert subjects == [f"good {n}" for n in range(size) if n != 1]
    assert Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX).message_count == size - 1


def test_zero_retention_stores_nothing_from_a_batch():
    account = make_account(retention=Domain.Retention.PASSTHROUGH)
    deliveries = ingest.store_many(mailbox=account.mailbox, items=[ingest.Item(crlf_message())] * 20)
    assert {d.stored for d in deliveries} == {False}
    assert deliveries[0].note == "the domain example.com is on zero-retention, so nothing is stored"
    assert not Message.objects.exists() and not Blob.objects.exists()


def test_an_encrypted_domain_encrypts_every_message_of_a_batch():
    key, cert = smime_identity()
    account = make_account("you@secret.example")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    domains.set_encryption(account.mailbox.domain, kind="smime", key=pem)
    account.mailbox.refresh_from_db()
    raws = [crlf_message(subject=f"plans {n}", body=f"Tell nobody, number {n}.\n") for n in range(20)]
    deliveries = ingest.store_many(mailbox=account.mailbox, items=[ingest.Item(raw) for raw in raws])
    assert all(d.stored and d.encrypted for d in deliveries)
    for message, raw in zip(Message.objects.select_related("text").order_by("uid"), raws, strict=True):
        stored = blobstore.get(message.blob_id)
        assert b"application/pkcs7-mime" in stored and b"Tell nobody" not in stored
        assert "Tell nobody" not in message.text.body_text + message.text.headers_text
        assert message.text.subject == raw.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
        decrypted = pkcs7.pkcs7_decrypt_smime(stored, cert, key, [])
        assert decrypted.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")


def test_a_key_that_cannot_encrypt_fails_each_message_and_stores_no_plaintext():
    _, cert = smime_identity(expired=True)
    account = make_account("you@secret.example")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    Domain.objects.filter(pk=account.mailbox.domain.pk).update(encryption="smime", encryption_key=pem)
    account.mailbox.refresh_from_db()
    deliveries = ingest.store_many(mailbox=account.mailbox, items=[ingest.Item(crlf_message())] * 3)
    assert [d.note for d in deliveries] == [
        "it could not be encrypted (the domain's S/MIME certificate has expired)"
    ] * 3
    assert not Message.objects.exists() and not Blob.objects.exists()


# ---------------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.django_db(transaction=True)
def test_deliveries_during_batches_keep_uids_unique_and_ascending():
    account = make_account()
    folder = Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX)
    batches, batch_size, deliverers, each = 4, 2 * ingest.MIN_PARALLEL, 4, 15
    total = batches * batch_size + deliverers * each
    # Forked before the other threads start, as an import forks before anything else runs.
    pool = ingest.preparation_pool()
    start = threading.Barrier(deliverers + 2)
    done = threading.Event()
    errors: list[BaseException] = []
    observations: list[tuple[int, int]] = []
    batch_uids: list[list[int]] = []

    def importer() -> None:
        try:
            start.wait()
            for number in range(batches):
                items = [ingest.Item(crlf_message(subject=f"batch {number} {n}")) for n in range(batch_size)]
                deliveries = ingest.store_many(mailbox=account.mailbox, items=items, pool=pool)
                batch_uids.append([d.uid for d in deliveries if d.uid is not None])
                if connection.vendor == "postgresql":
                    connection.close()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def deliverer(number: int) -> None:
        try:
            start.wait()
            for index in range(each):
                ingest.deliver(address=ADDRESS, raw=crlf_message(subject=f"deliverer {number} {index}"))
                if connection.vendor == "postgresql":
                    connection.close()  # back to the pool, which has fewer slots than threads here
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    def reader() -> None:
        try:
            start.wait()
            while not done.is_set():
                seen = Message.objects.filter(folder=folder).aggregate(top=Max("uid"), count=Count("id"))
                if seen["top"] is not None:
                    observations.append((seen["count"], seen["top"]))
                if connection.vendor == "postgresql":
                    connection.close()
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    writers = [threading.Thread(target=importer)]
    writers += [threading.Thread(target=deliverer, args=(n,)) for n in range(deliverers)]
    watcher = threading.Thread(target=reader)
    try:
        for thread in [*writers, watcher]:
            thread.start()
        for thread in writers:
            thread.join(180)
        done.set()
        watcher.join(30)
    finally:
        if pool is not None:
            pool.shutdown()
    assert not errors, errors

    stored = list(Message.objects.filter(folder=folder).order_by("uid").values_list("uid", "modseq"))
    assert [uid for uid, _ in stored] == list(range(1, total + 1))
    assert all(a < b for a, b in itertools.pairwise(modseq for _, modseq in stored))
    # Each batch got one run of UIDs, in source order, however the deliveries interleaved.
    assert len(batch_uids) == batches
    for uids in batch_uids:
        assert uids == list(range(uids[0], uids[0] + batch_size))
    folder.refresh_from_db()
    assert (folder.uidnext, folder.message_count) == (total + 1, total)
    # A batch became visible at once and after every smaller UID: never a gap below the top.
    assert observations, "the reader never saw a message"
    assert all(count == top for count, top in observations), [o for o in observations if o[0] != o[1]][:5]


def test_the_blob_store_write_is_durable_before_the_rows(settings, tmp_path):
    """A blob-store failure stores no row: nothing may point at a file that is not there."""
    account = make_account()
    (tmp_path / "a-file").write_bytes(b"")
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "mailkite.mail.blobstore.ContentAddressedStorage",
            "OPTIONS": {"location": str(tmp_path / "a-file" / "blobs")},  # cannot be created
        },
    }
    with pytest.raises(OSError):
        ingest.store_many(mailbox=account.mailbox, items=[ingest.Item(crlf_message())] * 3)
    assert not Message.objects.exists() and not Blob.objects.exists()
    assert Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX).uidnext == 1


def test_internal_dates_keep_their_offsets_and_naive_ones_read_as_utc():
    account = make_account()
    items = [ingest.Item(crlf_message(), WHEN), ingest.Item(crlf_message(), datetime(2026, 9, 1, 12, 0))]
    ingest.store_many(mailbox=account.mailbox, items=items)
    first, second = Message.objects.order_by("uid")
    assert (first.internal_date, first.internal_date_offset) == (WHEN, -210)
    assert (second.internal_date, second.internal_date_offset) == (datetime(2026, 9, 1, 12, 0, tzinfo=UTC), 0)
