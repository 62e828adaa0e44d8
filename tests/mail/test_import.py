"""`manage.py import_mail` and `mailkite.mail.importer` on the real database, with mbox, Maildir and
.eml fixtures written by the stdlib in tmp_path."""

from __future__ import annotations

import io
import mailbox
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone as dj_timezone

from mailkite.events.models import ChangeCounter
from mailkite.mail import blobstore, domains, importer, ingest
from mailkite.mail.models import Blob, Domain, Folder, Message
from tests.conftest import make_account
from tests.mail.test_domains import smime_identity

pytestmark = pytest.mark.django_db

ADDRESS = "you@example.com"
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))


def message(
    subject: str, *, received: str | None = None, date: str | None = None, body: str = "Hello."
) -> bytes:
    lines = []
    if received:
        lines.append(f"Received: from mx.example by mail.example with ESMTP id 42;\r\n\t{received}")
        lines.append("Received: from older.example by mx.example; Mon, 1 Jan 2001 00:00:00 +0000")
    lines += ["From: Ada <ada@analytical.example>", f"To: {ADDRESS}", f"Subject: {subject}"]
    if date:
        lines.append(f"Date: {date}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body + "\r\n").encode()


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_mail", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def messages(folder: str = Folder.INBOX) -> list[Message]:
    return list(Message.objects.filter(folder__name=folder).select_related("blob", "text").order_by("uid"))


def blob(row: Message) -> bytes:
    return blobstore.get(row.blob_id)


# ---------------------------------------------------------------------------------------------------
# mbox


MBOX_MESSAGES = [
    # (From line after "From ", raw bytes, expected internal date)
    (
        "MAILER-DAEMON Thu Sep  3 10:00:00 2026",
        message(
            "asctime, no zone",
            received="Fri, 4 Sep 2026 09:00:00 +0000",
            date="Wed, 2 Sep 2026 08:00:00 +0000",
        ),
        datetime(2026, 9, 3, 10, 0, tzinfo=UTC),
    ),
    (
        "1563486935617325193@xxx Fri Sep 04 16:41:48 +0200 2026",  # Google Takeout's shape
        message("zone before the year", body="From the start of a line.\r\nFrom here too."),
        datetime(2026, 9, 4, 16, 41, 48, tzinfo=PLUS_TWO),
    ),
    (
        "- Sat Sep  5 07:15:00 2026 -0500",
        message("zone after the year"),
        datetime(2026, 9, 5, 7, 15, tzinfo=MINUS_FIVE),
    ),
    (
        "nobody",  # no date on the From line: the first Received header's date
        message(
            "undated From line",
            received="Sun, 6 Sep 2026 12:00:00 +0200",
            date="Sat, 5 Sep 2026 00:00:00 +0000",
        ),
        datetime(2026, 9, 6, 12, 0, tzinfo=PLUS_TWO),
    ),
]


def write_mbox(path: Path, items: list[tuple[str, bytes]]) -> Path:
    box = mailbox.mbox(path)
    box.lock()
    try:
        for from_line, raw in items:
            # Bytes, not an mboxMessage, which the email package would re-generate.
            box.add(f"From {from_line}\n".encode() + raw)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return path


@pytest.fixture
def mbox_path(tmp_path: Path) -> Path:
    return write_mbox(tmp_path / "archive.mbox", [(line, raw) for line, raw, _ in MBOX_MESSAGES])


def test_mbox_import_keeps_bytes_and_from_line_dates(mbox_path: Path):
    make_account()
    out, _ = run("--to", ADDRESS, str(mbox_path))
    assert out == "Imported 4, skipped 0 already present, failed 0.\n"
    rows = messages()
    assert [r.uid for r in rows] == [1, 2, 3, 4]
    for row, (_, _raw, when) in zip(rows, MBOX_MESSAGES, strict=True):
        assert row.internal_date == when
        assert row.internal_date_offset == when.utcoffset() / timedelta(minutes=1)
        assert row.crlf_normalised is False
    # The stdlib wrote ">From " for body lines starting "From " and does not undo it on reading;
    # the importer keeps the bytes as they are in the file.
    assert blob(rows[1]) == MBOX_MESSAGES[1][1].replace(b"\nFrom ", b"\n>From ")
    for index in (0, 2, 3):
        assert blob(rows[index]) == MBOX_MESSAGES[index][1]
    assert rows[0].source_key.startswith("mbox:") and rows[0].source_key.endswith(":1")


def test_mbox_bytes_are_exactly_the_file_between_from_lines(tmp_path: Path):
    make_account()
    first = b"Subject: one\nX-Odd:  spaces  kept \n\nbody one\n>From quoted already\n"
    second = b"Subject: two\r\n\r\nbody two\r\n"
    path = tmp_path / "hand.mbox"
    path.write_bytes(
        b"From a Thu Sep  3 10:00:00 2026\n" + first + b"\nFrom b Thu Sep  3 11:00:00 2026\n" + second
    )
    run("--to", ADDRESS, str(path))
    one, two = messages()
    assert blob(one) == first.replace(b"\n", b"\r\n")
    assert one.crlf_normalised is True
    assert blob(two) == second
    assert two.crlf_normalised is False


def test_rerun_skips_everything_with_one_query_for_existing_keys(mbox_path: Path):
    make_account()
    run("--to", ADDRESS, str(mbox_path))
    with CaptureQueriesContext(connection) as queries:
        out, _ = run("--to", ADDRESS, str(mbox_path))
    assert out == "Imported 0, skipped 4 already present, failed 0.\n"
    assert Message.objects.count() == 4
    # The mailbox and the existing source keys: nothing per message.
    assert len(queries) == 2, [q["sql"] for q in queries]


def test_rerun_after_the_mbox_grew_imports_only_the_new_message(mbox_path: Path):
    make_account()
    run("--to", ADDRESS, str(mbox_path))
    extra = message("appended later")
    box = mailbox.mbox(mbox_path)
    box.add(b"From late Mon Sep  7 08:00:00 2026\n" + extra)
    box.close()
    out, _ = run("--to", ADDRESS, str(mbox_path))
    assert out == "Imported 1, skipped 4 already present, failed 0.\n"
    last = messages()[-1]
    assert (last.uid, blob(last)) == (5, extra)


def test_identical_messages_in_one_mbox_are_both_imported_once(tmp_path: Path):
    make_account()
    raw = message("twice")
    path = write_mbox(
        tmp_path / "dup.mbox", [("a Thu Sep  3 10:00:00 2026", raw), ("b Thu Sep  3 10:00:00 2026", raw)]
    )
    assert run("--to", ADDRESS, str(path))[0].startswith("Imported 2, skipped 0")
    keys = [r.source_key for r in messages()]
    assert keys[0].endswith(":1") and keys[1].endswith(":2") and keys[0][:-2] == keys[1][:-2]
    assert run("--to", ADDRESS, str(path))[0].startswith("Imported 0, skipped 2")


def test_import_into_sent(mbox_path: Path):
    make_account()
    run("--to", ADDRESS, "--folder", "Sent", str(mbox_path))
    assert len(messages(Folder.SENT)) == 4
    assert messages(Folder.INBOX) == []
    # Keys are per folder: the same mbox can go to INBOX too.
    assert run("--to", ADDRESS, str(mbox_path))[0].startswith("Imported 4, skipped 0")


# ---------------------------------------------------------------------------------------------------
# Maildir


@pytest.fixture
def maildir_path(tmp_path: Path) -> Path:
    path = tmp_path / "Maildir"
    box = mailbox.Maildir(path, create=True)
    for index, subdir in enumerate(["new", "cur", "cur"]):
        # Bytes, not a MaildirMessage, which the email package would re-generate with LF endings.
        key = box.add(message(f"maildir {index}", received="Fri, 4 Sep 2026 09:00:00 +0000"))
        file = path / "new" / key
        if subdir == "cur":  # read by a client: moved to cur/ with the Seen flag, as MUAs do
            file = file.rename(path / "cur" / f"{key}:2,S")
        moment = datetime(2026, 9, 1 + index, 12, 30, 15, tzinfo=UTC).timestamp()
        os.utime(file, (moment, moment))
    box.close()
    (path / "tmp" / "half-delivered").write_bytes(b"Subject: ignored\r\n\r\n")
    return path


def maildir_files(path: Path) -> dict[str, bytes]:
    return {f.name.split(":")[0]: f.read_bytes() for f in [*path.glob("new/*"), *path.glob("cur/*")]}


def test_maildir_import_uses_file_times(maildir_path: Path):
    make_account()
    files = maildir_files(maildir_path)
    out, _ = run("--to", ADDRESS, str(maildir_path))
    assert out == "Imported 3, skipped 0 already present, failed 0.\n"
    rows = messages()
    assert sorted(r.internal_date for r in rows) == [
        datetime(2026, 9, day, 12, 30, 15, tzinfo=UTC) for day in (1, 2, 3)
    ]
    for row in rows:
        key = row.source_key.rsplit(":", 1)[1]
        assert blob(row) == files[key]
        assert row.internal_date_offset == 0
    assert not Message.objects.filter(text__subject="ignored").exists()
    assert run("--to", ADDRESS, str(maildir_path))[0] == "Imported 0, skipped 3 already present, failed 0.\n"


def test_maildir_broken_file_is_reported_not_fatal(maildir_path: Path):
    make_account()
    (maildir_path / "cur" / "1999999999.M1P1.host:2,S").write_bytes(b"")
    out, _ = run("--to", ADDRESS, str(maildir_path))
    assert out.splitlines() == [
        "Imported 3, skipped 0 already present, failed 1:",
        "  cur/1999999999.M1P1.host: it is empty",
    ]


# ---------------------------------------------------------------------------------------------------
# .eml folders


@pytest.fixture
def eml_path(tmp_path: Path) -> Path:
    path = tmp_path / "exported"
    path.mkdir()
    (path / "a.eml").write_bytes(
        message("received", received="Tue, 8 Sep 2026 14:05:00 +0200", date="Mon, 7 Sep 2026 09:00:00 +0000")
    )
    (path / "b.EML").write_bytes(message("dated only", date="Wed, 9 Sep 2026 08:00:00 -0500"))
    (path / "c.eml").write_bytes(message("no date at all").replace(b"\r\n", b"\n"))
    (path / "notes.txt").write_bytes(b"not mail")
    return path


def test_eml_folder_dates_from_received_then_date_then_now(eml_path: Path):
    make_account()
    before = dj_timezone.now()
    out, _ = run("--to", ADDRESS, str(eml_path))
    after = dj_timezone.now()
    assert out == "Imported 3, skipped 0 already present, failed 0.\n"
    a, b, c = messages()
    assert a.internal_date == datetime(2026, 9, 8, 14, 5, tzinfo=PLUS_TWO) and a.internal_date_offset == 120
    assert b.internal_date == datetime(2026, 9, 9, 8, 0, tzinfo=MINUS_FIVE) and b.internal_date_offset == -300
    assert before <= c.internal_date <= after
    assert blob(a) == (eml_path / "a.eml").read_bytes()
    assert blob(c) == (eml_path / "c.eml").read_bytes().replace(b"\n", b"\r\n")
    assert c.crlf_normalised is True
    assert a.source_key.startswith("eml:") and a.source_key.endswith(":a.eml")
    assert not Message.objects.filter(text__subject="notes").exists()


def test_eml_rerun_skips_everything(eml_path: Path):
    make_account()
    run("--to", ADDRESS, str(eml_path))
    assert run("--to", ADDRESS, str(eml_path))[0] == "Imported 0, skipped 3 already present, failed 0.\n"
    assert Message.objects.count() == 3


def test_eml_broken_files_are_reported_not_fatal(eml_path: Path):
    make_account()
    (eml_path / "0-empty.eml").write_bytes(b"")
    (eml_path / "1-folder.eml").mkdir()
    (eml_path / "2-picture.eml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (eml_path / "3-dangling.eml").symlink_to(eml_path / "gone")
    out, _ = run("--to", ADDRESS, str(eml_path))
    assert out.splitlines() == [
        "Imported 3, skipped 0 already present, failed 4:",
        "  0-empty.eml: it is empty",
        "  1-folder.eml: it could not be read (Is a directory)",
        "  2-picture.eml: it has no header fields, so it is not an RFC 5322 message",
        "  3-dangling.eml: it could not be read (No such file or directory)",
    ]
    assert Message.objects.count() == 3
    # Failures are retried on the next run; what was imported is skipped.
    assert run("--to", ADDRESS, str(eml_path))[0].startswith(
        "Imported 0, skipped 3 already present, failed 4:"
    )


def test_a_single_eml_file(eml_path: Path):
    make_account()
    assert run("--to", ADDRESS, str(eml_path / "a.eml"))[0].startswith("Imported 1,")


# ---------------------------------------------------------------------------------------------------
# Refusals


def test_zero_retention_is_refused_and_nothing_is_stored(mbox_path: Path):
    account = make_account(retention=Domain.Retention.PASSTHROUGH)
    with pytest.raises(CommandError) as caught:
        run("--to", ADDRESS, str(mbox_path))
    assert not Message.objects.exists() and not Blob.objects.exists()
    # The same sentence ingest gives for a delivery to that domain.
    note = ingest.store(mailbox=account.mailbox, raw=b"Subject: x\r\n\r\n").note
    assert str(caught.value) == f"Nothing imported: {note}."


def test_missing_mailbox_is_refused(mbox_path: Path):
    make_account()
    with pytest.raises(
        CommandError, match=r"^No mailbox other@example\.com; create it with `manage.py createmailbox`"
    ):
        run("--to", "other@example.com", str(mbox_path))
    with pytest.raises(CommandError, match="not a valid email address"):
        run("--to", "nonsense", str(mbox_path))


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "notes.txt").write_text("hello\n") and p / "notes.txt", "is not an mbox file"),
        (
            lambda p: (p / "empty.mbox").write_bytes(b"") is not None and p / "empty.mbox",
            "is not an mbox file",
        ),
        (lambda p: (p / "folder").mkdir() or p / "folder", "neither cur/ and new/ nor .eml files"),
    ],
    ids=["missing", "text file", "empty file", "empty folder"],
)
def test_unrecognised_paths_are_refused_with_the_accepted_formats(tmp_path: Path, make, problem: str):
    make_account()
    path = make(tmp_path)
    with pytest.raises(CommandError) as caught:
        run("--to", ADDRESS, str(path))
    assert problem in str(caught.value)
    assert str(caught.value).endswith(f"MailKite imports {importer.ACCEPTED}.")
    assert "mbox file" in importer.ACCEPTED and "Maildir" in importer.ACCEPTED and ".eml" in importer.ACCEPTED


