"""Ingest on the real database: byte-exact blobs, precomputed fields, recipients, concurrent UIDs."""

from __future__ import annotations

import datetime
import itertools
import threading
from email.message import EmailMessage
from email.policy import SMTP

import pytest
from django.db import connection, connections
from django.db.models import Count, Max

from mailkite.mail import blobstore, ingest, mime, services
from mailkite.mail.models import Blob, Domain, Folder, Mailbox, Message
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

ADDRESS = "you@example.com"


def crlf_message(subject: str = "Hello", body: str = "Hi there.\n", **headers: str) -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = headers.pop("from_", "Ada Lovelace <ada@analytical.example>")
    message["To"] = ADDRESS
    message["Subject"] = subject
    message["Date"] = headers.pop("date", "Mon, 31 Aug 2026 23:30:00 -0700")
    message["Message-ID"] = "<one@analytical.example>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


def stored(delivery: ingest.Delivery) -> Message:
    return Message.objects.select_related("blob", "folder", "text").get(
        uid=delivery.uid, folder__name=delivery.folder
    )


# ---------------------------------------------------------------------------------------------------
# Bytes


def test_crlf_message_is_stored_byte_for_byte():
    account = make_account()
    raw = crlf_message()
    assert b"\r\n" in raw and raw.count(b"\n") == raw.count(b"\r\n")
    delivery = ingest.store(mailbox=account.mailbox, raw=raw)
    message = stored(delivery)
    assert blobstore.get(message.blob.sha256) == raw
    assert message.size == message.blob.size == len(raw) == delivery.size
    assert message.crlf_normalised is False
    assert delivery.report() == f"stored for {ADDRESS} in INBOX as UID 1 ({len(raw)} octets)"


def test_bare_lf_is_normalised_and_the_message_says_so():
    account = make_account()
    raw = b"From: a@b.example\nSubject: bare\nDate: Tue, 1 Sep 2026 10:00:00 +0000\n\nline one\nline two\r\n"
    delivery = ingest.store(mailbox=account.mailbox, raw=raw)
    message = stored(delivery)
    expected = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert blobstore.get(message.blob.sha256) == expected
    assert message.size == len(expected)
    assert message.crlf_normalised is True
    assert delivery.normalised is True
    assert "bare LF line endings normalised to CRLF" in delivery.report()


def test_lone_cr_is_left_alone():
    account = make_account()
    raw = b"From: a@b.example\r\nSubject: cr\r\n\r\nhalf\rline\r\n"
    message = stored(ingest.store(mailbox=account.mailbox, raw=raw))
    assert blobstore.get(message.blob.sha256) == raw
    assert message.crlf_normalised is False


def test_same_bytes_twice_share_one_blob_and_get_two_uids():
    account = make_account()
    raw = crlf_message()
    first = ingest.store(mailbox=account.mailbox, raw=raw)
    second = ingest.store(mailbox=account.mailbox, raw=raw)
    assert (first.uid, second.uid) == (1, 2)
    assert Blob.objects.count() == 1


