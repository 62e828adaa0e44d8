"""Thunderbird (Debian's ESR), headless, driven through Marionette, its remote protocol.

One Thunderbird per module, with a new profile: the test trusts the CA, creates the IMAP account
through Thunderbird's own account API (as the account wizard would), and lets Thunderbird sync
the way it does for a user: discover folders, fetch headers, download every message for offline
use (autosync). Then the offline copies must be BODY[] byte-exact: Thunderbird's offline store
keeps the bytes it fetched, after the two `X-Mozilla-Status` lines it writes first (and, being an
mbox, with a line break added where a message lacks a final one or an empty line after its
header; it then reports that stored size as the message's size). No alert may
reach the user on the way (IMAP-NOTES: a first start sends `CREATE Trash`; its NO must stay
silent), and a flag set in Thunderbird must reach the server.

Marionette speaks length-prefixed JSON over TCP (`<length>:[0, id, command, params]`); the few
lines of client below are all the tests need. Scripts run in Thunderbird's chrome context
(`-remote-allow-system-access`).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop.conftest import Mailroom, require

pytestmark = pytest.mark.interop

PRELUDE = """
const {MailServices} = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const server = MailServices.accounts.accounts.map(a => a.incomingServer).find(s => s && s.type == "imap");
const folder = name => server && server.rootFolder.getChildNamed(name);
"""

SETUP = """
const [caBase64, user, password, port, done] = arguments;
globalThis.mailkiteAlerts = [];
MailServices.mailSession.addUserFeedbackListener({
  onAlert(message) { globalThis.mailkiteAlerts.push(message); return true; },
  onCertError() { globalThis.mailkiteAlerts.push("certificate error"); return true; },
});
Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB).addCertFromBase64(caBase64, "C,,");
MailServices.accounts.createLocalMailAccount();
const incoming = MailServices.accounts.createIncomingServer(user, "localhost", "imap");
incoming.port = port;
incoming.socketType = Ci.nsMsgSocketType.SSL;
incoming.authMethod = Ci.nsMsgAuthMethod.passwordCleartext;
incoming.password = password;
const identity = MailServices.accounts.createIdentity();
identity.email = user;
const account = MailServices.accounts.createAccount();
account.addIdentity(identity);
account.incomingServer = incoming;
MailServices.imap.discoverAllFolders(incoming.rootFolder, null, null);
done(true);
"""

PROGRESS = """
const names = ["INBOX", "Sent"].filter(name => folder(name));
for (const name of names) {
  const f = folder(name);
  if (!globalThis["mailkiteAsked" + name]) {
    globalThis["mailkiteAsked" + name] = true;
    f.updateFolder(null);
  } else if (f.getTotalMessages(false) > 0 && !globalThis["mailkiteDownload" + name]) {
    globalThis["mailkiteDownload" + name] = true;
    f.downloadAllForOffline(null, null);
  }
}
return Object.fromEntries(names.map(name => [name, {
  headers: folder(name).getTotalMessages(false),
  offline: [...folder(name).messages].filter(h => h.flags & Ci.nsMsgMessageFlags.Offline).length,
}]));
"""

MESSAGES = """
const [name] = arguments;
const f = folder(name);
function read(hdr) {
  const stream = f.getMsgInputStream(hdr);
  const bin = Cc["@mozilla.org/binaryinputstream;1"].createInstance(Ci.nsIBinaryInputStream);
  bin.setInputStream(stream);
  let out = "";
  for (let n = bin.available(); n > 0; n = bin.available()) out += bin.readBytes(n);
  stream.close();
  return btoa(out);
}
return [...f.messages].map(hdr => ({
  key: hdr.messageKey, subject: hdr.mime2DecodedSubject, size: hdr.messageSize,
  hasRe: Boolean(hdr.flags & Ci.nsMsgMessageFlags.HasRe), stored: read(hdr),
}));
"""


class Marionette:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.buffer = b""
        self.last_id = 0
        self._read()  # the greeting
        self.call("WebDriver:NewSession", {"capabilities": {}})
        self.call("Marionette:SetContext", {"value": "chrome"})
        self.call("WebDriver:SetTimeouts", {"script": 60000})

    def _read(self) -> Any:
        while b":" not in self.buffer:
            self.buffer += self._recv()
        length, _, rest = self.buffer.partition(b":")
        while len(rest) < int(length):
            rest += self._recv()
        self.buffer = rest[int(length) :]
        return json.loads(rest[: int(length)])

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("Thunderbird closed the Marionette connection")
        return data

    def call(self, command: str, params: dict[str, Any]) -> Any:
        self.last_id += 1
        data = json.dumps([0, self.last_id, command, params]).encode()
        self.sock.sendall(b"%d:" % len(data) + data)
        while True:
            message = self._read()
            if message[1] == self.last_id:
                if message[2]:
                    raise RuntimeError(message[2].get("message", message[2]))
                return message[3].get("value") if isinstance(message[3], dict) else message[3]

    def run(self, script: str, *args: Any) -> Any:
        return self.call("WebDriver:ExecuteScript", self._params(script, args))

    def run_async(self, script: str, *args: Any) -> Any:
        return self.call("WebDriver:ExecuteAsyncScript", self._params(script, args))

    @staticmethod
    def _params(script: str, args: tuple[Any, ...]) -> dict[str, Any]:
        # One named sandbox for every script, so globals (the alerts seen) persist between calls.
        return {"script": PRELUDE + script, "args": list(args), "sandbox": "mailkite", "newSandbox": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def thunderbird(mailroom: Mailroom, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Marionette]:
    program = require("thunderbird")
    tmp = tmp_path_factory.mktemp("thunderbird")
    profile = tmp / "profile"
    profile.mkdir()
    port = free_port()
    prefs = {
        "marionette.port": port,
        "mail.shell.checkDefaultClient": False,
        "mailnews.start_page.enabled": False,
        "mail.provider.suppress_dialog_on_startup": True,
        "datareporting.policy.dataSubmissionEnabled": False,
        "toolkit.telemetry.reportingpolicy.firstRun": False,
        "app.update.auto": False,
    }
    (profile / "user.js").write_text(
        "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
    )
    log = (tmp / "thunderbird.log").open("wb")
    process = subprocess.Popen(
        [
            program,
            "--headless",
            "--marionette",
            "-remote-allow-system-access",
            "--no-remote",
            "--profile",
            str(profile),
        ],
        env={
            **os.environ,
            "HOME": str(tmp),
            "MOZ_HEADLESS": "1",
            "MOZ_LOG": "IMAP:3",
            "MOZ_LOG_FILE": str(tmp / "imap.log"),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                driver = Marionette(port)
                break
            except OSError:
                assert process.poll() is None, (
                    f"Thunderbird exited: {(tmp / 'thunderbird.log').read_text()[-2000:]}"
                )
                assert time.monotonic() < deadline, "Thunderbird's Marionette never answered"
                time.sleep(0.5)
        ca = "".join(line for line in mailroom.certs.ca_file.read_text().splitlines() if "-----" not in line)
        box = mailroom.mailbox
        driver.run_async(SETUP, ca, box.address, box.password, mailroom.port)
        yield driver
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(15)
        log.close()


@pytest.fixture(scope="module")
def synced(thunderbird: Marionette, mailroom: Mailroom) -> Marionette:
    want = {name: len(mailroom.mailbox.folder(name)) for name in ("INBOX", "Sent")}
    deadline = time.monotonic() + 120
    while True:
        progress = thunderbird.run(PROGRESS)
        if all(progress.get(n) == {"headers": c, "offline": c} for n, c in want.items()):
            return thunderbird
        assert time.monotonic() < deadline, f"Thunderbird synced only {progress}, of {want}"
        time.sleep(0.5)


def as_thunderbird_stores(served: bytes) -> bytes:
    """Its mbox store ends what it stores with a line break, and a header with an empty line."""
    if not served.endswith(b"\r\n"):
        served += b"\r\n"
    return served if b"\r\n\r\n" in served else served + b"\r\n"


def without_mozilla_status(stored: bytes) -> bytes:
    lines = stored.split(b"\n", 2)
    assert lines[0].startswith(b"X-Mozilla-Status: ") and lines[1].startswith(b"X-Mozilla-Status2: "), lines[
        :2
    ]
    return lines[2]


@pytest.mark.parametrize("name", ["INBOX", "Sent"])
def test_every_message_is_downloaded_byte_exact(synced, mailroom, name):
    messages = mailroom.mailbox.folder(name)
    stored = synced.run(MESSAGES, name)
    assert len(stored) == len(messages)
    for message, hdr in zip(messages, sorted(stored, key=lambda h: h["key"]), strict=True):
        expected = as_thunderbird_stores(message.served)
        assert hdr["size"] in (len(message.served), len(expected)), message.subject
        assert without_mozilla_status(base64.b64decode(hdr["stored"])) == expected, message.subject
        subject = message.subject.removeprefix("Re: ") if hdr["hasRe"] else message.subject
        assert hdr["subject"] == subject


def test_no_alert_reaches_the_user(synced):
    assert synced.run("return globalThis.mailkiteAlerts;") == []


def test_syncing_marks_nothing_seen(synced, mailroom):
    client = mailroom.imaplib()
    for name in ("INBOX", "Sent"):
        client.select(name)
        assert client.search(None, "SEEN") == ("OK", [b""]), name
    client.logout()


def test_a_flag_set_in_thunderbird_reaches_the_server(synced, mailroom):
    target = mailroom.mailbox.folder("INBOX")[6]
    synced.run(
        "const [key] = arguments; const f = folder('INBOX');"
        "f.markMessagesFlagged([f.GetMessageHeader(key)], true); return true;",
        target.uid,
    )
    client = mailroom.imaplib()
    client.select("INBOX")
    deadline = time.monotonic() + 20
    while b"\\Flagged" not in client.uid("FETCH", str(target.uid), "(FLAGS)")[1][0]:
        assert time.monotonic() < deadline, "the flag set in Thunderbird never reached the server"
        time.sleep(0.3)
        client.noop()
    client.logout()


def test_a_refused_folder_creation_shows_the_servers_sentence(synced):
    """The listener above does hear alerts: a user's "New Folder" gets our sentence, in words."""
    synced.run("server.rootFolder.createSubfolder('Archive', null); return true;")
    deadline = time.monotonic() + 20
    while not (alerts := synced.run("return globalThis.mailkiteAlerts;")):
        assert time.monotonic() < deadline, "no alert for a refused CREATE"
        time.sleep(0.3)
    assert any("new folders cannot be created" in alert for alert in alerts), alerts


def test_screenshot_of_the_synced_inbox_for_the_readme(synced, tmp_path):
    """The README's picture of Thunderbird reading MailKite (refreshed by this test)."""
    import base64
    from pathlib import Path

    synced.run(
        'const win = Services.wm.getMostRecentWindow("mail:3pane");'
        'win.gTabmail.currentAbout3Pane.displayFolder(folder("INBOX").URI);'
    )
    time.sleep(1.5)  # let the message list paint; the picture is all this waits for
    png = base64.b64decode(synced.call("WebDriver:TakeScreenshot", {"full": False, "hash": False}))
    assert png.startswith(b"\x89PNG")
    target = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "thunderbird.png"
    target.write_bytes(png)