# ---------------------------------------------------------------------------------------------------
# Progress and the service


def test_progress_bar_only_when_asked_or_on_a_terminal(mbox_path: Path, capsys: pytest.CaptureFixture[str]):
    make_account()
    run("--to", ADDRESS, str(mbox_path))
    assert capsys.readouterr().err == ""  # stderr is not a terminal here
    run("--to", ADDRESS, "--folder", "Sent", "--progress", str(mbox_path))
    err = capsys.readouterr().err
    assert "Importing into you@example.com Sent" in err and "4/4" in err


def test_verbose_lists_each_message(eml_path: Path):
    make_account()
    out = io.StringIO()
    call_command("import_mail", "--to", ADDRESS, str(eml_path), verbosity=2, stdout=out)
    lines = out.getvalue().splitlines()
    assert (
        lines[0]
        == "a.eml: imported as UID 1, internal date 2026-09-08T14:05:00+02:00 from the Received header"
    )
    assert lines[1].startswith("b.EML: imported as UID 2") and lines[1].endswith("from the Date header")
    assert lines[2].endswith("from the import time")


def test_blob_store_failure_stops_the_import_with_a_summary(mbox_path: Path, settings, tmp_path: Path):
    make_account()
    (tmp_path / "a-file").write_bytes(b"")
    settings.STORAGES = {
        **settings.STORAGES,
        "blobs": {
            "BACKEND": "mailkite.mail.blobstore.ContentAddressedStorage",
            "OPTIONS": {"location": str(tmp_path / "a-file" / "blobs")},  # cannot be created
        },
    }
    out = io.StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("import_mail", "--to", ADDRESS, str(mbox_path), stdout=out)
    assert str(caught.value).startswith("Import stopped: the blob store could not be written (")
    assert str(caught.value).endswith("Run the same command again to resume.")
    assert out.getvalue() == "Imported 0, skipped 0 already present, failed 0.\n"
    assert not Message.objects.exists()