FIVE_MB = bytes(range(256)) * (5 * 1024 * 1024 // 256)


def _with_attachment() -> bytes:
    message = EmailMessage(policy=SMTP)
    message["From"] = "a@b.example"
    message["Subject"] = "big"
    message.set_content("see attached\n")
    message.add_attachment(FIVE_MB, maintype="application", subtype="octet-stream", filename="big.bin")
    return message.as_bytes()


AWKWARD = {
    "multipart without boundary": b"From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\nno parts at all\r\n",
    "boundary never closed": (
        b'From: a@b.example\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nopen\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x"
    ),
    "bogus content type": b"From: a@b.example\r\nContent-Type: ;;;==\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n",
    "nested rfc822 garbage": b"From: a@b.example\r\nContent-Type: message/rfc822\r\n\r\nnot a header\r\n",
    "8-bit latin-1 headers": b"From: J\xe9r\xf4me <j@b.example>\r\nSubject: Caf\xe9 cr\xe8me\r\n\r\nbody \xe9\r\n",
    "8-bit utf-8 headers": "From: Zoë <z@b.example>\r\nSubject: Grüße\r\n\r\nViele Grüße\r\n".encode(),
    "no Date and no Message-ID": b"From: a@b.example\r\nSubject: undated\r\n\r\nbody\r\n",
    "bare LF": b"From: a@b.example\nSubject: lf\n\nbody\n",
    "header only, no body": b"From: a@b.example\r\nSubject: nothing else",
    "no header at all": b"just some text\r\n",
    "broken encoded word": b"From: a@b.example\r\nSubject: =?utf-8?B?!!!?= =?x-unknown?Q?a?=\r\n\r\nb\r\n",
    "5 MB attachment": _with_attachment(),
}


@pytest.mark.parametrize("raw", AWKWARD.values(), ids=AWKWARD.keys())
def test_awkward_messages_are_stored_exactly(raw: bytes):
    account = make_account()
    delivery = ingest.store(mailbox=account.mailbox, raw=raw)
    assert delivery.stored
    message = stored(delivery)
    expected, normalised = mime.normalise_line_endings(raw)
    assert blobstore.get(message.blob.sha256) == expected
    assert message.crlf_normalised is normalised
    assert message.envelope.startswith(b"(") and message.bodystructure.startswith(b"(")
    assert 0 <= message.header_length <= message.size


def test_missing_date_and_message_id_leave_those_fields_empty():
    account = make_account()
    message = stored(ingest.store(mailbox=account.mailbox, raw=AWKWARD["no Date and no Message-ID"]))
    assert message.sent_date is None
    assert message.message_id == ""
    assert message.text.subject == "undated"


def test_eight_bit_headers_are_searchable_text():
    account = make_account()
    message = stored(ingest.store(mailbox=account.mailbox, raw=AWKWARD["8-bit utf-8 headers"]))
    assert message.text.subject == "Grüße"
    assert "Zoë" in message.text.from_text
    assert "Viele Grüße" in message.text.body_text


def test_five_megabyte_attachment_round_trips():
    account = make_account()
    raw = AWKWARD["5 MB attachment"]
    message = stored(ingest.store(mailbox=account.mailbox, raw=raw))
    assert message.size == len(raw) > 5 * 1024 * 1024
    assert set(message.parts) >= {"1", "2"}
    start, end = message.parts["2"]["body"], message.parts["2"]["end"]
    assert message.parts["2"]["type"] == "application/octet-stream"
    assert mime.decode_transfer(blobstore.get(message.blob.sha256)[start:end], "base64") == FIVE_MB


NUL_IN_TEXT = (
    b"From: a@b.example\r\nSubject: nul\x00here\r\nMessage-ID: <a\x00b@x>\r\n"
    b'Content-Type: text/plain; charset="ut\x00f-8"\r\n\r\nbody\x00text\r\n'
)


def test_nul_bytes_in_headers_and_body_are_stored():
    # PostgreSQL's text and jsonb columns refuse U+0000: the searchable copies drop it, the blob keeps it.
    account = make_account()
    message = stored(ingest.store(mailbox=account.mailbox, raw=NUL_IN_TEXT))
    assert blobstore.get(message.blob.sha256) == NUL_IN_TEXT
    text = message.text
    assert "\x00" not in text.subject + text.body_text + message.message_id + str(message.parts)


# ---------------------------------------------------------------------------------------------------
# Precomputed fields


def test_precomputed_fields_are_filled():
    account = make_account()
    raw = crlf_message(
        subject="=?utf-8?q?Caf=C3=A9_=E2=98=95?= tomorrow",
        body="Let us meet at the café.\n",
        Cc="Grace Hopper <grace@navy.example>",
    )
    message = stored(ingest.store(mailbox=account.mailbox, raw=raw))
    assert message.header_length == raw.index(b"\r\n\r\n") + 4
    assert message.envelope.startswith(b'("Mon, 31 Aug 2026 23:30:00 -0700" ')
    assert b'(("Ada Lovelace" NIL "ada" "analytical.example"))' in message.envelope
    assert message.bodystructure.startswith(b'("text" "plain" ("charset" "utf-8")')
    assert message.body.startswith(b'("text" "plain"')
    assert message.text.subject == "Café ☕ tomorrow"
    assert message.text.from_text == "Ada Lovelace <ada@analytical.example>"
    assert message.text.to_text == ADDRESS
    assert "Grace Hopper <grace@navy.example>" in message.text.cc_text
    assert "Let us meet at the café." in message.text.body_text
    assert "Subject: Café ☕ tomorrow" in message.text.headers_text
    assert message.message_id == "<one@analytical.example>"
    # The Date header's own calendar day, not the UTC day (which is already 1 September).
    assert message.sent_date == datetime.date(2026, 8, 31)
    assert message.delivered_to == ADDRESS
    assert message.parts["1"]["type"] == "text/plain"


def test_internal_date_keeps_its_offset():
    account = make_account()
    when = datetime.datetime(
        2026, 9, 3, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-3, minutes=-30))
    )
    message = stored(ingest.store(mailbox=account.mailbox, raw=crlf_message(), internal_date=when))
    assert message.internal_date == when
    assert message.internal_date_offset == -210


