"""Deletion that deletes (issue 11): a purge, or removing a mailbox or domain, leaves neither the
message's file nor its rows behind; `manage.py blobs gc` collects what is left over, after a grace
period, and never a blob that a message references or an ingest is about to reference."""

from __future__ import annotations

import io
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from mailkite.mail import blobstore, domains, ingest
from mailkite.mail.models import Blob, Domain, Folder, Mailbox, Message, MessageText
from tests.conftest import make_account

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "Zanzibar-7f3c"  # appears nowhere but in the message below


def message(marker: str = SECRET, body: str = "The vault code is 0451.") -> bytes:
    return (
        f"From: Ada <ada@analytical.example>\r\nTo: you@example.com\r\nSubject: {marker} plans\r\n"
        f"Message-ID: <{marker}@analytical.example>\r\n\r\n{body} {marker}\r\n"
    ).encode()


def blob_dir() -> Path:
    return Path(settings.MAILKITE.blob_dir)


def files_holding(needle: bytes) -> list[Path]:
    return [p for p in blob_dir().rglob("*") if p.is_file() and needle in p.read_bytes()]


def rows_holding(needle: str) -> list[str]:
    """Every row of Blob, Message and MessageText, every column, searched for `needle`."""
    found = []
    for model in (Blob, Message, MessageText):
        for row in model.objects.values():
            for column, value in row.items():
                text = bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)
                if needle in text:
                    found.append(f"{model.__name__}.{column}")
    return found


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_purged_mail_leaves_no_file_and_no_row():
    account = make_account("a@purge.example")
    delivery = ingest.store(mailbox=account.mailbox, raw=message())
    assert delivery.stored and files_holding(SECRET.encode())
    sha = Message.objects.get().blob_id
    domains.set_retention(account.mailbox.domain, Domain.Retention.PASSTHROUGH)
    assert "Deleted 1 stored message(s)" in run("domain", "purge-mail", "purge.example", "--yes")
    assert files_holding(SECRET.encode()) == []
    assert not (blob_dir() / blobstore.blob_name(sha)).exists()
    assert rows_holding(SECRET) == []
    assert not Blob.objects.filter(sha256=sha).exists()


def purge(domain: Domain) -> int:
    domains.set_retention(domain, Domain.Retention.PASSTHROUGH)
    return domains.purge_mail(domain)


def test_a_blob_another_message_references_survives_the_purge():
    kept = make_account("a@keep.example")
    purged = make_account("a@purge.example")
    raw = message("Shared-91d2")
    ingest.store(mailbox=kept.mailbox, raw=raw)
    ingest.store(mailbox=purged.mailbox, raw=raw)
    sha = Message.objects.values_list("blob_id", flat=True).first()
    assert purge(purged.mailbox.domain) == 1
    assert blobstore.get(sha) == raw  # still read by keep.example's message
    assert Blob.objects.filter(sha256=sha).exists()
    assert purge(kept.mailbox.domain) == 1
    assert files_holding(b"Shared-91d2") == [] and rows_holding("Shared-91d2") == []


@pytest.mark.parametrize("remove", ["mailbox", "domain", "owner"])
def test_removing_a_mailbox_domain_or_account_deletes_its_blobs(remove):
    account = make_account(f"a@{remove}-gone.example")
    marker = f"Removed-{remove}-5b"
    ingest.store(mailbox=account.mailbox, raw=message(marker))
    ingest.store(mailbox=account.mailbox, raw=message(marker, body="Sent copy"), folder=Folder.SENT)
    assert len(files_holding(marker.encode())) == 2
    mailbox = Mailbox.objects.select_related("domain__owner").get(pk=account.mailbox.pk)
    {"mailbox": mailbox, "domain": mailbox.domain, "owner": mailbox.domain.owner}[remove].delete()
    assert files_holding(marker.encode()) == []
    assert rows_holding(marker) == []
    assert Blob.objects.count() == 0


# -- manage.py blobs gc ------------------------------------------------------------------------------


def age(*, hours: float, shas: list[str] = (), files: list[Path] = ()) -> None:
    then = timezone.now() - timedelta(hours=hours)
    Blob.objects.filter(sha256__in=list(shas)).update(created_at=then)
    for path in files:
        os.utime(path, (then.timestamp(), then.timestamp()))