def test_service_yields_outcomes_with_a_total(mbox_path: Path):
    make_account()
    run_ = importer.import_mail(address=ADDRESS, path=mbox_path)
    assert run_.total == 4
    outcomes = list(run_)
    assert [o.status for o in outcomes] == [importer.Status.IMPORTED] * 4
    assert [o.date_source for o in outcomes] == [importer.FROM_LINE] * 3 + [importer.RECEIVED]
    assert [o.uid for o in outcomes] == [1, 2, 3, 4]
    again = list(importer.import_mail(address=ADDRESS, path=mbox_path))
    assert {o.status for o in again} == {importer.Status.SKIPPED}
    assert [o.source_key for o in again] == [o.source_key for o in outcomes]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("MAILER-DAEMON Thu Sep  3 10:00:00 2026", datetime(2026, 9, 3, 10, 0, tzinfo=UTC)),
        ("a@b Thu Sep 3 10:00 2026", datetime(2026, 9, 3, 10, 0, tzinfo=UTC)),
        ("x@xxx Fri Sep 04 16:41:48 +0200 2026", datetime(2026, 9, 4, 16, 41, 48, tzinfo=PLUS_TWO)),
        ("- Sat Sep  5 07:15:00 2026 -0500", datetime(2026, 9, 5, 7, 15, tzinfo=MINUS_FIVE)),
        ("a Sat Sep  5 07:15:00 EST 2026", datetime(2026, 9, 5, 7, 15, tzinfo=MINUS_FIVE)),
        ("a Sat Sep  5 07:15:00 GMT 2026", datetime(2026, 9, 5, 7, 15, tzinfo=UTC)),
        ("a Sat Sep  5 07:15:60 2026", datetime(2026, 9, 5, 7, 15, 59, tzinfo=UTC)),
        ("a Mon Feb 31 07:15:00 2026", None),
        ("nobody", None),
        ("", None),
    ],
)
def test_from_line_dates(line: str, expected: datetime | None):
    parsed = importer.from_line_date(line)
    assert parsed == expected
    if expected is not None:
        assert parsed is not None and parsed.utcoffset() == expected.utcoffset()