def test_folder_counters_follow_deliveries():
    account = make_account()
    raws = [crlf_message(subject=f"n{i}") for i in range(3)]
    for raw in raws:
        ingest.store(mailbox=account.mailbox, raw=raw, folder=Folder.SENT)
    sent = Folder.objects.get(mailbox=account.mailbox, name=Folder.SENT)
    inbox = Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX)
    assert (sent.uidnext, sent.message_count, sent.total_size) == (4, 3, sum(map(len, raws)))
    assert sent.highest_modseq == 4  # starts at 1
    assert list(Message.objects.filter(folder=sent).order_by("uid").values_list("modseq", flat=True)) == [
        2,
        3,
        4,
    ]
    assert (inbox.uidnext, inbox.message_count) == (1, 0)


# ---------------------------------------------------------------------------------------------------
# Recipients


def test_zero_retention_stores_nothing_and_says_so():
    account = make_account(retention=Domain.Retention.PASSTHROUGH)
    delivery = ingest.deliver(address=ADDRESS, raw=crlf_message())
    assert delivery.stored is False
    assert delivery.uid is None
    assert delivery.report() == (
        f"not stored for {ADDRESS}: the domain example.com is on zero-retention, so nothing is stored"
    )
    assert not Message.objects.exists()
    assert not Blob.objects.exists()
    assert Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX).uidnext == 1


def test_catch_all_creates_the_mailbox_with_both_folders():
    make_account()
    Domain.objects.update(catch_all=True)
    delivery = ingest.deliver(address="New.Person@Example.com", raw=crlf_message())
    assert delivery.stored and delivery.uid == 1
    mailbox = Mailbox.objects.get(local_part="new.person")
    assert sorted(mailbox.folders.values_list("name", flat=True)) == ["INBOX", "Sent"]
    assert Message.objects.filter(folder__mailbox=mailbox).count() == 1


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("someone@nowhere.example", "no domain nowhere.example is set up at MailKite"),
        ("nobody@example.com", "no mailbox nobody@example.com"),
        ("not an address", "“not an address” is not a valid email address."),
    ],
)
def test_unknown_recipients_are_refused_with_a_reason(address: str, reason: str):
    make_account()
    with pytest.raises(ingest.UnknownRecipient) as caught:
        ingest.deliver(address=address, raw=crlf_message())
    assert str(caught.value) == reason
    assert not Message.objects.exists()


def test_unverified_domain_is_refused_even_with_catch_all():
    make_account(verified=False)
    Domain.objects.update(catch_all=True)
    with pytest.raises(ingest.UnknownRecipient, match=r"^the domain example.com is not MX-verified$"):
        ingest.deliver(address=ADDRESS, raw=crlf_message())
    with pytest.raises(ingest.UnknownRecipient, match="not MX-verified"):
        ingest.deliver(address="other@example.com", raw=crlf_message())
    assert Mailbox.objects.count() == 1


def test_deliver_refuses_an_unknown_folder():
    make_account()
    with pytest.raises(ValueError, match="INBOX, Sent"):
        ingest.deliver(address=ADDRESS, raw=crlf_message(), folder="Trash")


def test_recipient_lookup_is_case_insensitive():
    account = make_account()
    delivery = ingest.deliver(address="YOU@EXAMPLE.COM", raw=crlf_message())
    assert delivery.address == ADDRESS
    assert services.find_mailbox("You@Example.Com") == account.mailbox


# ---------------------------------------------------------------------------------------------------
# Concurrency


@pytest.mark.django_db(transaction=True)
def test_parallel_deliveries_get_ascending_gap_free_uids():
    account = make_account()
    folder = Folder.objects.get(mailbox=account.mailbox, name=Folder.INBOX)
    # 8 writers x 25 on both databases. SQLite's test database is a file in WAL mode (not the
    # shared-cache memory database, whose table locks the busy timeout would not retry): IMMEDIATE
    # transactions serialise the writers and the 20 s busy timeout makes them queue.
    threads, each = 8, 25
    total = threads * each
    start = threading.Barrier(threads + 1)
    done = threading.Event()
    errors: list[BaseException] = []
    observations: list[tuple[int, int]] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for index in range(each):
                ingest.deliver(address=ADDRESS, raw=crlf_message(subject=f"writer {number} message {index}"))
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
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    watcher = threading.Thread(target=reader)
    for thread in [*workers, watcher]:
        thread.start()
    for thread in workers:
        thread.join(120)
    done.set()
    watcher.join(30)
    assert not errors, errors

    rows = list(Message.objects.filter(folder=folder).order_by("uid").values_list("uid", "modseq"))
    assert [uid for uid, _ in rows] == list(range(1, total + 1))
    modseqs = [modseq for _, modseq in rows]
    assert all(a < b for a, b in itertools.pairwise(modseqs))
    folder.refresh_from_db()
    assert folder.uidnext == total + 1
    assert folder.message_count == total
    assert folder.highest_modseq == modseqs[-1]
    # Rows became visible in UID order: the reader never saw a UID before all smaller ones.
    assert observations, "the reader never saw a message"
    assert all(count == top for count, top in observations), [o for o in observations if o[0] != o[1]][:5]
