"""Blob garbage collection, and the claim an ingest makes on the blobs it is about to reference.

A blob (file and Blob row) may go once no Message references it. The danger is an ingest of the
same bytes in flight: it writes the file (or finds it there) before its transaction, then inserts
the Blob row and a Message referencing it, and commits. The two sides agree on one lock, the
Blob row's, and on this order:

- the ingest (`claim`, inside its transaction, before the folder lock): insert the rows (a no-op
  where they exist), lock them FOR KEY SHARE, re-insert any a collector deleted meanwhile, then
  check each file is there and write again any that is not. It holds the locks until it commits.
- the collector (`_collect`, one transaction per batch): lock the rows FOR UPDATE SKIP LOCKED; in
  a second statement ask which are referenced; unlink the files of the others, delete their rows,
  commit. The files go before the commit, while the rows are still locked.

PostgreSQL, READ COMMITTED; the ingest is at one of four points when the collector locks a row:
1. its message has committed: the collector's "referenced?" statement, run after it holds the
   lock, takes a new snapshot, sees the message and keeps the blob;
2. it holds its claim (KEY SHARE): SKIP LOCKED passes over the row, which stays for the next run;
3. it has not inserted yet: its INSERT ... ON CONFLICT finds the row, which the collector is
   deleting, and waits for the collector's transaction if it is still open (a unique-index conflict
   with a row an open transaction deletes waits for it); then inserts the row afresh, claims it,
   and finds the file gone, because the collector unlinked it before committing, so it writes it
   again;
4. its INSERT found the row, not yet deleted (DO NOTHING), and its claim has not run: the claim
   waits for the collector's FOR UPDATE, then finds the row deleted and returns without it, so the
   ingest inserts it again and goes on as in 3.
So a message commits only while its claim holds a row whose file it has just seen, and a file goes
only while its row is locked by a collector that saw no message; a committed message's file is
never removed. No deadlock: the claim takes its row locks before the folder lock, in SHA-256 order;
the collector takes no folder lock, skips locked rows, and its one wait (inserting the rows of
files it adopts, below) goes in the same SHA-256 order.

SQLite: every write transaction takes the database's write lock when it begins (IMMEDIATE), and
SELECT ... FOR UPDATE is a no-op: an ingest's transaction and a collector's batch run one after the
other, never interleaved, so only cases 1 and 3 (without the waiting) can happen.

Files without rows (an ingest that failed after writing its file) are adopted first: the collector
inserts their rows and then treats them as rows, under the same lock, so an ingest that found such a
file and skipped writing it is covered too. Crash safety: a crash after unlinking but before the
commit leaves unreferenced rows without files, which a claim repairs and the next run deletes; a
crash after a purge's commit leaves unreferenced rows, which the periodic run deletes after the
grace period.

The grace period (settings: BLOB_GC_GRACE_HOURS, a day by default) is for the periodic sweep: it
leaves alone the files and rows an import or delivery is writing right now, which the protocol
would keep safe anyway but at the cost of writing them twice. A purge or a removal collects the
blobs its messages referenced at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from mailkite.mail import blobstore
from mailkite.mail.models import Blob, Message

log = logging.getLogger("mailkite.blobs")
BATCH = 500  # blobs per collector transaction: short locks, few round trips


@dataclass
class Freed:
    """What a collection removed (or, in a dry run, would remove)."""

    rows: int = 0  # Blob rows without messages
    rowless_files: int = 0  # blob files without rows
    temporaries: int = 0  # temporary files a crashed writer left
    files: int = 0  # files unlinked, of all kinds
    bytes: int = 0

    def add(self, other: Freed) -> None:
        self.rows += other.rows
        self.rowless_files += other.rowless_files
        self.temporaries += other.temporaries
        self.files += other.files
        self.bytes += other.bytes

    def sentence(self, *, dry_run: bool = False) -> str:
        size = filesizeformat(self.bytes).replace("\xa0", " ")
        verb = "Would free" if dry_run else "Freed"
        return (
            f"{verb} {size} in {self.files} file(s): {self.rows} blob row(s) without messages, "
            f"{self.rowless_files} blob file(s) without rows, {self.temporaries} stale temporary file(s)."
        )


# -- the ingest's side -----------------------------------------------------------------------------


def claim(blobs: Mapping[str, bytes]) -> None:
    """Make each blob's row exist and hold it against the collector until the caller's transaction
    ends; then make sure each file is on disk, writing again any that a collector removed.

    Call inside the transaction that will reference the blobs, before it locks anything else.
    """
    assert connection.in_atomic_block, "claim() holds row locks until its transaction commits"
    wanted = sorted(blobs)  # one order for every writer, so two claims never deadlock
    while wanted:
        Blob.objects.bulk_create(
            [Blob(sha256=sha, size=len(blobs[sha])) for sha in wanted], ignore_conflicts=True
        )
        held = _hold(wanted)
        wanted = [sha for sha in wanted if sha not in held]  # deleted between the insert and the lock
    # A stat per blob; writes (and fsyncs) only a file a collector removed since the caller wrote it.
    gone = blobstore.missing(sorted(blobs))
    if gone:
        log.info("rewriting %d blob file(s) a collector removed before this ingest's commit", len(gone))
        blobstore.put_many([blobs[sha] for sha in gone])


def _hold(shas: list[str]) -> set[str]:
    """Lock the rows against deletion (FOR KEY SHARE: concurrent claims do not wait on each other)."""
    if connection.vendor != "postgresql":
        # SQLite: the insert above made this the one write transaction until it commits, so the
        # rows it inserted or found stay.
        return set(shas)
    marks = ", ".join(["%s"] * len(shas))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT sha256 FROM mail_blob WHERE sha256 IN ({marks}) ORDER BY sha256 FOR KEY SHARE",
            shas,
        )
        return {row[0] for row in cursor.fetchall()}


# -- the collector's side --------------------------------------------------------------------------


def _collect(shas: list[str], *, adopt: Mapping[str, int] | None = None) -> Freed:
    """Delete those of `shas` no message references, file then row; one transaction.

    `adopt` gives files without rows (sha -> size): their rows are inserted first, so the same lock
    protects them from a claim in flight.
    """
    freed = Freed()
    with transaction.atomic():
        if adopt:
            Blob.objects.bulk_create(
                [Blob(sha256=sha, size=size) for sha, size in sorted(adopt.items())], ignore_conflicts=True
            )
        locked = list(
            Blob.objects.select_for_update(skip_locked=True)
            .filter(sha256__in=shas)
            .order_by("sha256")
            .values_list("sha256", flat=True)
        )
        # Its own statement, so under READ COMMITTED it sees messages committed while we waited.
        referenced = set(Message.objects.filter(blob_id__in=locked).values_list("blob_id", flat=True))
        doomed = [sha for sha in locked if sha not in referenced]
        for sha in doomed:
            size = blobstore.remove(sha)  # before the commit, while the row is still locked
            if size is not None:
                freed.files += 1
                freed.bytes += size
        Blob.objects.filter(sha256__in=doomed).delete()
    adopted = set(adopt or ())
    freed.rowless_files = len([sha for sha in doomed if sha in adopted])
    freed.rows = len(doomed) - freed.rowless_files
    return freed


def collect_blobs(shas: Iterable[str]) -> Freed:
    """Collect now those of `shas` that no message references: after a purge or a removal, whose
    transaction has committed. No grace period: the claim protocol keeps an ingest in flight safe."""
    pending = sorted(set(shas))
    freed = Freed()
    for start in range(0, len(pending), BATCH):
        freed.add(_collect(pending[start : start + BATCH]))
    if freed.files or freed.rows:
        log.info("blob collector: %s", freed.sentence())
    return freed


def collect_after_commit(shas: Iterable[str]) -> None:
    """`collect_blobs(shas)` once the current transaction commits (at once outside one): the
    messages that referenced them must be gone for good first, and a rollback must find every file
    still there. A failure is logged, not raised: what was deleted stays deleted, and the periodic
    sweep collects the rest."""
    pending = set(shas)
    transaction.on_commit(lambda: collect_blobs(pending), robust=True)


def collect(*, grace: timedelta, dry_run: bool = False, now: datetime | None = None) -> Freed:
    """The sweep (`manage.py blobs gc`, the periodic task): rows without messages, files without
    rows and stale temporary files, each older than `grace`."""
    cutoff = (now or timezone.now()) - grace
    freed = Freed()
    unreferenced = Blob.objects.filter(created_at__lt=cutoff).filter(
        ~Exists(Message.objects.filter(blob_id=OuterRef("pk")))
    )
    if dry_run:
        freed.rows = unreferenced.count()
        freed.bytes = unreferenced.aggregate(total=Sum("size"))["total"] or 0
        freed.files = freed.rows
    else:
        freed.add(collect_blobs(unreferenced.values_list("sha256", flat=True)))
    freed.add(_sweep_files(cutoff, dry_run=dry_run))
    return freed


def _sweep_files(cutoff: datetime, *, dry_run: bool) -> Freed:
    freed = Freed()
    old: dict[str, int] = {}
    for stored in blobstore.stored_files():
        if stored.modified >= cutoff:
            continue
        if stored.temporary:  # a writer is done with its temporary in seconds: this one crashed
            freed.temporaries += 1
            freed.files += 1
            freed.bytes += stored.size if dry_run else (blobstore.remove_file(stored.name) or 0)
        elif stored.sha256 is not None:
            old[stored.sha256] = stored.size
            if len(old) >= BATCH:
                freed.add(_rowless(old, dry_run=dry_run))
                old = {}
    freed.add(_rowless(old, dry_run=dry_run))
    return freed


def _rowless(files: dict[str, int], *, dry_run: bool) -> Freed:
    """Collect those of `files` (sha -> size) that have no row."""
    with_rows = set(Blob.objects.filter(sha256__in=list(files)).values_list("sha256", flat=True))
    rowless = {sha: size for sha, size in files.items() if sha not in with_rows}
    if not rowless:
        return Freed()
    if dry_run:
        return Freed(rowless_files=len(rowless), files=len(rowless), bytes=sum(rowless.values()))
    return _collect(sorted(rowless), adopt=rowless)