# ---------------------------------------------------------------------------------------------------
# Batches


def numbered_mbox(path: Path, count: int) -> Path:
    return write_mbox(
        path, [(f"n{n} Thu Sep  3 10:{n % 60:02d}:00 2026", message(f"number {n}")) for n in range(count)]
    )


def folder_events() -> int:
    inbox = Folder.objects.get(name=Folder.INBOX)
    row = ChangeCounter.objects.filter(kind="folder", key=inbox.pk).first()
    return row.counter if row else 0


def test_messages_are_stored_in_batches_in_source_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_account()
    monkeypatch.setattr(importer, "BATCH_MESSAGES", 4)
    path = numbered_mbox(tmp_path / "ten.mbox", 10)
    with CaptureQueriesContext(connection) as queries:
        outcomes = list(importer.import_mail(address=ADDRESS, path=path))
    assert [o.uid for o in outcomes] == list(range(1, 11))
    assert [o.label for o in outcomes] == [f"message {n}" for n in range(1, 11)]
    assert [r.text.subject for r in messages()] == [f"number {n}" for n in range(10)]
    assert [r.modseq for r in messages()] == list(range(2, 12))
    assert folder_events() == 3  # one change event per batch of 4, 4 and 2
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE mail_folder")]
    assert len(updates) == 3  # one UID/modseq reservation per batch
    texts = [q["sql"] for q in queries if q["sql"].startswith('INSERT INTO "mail_messagetext"')]
    assert len(texts) == 3  # the search text of a batch in one statement, not one per message


