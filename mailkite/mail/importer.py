"""Import existing mail into a mailbox: an mbox file, a Maildir, or a folder of .eml files.

`import_mail(address=..., path=..., folder=...)` checks everything it can before storing anything
(the path and its format, the mailbox, zero-retention) and raises `ImportRefused` with a sentence;
it returns an `ImportRun`, which knows how many messages the source holds and yields one `Outcome`
per message as it stores them.

Batches: the run stores up to BATCH_MESSAGES messages (or BATCH_BYTES) at a time through
`ingest.Preparation`, `ingest.write_blobs` and `ingest.write_prepared` (the steps of
`ingest.store_many`), one transaction per batch, as a pipeline: worker processes prepare batch k+1
while a thread writes batch k's blob files and this thread commits batch k-1's rows. A message that
cannot be prepared fails alone; a database or blob-store failure stops the run (ImportAborted) with
every earlier batch committed and nothing of the failed one in the database.

INTERNALDATE (DESIGN §3) comes from the source, never the import time while the source has a date:
the mbox "From " line, the Maildir file's modification time, or the first (topmost) Received: header
of an .eml file. When that is missing or unreadable: the first Received: header, then the Date:
header, then the import time. Offsets are kept where the source has one; a date without one is UTC.

Resuming: every message gets a stable source key that includes the SHA-256 of its bytes, stored on
the message. A run first loads the keys already in the folder (one query) and skips those messages.

The stdlib `mailbox` module reads mbox and Maildir. For mbox it returns each message's bytes as they
are in the file, without the "From " line and the blank separator line before the next one; it does
not undo ">From " quoting on read (it only adds it when writing), so neither do we: a ">From " line is
kept byte for byte, which is right for mboxo files and leaves mboxrd files one ">" longer than sent.
"""

from __future__ import annotations

import abc
import enum
import hashlib
import itertools
import mailbox
import re
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Protocol

from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.utils import timezone

from mailkite.mail import ingest, mime, services
from mailkite.mail.mime_headers import header_end, parse_fields
from mailkite.mail.models import Domain, Folder, Mailbox, Message, MessageText

ACCEPTED = (
    "an mbox file (starting with a “From ” line), a Maildir (a folder with cur/ and new/), "
    "or a folder of .eml files"
)
MAX_SOURCE_KEY = 200  # Message.source_key's width: keys are built to fit, never cut by ingest
# A batch ends at whichever comes first. 256 messages make one transaction and one folder-row
# UPDATE cheap per message; 32 MiB bounds memory, as two batches (one being written, the next being
# prepared) are held at once, each with its prepared copy.
BATCH_MESSAGES = 256
BATCH_BYTES = 32 << 20

FROM_LINE = "mbox From line"
FILE_TIME = "file time"
RECEIVED = "Received header"
DATE_HEADER = "Date header"
IMPORT_TIME = "import time"


class ImportRefused(Exception):
    """Nothing was imported; the sentence says why."""


class ImportAborted(Exception):
    """The database or blob store failed mid-way; what was stored stays, and a re-run resumes."""


class Status(enum.Enum):
    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class Outcome:
    status: Status
    label: str  # "message 3" in an mbox, "cur/<key>" in a Maildir, the file name of an .eml
    source_key: str = ""
    internal_date: datetime | None = None
    date_source: str = ""
    uid: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.status is Status.IMPORTED:
            return (
                f"{self.label}: imported as UID {self.uid}, internal date "
                f"{self.internal_date.isoformat() if self.internal_date else '?'} from the {self.date_source}"
            )
        if self.status is Status.SKIPPED:
            return f"{self.label}: skipped, already imported"
        return f"{self.label}: failed, {self.reason}"


@dataclass
class Summary:
    imported: int = 0
    skipped: int = 0
    failures: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        if outcome.status is Status.IMPORTED:
            self.imported += 1
        elif outcome.status is Status.SKIPPED:
            self.skipped += 1
        else:
            self.failures.append(outcome)

    def line(self) -> str:
        return (
            f"Imported {self.imported}, skipped {self.skipped} already present, failed {len(self.failures)}"
        )


@dataclass(frozen=True)
class _Writing:
    """A batch whose blob files are being written: its entries, what they were prepared into, and
    the blob writer's promise of their SHA-256s."""

    entries: list[_Found | Outcome]
    prepared: list[ingest.Prepared | str]
    shas: Future[list[str]]


@dataclass(frozen=True)
class _Found:
    """One message read from a source, ready to store."""

    label: str
    raw: bytes
    source_key: str
    internal_date: datetime
    date_source: str


# ---------------------------------------------------------------------------------------------------
# Dates


_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_ZONES = {"UT": 0, "UTC": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7,
          "MDT": -6, "PST": -8, "PDT": -7}  # fmt: skip
