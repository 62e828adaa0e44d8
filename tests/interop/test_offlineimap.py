"""offlineimap3 mirroring INBOX and Sent into a Maildir, with the read-only configuration
IMAP-NOTES 27 recommends (`readonly = True` on the IMAP repository: it never writes there).

offlineimap3 does not store the bytes it fetched: it parses each message with Python's `email`
package (policy.default, 8-bit, CRLF) and writes `as_bytes()` with LF line endings
(offlineimap/folder/Base.py and IMAP.py), which refolds some headers. So the expected file is
BODY[] put through that same parse-and-generate, in the interpreter offlineimap runs on. Pulling
from IMAP it adds no header of its own (`X-OfflineIMAP` only goes into uploads to servers without
UIDPLUS). Its Maildir file names carry the server's UID (`,U=n,`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import Mailroom, require, reserialised, run_client

pytestmark = pytest.mark.interop


AS_OFFLINEIMAP_WRITES = """
from email import policy
from email.parser import BytesParser
fetched = policy.default.clone(cte_type="8bit", utf8=True, refold_source="none", linesep="\\r\\n")
stored = policy.default.clone(cte_type="8bit", utf8=True, refold_source="none")
out = BytesParser(policy=fetched).parsebytes(data).as_bytes(policy=stored)
"""


def configure(tmp: Path, mailroom: Mailroom) -> Path:
    box = mailroom.mailbox
    rc = tmp / "offlineimaprc"
    rc.write_text(
        f"[general]\naccounts = mailkite\nmetadata = {tmp}/metadata\n\n"
        "[Account mailkite]\nlocalrepository = near\nremoterepository = far\n\n"
        f"[Repository near]\ntype = Maildir\nlocalfolders = {tmp}/mail\n\n"
        f"[Repository far]\ntype = IMAP\nremotehost = localhost\nremoteport = {mailroom.port}\n"
        f"ssl = yes\nsslcacertfile = {mailroom.certs.ca_file}\n"
        f"remoteuser = {box.address}\nremotepass = {box.password}\nreadonly = True\n"
    )
    (tmp / "mail").mkdir()
    return rc


def offlineimap(rc: Path) -> subprocess.CompletedProcess[str]:
    return run_client(
        [require("offlineimap"), "-c", str(rc), "-o", "-u", "basic"],
        text=True,
        timeout=120,
    )


def maildir(tmp: Path, folder: str) -> dict[int, Path]:
    return {
        int(match.group(1)): path
        for path in (tmp / "mail" / folder).glob("*/*")
        if (match := re.search(r",U=(\d+),", path.name))
    }


@pytest.fixture(scope="module")
def mirrored(mailroom, tmp_path_factory):
    require("offlineimap")
    tmp = tmp_path_factory.mktemp("offlineimap")
    rc = configure(tmp, mailroom)
    result = offlineimap(rc)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    return tmp, rc, result


def test_mirrors_everything_byte_exact(mirrored, mailroom):
    tmp, _, result = mirrored
    assert "ERROR" not in result.stdout + result.stderr
    for name in ("INBOX", "Sent"):
        local = maildir(tmp, name)
        assert sorted(local) == [m.uid for m in mailroom.mailbox.folder(name)]
        messages = mailroom.mailbox.folder(name)
        expected = reserialised("offlineimap", AS_OFFLINEIMAP_WRITES, [m.served for m in messages])
        for message, want in zip(messages, expected, strict=True):
            assert local[message.uid].read_bytes() == want, message.subject


def test_leaves_the_server_as_it_was(mirrored, mailroom):
    client = mailroom.imaplib()
    for name in ("INBOX", "Sent"):
        client.select(name)
        assert client.search(None, "SEEN") == ("OK", [b""]), name
    client.logout()


def test_a_second_run_copies_nothing(mirrored):
    tmp, rc, _ = mirrored
    before = {path: path.read_bytes() for path in (tmp / "mail").rglob("*") if path.is_file()}
    result = offlineimap(rc)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Copy message" not in result.stdout and "ERROR" not in result.stdout + result.stderr
    assert {path: path.read_bytes() for path in (tmp / "mail").rglob("*") if path.is_file()} == before
