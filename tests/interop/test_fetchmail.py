"""fetchmail with `keep` (IMAP-NOTES 3) delivering INBOX and Sent to an MDA that writes files.

fetchmail hands the MDA LF line endings and prepends one `Received:` field (documented in
fetchmail(1), "Header vs. Envelope addresses"; `invisible` would suppress it). It fetches the
header and the text separately and joins them as lines, so a message without an empty line after
its header gets one, and a last line without a line break gets one. Nothing else may differ from
BODY[]. It marks what it fetched \\Seen, so each test takes a mailbox of its own.

fetchmail checks the certificate's subject CN (it refuses one without) and DNS names, so it
connects to `localhost` (see `interop_certs`).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.interop.conftest import Mailbox, Mailroom, assert_same_messages, lf, require, run_client, unwrap

pytestmark = pytest.mark.interop


def configure(tmp: Path, mailroom: Mailroom, mailbox: Mailbox, *options: str) -> tuple[Path, Path]:
    out = tmp / "delivered"
    out.mkdir()
    mda = tmp / "deliver.sh"
    mda.write_text(f'#!/bin/sh\nexec cat > "$(mktemp {out}/msg.XXXXXX)"\n')
    mda.chmod(0o755)
    rc = tmp / "fetchmailrc"
    rc.write_text(
        "set no bouncemail\nset no syslog\n"
        f"poll localhost protocol IMAP port {mailroom.port} timeout 30\n"
        f'  user "{mailbox.address}" there with password "{mailbox.password}" is "nobody" here\n'
        f'  ssl sslcertck sslcertfile "{mailroom.certs.ca_file}"\n'
        "  folder INBOX,Sent\n"
        f"  keep no rewrite {' '.join(options)}\n"
        f'  mda "{mda}"\n'
    )
    rc.chmod(0o600)  # fetchmail refuses a readable rcfile holding a password
    return rc, out


def fetchmail(tmp: Path, rc: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp), "FETCHMAILHOME": str(tmp)}
    return run_client(
        [require("fetchmail"), "--fetchmailrc", str(rc), "--pidfile", str(tmp / "pid"), "--verbose"],
        env=env,
        text=True,
        timeout=120,
    )


def delivered(out: Path) -> list[bytes]:
    return [path.read_bytes() for path in sorted(out.iterdir())]


def as_fetchmail_writes(served: bytes) -> bytes:
    data = lf(served)
    if b"\n\n" not in data:  # RFC822.HEADER had no empty line: fetchmail ends the header itself
        data += b"\n"
    return data if data.endswith(b"\n") else data + b"\n"


def test_fetches_everything_byte_exact_and_keeps_it(mailroom, fresh, tmp_path):
    rc, out = configure(tmp_path, mailroom, fresh, "fetchall")
    result = fetchmail(tmp_path, rc)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    got = [unwrap(data, prepended=("Received",)) for data in delivered(out)]
    assert_same_messages(got, fresh.messages, [as_fetchmail_writes(m.served) for m in fresh.messages])
    client = mailroom.imaplib(fresh)
    for name in ("INBOX", "Sent"):
        _, count = client.select(name)
        assert int(count[0]) == len(fresh.folder(name))  # `keep`: nothing is gone
        _, data = client.search(None, "UNSEEN")
        assert data == [b""], name  # fetchmail marks what it fetched \Seen
    client.logout()


def test_a_second_poll_finds_nothing_new(mailroom, fresh, tmp_path):
    rc, out = configure(tmp_path, mailroom, fresh)
    assert fetchmail(tmp_path, rc).returncode == 0
    count = len(list(out.iterdir()))
    assert count == len(fresh.messages)
    again = fetchmail(tmp_path, rc)
    assert again.returncode == 1, again.stdout[-3000:]  # PS_NOMAIL: no new mail, and no error
    assert "error" not in again.stdout.lower() + again.stderr.lower()
    assert len(list(out.iterdir())) == count
