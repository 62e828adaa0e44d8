"""Python IMAP libraries from PyPI against the real server: IMAPClient, imap-tools, aioimaplib.

Each one logs in, lists, selects, searches, fetches ENVELOPE, BODYSTRUCTURE and BODY[] of every
message (its own parser must accept our syntax for every MIME shape, and the body must be
byte-exact), sets flags, and meets the refusals of the read-mostly matrix (DESIGN §5): a delete
answers OK and deletes nothing; a move, copy, append or create raises the library's error or
returns a clean NO, and never hangs.
"""

from __future__ import annotations

import asyncio
import email
import email.message
import email.policy
import logging
import random
import re
import threading
import time

import imap_tools
import pytest
from aioimaplib import aioimaplib
from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientError
from imapclient.response_types import BodyData

from tests.interop import corpus
from tests.interop.conftest import Delivered, Mailbox, Mailroom, deliver

pytestmark = pytest.mark.interop
LEAVES = {"message/delivery-status", "message/global-delivery-status", "text/rfc822-headers"}


def email_shape(part: email.message.Message) -> object:
    """The MIME tree as Python's parser sees it: a type, or (type, children)."""
    kind = part.get_content_type()
    if kind == "message/rfc822":
        return (kind, email_shape(part.get_payload(0)))
    if part.is_multipart() and kind not in LEAVES:
        return (kind, tuple(email_shape(child) for child in part.get_payload()))
    return kind


def imap_shape(structure: tuple) -> object:  # type: ignore[type-arg]
    """The same tree read from a parsed BODYSTRUCTURE."""
    body = structure if isinstance(structure, BodyData) else BodyData.create(structure)
    if body.is_multipart:
        return (f"multipart/{body[1].decode().lower()}", tuple(imap_shape(p) for p in body[0]))
    kind = f"{body[0].decode().lower()}/{body[1].decode().lower()}"
    if kind == "message/rfc822":
        return (kind, imap_shape(body[8]))
    return kind


def raw_header(message: Delivered, name: bytes) -> bytes | None:
    """A header field's value as written (unfolded), the way ENVELOPE carries it."""
    header = corpus.served(message.raw).split(b"\r\n\r\n", 1)[0]
    match = re.search(
        rb"^" + name + rb":[ \t]*([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", header, re.MULTILINE | re.IGNORECASE
    )
    return match.group(1).replace(b"\r\n", b"").lstrip(b" \t") if match else None


# -- IMAPClient ---------------------------------------------------------------------------------


def imapclient(mailroom: Mailroom, mailbox: Mailbox | None = None) -> IMAPClient:
    client = IMAPClient(
        mailroom.host, mailroom.port, ssl=True, ssl_context=mailroom.certs.client_context(), timeout=20
    )
    box = mailbox or mailroom.mailbox
    client.login(box.address, box.password)
    return client


def test_imapclient_lists_selects_and_searches(mailroom):
    with imapclient(mailroom) as client:
        folders = client.list_folders()
        assert [(name, set(flags)) for flags, _, name in folders] == [
            ("INBOX", {b"\\HasNoChildren"}),
            ("Sent", {b"\\HasNoChildren", b"\\Sent"}),
        ]
        assert client.find_special_folder(b"\\Sent") == "Sent"
        assert client.namespace().personal == (("", "/"),)
        selected = client.select_folder("INBOX")
        inbox = mailroom.mailbox.folder("INBOX")
        assert selected[b"EXISTS"] == len(inbox)
        assert selected[b"UIDNEXT"] == inbox[-1].uid + 1
        assert client.search(["SUBJECT", "NUL"]) == [
            m.uid for m in inbox if m.subject == "A NUL byte in the body"
        ]
        assert client.search(["BODY", "Tōkyō"], charset="UTF-8") == [
            m.uid for m in inbox if m.subject.startswith("Grüße —")
        ]
        assert client.folder_status("Sent", ["MESSAGES"])[b"MESSAGES"] == len(mailroom.mailbox.folder("Sent"))


