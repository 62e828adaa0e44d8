"""Golden transcripts (tests/imapd/golden/*.txt) replayed byte-exact over real TLS against the
real database. `C:` lines are sent, `S:` lines must come back exactly, in order; `#` lines are
comments. Placeholders stand for what differs between runs: {PASSWORD} (the app-password) and
{UIDVALIDITY} (both folders of a mailbox get the same one at creation). Internal dates are fixed
by delivering the messages with a fixed arrival time.

To write a new transcript, put its `C:` lines in a file and run this module with
GOLDEN_RECORD=1: the server's answers are filled in as `S:` lines. Read them before committing:
the recorded bytes become the contract.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailkite.mail import ingest
from mailkite.mail.models import Folder
from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)
GOLDEN = Path(__file__).parent / "golden"
WHEN = datetime(2026, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=1)))
MESSAGES = [
    (
        "INBOX",
        b"From: Ada <ada@example.org>\r\nTo: you@example.com\r\nSubject: Plan\r\n"
        b"Date: Sun, 1 Mar 2026 09:00:00 +0100\r\nMessage-ID: <plan@example.org>\r\n\r\nShall we?\r\n",
    ),
    (
        "INBOX",
        b"From: Bob <bob@example.org>\r\nTo: you@example.com\r\nSubject: Re: Plan\r\n"
        b"Date: Sun, 1 Mar 2026 10:00:00 +0100\r\nMessage-ID: <re-plan@example.org>\r\n"
        b"References: <plan@example.org>\r\n\r\nYes.\r\n",
    ),
    (
        "INBOX",
        b"From: Cy <cy@example.org>\r\nTo: you@example.com\r\nSubject: Invoice\r\n"
        b"Date: Sat, 28 Feb 2026 18:00:00 +0000\r\nMessage-ID: <invoice@example.org>\r\n\r\nPay me.\r\n",
    ),
    (
        "Sent",
        b"From: You <you@example.com>\r\nTo: ada@example.org\r\nSubject: Re: Plan\r\n"
        b"Date: Sun, 1 Mar 2026 11:00:00 +0100\r\nMessage-ID: <mine@example.com>\r\n\r\nSure.\r\n",
    ),
]


def placeholders(account) -> dict[str, str]:
    (uidvalidity,) = set(Folder.objects.filter(mailbox=account.mailbox).values_list("uidvalidity", flat=True))
    return {"{PASSWORD}": account.password, "{UIDVALIDITY}": str(uidvalidity)}


def fill(line: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        line = line.replace(name, value)
    return line


def hide(line: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        line = line.replace(value, name)
    return line


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.txt")), ids=lambda p: p.stem)
def test_golden_transcript(path, connect, account):
    for index, (folder, raw) in enumerate(MESSAGES):
        ingest.store(
            mailbox=account.mailbox, raw=raw, folder=folder, internal_date=WHEN + timedelta(minutes=index)
        )
    values = placeholders(account)
    wire = Wire(connect())
    expected_greeting = wire.client.welcome.decode()
    recording = os.environ.get("GOLDEN_RECORD") == "1"
    out: list[str] = []
    pending: list[str] = []  # the rest of a response whose literal spans several lines
    position = 0
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            out.append(line)
            continue
        if line in ("S:", "S: "):
            line = "S: "  # an empty line inside a literal (an editor may strip the space)
        if line.startswith("S: ") and not recording:
            if position == 0:
                assert line[3:] == expected_greeting, "the greeting"
                continue
            if not pending:
                pending = wire.response().decode("utf-8", "replace").split("\r\n")
            assert pending.pop(0) == fill(line[3:], values), (path.name, line)
            continue
        if line.startswith("S: "):
            continue  # recorded afresh below
        assert line.startswith("C: "), line
        assert not pending, (path.name, "the server said more than the transcript", pending)
        if position == 0 and recording:
            out.append("S: " + expected_greeting)
        position += 1
        out.append(line)
        command = fill(line[3:], values)
        wire.send(command)
        if recording:
            tag = command.split(" ", 1)[0].encode()
            while True:
                reply = wire.response()
                out.extend(
                    "S: " + hide(piece, values) for piece in reply.decode("utf-8", "replace").split("\r\n")
                )
                if reply.startswith(tag + b" "):
                    break
    assert not pending, (path.name, "the server said more than the transcript", pending)
    if recording:
        path.write_text("\n".join(out) + "\n")