# "Thu Sep  3 10:00:00 2026", with an optional zone before the year (Gmail) or after it.
_FROM_DATE = re.compile(
    r"\b(?P<month>" + "|".join(_MONTH_NAMES) + r")[a-z]*\s+(?P<day>\d{1,2}),?\s+"
    r"(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?\s+"
    r"(?:(?P<zone1>[+-]\d{4}|[A-Za-z]{1,5})\s+)?(?P<year>\d{4})(?:\s+(?P<zone2>[+-]\d{4}|[A-Za-z]{1,5}))?\b",
    re.IGNORECASE,
)


def _zone(text: str | None) -> dt_timezone:
    if text and text[0] in "+-":
        minutes = int(text[1:3]) * 60 + int(text[3:5])
        return dt_timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
    return dt_timezone(timedelta(hours=_ZONES.get((text or "UTC").upper(), 0)))


def from_line_date(line: str) -> datetime | None:
    """The date in an mbox "From " line (without "From "), as written; no zone reads as UTC."""
    match = _FROM_DATE.search(line)
    if match is None:
        return None
    try:
        return datetime(
            int(match["year"]),
            _MONTHS[match["month"].lower()],
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            min(int(match["second"] or 0), 59),
            tzinfo=_zone(match["zone1"] or match["zone2"]),
        )
    except (ValueError, OverflowError):  # 31 February, a zone of +9999
        return None


def header_dates(raw: bytes) -> tuple[datetime | None, datetime | None]:
    """(first Received: header's date, Date: header), each None when missing or unreadable."""
    fields = parse_fields(raw[: header_end(raw, 0, len(raw))])
    received = fields.first(b"received")
    received_date = mime.parse_date(received.rpartition(b";")[2]) if received and b";" in received else None
    return received_date, mime.parse_date(fields.first(b"date"))


def _date(raw: bytes, primary: datetime | None, primary_source: str) -> tuple[datetime, str]:
    if primary is not None:
        return primary, primary_source
    received, date = header_dates(raw)
    if received is not None:
        return received, RECEIVED
    if date is not None:
        return date, DATE_HEADER
    return timezone.now(), IMPORT_TIME


