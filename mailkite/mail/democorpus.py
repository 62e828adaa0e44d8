"""A small, deterministic corpus of realistic mail for the demo account and the tests.

Seeded, so every run makes the same messages: transactional and personal mail in the shapes
clients meet (plain, HTML alternative, attachments, RFC 2047 and raw UTF-8 headers, a forwarded
message/rfc822, a bounce report, a message with bare LF line endings and no Message-ID).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

PEOPLE = [
    ("Ada Lovelace", "ada@analytical.example"),
    ("Grace Hopper", "grace@navy.example"),
    ("Linus Pauling", "linus@chem.example"),
    ("Zoë Müller", "zoe@beispiel.example"),
    ("Søren Kierkegaard", "soren@copenhagen.example"),
]
SERVICES = [
    ("Acme Billing", "billing@acme.example", "Your invoice {n} is ready"),
    ("Shipfast", "noreply@shipfast.example", "Order #{n} has shipped"),
    ("Status Page", "alerts@status.example", "[Resolved] Elevated error rates ({n})"),
    ("Git Forge", "notifications@forge.example", "Re: [mailkite/imapd] Pull request #{n}"),
]
TOPICS = [
    "Lunch on Thursday?",
    "Notes from the design review",
    "Café ☕ tomorrow",
    "Photos from the trip",
    "Quarterly numbers",
    "Re: the analytical engine",
    "Übermorgen: Planung",
    "Reading list",
]


def _crlf(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _base(rng: random.Random, when: datetime, sender: tuple[str, str], to: str, subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = make_msgid(idstring=str(rng.randrange(10**9)), domain=sender[1].split("@")[1])
    return message


def _personal(rng: random.Random, when: datetime, address: str, index: int) -> EmailMessage:
    sender = rng.choice(PEOPLE)
    message = _base(rng, when, sender, address, rng.choice(TOPICS))
    body = f"Hi,\n\nJust following up on item {index}. Let me know what you think.\n\n-- \n{sender[0]}\n"
    message.set_content(body)
    if index % 3 == 0:
        message.add_alternative(f"<p>Hi,</p><p>Just following up on item <b>{index}</b>.</p>", subtype="html")
    if index % 5 == 0:
        data = bytes(rng.randrange(256) for _ in range(2048))
        message.add_attachment(
            data, maintype="application", subtype="octet-stream", filename=f"data-{index}.bin"
        )
    if index % 7 == 0:
        message.add_attachment("name,total\nada,3\ngrace,5\n", subtype="csv", filename="totals.csv")
    return message


def _transactional(rng: random.Random, when: datetime, address: str, index: int) -> EmailMessage:
    name, sender, subject = rng.choice(SERVICES)
    message = _base(rng, when, (name, sender), address, subject.format(n=1000 + index))
    message.set_content(f"Reference {1000 + index}.\nView it in your account.\n")
    message.add_alternative(
        f"<html><body><h1>{name}</h1><p>Reference <code>{1000 + index}</code>.</p></body></html>",
        subtype="html",
    )
    return message


def _forwarded(rng: random.Random, when: datetime, address: str) -> EmailMessage:
    inner = _personal(rng, when - timedelta(days=2), "someone@else.example", 1)
    message = _base(rng, when, PEOPLE[0], address, "Fwd: " + str(inner["Subject"]))
    message.set_content("See the message below.\n")
    message.add_attachment(inner)
    return message


def _bounce(rng: random.Random, when: datetime, address: str) -> bytes:
    boundary = "bounce-boundary-42"
    return (
        f"From: Mail Delivery System <mailer-daemon@mx.example>\r\nTo: {address}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {format_datetime(when)}\r\n"
        f"Message-ID: <bounce-{rng.randrange(10**9)}@mx.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message could not be delivered to nobody@nowhere.example.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; nobody@nowhere.example\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {address}\r\nTo: nobody@nowhere.example\r\nSubject: Hello\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _raw_utf8_and_bare_lf(when: datetime, address: str) -> bytes:
    # No Message-ID, raw UTF-8 in headers, bare LF line endings: ingest must cope and say so.
    return (
        f"From: Zoë Müller <zoe@beispiel.example>\nTo: {address}\nSubject: Grüße aus Köln\n"
        f"Date: {format_datetime(when)}\nContent-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n\nViele Grüße, bis bald!\n"
    ).encode()


def messages(address: str, *, count: int = 36, seed: int = 7) -> Iterator[tuple[str, bytes, datetime]]:
    """(folder, raw bytes, internal date) for a demo mailbox, oldest first."""
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, 8, 30, tzinfo=timezone(timedelta(hours=2)))
    for index in range(count):
        when = start + timedelta(hours=17 * index, minutes=rng.randrange(60))
        if index % 6 == 5:
            reply = _base(
                rng, when, ("Demo User", address), rng.choice(PEOPLE)[1], "Re: " + rng.choice(TOPICS)
            )
            reply.set_content("Sounds good, see you then.\n")
            yield "Sent", _crlf(reply), when
        elif index == 10:
            yield "INBOX", _crlf(_forwarded(rng, when, address)), when
        elif index == 16:
            yield "INBOX", _bounce(rng, when, address), when
        elif index == 22:
            yield "INBOX", _raw_utf8_and_bare_lf(when, address), when
        elif index % 2:
            yield "INBOX", _crlf(_transactional(rng, when, address, index)), when
        else:
            yield "INBOX", _crlf(_personal(rng, when, address, index)), when