def test_blobs_gc_collects_old_orphans_and_says_how_much(tmp_path):
    account = make_account()
    ingest.store(mailbox=account.mailbox, raw=message("Referenced-11"))
    referenced = Message.objects.get().blob_id
    # An ingest whose transaction failed: file and row, no message. A file without a row. A
    # temporary file a crashed writer left. All older than a day, with a young twin of each.
    old_row, young_row = (blobstore.put(b"x" * 2048 + bytes([n])) for n in (1, 2))
    Blob.objects.bulk_create([Blob(sha256=old_row, size=2049), Blob(sha256=young_row, size=2049)])
    old_file, young_file = (blobstore.put(b"y" * 1024 + bytes([n])) for n in (1, 2))
    old_tmp = blob_dir() / "ab" / ".incoming-crashed"
    old_tmp.parent.mkdir(parents=True, exist_ok=True)
    old_tmp.write_bytes(b"z" * 100)
    path = {sha: blob_dir() / blobstore.blob_name(sha) for sha in (old_row, young_row, old_file, young_file)}
    age(hours=25, shas=[old_row, referenced], files=[path[old_row], path[old_file], old_tmp])
    age(hours=25, files=[blob_dir() / blobstore.blob_name(referenced)])

    dry = run("blobs", "gc", "--dry-run")
    assert dry.startswith(
        "Would free 3.1 KB in 3 file(s): 1 blob row(s) without messages, 1 blob file(s) without rows, "
        "1 stale temporary file(s)."
    )
    assert all(p.exists() for p in path.values()) and old_tmp.exists()

    done = run("blobs", "gc")
    assert done.startswith("Freed 3.1 KB in 3 file(s): 1 blob row(s) without messages")
    assert not path[old_row].exists() and not path[old_file].exists() and not old_tmp.exists()
    assert path[young_row].exists() and path[young_file].exists()
    assert set(Blob.objects.values_list("sha256", flat=True)) == {referenced, young_row}
    assert blobstore.get(referenced) == message("Referenced-11")
    assert run("blobs", "gc").startswith("Freed 0 bytes in 0 file(s)")


def test_the_periodic_run_collects_blobs():
    assert "collect-blobs" in settings.CELERY_BEAT_SCHEDULE
    orphan = blobstore.put(b"orphaned by a failed transaction")
    Blob.objects.create(sha256=orphan, size=32)
    age(hours=25, shas=[orphan], files=[blob_dir() / blobstore.blob_name(orphan)])
    call_command("run_periodic", "--once")
    assert not Blob.objects.filter(sha256=orphan).exists()
    assert not (blob_dir() / blobstore.blob_name(orphan)).exists()


# -- a purge racing an ingest of the same bytes -----------------------------------------------------

postgres_only = pytest.mark.skipif(
    "postgresql" not in os.environ.get("DATABASE_URL", ""), reason="row locks under READ COMMITTED"
)


def in_thread(target, *args, **kwargs) -> threading.Thread:
    """Run `target` on its own thread, hence its own database connection."""
    outcome: dict[str, object] = {}

    def body() -> None:
        try:
            outcome["value"] = target(*args, **kwargs)
        except BaseException as error:  # re-raised by the test
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=body)
    thread.outcome = outcome  # type: ignore[attr-defined]
    thread.start()
    return thread


def result(thread: threading.Thread, timeout: float = 30):
    thread.join(timeout)
    assert not thread.is_alive()
    outcome = thread.outcome  # type: ignore[attr-defined]
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def test_a_purge_between_an_ingests_file_write_and_its_transaction():
    """The ingest finds the file there and skips writing it; the purge then deletes it; the
    ingest's transaction must notice and write it again."""
    victim = make_account("a@purge.example")
    reader = make_account("a@read.example")
    raw = message("Race-between-3e")
    ingest.store(mailbox=victim.mailbox, raw=raw)
    prepared = [ingest.prepare(raw, domain=reader.mailbox.domain)]
    shas = ingest.write_blobs(mailbox=reader.mailbox, prepared=prepared)  # the file is there: skipped
    assert result(in_thread(purge, victim.mailbox.domain)) == 1
    assert not (blob_dir() / blobstore.blob_name(shas[0])).exists()
    [delivery] = ingest.write_prepared(
        mailbox=reader.mailbox, folder=Folder.INBOX, items=[ingest.Item(raw)], prepared=prepared, shas=shas
    )
    assert delivery.stored
    assert blobstore.get(Message.objects.get().blob_id) == raw


