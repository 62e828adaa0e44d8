"""getmail6 retrieving INBOX and Sent over IMAPS with `delete = false`, to an external MDA.

getmail does not store the bytes it fetched: it parses each message with Python's `email`
package and writes `message.as_bytes()` with LF line endings (getmailcore/message.py,
`Message.flatten`), which refolds some headers. So the expected file is BODY[] put through that
same parse-and-generate, in the interpreter getmail runs on, with the
`X-getmail-retrieved-from-mailbox` field it adds (`record_mailbox`); the `Return-Path`,
`Delivered-To` and `Received` fields it prepends (`delivered_to`, `received` options, documented in
its configuration reference) are stripped before comparing. Its Maildir destination refuses to run as root, so the
destination is `MDA_external` with `allow_root_commands` (CI runs as root).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import Mailroom, assert_same_messages, require, reserialised, run_client, unwrap

pytestmark = pytest.mark.interop


AS_GETMAIL_WRITES = """
import email.parser
folder, _, raw = data.partition(b"\\0")
message = email.parser.BytesParser().parsebytes(raw)
message.add_header("X-getmail-retrieved-from-mailbox", folder.decode())
out = message.as_bytes(policy=message.policy.clone(linesep="\\n"))
"""


def configure(tmp: Path, mailroom: Mailroom) -> tuple[Path, Path]:
    out = tmp / "delivered"
    out.mkdir()
    (tmp / "state").mkdir()
    mda = tmp / "deliver.sh"
    mda.write_text(f'#!/bin/sh\nexec cat > "$(mktemp {out}/msg.XXXXXX)"\n')
    mda.chmod(0o755)
    box = mailroom.mailbox
    rc = tmp / "getmailrc"
    rc.write_text(
        "[retriever]\ntype = SimpleIMAPSSLRetriever\nserver = localhost\n"
        f"port = {mailroom.port}\nusername = {box.address}\npassword = {box.password}\n"
        f'mailboxes = ("INBOX", "Sent")\nca_certs = {mailroom.certs.ca_file}\n\n'
        f"[destination]\ntype = MDA_external\npath = {mda}\nallow_root_commands = true\n\n"
        "[options]\nread_all = false\ndelete = false\nverbose = 1\n"
    )
    return rc, out


def getmail(tmp: Path, rc: Path) -> subprocess.CompletedProcess[str]:
    return run_client(
        [require("getmail"), "--getmaildir", str(tmp / "state"), "--rcfile", str(rc)],
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def retrieved(mailroom, tmp_path_factory):
    require("getmail")
    tmp = tmp_path_factory.mktemp("getmail")
    rc, out = configure(tmp, mailroom)
    result = getmail(tmp, rc)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return tmp, rc, out


def test_retrieves_everything_byte_exact(retrieved, mailroom):
    _, _, out = retrieved
    got = [
        unwrap(path.read_bytes(), prepended=("Return-Path", "Delivered-To", "Received"))
        for path in out.iterdir()
    ]
    messages = mailroom.mailbox.messages
    expected = reserialised(
        "getmail", AS_GETMAIL_WRITES, [m.folder.encode() + b"\0" + m.served for m in messages]
    )
    assert_same_messages(got, messages, expected)


def test_leaves_the_server_as_it_was(retrieved, mailroom):
    client = mailroom.imaplib()
    for name in ("INBOX", "Sent"):
        _, count = client.select(name)
        assert int(count[0]) == len(mailroom.mailbox.folder(name))
        assert client.search(None, "SEEN") == ("OK", [b""]), name  # it fetches with BODY.PEEK
    client.logout()


def test_a_second_run_retrieves_nothing(retrieved):
    tmp, rc, out = retrieved
    count = len(list(out.iterdir()))
    result = getmail(tmp, rc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 messages" in result.stdout and "error" not in result.stdout.lower() + result.stderr.lower()
    assert len(list(out.iterdir())) == count
