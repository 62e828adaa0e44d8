"""NeoMutt, driven in tmux: the index, the pager, delete + sync, and `F` (flag) + sync.

Each test runs its own NeoMutt against a mailbox of its own (opening a message marks it \\Seen),
in its own tmux server (`-S` socket under the test's tmp_path), and reads the screen with
`capture-pane`. The muttrc trusts the test CA (`ssl_ca_certificates_file`, NeoMutt is built with
GnuTLS on Debian), so no certificate prompt can appear; if one did, the wait would fail with the
screen in the message. NeoMutt's debug log (`-d 2`) records the IMAP exchange for diagnosis.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import Mailbox, Mailroom, deliver, require

pytestmark = pytest.mark.interop


class Screen:
    """A NeoMutt in a private tmux server."""

    def __init__(self, tmp: Path, mailroom: Mailroom, mailbox: Mailbox, extra: str = "") -> None:
        self.tmux = require("tmux")
        self.socket = tmp / "tmux.sock"
        self.log = tmp / "neomutt.log"
        home = tmp / "home"
        home.mkdir(exist_ok=True)
        muttrc = tmp / "muttrc"
        muttrc.write_text(
            f'set imap_user = "{mailbox.address}"\nset imap_pass = "{mailbox.password}"\n'
            f'set folder = "imaps://127.0.0.1:{mailroom.port}/"\nset spoolfile = "+INBOX"\n'
            f'set ssl_ca_certificates_file = "{mailroom.certs.ca_file}"\n'
            f'set certificate_file = "{home}/certificates"\n'
            'set header_cache = ""\nset message_cachedir = ""\nset record = ""\nset postponed = ""\n'
            "set move = no\nset delete = yes\nset sort = mailbox-order\nset pager_stop = yes\n"
            'set index_format = "%4C %Z %s"\nset mail_check_stats = no\nset timeout = 1\nset mail_check = 1\n'
            + extra
        )
        command = f"neomutt -n -F {muttrc} -d 2 -l {self.log}; echo NEOMUTT-EXITED; sleep 60"
        subprocess.run(
            [self.tmux, "-S", str(self.socket), "new-session", "-d", "-x", "200", "-y", "60", command],
            env={"HOME": str(home), "TERM": "xterm-256color", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"},
            check=True,
            timeout=10,
        )

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([self.tmux, "-S", str(self.socket), "send-keys", key], check=True, timeout=10)
            time.sleep(0.1)

    def text(self) -> str:
        result = subprocess.run(
            [self.tmux, "-S", str(self.socket), "capture-pane", "-p"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return result.stdout

    def wait_for(self, *needles: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.text()
            if all(needle in screen for needle in needles):
                return screen
            if time.monotonic() > deadline:
                log = self.log.with_name(self.log.name + "0")
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                pytest.fail(f"waited for {needles!r}; the screen:\n{screen}\nNeoMutt's log:\n{tail}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([self.tmux, "-S", str(self.socket), "kill-server"], timeout=10, check=False)


@pytest.fixture
def neomutt(tmp_path: Path, mailroom: Mailroom, fresh: Mailbox) -> Iterator[Screen]:
    require("neomutt")
    screen = Screen(tmp_path, mailroom, fresh)
    yield screen
    screen.close()


def index_line(screen: str, number: int) -> str:
    return next(line for line in screen.splitlines() if line.lstrip().startswith(f"{number} "))


def status(screen: str) -> str:
    return next(line for line in screen.splitlines() if "-NeoMutt: " in line)


def test_index_shows_every_subject(neomutt, fresh):
    inbox = fresh.folder("INBOX")
    screen = neomutt.wait_for(f"Msgs:{len(inbox)} ")
    for number, message in enumerate(inbox, start=1):
        assert message.subject in index_line(screen, number), (number, message.subject)
    neomutt.keys("c", "=Sent", "Enter")
    screen = neomutt.wait_for("+Sent ", f"Msgs:{len(fresh.folder('Sent'))} ")
    for number, message in enumerate(fresh.folder("Sent"), start=1):
        assert message.subject in index_line(screen, number)


@pytest.mark.parametrize(
    ("subject", "shown"),
    [
        ("Grüße — 東京からの写真 📷", "Liebe Grüße aus Tōkyō"),
        ("Fwd: Fwd: The bug", "First actual case of bug being found."),
        ("Delivery Status Notification (Failure)", "Status: 5.1.1"),
        ("Résumé attached", "Voilà mon résumé, à bientôt."),
        ("A NUL byte in the body", ":after it."),
    ],
)
def test_a_message_opens_in_the_pager(neomutt, fresh, subject, shown):
    number = next(i for i, m in enumerate(fresh.folder("INBOX"), start=1) if m.subject == subject)
    neomutt.wait_for("Msgs:")
    neomutt.keys(str(number), "Enter", "Enter")
    screen = neomutt.wait_for(shown)
    assert f"Subject: {subject}" in screen


def server_flags(mailroom: Mailroom, mailbox: Mailbox, uid: int) -> tuple[int, bytes]:
    client = mailroom.imaplib(mailbox)
    _, exists = client.select("INBOX")
    _, data = client.uid("FETCH", str(uid), "(FLAGS)")
    client.logout()
    return int(exists[0]), data[0]


def advertises(mailroom: Mailroom, capability: bytes) -> bool:
    client = mailroom.imaplib()
    try:
        return capability in client.capability()[1][0].split()
    finally:
        client.logout()


def test_delete_and_sync_leaves_the_message_on_the_server(neomutt, mailroom, fresh, tmp_path):
    inbox = fresh.folder("INBOX")
    target = inbox[4]
    neomutt.wait_for(f"Msgs:{len(inbox)} ")
    neomutt.keys("5", "Enter", "d")
    if advertises(mailroom, b"ACL"):
        # MYRIGHTS "lrsw" (DESIGN §5): NeoMutt refuses the delete itself and says why.
        neomutt.wait_for("Can't delete message: Operation not permitted by ACL")
        neomutt.keys("$")
    else:
        # Without ACL NeoMutt sends STORE \Deleted + EXPUNGE; nothing is expunged, so it still
        # lists the message, marked deleted.
        neomutt.keys("$")
        screen = neomutt.wait_for("Del:1")
        assert f"Msgs:{len(inbox)} " in status(screen)
    assert server_flags(mailroom, fresh, target.uid) == (
        len(inbox),
        b"%d (UID %d FLAGS ())" % (5, target.uid),
    )
    neomutt.keys("q")
    neomutt.wait_for("NEOMUTT-EXITED")
    (tmp_path / "again").mkdir()
    again = Screen(tmp_path / "again", mailroom, fresh)
    try:
        screen = again.wait_for(f"Msgs:{len(inbox)} ")
        assert "Del:" not in status(screen)
        assert target.subject in index_line(screen, 5)
        assert "D" not in index_line(screen, 5).split(target.subject)[0]
    finally:
        again.close()


def test_flag_with_F_persists_on_the_server(neomutt, mailroom, fresh):
    inbox = fresh.folder("INBOX")
    target = inbox[6]
    neomutt.wait_for(f"Msgs:{len(inbox)} ")
    neomutt.keys("7", "Enter", "F", "$")
    neomutt.wait_for("Flag:1")
    deadline = time.monotonic() + 10
    while b"\\Flagged" not in server_flags(mailroom, fresh, target.uid)[1]:
        assert time.monotonic() < deadline, "the \\Flagged set in NeoMutt never reached the server"
        time.sleep(0.2)
    neomutt.keys("q")
    neomutt.wait_for("NEOMUTT-EXITED")
    # On leaving, NeoMutt records unread messages it has shown as "Old", a keyword (`mark_old`).
    assert server_flags(mailroom, fresh, target.uid)[1] == b"%d (UID %d FLAGS (\\Flagged Old))" % (
        7,
        target.uid,
    )


@pytest.mark.parametrize("idle", ["no", "yes"], ids=["polling", "idle"])
def test_new_mail_appears_in_the_open_index(mailroom, fresh, tmp_path, idle):
    require("neomutt")
    screen = Screen(tmp_path, mailroom, fresh, f"set imap_idle = {idle}\n")
    try:
        count = len(fresh.folder("INBOX"))
        screen.wait_for(f"Msgs:{count} ")
        deliver(fresh, b"From: Late <late@example.org>\r\nSubject: A late arrival\r\n\r\nHello\r\n")
        shown = screen.wait_for(f"Msgs:{count + 1} ", "A late arrival")
        assert "A late arrival" in index_line(shown, count + 1)
    finally:
        screen.close()


def test_header_cache_with_qresync_sees_flags_changed_elsewhere(mailroom, fresh, tmp_path):
    """A second start reads headers from its cache and asks only for changes (CONDSTORE/QRESYNC
    when advertised, else all flags): a flag set by another client in between must show."""
    require("neomutt")
    cache = tmp_path / "hcache"
    cache.mkdir()
    settings = f'set header_cache = "{cache}/"\nset imap_condstore = yes\nset imap_qresync = yes\n'
    inbox = fresh.folder("INBOX")
    (tmp_path / "first").mkdir()
    first = Screen(tmp_path / "first", mailroom, fresh, settings)
    try:
        first.wait_for(f"Msgs:{len(inbox)} ")
        first.keys("q")
        first.wait_for("NEOMUTT-EXITED")
    finally:
        first.close()
    client = mailroom.imaplib(fresh)
    client.select("INBOX")
    client.uid("STORE", str(inbox[8].uid), "+FLAGS", "(\\Flagged)")
    client.logout()
    (tmp_path / "second").mkdir()
    second = Screen(tmp_path / "second", mailroom, fresh, settings)
    try:
        screen = second.wait_for(f"Msgs:{len(inbox)} ", "Flag:1")
        assert "!" in index_line(screen, 9).split(inbox[8].subject)[0]
    finally:
        second.close()
