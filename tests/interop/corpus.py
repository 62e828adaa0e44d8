"""The interop mailbox: the demo corpus plus the shapes it lacks, and what IMAP must return for each.

The demo corpus (`mailkite.mail.democorpus`) brings plain, HTML alternative, attachments, RFC 2047
and raw UTF-8 headers with bare LF, a forwarded message/rfc822 and a bounce. Added here: a 1 MiB
attachment, message/rfc822 nested three deep, a full RFC 3464 DSN returning the original, raw
UTF-8 headers with CRLF (RFC 6532), a NUL byte in a body, multipart/signed, multipart/related,
text/calendar, Latin-1 8-bit text, a long folded header, a header-only message and a message
without a final line break.

`served(raw)` is what BODY[] must be for a delivered message (DESIGN §3 and §5): bare LF becomes
CRLF, and NUL goes out as 0x80 outside BINARY. Computed independently of the server's own code.
"""

from __future__ import annotations

import base64
import random
import re
import zlib
from datetime import datetime, timedelta, timezone

from mailkite.mail import democorpus

START = datetime(2026, 11, 2, 9, 15, tzinfo=timezone(timedelta(hours=1)))
BIG_ATTACHMENT = 1 << 20


def served(raw: bytes) -> bytes:
    """BODY[] of a delivered message: bare LF -> CRLF (a lone CR stays), NUL -> 0x80."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw).replace(b"\x00", b"\x80")


def _b64(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"\r\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76)) + b"\r\n"


def _head(subject: str, when: datetime, *, sender: str = "Ada Lovelace <ada@analytical.example>") -> bytes:
    from email.utils import format_datetime

    stamp = format_datetime(when)
    return (
        f"From: {sender}\r\nTo: {{to}}\r\nSubject: {subject}\r\nDate: {stamp}\r\n"
        f"Message-ID: <{zlib.crc32((subject + stamp).encode())}.interop@analytical.example>\r\n"
    ).encode()


def big_attachment(to: str, when: datetime) -> bytes:
    data = random.Random(1).randbytes(BIG_ATTACHMENT)
    return (
        _head("The 1 MiB archive", when).replace(b"{to}", to.encode())
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="big-1"\r\n\r\n'
        b"--big-1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe archive is attached.\r\n"
        b'--big-1\r\nContent-Type: application/octet-stream; name="archive.bin"\r\n'
        b'Content-Disposition: attachment; filename="archive.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + _b64(data) + b"--big-1--\r\n"
    )


def nested_rfc822(to: str, when: datetime) -> bytes:
    innermost = (
        b"From: Grace Hopper <grace@navy.example>\r\nTo: ada@analytical.example\r\n"
        b"Subject: The bug\r\nDate: Tue, 09 Sep 1947 15:45:00 -0400\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="in-3"\r\n\r\n'
        b"--in-3\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nFirst actual case of bug being found.\r\n"
        b"--in-3\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<p>First actual case of <b>bug</b>.</p>\r\n"
        b"--in-3--\r\n"
    )
    middle = (
        b"From: Linus Pauling <linus@chem.example>\r\nTo: ada@analytical.example\r\n"
        b"Subject: Fwd: The bug\r\nDate: Wed, 01 Oct 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="mid-2"\r\n\r\n'
        b"--mid-2\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nForwarding Grace's note.\r\n"
        b"--mid-2\r\nContent-Type: message/rfc822\r\n\r\n" + innermost + b"--mid-2--\r\n"
    )
    return (
        _head("Fwd: Fwd: The bug", when).replace(b"{to}", to.encode())
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="out-1"\r\n\r\n'
        b"--out-1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nTwo levels of forwarding below.\r\n"
        b"--out-1\r\nContent-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
        + middle
        + b"--out-1--\r\n"
    )


def dsn(to: str, when: datetime) -> bytes:
    original = (
        f"From: {to}\r\nTo: nobody@nowhere.example\r\nSubject: Quarterly numbers\r\n"
        "Date: Sun, 01 Nov 2026 12:00:00 +0100\r\nMessage-ID: <q3@mailkite.example>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="orig-1"\r\n\r\n'
        "--orig-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        "Numbers attached =E2=80=94 see the CSV.\r\n"
        '--orig-1\r\nContent-Type: text/csv; name="q3.csv"\r\nContent-Disposition: attachment; filename="q3.csv"\r\n\r\n'
        "quarter,total\r\nq3,42\r\n--orig-1--\r\n"
    )
    return (
        _head("Delivery Status Notification (Failure)", when, sender="MAILER-DAEMON@mx.example")
        .replace(b"{to}", to.encode())
        .replace(b"Subject:", b"Auto-Submitted: auto-replied\r\nSubject:")
        + b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="dsn-1"\r\n\r\n'
        b"This is a MIME-encapsulated message.\r\n\r\n"
        b"--dsn-1\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Description: Notification\r\n\r\n"
        b"Delivery to nobody@nowhere.example failed permanently.\r\n\r\n"
        b"--dsn-1\r\nContent-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n"
        b"Reporting-MTA: dns; mx.example\r\nX-Postfix-Queue-ID: 4ABC123\r\n"
        b"Arrival-Date: Sun,  1 Nov 2026 12:00:01 +0100 (CET)\r\n\r\n"
        b"Final-Recipient: rfc822; nobody@nowhere.example\r\nOriginal-Recipient: rfc822;nobody@nowhere.example\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.nowhere.example\r\n"
        b"Diagnostic-Code: smtp; 550 5.1.1 <nobody@nowhere.example>: Recipient address\r\n"
        b"    rejected: User unknown in virtual mailbox table\r\n\r\n"
        b"--dsn-1\r\nContent-Type: message/rfc822\r\nContent-Description: Undelivered Message\r\n\r\n"
        + original.encode()
        + b"\r\n--dsn-1--\r\n"
    )


def utf8_headers(to: str, when: datetime) -> bytes:
    # RFC 6532: raw UTF-8 in address phrases, the subject and a filename parameter; CRLF throughout.
    return (
        _head("Grüße — 東京からの写真 📷", when, sender="Zoë Müller <zoe@beispiel.example>").replace(
            b"{to}", f"Søren Kierkegaard <{to}>".encode()
        )
        + (
            "Cc: Ελένη <eleni@athens.example>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="u8-1"\r\n\r\n'
            "--u8-1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "Liebe Grüße aus Tōkyō — 写真を添付します。\r\n"
            '--u8-1\r\nContent-Type: image/jpeg; name="写真.jpg"\r\n'
            'Content-Disposition: attachment; filename="写真.jpg"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAP//////////////////////////////////////////\r\n"
            "--u8-1--\r\n"
        ).encode()
    )


def nul_in_body(to: str, when: datetime) -> bytes:
    return (
        _head("A NUL byte in the body", when).replace(b"{to}", to.encode())
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Before the NUL:\x00:after it.\r\nAnd a second line.\r\n"
    )


def signed(to: str, when: datetime) -> bytes:
    return (
        _head("Signed release notes", when).replace(b"{to}", to.encode()) + b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; micalg=pgp-sha256; protocol="application/pgp-signature";\r\n'
        b' boundary="sig-1"\r\n\r\n'
        b"--sig-1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nRelease 1.2 is out.\r\n"
        b'--sig-1\r\nContent-Type: application/pgp-signature; name="signature.asc"\r\n'
        b"Content-Description: OpenPGP digital signature\r\n\r\n"
        b"-----BEGIN PGP SIGNATURE-----\r\n\r\niHUEARYIAB0WIQTexample\r\n=abcd\r\n-----END PGP SIGNATURE-----\r\n"
        b"--sig-1--\r\n"
    )


def related(to: str, when: datetime) -> bytes:
    pixel = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6300010000050001"
        "0d0a2db40000000049454e44ae426082"
    )
    return (
        _head("Newsletter with an inline logo", when, sender="News <news@letter.example>").replace(
            b"{to}", to.encode()
        )
        + b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="alt-1"\r\n\r\n'
        b"--alt-1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nOur logo, in words.\r\n"
        b'--alt-1\r\nContent-Type: multipart/related; type="text/html"; boundary="rel-2"\r\n\r\n'
        b'--rel-2\r\nContent-Type: text/html; charset=us-ascii\r\n\r\n<img src="cid:logo@letter">\r\n'
        b"--rel-2\r\nContent-Type: image/png\r\nContent-ID: <logo@letter>\r\n"
        b"Content-Disposition: inline\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + _b64(pixel)
        + b"--rel-2--\r\n\r\n--alt-1--\r\n"
    )


def calendar(to: str, when: datetime) -> bytes:
    return (
        _head("Invitation: design review", when, sender="Grace Hopper <grace@navy.example>").replace(
            b"{to}", to.encode()
        )
        + b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="cal-1"\r\n\r\n'
        b"--cal-1\r\nContent-Type: text/calendar; charset=utf-8; method=REQUEST\r\n\r\n"
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\n"
        b"UID:review-1@navy.example\r\nDTSTART:20261105T140000Z\r\nSUMMARY:Design review\r\n"
        b"END:VEVENT\r\nEND:VCALENDAR\r\n"
        b'--cal-1\r\nContent-Type: application/ics; name="invite.ics"\r\n'
        b'Content-Disposition: attachment; filename="invite.ics"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + _b64(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")
        + b"--cal-1--\r\n"
    )


def latin1(to: str, when: datetime) -> bytes:
    return (
        _head("=?ISO-8859-1?Q?R=E9sum=E9_attached?=", when).replace(b"{to}", to.encode())
        + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n" + "Voilà mon résumé, à bientôt.\r\n".encode("latin-1")
    )


def long_header(to: str, when: datetime) -> bytes:
    references = "\r\n ".join(f"<thread-{n}@forge.example>" for n in range(60))
    long_line = " ".join(f"word{n}" for n in range(200))  # a 1,389-octet body line, over 998
    return (
        _head("Re: [mailkite/imapd] A very long thread", when).replace(b"{to}", to.encode())
        + (
            f"References: {references}\r\n"
            "X-Folded:\tvalue folded\r\n\twith a tab\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
            f"{long_line}\r\n"
        ).encode()
    )


def header_only(to: str, when: datetime) -> bytes:
    # No empty line and no body at all: legal RFC 5322, and TEXT is empty.
    return _head("Only headers, no body", when).replace(b"{to}", to.encode())


def no_final_newline(to: str, when: datetime) -> bytes:
    return (
        _head("No line break at the end", when).replace(b"{to}", to.encode())
        + b"\r\nThe last line has no CRLF."
    )


EXTRAS = (
    big_attachment,
    nested_rfc822,
    dsn,
    utf8_headers,
    nul_in_body,
    signed,
    related,
    calendar,
    latin1,
    long_header,
    header_only,
    no_final_newline,
)


def messages(address: str) -> list[tuple[str, bytes, datetime]]:
    """(folder, raw bytes as delivered, internal date), in delivery order."""
    result = list(democorpus.messages(address, count=36))
    for index, make in enumerate(EXTRAS):
        result.append(
            ("INBOX", make(address, START + timedelta(hours=index)), START + timedelta(hours=index))
        )
    return result