@pytest.mark.parametrize("folder", ["INBOX", "Sent"])
def test_imapclient_fetches_every_shape(mailroom, folder):
    messages = mailroom.mailbox.folder(folder)
    with imapclient(mailroom) as client:
        client.select_folder(folder, readonly=True)
        fetched = client.fetch(
            client.search(), ["ENVELOPE", "BODYSTRUCTURE", "BODY.PEEK[]", "RFC822.SIZE", "FLAGS"]
        )
    assert sorted(fetched) == [m.uid for m in messages]
    for message in messages:
        data = fetched[message.uid]
        assert data[b"BODY[]"] == message.served, message.subject
        assert data[b"RFC822.SIZE"] == len(message.served)
        parsed = email.message_from_bytes(message.served, policy=email.policy.compat32)
        assert imap_shape(data[b"BODYSTRUCTURE"]) == email_shape(parsed), message.subject
        envelope = data[b"ENVELOPE"]
        assert envelope.subject == raw_header(message, b"Subject"), message.subject
        assert envelope.message_id == raw_header(message, b"Message-ID")
        sender = envelope.from_[0]
        assert f"{sender.mailbox.decode()}@{sender.host.decode()}".encode() in raw_header(message, b"From")


def test_imapclient_flags_and_refusals(mailroom, fresh):
    uid = fresh.folder("INBOX")[2].uid
    with imapclient(mailroom, fresh) as client:
        client.select_folder("INBOX")
        assert client.add_flags(uid, [b"\\Flagged", b"$Label1"]) == {uid: (b"\\Flagged", b"$Label1")}
        assert client.remove_flags(uid, [b"$Label1"]) == {uid: (b"\\Flagged",)}
        # Delete: \Deleted is ignored, EXPUNGE answers OK and expunges nothing.
        assert client.delete_messages(uid) == {uid: (b"\\Flagged",)}
        assert client.expunge() == (b"EXPUNGE completed", [])
        assert client.select_folder("INBOX")[b"EXISTS"] == len(fresh.folder("INBOX"))
        with pytest.raises(CapabilityError):
            client.move(uid, "Sent")  # MOVE is not advertised: refused before anything is sent
        with pytest.raises(IMAPClientError, match=r"\[CANNOT\]"):
            client.copy(uid, "Sent")
        with pytest.raises(IMAPClientError, match=r"\[CANNOT\]"):
            client.append("Sent", b"Subject: kept\r\n\r\nbody\r\n")
        with pytest.raises(IMAPClientError, match=r"\[CANNOT\]"):
            client.create_folder("Trash")
        assert client.noop()[0].startswith(b"NOOP")  # the session is still fine
    with imapclient(mailroom, fresh) as other:
        other.select_folder("INBOX", readonly=True)
        assert other.get_flags(uid) == {uid: (b"\\Flagged",)}


def test_imapclient_idle_sees_new_mail_and_flags(mailroom, fresh):
    count = len(fresh.folder("INBOX"))
    with imapclient(mailroom, fresh) as client, imapclient(mailroom, fresh) as other:
        client.select_folder("INBOX")
        other.select_folder("INBOX")
        client.idle()
        deliver(fresh, LATE)
        assert (count + 1, b"EXISTS") in idle_until(client, lambda r: (count + 1, b"EXISTS") in r)
        other.add_flags(2, [b"\\Answered"])
        responses = idle_until(client, lambda r: any(item[1] == b"FETCH" for item in r))
        assert (2, b"FETCH", (b"FLAGS", (b"\\Answered",))) in responses
        client.idle_done()
        assert client.search(["SUBJECT", "late arrival"]) == [fresh.folder("INBOX")[-1].uid]


LATE = b"From: Late <late@example.org>\r\nSubject: A late arrival\r\n\r\nHello\r\n"


def idle_until(client: IMAPClient, done, timeout: float = 15) -> list:  # type: ignore[no-untyped-def, type-arg]
    seen: list = []  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while not done(seen):
        assert time.monotonic() < deadline, f"IDLE brought only {seen!r}"
        seen += client.idle_check(timeout=1)
    return seen


