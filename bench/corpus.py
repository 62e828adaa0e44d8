# ruff: noqa: E501
"""A seeded, deterministic corpus of realistic mail, written as one Maildir++ tree.

    python bench/corpus.py OUT --messages 10000 [--seed 1] [--attachment-share 0.005]

OUT/Maildir/cur holds INBOX (85%), OUT/Maildir/.Sent/cur holds Sent (15%); both servers load the
same files: `manage.py import_mail` reads each Maildir, Dovecot serves a hard-linked copy. Each
folder also gets a dovecot-uidlist so Dovecot numbers the messages exactly as import_mail does
(Maildir key order = delivery time order), so "UID n" is the same message on both servers.
File names carry S= (size) and W= (size with CRLF line ends), as Dovecot's own deliveries do, and
the file time is the message's internal date. OUT/manifest.json records counts, bytes, the shapes
used and the parameters, so a run can say what it measured.

Shapes (every one the issue lists): plain, multipart/alternative, multipart/related (inline image),
multipart/mixed with small attachments, multipart/mixed with a 1-5 MB attachment (a configurable
share of messages: they dominate disk and time), forwarded message/rfc822 (nested), DSN
(multipart/report), PGP/MIME (multipart/encrypted), RFC 2047 encoded headers, raw UTF-8 headers,
malformed headers (no Date, unparseable Date, unbalanced quotes and brackets, a header line without
a colon, bare LF line ends, no Message-ID).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import random
import shutil
import signal
import time
from datetime import UTC, datetime, timedelta
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

USER = "reader@bench.mailkite.test"
START = datetime(2024, 1, 1, 6, 0, tzinfo=UTC)
SPAN = timedelta(days=730)
UIDVALIDITY = 1700000000

WORDS = (  # noqa: SIM905
    "account action agenda alpha analysis answer april archive august backup balance batch billing "
    "branch budget build calendar campaign cancel capacity change checkout client cluster commit "
    "compliance config contract credit customer dashboard database deadline december delivery deploy "
    "design detail draft engine estimate event export feature february feedback finance forecast "
    "friday gateway growth hardware holiday import incident invoice january july june kernel ledger "
    "license limit lunch march market meeting memory merge metric migration monday monitor network "
    "notice november october office order outage partner payment pipeline planning policy portal "
    "premium pricing priority project quarter query quota receipt refund region release renewal "
    "report request review roadmap router sales schedule security september server service session "
    "shipment signup sprint staging status storage summary support survey ticket timeline transfer "
    "travel trial tuesday update upgrade usage vendor version wallet warehouse webhook wednesday "
    "weekly welcome window workflow"
).split()
# Rare words planted in bodies at known rates, so SEARCH BODY/TEXT has selective and broad terms.
NEEDLES = {"zanzibar": 0.002, "quokka": 0.02, "marmalade": 0.10}
PEOPLE = [
    ("Ada Lovelace", "ada@analytical.example"),
    ("Grace Hopper", "grace@navy.example"),
    ("Linus Pauling", "linus@chem.example"),
    ("Zoë Müller", "zoe@beispiel.example"),
    ("Søren Kierkegaard", "soren@copenhagen.example"),
    ("李小龍", "bruce@kungfu.example"),
    ("José Álvarez", "jose@ejemplo.example"),
    ("Margaret Hamilton", "margaret@apollo.example"),
]
SERVICES = [
    ("Acme Billing", "billing@acme.example", "Your invoice {n} is ready"),
    ("Shipfast", "noreply@shipfast.example", "Order #{n} has shipped"),
    ("Status Page", "alerts@status.example", "[Resolved] Elevated error rates ({n})"),
    ("Git Forge", "notifications@forge.example", "Re: [mailkite/imapd] Pull request #{n}"),
    ("Cloud Bank", "statements@bank.example", "Statement {n} available"),
]
TOPICS = [
    "Lunch on Thursday?", "Notes from the design review", "Café ☕ tomorrow", "Photos from the trip",
    "Quarterly numbers", "Re: the analytical engine", "Übermorgen: Planung", "Reading list",
    "Contract renewal", "Offsite agenda",
]  # fmt: skip

# Weights of the shapes (the big attachment share is given separately).
SHAPES = [
    ("plain", 24),
    ("alternative", 30),
    ("related", 7),
    ("mixed_small", 11),
    ("forward_rfc822", 5),
    ("dsn", 3),
    ("pgp_mime", 3),
    ("rfc2047", 8),
    ("raw_utf8", 4),
    ("malformed", 5),
]


def _crlf(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def _text(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    for needle, rate in NEEDLES.items():
        if rng.random() < rate:
            words.insert(rng.randrange(len(words) + 1), needle)
    lines, line = [], []
    for word in words:
        line.append(word)
        if len(line) >= 12:
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    if line:
        lines.append(" ".join(line).capitalize() + ".")
    return "\n".join(lines) + "\n"


def _base(
    rng: random.Random, when: datetime, sender: tuple[str, str], to: str, subject: str, n: int
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"{sender[0]} <{sender[1]}>"
    message["To"] = to
    if rng.random() < 0.2:
        message["Cc"] = ", ".join(f"{p[0]} <{p[1]}>" for p in rng.sample(PEOPLE, 2))
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = f"<{n}.{rng.randrange(10**12)}@{sender[1].split('@')[1]}>"
    message["Received"] = f"from mx.example by mx.mailkite.test; {format_datetime(when)}"
    return message


def _sender_subject(rng: random.Random, n: int, sent: bool) -> tuple[tuple[str, str], str, str]:
    if sent:
        return ("Bench Reader", USER), rng.choice(PEOPLE)[1], "Re: " + rng.choice(TOPICS)
    if rng.random() < 0.5:
        name, address, subject = rng.choice(SERVICES)
        return (name, address), USER, subject.format(n=100000 + n)
    return rng.choice(PEOPLE), USER, rng.choice(TOPICS)


def _build(rng: random.Random, n: int, when: datetime, shape: str, sent: bool, big: bool) -> bytes:
    sender, to, subject = _sender_subject(rng, n, sent)
    if shape == "dsn" and not sent:
        return _dsn(rng, n, when)
    if shape == "malformed":
        return _malformed(rng, n, when, sender, subject)
    if shape == "raw_utf8":
        return _raw_utf8(rng, n, when, sender, subject)
    message = _base(rng, when, sender, to, subject, n)
    body = _text(rng, 40, 400)
    if shape == "rfc2047":
        del message["Subject"]
        del message["From"]
        message["Subject"] = Header(subject + " — résumé", "utf-8").encode(maxlinelen=998)
        message["From"] = f"{Header(sender[0], 'utf-8').encode(maxlinelen=998)} <{sender[1]}>"
    if shape in ("plain", "rfc2047"):
        message.set_content(body)
    elif shape == "alternative":
        message.set_content(body)
        message.add_alternative(
            f"<html><body><p>{body.replace(chr(10), '<br>')}</p></body></html>", subtype="html"
        )
    elif shape == "related":
        message.set_content(body)
        message.add_alternative(
            f'<html><body><img src="cid:logo{n}@bench"><p>{body}</p></body></html>', subtype="html"
        )
        html = message.get_payload()[1]
        html.add_related(rng.randbytes(rng.randint(2000, 20000)), "image", "png", cid=f"<logo{n}@bench>")
    elif shape == "mixed_small":
        message.set_content(body)
        message.add_attachment(
            rng.randbytes(rng.randint(5000, 150000)),
            maintype="application",
            subtype="pdf",
            filename=f"document-{n}.pdf",
        )
        if rng.random() < 0.3:
            message.add_attachment("name,total\nada,3\ngrace,5\n", subtype="csv", filename="totals.csv")
    elif shape == "forward_rfc822":
        inner = _base(
            rng, when - timedelta(days=3), rng.choice(PEOPLE), "someone@else.example", rng.choice(TOPICS), n
        )
        inner.set_content(_text(rng, 30, 200))
        if rng.random() < 0.5:
            inner.add_alternative("<p>forwarded html</p>", subtype="html")
        message.set_content("See the message below.\n" + _text(rng, 5, 30))
        message.add_attachment(inner)
    elif shape == "pgp_mime":
        return _pgp(rng, n, when, sender, to, subject)
    else:  # dsn in Sent: plain
        message.set_content(body)
    if big:
        size = rng.randint(1_000_000, 5_000_000)
        message.add_attachment(
            rng.randbytes(size), maintype="application", subtype="zip", filename=f"archive-{n}.zip"
        )
    return _crlf(message)


def _dsn(rng: random.Random, n: int, when: datetime) -> bytes:
    boundary = f"dsn-{n}-{rng.randrange(10**6)}"
    return (
        f"From: Mail Delivery System <mailer-daemon@mx.example>\r\nTo: {USER}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nDate: {format_datetime(when)}\r\n"
        f"Message-ID: <dsn-{n}@mx.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "Your message could not be delivered to nobody@nowhere.example.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; nobody@nowhere.example\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {USER}\r\nTo: nobody@nowhere.example\r\nSubject: Hello {n}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _pgp(rng: random.Random, n: int, when: datetime, sender: tuple[str, str], to: str, subject: str) -> bytes:
    boundary = f"pgp-{n}-{rng.randrange(10**6)}"
    armour = base64.encodebytes(rng.randbytes(rng.randint(800, 6000))).decode().replace("\n", "\r\n")
    return (
        f"From: {sender[0]} <{sender[1]}>\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: {format_datetime(when)}\r\nMessage-ID: <pgp-{n}@bench.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"; boundary="{boundary}"\r\n\r\n'
        "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n"
        f"--{boundary}\r\nContent-Type: application/pgp-encrypted\r\nContent-Description: PGP/MIME version identification\r\n\r\n"
        "Version: 1\r\n\r\n"
        f'--{boundary}\r\nContent-Type: application/octet-stream; name="encrypted.asc"\r\n'
        'Content-Disposition: inline; filename="encrypted.asc"\r\n\r\n'
        f"-----BEGIN PGP MESSAGE-----\r\n\r\n{armour}-----END PGP MESSAGE-----\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def _raw_utf8(rng: random.Random, n: int, when: datetime, sender: tuple[str, str], subject: str) -> bytes:
    return (
        f"From: {sender[0]} <{sender[1]}>\r\nTo: Bench Reader <{USER}>\r\nSubject: Grüße: {subject}\r\n"
        f"Date: {format_datetime(when)}\r\nMessage-ID: <utf8-{n}@beispiel.example>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        f"Viele Grüße aus Köln, ½ € für alles.\r\n{_text(rng, 20, 200).replace(chr(10), chr(13) + chr(10))}"
    ).encode()


def _malformed(rng: random.Random, n: int, when: datetime, sender: tuple[str, str], subject: str) -> bytes:
    kind = n % 5
    body = _text(rng, 20, 150)
    if kind == 0:  # no Date, no Message-ID, bare LF line ends
        return (f"From: {sender[1]}\nTo: {USER}\nSubject: {subject}\n\n{body}").encode()
    if kind == 1:  # unparseable Date, unbalanced quote in From
        return (
            (
                f'From: "Broken Quote <{sender[1]}>\r\nTo: {USER}\r\nSubject: {subject}\r\n'
                f"Date: Someday in {when.year}\r\nMessage-ID: <bad-{n}@x\r\n\r\n{body}"
            )
            .replace("\n", "\r\n")
            .replace("\r\r\n", "\r\n")
            .encode()
        )
    if kind == 2:  # a header line without a colon, a very long folded Subject
        folded = "\r\n ".join([subject] + [rng.choice(WORDS) * 3 for _ in range(30)])
        return (
            (
                f"From: {sender[0]} <{sender[1]}>\r\nTo: {USER}\r\nThis line has no colon\r\n"
                f"Subject: {folded}\r\nDate: {format_datetime(when)}\r\n\r\n{body}"
            )
            .replace("\n", "\r\n")
            .replace("\r\r\n", "\r\n")
            .encode()
        )
    if kind == 3:  # Latin-1 bytes in a header without any encoding, empty To
        return (
            (
                f"From: Fran\xe7ois <{sender[1]}>\r\nTo:\r\nSubject: {subject} caf\xe9\r\n"
                f"Date: {format_datetime(when)}\r\n\r\n{body}"
            )
            .replace("\n", "\r\n")
            .replace("\r\r\n", "\r\n")
            .encode("latin-1", "replace")
        )
    boundary = f"never-closed-{n}"  # multipart whose closing boundary never comes
    return (
        (
            f"From: {sender[0]} <{sender[1]}>\r\nTo: {USER}\r\nSubject: {subject}\r\nDate: {format_datetime(when)}\r\n"
            f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n{body}"
        )
        .replace("\n", "\r\n")
        .replace("\r\r\n", "\r\n")
        .encode("utf-8")
    )


def plan(messages: int, seed: int, attachment_share: float) -> list[tuple[int, str, str, bool]]:
    """(index, folder, shape, big attachment) for every message, decided up front from the seed."""
    rng = random.Random(seed)
    names = [s for s, _ in SHAPES]
    weights = [w for _, w in SHAPES]
    out = []
    big_every = round(1 / attachment_share) if attachment_share > 0 else 0
    for n in range(messages):
        folder = "Sent" if rng.random() < 0.15 else "INBOX"
        shape = rng.choices(names, weights)[0]
        big = (
            bool(big_every)
            and n % big_every == big_every // 2
            and shape not in ("dsn", "pgp_mime", "malformed", "raw_utf8")
        )
        out.append((n, folder, shape, big))
    return out


def when_of(n: int, messages: int) -> datetime:
    return START + SPAN * (n / max(1, messages)) + timedelta(seconds=(n * 7919) % 3600)


def _work(
    args: tuple[Path, int, int, list[tuple[int, str, str, bool]]],
) -> list[tuple[int, str, str, int, int]]:
    root, seed, messages, items = args
    done = []
    for n, folder, shape, big in items:
        rng = random.Random(seed * 1_000_003 + n)
        random.seed(seed * 1_000_003 + n)  # the email package draws MIME boundaries from the global generator
        when = when_of(n, messages)
        raw = _build(rng, n, when, shape, folder == "Sent", big)
        size = len(raw)
        vsize = size + raw.count(b"\n") - raw.count(b"\r\n")
        stamp = int(when.timestamp())
        base = f"{stamp}.M{n:07d}P0.bench,S={size},W={vsize}"
        directory = root / "Maildir" / ("cur" if folder == "INBOX" else ".Sent/cur")
        path = directory / f"{base}:2,"
        path.write_bytes(raw)
        os.utime(path, (stamp, stamp))
        done.append((n, folder, base, size, stamp))
    return done


def generate(out: Path, messages: int, seed: int, attachment_share: float, jobs: int = 0) -> dict:
    manifest_path = out / "manifest.json"
    wanted = {"messages": messages, "seed": seed, "attachment_share": attachment_share, "version": 4}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if {k: manifest.get(k) for k in wanted} == wanted:
            return manifest
    if out.exists():
        shutil.rmtree(out)
    for sub in ("cur", "new", "tmp", ".Sent/cur", ".Sent/new", ".Sent/tmp"):
        (out / "Maildir" / sub).mkdir(parents=True)
    started = time.monotonic()
    items = plan(messages, seed, attachment_share)
    jobs = jobs or os.cpu_count() or 1
    chunks = [(out, seed, messages, items[i :: jobs * 8]) for i in range(jobs * 8)]
    pool = multiprocessing.get_context("fork").Pool(
        jobs, initializer=signal.signal, initargs=(signal.SIGTERM, signal.SIG_DFL)
    )
    try:
        done = sorted(row for part in pool.map(_work, chunks) for row in part)
        pool.close()
    finally:
        pool.terminate()
        pool.join()
    folders: dict[str, dict] = {}
    for folder, sub in (("INBOX", ""), ("Sent", ".Sent")):
        rows = [r for r in done if r[1] == folder]
        # Dovecot numbers messages from this list; import_mail sorts the Maildir keys, which start
        # with the delivery time: the same order, so UID n is the same message on both servers.
        rows.sort(key=lambda r: r[2])
        lines = [f"3 V{UIDVALIDITY} N{len(rows) + 1}"] + [f"{uid} :{r[2]}" for uid, r in enumerate(rows, 1)]
        (out / "Maildir" / sub / "dovecot-uidlist").write_text("\n".join(lines) + "\n")
        folders[folder] = {
            "messages": len(rows),
            "bytes": sum(r[3] for r in rows),
            "first_date": rows[0][4] if rows else None,
            "last_date": rows[-1][4] if rows else None,
        }
    shapes: dict[str, int] = {}
    for _, _, shape, _big in items:
        shapes[shape] = shapes.get(shape, 0) + 1
    manifest = {
        **wanted,
        "folders": folders,
        "shapes": shapes,
        "big_attachments": sum(1 for i in items if i[3]),
        "bytes": sum(r[3] for r in done),
        "needles": NEEDLES,
        "user": USER,
        "seconds": round(time.monotonic() - started, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--attachment-share",
        type=float,
        default=0.005,
        help="share of messages carrying a 1-5 MB attachment (default 0.005 = 0.5%%)",
    )
    args = parser.parse_args()
    manifest = generate(args.out, args.messages, args.seed, args.attachment_share)
    print(json.dumps(manifest, indent=2))


if __name__ == "__main__":
    main()