def test_a_large_import_prepared_by_workers_matches_the_source(tmp_path: Path):
    make_account()
    count = 3 * ingest.MIN_PARALLEL
    path = numbered_mbox(tmp_path / "many.mbox", count)
    out, _ = run("--to", ADDRESS, str(path))
    assert out == f"Imported {count}, skipped 0 already present, failed 0.\n"
    rows = messages()
    assert [r.uid for r in rows] == list(range(1, count + 1))
    for n, row in enumerate(rows):
        assert blob(row) == message(f"number {n}")
        assert row.text.subject == f"number {n}" and row.text.from_text == "Ada <ada@analytical.example>"
        assert row.internal_date == datetime(2026, 9, 3, 10, n % 60, tzinfo=UTC)


def test_an_interrupted_import_resumes_where_it_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    make_account()
    monkeypatch.setattr(importer, "BATCH_MESSAGES", 5)
    path = numbered_mbox(tmp_path / "twenty.mbox", 20)
    first = iter(importer.import_mail(address=ADDRESS, path=path))
    seen = [next(first) for _ in range(7)]  # then the process "dies": the generator is dropped
    first.close()  # type: ignore[attr-defined]
    assert [o.status for o in seen] == [importer.Status.IMPORTED] * 7
    stored_before = Message.objects.count()
    assert stored_before == 10  # whole batches only: the second was committed before its outcomes
    out, _ = run("--to", ADDRESS, str(path))
    assert out == f"Imported {20 - stored_before}, skipped {stored_before} already present, failed 0.\n"
    rows = messages()
    assert [r.uid for r in rows] == list(range(1, 21))
    assert [r.text.subject for r in rows] == [f"number {n}" for n in range(20)]
    assert len({r.source_key for r in rows}) == 20