def _sha(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def _key(kind: str, sha: str, name: str) -> str:
    return f"{kind}:{sha}:{name}"[:MAX_SOURCE_KEY]


def _unusable(raw: bytes) -> str | None:
    """Why these bytes are not a message worth storing, or None."""
    if not raw.strip():
        return "it is empty"
    if not parse_fields(raw[: header_end(raw, 0, len(raw))]).items:
        return "it has no header fields, so it is not an RFC 5322 message"
    return None


# ---------------------------------------------------------------------------------------------------
# Sources


class _Source(abc.ABC):
    """One kind of mail source (mbox, Maildir, .eml files): counts and yields its messages."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def messages(self) -> Iterator[_Found | Outcome]: ...

    def close(self) -> None:  # most sources hold nothing open
        return None


class _Mbox(_Source):
    """Messages in file order; key "mbox:<sha256>:<n>" for the n-th message with those bytes."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.mbox(path, create=False)

    def count(self) -> int:
        return len(self.box)

    def messages(self) -> Iterator[_Found | Outcome]:
        occurrences: Counter[str] = Counter()
        for ordinal, key in enumerate(self.box.keys(), 1):
            label = f"message {ordinal}"
            try:
                data = self.box.get_bytes(key, from_=True)
            except (OSError, KeyError) as error:
                yield Outcome(Status.FAILED, label, reason=f"it could not be read ({error})")
                continue
            first, _, raw = data.partition(b"\n")
            problem = _unusable(raw)
            if problem:
                yield Outcome(Status.FAILED, label, reason=problem)
                continue
            sha = _sha(raw)
            occurrences[sha] += 1
            moment, source = _date(raw, from_line_date(first.decode("latin-1")), FROM_LINE)
            yield _Found(label, raw, _key("mbox", sha, str(occurrences[sha])), moment, source)

    def close(self) -> None:
        self.box.close()


class _Readable(Protocol):
    def read(self, size: int | None = None, /) -> bytes: ...


class _RawMaildirMessage(mailbox.MaildirMessage):
    """What `Maildir.get_message` builds: the file's bytes, exactly, plus the subdir and mtime it sets."""

    def __init__(self, handle: _Readable) -> None:
        super().__init__()
        self.raw = handle.read()


class _Maildir(_Source):
    """cur/ and new/ in key order (Maildir keys start with the delivery time); tmp/ is ignored."""

    def __init__(self, path: Path) -> None:
        self.box = mailbox.Maildir(path, factory=_RawMaildirMessage, create=False)
        self.keys = sorted(self.box.keys())

    def count(self) -> int:
        return len(self.keys)

    def messages(self) -> Iterator[_Found | Outcome]:
        for key in self.keys:
            try:
                message = self.box.get_message(key)
            except (OSError, KeyError) as error:
                yield Outcome(Status.FAILED, key, reason=f"it could not be read ({error})")
                continue
            assert isinstance(message, _RawMaildirMessage)
            label = f"{message.get_subdir()}/{key}"
            problem = _unusable(message.raw)
            if problem:
                yield Outcome(Status.FAILED, label, reason=problem)
                continue
            mtime = datetime.fromtimestamp(message.get_date(), UTC)
            yield _Found(label, message.raw, _key("maildir", _sha(message.raw), key), mtime, FILE_TIME)


class _EmlFiles(_Source):
    """.eml files in name order; key "eml:<sha256>:<file name>"."""

    def __init__(self, files: list[Path]) -> None:
        self.files = files

    def count(self) -> int:
        return len(self.files)

    def messages(self) -> Iterator[_Found | Outcome]:
        for path in self.files:
            try:
                raw = path.read_bytes()
            except OSError as error:
                yield Outcome(Status.FAILED, path.name, reason=f"it could not be read ({error.strerror})")
                continue
            problem = _unusable(raw)
            if problem:
                yield Outcome(Status.FAILED, path.name, reason=problem)
                continue
            moment, source = _date(raw, None, RECEIVED)
            yield _Found(path.name, raw, _key("eml", _sha(raw), path.name), moment, source)


def open_source(path: Path) -> _Source:
    """The reader for `path`, or ImportRefused saying which formats are accepted."""
    if not path.exists():
        raise ImportRefused(f"{path} does not exist. MailKite imports {ACCEPTED}.")
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return _Maildir(path)
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".eml")
        if files:
            return _EmlFiles(files)
        raise ImportRefused(
            f"{path} is a folder with neither cur/ and new/ nor .eml files. MailKite imports {ACCEPTED}."
        )
    if not path.is_file():
        raise ImportRefused(f"{path} is not a file or a folder. MailKite imports {ACCEPTED}.")
    if path.suffix.lower() == ".eml":
        return _EmlFiles([path])
    try:
        with path.open("rb") as handle:
            start = handle.read(4096).lstrip(b"\r\n")
    except OSError as error:
        raise ImportRefused(f"{path} could not be read ({error.strerror}).") from None
    if not start.startswith(b"From "):
        raise ImportRefused(
            f"{path} is not an mbox file: it does not start with a “From ” line. MailKite imports {ACCEPTED}."
        )
    return _Mbox(path)


# ---------------------------------------------------------------------------------------------------
# The import