def test_the_sweep_between_an_ingests_file_write_and_its_transaction():
    """A file without a row (an earlier ingest's transaction failed) is old enough to sweep; an
    ingest of the same bytes finds it and skips writing it, and the sweep runs before its commit."""
    reader = make_account("a@read.example")
    raw = message("Race-rowless-2d")
    [leftover] = blobstore.put_many([ingest.prepare(raw).data])
    age(hours=25, files=[blob_dir() / blobstore.blob_name(leftover)])
    prepared = [ingest.prepare(raw, domain=reader.mailbox.domain)]
    shas = ingest.write_blobs(mailbox=reader.mailbox, prepared=prepared)  # the file is there: skipped
    assert shas == [leftover]
    swept = result(in_thread(call_command, "blobs", "gc", stdout=io.StringIO()))
    assert swept is None and not (blob_dir() / blobstore.blob_name(leftover)).exists()
    [delivery] = ingest.write_prepared(
        mailbox=reader.mailbox, folder=Folder.INBOX, items=[ingest.Item(raw)], prepared=prepared, shas=shas
    )
    assert delivery.stored
    assert blobstore.get(Message.objects.get().blob_id) == raw


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


@postgres_only
def test_a_purge_while_an_ingest_holds_its_claim():
    """The ingest has claimed the blob and waits for its folder's lock; a purge of another copy
    commits meanwhile. The collector must leave the blob to the ingest."""
    victim = make_account("a@purge.example")
    reader = make_account("a@read.example")
    raw = message("Race-claimed-8a")
    ingest.store(mailbox=victim.mailbox, raw=raw)
    folder = Folder.objects.get(mailbox=reader.mailbox, name=Folder.INBOX)
    holding, release = threading.Event(), threading.Event()

    def hold_folder() -> None:
        with transaction.atomic():
            Folder.objects.select_for_update().get(pk=folder.pk)
            holding.set()
            release.wait(30)

    holder = in_thread(hold_folder)
    assert holding.wait(10)
    delivering = in_thread(ingest.store, mailbox=reader.mailbox, raw=raw)
    deadline = time.monotonic() + 10
    while lock_waiters() == 0:  # the ingest has its claim and waits for the folder
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert result(in_thread(purge, victim.mailbox.domain)) == 1
    release.set()
    result(holder)
    assert result(delivering).stored
    assert blobstore.get(Message.objects.get().blob_id) == raw


@postgres_only
def test_purges_and_ingests_of_the_same_bytes_side_by_side():
    """Many rounds of an ingest and a purge of the same bytes at the same moment, on real
    connections: whatever the interleaving, every stored message's blob reads back."""
    raw = message("Race-rounds-c4")
    for round_ in range(25):
        victim = make_account(f"a@purge{round_}.example")
        reader = make_account(f"a@read{round_}.example")
        ingest.store(mailbox=victim.mailbox, raw=raw)
        start = threading.Barrier(2)

        def deliver(mailbox=reader.mailbox, start=start):
            start.wait()
            return ingest.store(mailbox=mailbox, raw=raw)

        def purge_now(domain=victim.mailbox.domain, start=start):
            domains.set_retention(domain, Domain.Retention.PASSTHROUGH)
            start.wait()
            return domains.purge_mail(domain)

        threads = [in_thread(deliver), in_thread(purge_now)]
        assert result(threads[0]).stored and result(threads[1]) == 1
        for sha in Message.objects.values_list("blob_id", flat=True):
            assert blobstore.get(sha) == raw, f"round {round_}"
        Message.objects.filter(folder__mailbox=reader.mailbox).delete()  # the next round starts alone