def test_a_client_leaving_during_idle_is_no_server_error(mailroom, caplog):
    """Thunderbird at exit, or a phone losing its network, drops the socket mid-IDLE."""
    client = mailroom.imaplib()
    client.select("INBOX")
    client.send(b"i1 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    client.shutdown()
    time.sleep(1)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# -- imap-tools ---------------------------------------------------------------------------------


def imap_tools_box(mailroom: Mailroom, mailbox: Mailbox | None = None) -> imap_tools.MailBox:
    box = mailbox or mailroom.mailbox
    client = imap_tools.MailBox(
        mailroom.host, mailroom.port, timeout=20, ssl_context=mailroom.certs.client_context()
    )
    return client.login(box.address, box.password, initial_folder="INBOX")


def test_imap_tools_reads_every_message(mailroom):
    inbox = mailroom.mailbox.folder("INBOX")
    with imap_tools_box(mailroom) as box:
        assert [(f.name, "\\Sent" in f.flags) for f in box.folder.list()] == [
            ("INBOX", False),
            ("Sent", True),
        ]
        fetched = {int(m.uid): m for m in box.fetch(mark_seen=False, bulk=True)}
        assert sorted(fetched) == [m.uid for m in inbox]
        for message in inbox:
            assert fetched[message.uid].obj.as_bytes() is not None
            assert fetched[message.uid].subject == message.subject, message.uid
        big = next(m for m in inbox if m.subject == "The 1 MiB archive")
        (attachment,) = fetched[big.uid].attachments
        assert attachment.filename == "archive.bin"
        assert attachment.payload == random.Random(1).randbytes(corpus.BIG_ATTACHMENT)
        utf8 = next(m for m in inbox if m.subject.startswith("Grüße —"))
        assert fetched[utf8.uid].attachments[0].filename == "写真.jpg"
        assert "Tōkyō" in fetched[utf8.uid].text
        found = list(box.fetch(imap_tools.AND(subject="Fwd: Fwd"), mark_seen=False))
        assert [m.subject for m in found] == ["Fwd: Fwd: The bug"]
    with imap_tools_box(mailroom) as box:
        assert box.folder.status("INBOX")["UNSEEN"] == len(inbox)  # mark_seen=False peeked


def test_imap_tools_flags_and_refusals(mailroom, fresh):
    inbox = fresh.folder("INBOX")
    uid = str(inbox[3].uid)
    with imap_tools_box(mailroom, fresh) as box:
        box.flag(uid, imap_tools.MailMessageFlags.FLAGGED, True)
        box.flag(uid, imap_tools.MailMessageFlags.SEEN, True)
        (message,) = box.fetch(imap_tools.AND(uid=uid), mark_seen=False)
        assert set(message.flags) == {"\\Flagged", "\\Seen"}
        result = box.delete(uid)  # STORE \Deleted + EXPUNGE: both OK, nothing deleted
        assert result is not None and all(part[0] == "OK" for pair in result for part in pair)
        assert len(box.numbers()) == len(inbox)
        with pytest.raises(imap_tools.errors.MailboxCopyError, match="CANNOT"):
            box.move(uid, "Sent")  # no MOVE capability: imap-tools copies first, which is refused
        with pytest.raises(imap_tools.errors.MailboxCopyError, match="CANNOT"):
            box.copy(uid, "Sent")
        with pytest.raises(imap_tools.errors.MailboxAppendError, match="CANNOT"):
            box.append(b"Subject: kept\r\n\r\nbody\r\n", "Sent")
        with pytest.raises(imap_tools.errors.MailboxFolderCreateError, match="CANNOT"):
            box.folder.create("Trash")
        assert len(box.numbers()) == len(inbox)
        (message,) = box.fetch(imap_tools.AND(uid=uid), mark_seen=False)
        assert set(message.flags) == {"\\Flagged", "\\Seen"}


def test_imap_tools_idle_sees_new_mail(mailroom, fresh):
    with imap_tools_box(mailroom, fresh) as box:
        threading.Timer(0.5, deliver, (fresh, LATE)).start()
        responses = box.idle.wait(timeout=15)
        assert f"* {len(fresh.folder('INBOX'))} EXISTS".encode() in responses
        assert [
            m.subject for m in box.fetch(imap_tools.AND(seen=False, subject="late"), mark_seen=False)
        ] == ["A late arrival"]


# -- aioimaplib ---------------------------------------------------------------------------------


async def aioimap(mailroom: Mailroom, mailbox: Mailbox | None = None) -> aioimaplib.IMAP4_SSL:
    box = mailbox or mailroom.mailbox
    client = aioimaplib.IMAP4_SSL(
        mailroom.host, mailroom.port, ssl_context=mailroom.certs.client_context(), timeout=20
    )
    await client.wait_hello_from_server()
    response = await client.login(box.address, box.password)
    assert response.result == "OK", response
    return client


def bodies(lines: list[bytes | bytearray]) -> dict[int, bytes]:
    """UID -> BODY[] from the lines of a UID FETCH (... BODY.PEEK[]) response."""
    result = {}
    for index, line in enumerate(lines):
        match = re.match(rb"\d+ FETCH \(UID (\d+) BODY\[\] \{(\d+)\}$", bytes(line))
        if match:
            data = bytes(lines[index + 1])
            assert len(data) == int(match.group(2))
            result[int(match.group(1))] = data
    return result


def test_aioimaplib_session(mailroom):
    async def session() -> None:
        client = await aioimap(mailroom)
        listed = await client.list('""', "*")
        assert listed.result == "OK"
        assert [line.replace(b'"', b"") for line in listed.lines] == [
            b"(\\HasNoChildren) / INBOX",
            b"(\\HasNoChildren \\Sent) / Sent",
            b"LIST completed",
        ]
        for folder in ("INBOX", "Sent"):
            messages = mailroom.mailbox.folder(folder)
            selected = await client.select(folder)
            assert selected.result == "OK" and f"{len(messages)} EXISTS".encode() in selected.lines
            found = await client.uid_search("ALL")
            assert found.lines[0] == " ".join(str(m.uid) for m in messages).encode()
            fetched = await client.uid("fetch", "1:*", "(BODY.PEEK[])")
            assert fetched.result == "OK"
            got = bodies(fetched.lines)
            for message in messages:
                assert got[message.uid] == message.served, message.subject
            structure = await client.uid("fetch", "1:*", "(ENVELOPE BODYSTRUCTURE)")
            assert structure.result == "OK"
        assert (await client.logout()).result == "OK"

    asyncio.run(asyncio.wait_for(session(), 60))


def test_aioimaplib_flags_and_refusals(mailroom, fresh):
    uid = str(fresh.folder("INBOX")[5].uid)

    async def session() -> None:
        client = await aioimap(mailroom, fresh)
        await client.select("INBOX")
        stored = await client.uid("store", uid, "+FLAGS", "(\\Flagged)")
        assert stored.result == "OK" and b"\\Flagged" in stored.lines[0]
        deleted = await client.uid("store", uid, "+FLAGS", "(\\Deleted)")
        assert deleted.result == "OK" and b"\\Deleted" not in deleted.lines[0]
        assert (await client.expunge()).result == "OK"
        copied = await client.uid("copy", uid, "Sent")
        assert copied.result == "NO" and b"[CANNOT]" in copied.lines[-1]
        appended = await client.append(b"Subject: kept\r\n\r\nbody\r\n", mailbox="Sent")
        assert appended.result == "NO" and b"[CANNOT]" in appended.lines[-1]
        with pytest.raises(aioimaplib.Abort):
            await client.move(uid, "Sent")  # no MOVE capability: aioimaplib refuses it itself
        created = await client.create("Trash")
        assert created.result == "NO"
        still = await client.select("INBOX")
        assert f"{len(fresh.folder('INBOX'))} EXISTS".encode() in still.lines
        flags = await client.uid("fetch", uid, "(FLAGS)")
        assert flags.lines[0] == f"{int(uid)} FETCH (UID {uid} FLAGS (\\Flagged))".encode()
        await client.logout()

    asyncio.run(asyncio.wait_for(session(), 60))


def test_aioimaplib_idle_sees_new_mail(mailroom, fresh):
    async def session() -> None:
        client = await aioimap(mailroom, fresh)
        await client.select("INBOX")
        idle = await client.idle_start(timeout=20)  # returns once the server said "+ idling"
        await asyncio.get_running_loop().run_in_executor(None, deliver, fresh, LATE)
        pushed = await client.wait_server_push(timeout=15)
        assert f"{len(fresh.folder('INBOX'))} EXISTS".encode() in pushed
        client.idle_done()
        assert (await asyncio.wait_for(idle, 10)).result == "OK"
        await client.logout()

    asyncio.run(asyncio.wait_for(session(), 60))
