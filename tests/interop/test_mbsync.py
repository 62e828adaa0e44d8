"""mbsync (isync) pulling INBOX and Sent into a Maildir, with the read-only-friendly configuration
IMAP-NOTES 27 recommends (`Sync Pull PushFlags`, nothing created or expunged on the server), and
with its default `Sync All`.

mbsync stores messages with LF line endings (its Maildir driver is not CRLF-native) and adds an
`X-TUID:` line at the end of the header (its temporary id for finding a message it stored), so the
expected bytes are BODY[] with CRLF turned into LF and that one line taken out again. It refuses a message whose header has no
terminating empty line ("incomplete header; skipping"), which the corpus's header-only message
is: that one is expected to be skipped, with that warning.

mbsync checks the certificate's DNS names only, not IP addresses, so it connects to `localhost`.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.interop.conftest import Mailbox, Mailroom, require, run_client

pytestmark = pytest.mark.interop

READ_ONLY_FRIENDLY = "Create Near\nExpunge None\nRemove None\nSync Pull PushFlags\n"
DEFAULTS = "Create Both\nExpunge Both\nSync All\n"
HEADER_ONLY = "Only headers, no body"


@dataclass
class Mbsync:
    root: Path
    config: Path

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return run_client(
            [require("mbsync"), "--config", str(self.config), *extra, "--all"],
            text=True,
            timeout=120,
        )

    def sync(self) -> subprocess.CompletedProcess[str]:
        result = self.run()
        assert result.returncode == 0, result.stdout + result.stderr
        return result

    def folder(self, name: str) -> dict[int, tuple[Path, str]]:
        """Far-side UID -> (file, Maildir flags), through mbsync's own sync state."""
        base = self.root / "mail" / name
        files = {
            int(match.group(1)): path
            for path in base.glob("*/*")
            if (match := re.search(r",U=(\d+):2,", path.name))
        }
        pairs = {}
        entries = (base / ".mbsyncstate").read_text().partition("\n\n")[2]
        for line in entries.splitlines():
            far, near, flags = [*line.split(" ", 2), ""][:3]
            if int(near) in files:
                pairs[int(far)] = (files[int(near)], flags.strip())
        return pairs

    def snapshot(self) -> dict[str, bytes]:
        return {
            str(path.relative_to(self.root)): path.read_bytes()
            for path in sorted((self.root / "mail").rglob("*"))
            if path.is_file()
        }


def configure(root: Path, mailroom: Mailroom, mailbox: Mailbox, channel: str) -> Mbsync:
    (root / "mail").mkdir(parents=True)
    config = root / "mbsyncrc"
    config.write_text(
        f"IMAPAccount mailkite\nHost localhost\nPort {mailroom.port}\nUser {mailbox.address}\n"
        f"Pass {mailbox.password}\nSSLType IMAPS\nCertificateFile {mailroom.certs.ca_file}\n\n"
        "IMAPStore far\nAccount mailkite\n\n"
        f"MaildirStore near\nPath {root}/mail/\nInbox {root}/mail/INBOX\nSubFolders Verbatim\n\n"
        f"Channel mailkite\nFar :far:\nNear :near:\nPatterns *\nSyncState *\n{channel}"
    )
    return Mbsync(root, config)


def without_tuid(stored: bytes) -> bytes:
    """The file less the one `X-TUID:` line mbsync puts just before the header's end."""
    header, separator, body = stored.partition(b"\n\n")
    lines = header.split(b"\n")
    assert re.fullmatch(rb"X-TUID: [A-Za-z0-9+/]{12}", lines[-1]), lines[-1]
    return b"\n".join(lines[:-1]) + separator + body


@pytest.fixture(scope="module")
def pulled(mailroom: Mailroom, tmp_path_factory: pytest.TempPathFactory) -> tuple[Mbsync, str]:
    require("mbsync")
    sync = configure(tmp_path_factory.mktemp("mbsync"), mailroom, mailroom.mailbox, READ_ONLY_FRIENDLY)
    result = sync.sync()
    return sync, result.stdout + result.stderr


def test_full_pull_is_byte_exact(pulled, mailroom):
    sync, _ = pulled
    for name in ("INBOX", "Sent"):
        local = sync.folder(name)
        for message in mailroom.mailbox.folder(name):
            if message.subject == HEADER_ONLY:
                assert message.uid not in local
                continue
            path, flags = local[message.uid]
            expected = message.served.replace(b"\r\n", b"\n")
            assert without_tuid(path.read_bytes()) == expected, message.subject
            assert flags == ""
        assert len(local) == len(mailroom.mailbox.folder(name)) - (name == "INBOX")


def test_the_only_complaint_is_the_header_only_message(pulled, mailroom):
    _, output = pulled
    header_only = next(m for m in mailroom.mailbox.messages if m.subject == HEADER_ONLY)
    complaints = [line for line in output.splitlines() if not line.startswith("Maildir notice")]
    assert complaints == [
        f"Warning: message {header_only.uid} from far side has incomplete header; skipping."
    ]


def test_pulling_changes_no_flag_on_the_server(pulled, mailroom):
    client = mailroom.imaplib()
    for name in ("INBOX", "Sent"):
        client.select(name)
        assert client.uid("SEARCH", "SEEN")[1] == [b""], name
    client.logout()