def test_an_encrypted_domain_import_is_encrypted(tmp_path: Path):
    _, cert = smime_identity()
    account = make_account("you@secret.example")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    domains.set_encryption(account.mailbox.domain, kind="smime", key=pem)
    count = 2 * ingest.MIN_PARALLEL
    path = numbered_mbox(tmp_path / "secret.mbox", count)
    out, _ = run("--to", "you@secret.example", str(path))
    assert out == f"Imported {count}, skipped 0 already present, failed 0.\n"
    for row in messages():
        assert b"application/pkcs7-mime" in blob(row) and b"Hello." not in blob(row)
        assert "Hello." not in row.text.body_text


def test_a_key_that_cannot_encrypt_fails_each_message_not_the_import(tmp_path: Path):
    _, cert = smime_identity(expired=True)
    account = make_account("you@secret.example")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    Domain.objects.filter(pk=account.mailbox.domain.pk).update(encryption="smime", encryption_key=pem)
    path = numbered_mbox(tmp_path / "secret.mbox", 3)
    out, _ = run("--to", "you@secret.example", str(path))
    reason = "it could not be encrypted (the domain's S/MIME certificate has expired)"
    assert out.splitlines() == [
        "Imported 0, skipped 0 already present, failed 3:",
        *(f"  message {n}: {reason}" for n in (1, 2, 3)),
    ]
    assert not Message.objects.exists() and not Blob.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="statistics matter to PostgreSQL's planner")
def test_an_import_leaves_the_planner_statistics_up_to_date(mbox_path: Path):
    # ANALYZE sets pg_class.reltuples (-1: never analysed); without it the planner takes a large
    # imported folder for a few rows and SEARCH reads every message's text.
    make_account()
    run("--to", ADDRESS, str(mbox_path))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('mail_message', 'mail_messagetext')"
        )
        assert dict(cursor.fetchall()) == {"mail_message": 4, "mail_messagetext": 4}