class ImportRun:
    """An import ready to go: `total` messages in the source; iterate once to store them.

    Iterating closes the source at the end; call `close()` to drop an import without running it.
    """

    def __init__(self, *, mailbox: Mailbox, folder: str, source: _Source, existing: set[str]) -> None:
        self.mailbox = mailbox
        self.folder = folder
        self._source = source
        self._existing = existing
        self._total: int | None = None

    @property
    def total(self) -> int:
        if self._total is None:
            self._total = self._source.count()
        return self._total

    def __iter__(self) -> Iterator[Outcome]:
        domain = self.mailbox.domain
        # The workers are forked here, before the blob writer thread exists (see preparation_pool).
        pool = ingest.preparation_pool() if ingest.uses_workers(domain=domain, count=self.total) else None
        blob_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-blobs")
        preparing: tuple[list[_Found | Outcome], ingest.Preparation] | None = None
        writing: _Writing | None = None
        try:
            # Three batches in flight: the workers prepare the newest, a thread writes the blob
            # files of the one before (fsyncs wait on the disk), and this thread commits the rows
            # of the one before that (waiting on the database). Two Nones drain the pipeline.
            for entries in itertools.chain(self._batches(), [None, None]):
                newest = None
                if entries is not None:
                    found = [entry for entry in entries if isinstance(entry, _Found)]
                    newest = (entries, ingest.Preparation([f.raw for f in found], domain=domain, pool=pool))
                blobs = None
                if preparing is not None:
                    prepared = preparing[1].result()
                    future = blob_writer.submit(ingest.write_blobs, mailbox=self.mailbox, prepared=prepared)
                    blobs = _Writing(preparing[0], prepared, future)
                if writing is not None:
                    yield from self._commit(writing)
                preparing, writing = newest, blobs
        finally:
            blob_writer.shutdown(cancel_futures=True)
            if pool is not None:
                pool.shutdown(cancel_futures=True)
            self.close()

    def close(self) -> None:
        self._source.close()

    def _batches(self) -> Iterator[list[_Found | Outcome]]:
        """The source's messages in order, in batches; skips and read failures already decided.

        Every entry counts towards a batch's size, so a re-run that skips everything still reports
        progress batch by batch.
        """
        seen = set(self._existing)
        batch: list[_Found | Outcome] = []
        size = 0
        for found in self._source.messages():
            if isinstance(found, Outcome):
                batch.append(found)
            elif found.source_key in seen:
                batch.append(Outcome(Status.SKIPPED, found.label, source_key=found.source_key))
            else:
                seen.add(found.source_key)
                batch.append(found)
                size += len(found.raw)
            if len(batch) >= BATCH_MESSAGES or size >= BATCH_BYTES:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _commit(self, writing: _Writing) -> Iterator[Outcome]:
        found = [entry for entry in writing.entries if isinstance(entry, _Found)]
        try:
            shas = writing.shas.result()
        except OSError as error:
            # This batch's transaction never ran: at most some of its blob files were written,
            # orphans that are content-addressed (a re-run finds them and writes nothing); no
            # collector removes unreferenced blobs yet, so they stay until one does.
            raise ImportAborted(f"the blob store could not be written ({error})") from error
        deliveries = iter(self._store(found, writing.prepared, shas) if found else [])
        for entry in writing.entries:
            yield entry if isinstance(entry, Outcome) else self._outcome(entry, next(deliveries))

    def _store(
        self, found: list[_Found], prepared: list[ingest.Prepared | str], shas: list[str]
    ) -> list[ingest.Delivery]:
        items = [ingest.Item(entry.raw, entry.internal_date, entry.source_key) for entry in found]
        try:
            return ingest.write_prepared(
                mailbox=self.mailbox, folder=self.folder, items=items, prepared=prepared, shas=shas
            )
        except (OperationalError, InterfaceError) as error:
            raise ImportAborted(f"the database is unavailable ({type(error).__name__}: {error})") from error
        except DatabaseError as error:
            # Some message's data was refused (a DataError, say) and the batch's transaction with it.
            # Store the batch again one message at a time, so that only the refused one fails.
            if len(found) > 1:
                return [
                    self._store([entry], [result], [sha])[0]
                    for entry, result, sha in zip(found, prepared, shas, strict=True)
                ]
            return [
                ingest.Delivery(
                    stored=False,
                    address=self.mailbox.address,
                    folder=self.folder,
                    note=f"it could not be stored ({error})",
                )
            ]

    def _outcome(self, found: _Found, delivery: ingest.Delivery) -> Outcome:
        if not delivery.stored:  # could not be prepared, or the domain went zero-retention meanwhile
            return Outcome(Status.FAILED, found.label, found.source_key, reason=delivery.note)
        return Outcome(
            Status.IMPORTED,
            found.label,
            found.source_key,
            internal_date=found.internal_date,
            date_source=found.date_source,
            uid=delivery.uid,
        )


def refresh_statistics() -> None:
    """ANALYZE the message tables after an import on PostgreSQL.

    A bulk load leaves the planner's statistics describing the tables as they were: it then
    takes a folder of thousands for a dozen rows and SEARCH reads the text of every message
    (bench: 128 ms for an absent word in 8,531 messages, 1.3 ms after ANALYZE). Autovacuum fixes
    that eventually, if it is on; the import knows when, so it does it at once. It samples the
    tables, so it takes about a second even for millions of rows."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Message._meta.db_table}, {MessageText._meta.db_table}")


def zero_retention_refusal(domain: Domain) -> str:
    """ingest.store's words for a zero-retention domain (the tests hold the two to the same sentence)."""
    return f"the domain {domain.name} is on zero-retention, so nothing is stored"


def import_mail(*, address: str, path: str | Path, folder: str = Folder.INBOX) -> ImportRun:
    """Check the import can go ahead (raising ImportRefused) and return it, ready to iterate."""
    if folder not in Folder.NAMES:
        raise ImportRefused(f"The folder must be one of {', '.join(Folder.NAMES)}, not {folder!r}.")
    try:
        mailbox_row = services.find_mailbox(address)
    except services.InvalidAddress as error:
        raise ImportRefused(str(error)) from None
    if mailbox_row is None:
        raise ImportRefused(f"No mailbox {address}; create it with `manage.py createmailbox` first.")
    if mailbox_row.domain.retention == Domain.Retention.PASSTHROUGH:
        raise ImportRefused(f"Nothing imported: {zero_retention_refusal(mailbox_row.domain)}.")
    source = open_source(Path(path))
    existing = set(
        Message.objects.filter(folder__mailbox=mailbox_row, folder__name=folder)
        .exclude(source_key="")
        .values_list("source_key", flat=True)
    )
    return ImportRun(mailbox=mailbox_row, folder=folder, source=source, existing=existing)