def test_a_second_sync_is_quiet_and_changes_nothing(pulled):
    sync, _ = pulled
    before = {k: v for k, v in sync.snapshot().items() if not k.endswith(".mbsyncstate")}
    states = {k: v for k, v in sync.snapshot().items() if k.endswith(".mbsyncstate")}
    result = sync.run("--verbose")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stdout + result.stderr
    for line in result.stdout.splitlines():
        if line.startswith(("Near:", "Far:")):  # the summary counters: +new *flags #deleted
            assert re.fullmatch(r"(Near|Far): \+0/0 \*0/0 #0/0( -0/0)?", line.strip()), line
    after = sync.snapshot()
    assert {k: v for k, v in after.items() if not k.endswith(".mbsyncstate")} == before
    assert {k: v for k, v in after.items() if k.endswith(".mbsyncstate")} == states


def flag_locally(path: Path, letters: str) -> None:
    head, _, flags = path.name.rpartition(":2,")
    target = path.parent.parent / "cur" / f"{head}:2,{''.join(sorted(set(flags + letters)))}"
    path.rename(target)


def server_flags(mailroom: Mailroom, mailbox: Mailbox, folder: str, uid: int) -> bytes:
    client = mailroom.imaplib(mailbox)
    client.select(folder)
    _, data = client.uid("FETCH", str(uid), "(FLAGS)")
    client.logout()
    return data[0]


@pytest.mark.parametrize("channel", [READ_ONLY_FRIENDLY, DEFAULTS], ids=["pull-pushflags", "sync-all"])
def test_flags_set_locally_reach_the_server(mailroom, fresh, tmp_path, channel):
    sync = configure(tmp_path, mailroom, fresh, channel)
    sync.sync()
    target = next(m for m in fresh.folder("INBOX") if m.subject == "The 1 MiB archive")
    sent = fresh.folder("Sent")[0]
    flag_locally(sync.folder("INBOX")[target.uid][0], "FS")
    flag_locally(sync.folder("Sent")[sent.uid][0], "R")
    sync.sync()
    assert b"\\Flagged" in server_flags(mailroom, fresh, "INBOX", target.uid)
    assert b"\\Seen" in server_flags(mailroom, fresh, "INBOX", target.uid)
    assert b"\\Answered" in server_flags(mailroom, fresh, "Sent", sent.uid)
    before = sync.snapshot()
    sync.sync()  # and the next sync is stable
    assert sync.snapshot() == before


def test_flags_set_on_the_server_are_pulled(mailroom, fresh, tmp_path):
    sync = configure(tmp_path, mailroom, fresh, READ_ONLY_FRIENDLY)
    sync.sync()
    target = fresh.folder("INBOX")[3]
    client = mailroom.imaplib(fresh)
    client.select("INBOX")
    client.uid("STORE", str(target.uid), "+FLAGS", "(\\Flagged \\Answered)")
    client.logout()
    sync.sync()
    assert sync.folder("INBOX")[target.uid][1] == "FR"


def test_sync_all_delete_leaves_the_message_on_the_server(mailroom, fresh, tmp_path):
    """Default config: a local deletion is pushed as \\Deleted + EXPUNGE, which the server accepts
    and ignores; mbsync then forgets the pair and later syncs are quiet."""
    sync = configure(tmp_path, mailroom, fresh, DEFAULTS)
    sync.sync()
    target = fresh.folder("INBOX")[4]
    sync.folder("INBOX")[target.uid][0].unlink()
    result = sync.run("--verbose")
    assert result.returncode == 0, result.stderr
    assert server_flags(mailroom, fresh, "INBOX", target.uid) == b"%d (UID %d FLAGS ())" % (
        target.uid,
        target.uid,
    )
    before = sync.snapshot()
    sync.sync()
    assert sync.snapshot() == before
    assert target.uid not in sync.folder("INBOX")



READ_ONLY_PULL = "Create Near\nExpunge None\nRemove None\nSync Pull\n"


def read_only_password(address: str) -> str:
    from mailkite.mail import services
    from passwords import service

    mailbox = services.find_mailbox(address)
    assert mailbox is not None
    _, secret = service.user_create_app_password(
        actor=service.command_line(), mailbox=mailbox, label=f"mbsync read-only {address}", scope="read-only"
    )
    return secret



def test_pull_with_a_read_only_app_password(mailroom, fresh, tmp_path):
    """Issue 15.3: a read-only password pulls everything with `Sync Pull`; flags set locally stay
    local. With PushFlags mbsync sends them and the server answers NO [NOPERM], keeping its own
    (mbsync 1.4 then aborts on an assertion of its own, so that run's exit status is not checked:
    read-only passwords want `Sync Pull`, docs/imap.md)."""
    secret = read_only_password(fresh.address)
    sync = configure(tmp_path, mailroom, replace(fresh, password=secret), READ_ONLY_PULL)
    sync.sync()
    local = sync.folder("INBOX")
    assert len(local) == len(fresh.folder("INBOX")) - 1  # less the header-only message, as above
    target = fresh.folder("INBOX")[0]
    flag_locally(local[target.uid][0], "FS")
    sync.sync()
    assert b"FLAGS ()" in server_flags(mailroom, fresh, "INBOX", target.uid)
    sync.config.write_text(sync.config.read_text().replace("Sync Pull\n", "Sync Pull PushFlags\n"))
    result = sync.run()
    assert "NO [NOPERM] This app-password is read-only" in result.stdout + result.stderr
    assert b"FLAGS ()" in server_flags(mailroom, fresh, "INBOX", target.uid)
