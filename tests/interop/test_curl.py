"""curl's IMAP client (`imaps://`): listing folders and fetching messages by UID, byte-exact."""

from __future__ import annotations

import subprocess

import pytest

from tests.interop.conftest import Mailroom, require, run_client

pytestmark = pytest.mark.interop


def curl(mailroom: Mailroom, path: str, *extra: str) -> subprocess.CompletedProcess[bytes]:
    box = mailroom.mailbox
    return run_client(
        [
            require("curl"),
            "--silent",
            "--show-error",
            "--max-time",
            "30",
            "--cacert",
            str(mailroom.certs.ca_file),
            "--user",
            f"{box.address}:{box.password}",
            *extra,
            f"imaps://127.0.0.1:{mailroom.port}/{path}",
        ],
        timeout=60,
    )


def test_lists_both_folders(mailroom):
    result = curl(mailroom, "")
    assert result.returncode == 0, result.stderr
    lines = [line.replace(b'"', b"") for line in result.stdout.splitlines()]
    assert lines == [b"* LIST (\\HasNoChildren) / INBOX", b"* LIST (\\HasNoChildren \\Sent) / Sent"]


def test_fetches_every_message_by_uid_byte_exact(mailroom):
    for message in mailroom.mailbox.messages:
        result = curl(mailroom, f"{message.folder};UID={message.uid}")
        assert result.returncode == 0, (message.subject, result.stderr)
        assert result.stdout == message.served, message.subject


def test_fetches_a_section_and_a_partial(mailroom):
    message = next(m for m in mailroom.mailbox.messages if m.subject == "Fwd: Fwd: The bug")
    result = curl(mailroom, f"INBOX;UID={message.uid}/;SECTION=2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"From: Linus Pauling")
    assert curl(mailroom, f"INBOX;UID={message.uid}/;SECTION=2.2.1").stdout == (
        b"First actual case of bug being found."
    )
    result = curl(mailroom, f"INBOX;UID={message.uid};SECTION=HEADER.FIELDS%20(SUBJECT)")
    assert result.stdout == b"Subject: Fwd: Fwd: The bug\r\n\r\n"
    result = curl(mailroom, f"INBOX;UID={message.uid};PARTIAL=0.4")
    assert result.stdout == b"From"


def test_search_and_examine(mailroom):
    result = curl(mailroom, "INBOX?SUBJECT%20NUL")
    assert result.returncode == 0, result.stderr
    nul = next(m for m in mailroom.mailbox.messages if m.subject == "A NUL byte in the body")
    assert result.stdout.strip() == b"* SEARCH %d" % nul.uid or b" %d" % nul.uid in result.stdout
    result = curl(mailroom, "", "--request", "EXAMINE Sent")
    assert result.returncode == 0, result.stderr
    assert b"EXISTS" in result.stdout


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("CREATE Trash", b"CANNOT"),
        ("CREATE Sent", b"ALREADYEXISTS"),
        ("DELETE Sent", b"CANNOT"),
        ("RENAME Sent Old", b"CANNOT"),
    ],
)
def test_refused_commands_fail_cleanly(mailroom, command, code):
    result = curl(mailroom, "", "--verbose", "--request", command)
    assert result.returncode == 21, result.stderr  # CURLE_QUOTE_ERROR: the server said NO
    answers = [
        line for line in result.stderr.splitlines() if line.startswith(b"< A00")
    ]  # A003 is the command
    assert answers[2].split()[2:4] == [b"NO", b"[" + code + b"]"], answers
