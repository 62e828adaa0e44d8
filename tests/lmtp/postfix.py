"""A private Postfix instance for one test: its own configuration, queue and log in a temporary
folder, SMTP on a free loopback port, and every domain it relays sent over LMTP to lmtpd.

Nothing of the system's Postfix is used or touched (Debian's package is installed with "No
configuration", so there is no system instance to disturb). Postfix's master must start as root;
its daemons then run as the package's `postfix` user, which must be able to enter the folder.
Every service runs outside a chroot, so the instance needs no copies of /etc in its queue.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

# name, type, private, unprivileged, chroot, wakeup, maxproc, command: master.cf's columns.
SERVICES = """\
pickup    unix  n  -  n  60    1  pickup
cleanup   unix  n  -  n  -     0  cleanup
qmgr      unix  n  -  n  300   1  qmgr
rewrite   unix  -  -  n  -     -  trivial-rewrite
bounce    unix  -  -  n  -     0  bounce
defer     unix  -  -  n  -     0  bounce
trace     unix  -  -  n  -     0  bounce
verify    unix  -  -  n  -     1  verify
flush     unix  n  -  n  1000? 0  flush
proxymap  unix  -  -  n  -     -  proxymap
proxywrite unix -  -  n  -     1  proxymap
smtp      unix  -  -  n  -     -  smtp
relay     unix  -  -  n  -     -  smtp
showq     unix  n  -  n  -     -  showq
error     unix  -  -  n  -     -  error
retry     unix  -  -  n  -     -  error
discard   unix  -  -  n  -     -  discard
lmtp      unix  -  -  n  -     -  lmtp
anvil     unix  -  -  n  -     1  anvil
scache    unix  -  -  n  -     1  scache
postlog   unix-dgram n - n -   1  postlogd
"""


def require_postfix() -> str:
    """The `postfix` command; missing, or not root, skips the test (fails it under CI)."""
    path = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)
    reason = ""
    if path is None:
        reason = "postfix is not installed: run scripts/install-test-tools"
    elif os.geteuid() != 0:
        reason = "a private Postfix instance must be started as root (Postfix's master drops privileges)"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    assert path is not None
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostfix:
    def __init__(self, folder: Path, *, relay_domains: list[str], lmtp_port: int) -> None:
        self.command = require_postfix()
        self.folder = folder
        self.config = folder / "etc"
        self.log = folder / "maillog"
        self.smtp_port = free_port()
        self.config.mkdir(parents=True)
        (folder / "queue").mkdir()  # root's; Postfix makes its subfolders, owned by `postfix`, at start
        # The daemons run as `postfix`: they must reach the queue and the log through this folder.
        folder.chmod(0o711)
        (self.config / "main.cf").write_text(
            "\n".join(
                [
                    "compatibility_level = 3.6",
                    f"queue_directory = {folder / 'queue'}",
                    f"data_directory = {folder / 'data'}",
                    f"maillog_file = {self.log}",
                    f"maillog_file_prefixes = {folder}",
                    "mail_owner = postfix",
                    "setgid_group = postdrop",
                    "inet_interfaces = 127.0.0.1",
                    "inet_protocols = ipv4",
                    "myhostname = mx.postfix.test",
                    "mydestination =",
                    "mynetworks = 127.0.0.0/8",
                    f"relay_domains = {' '.join(relay_domains)}",
                    # The whole point: mail for those domains goes to lmtpd.
                    f"relay_transport = lmtp:inet:127.0.0.1:{lmtp_port}",
                    "smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination",
                    # Loopback only, no DNS: nothing leaves the machine, nothing waits on a resolver.
                    "smtp_host_lookup = native",
                    "lmtp_host_lookup = native",
                    "disable_dns_lookups = yes",
                    # Keep the message as sent: no header rewriting for local clients.
                    "local_header_rewrite_clients =",
                    "alias_maps =",  # no local delivery here, so no aliases to look up
                    "biff = no",
                    "append_dot_mydomain = no",
                    "readme_directory = no",
                    # A test wants the queue run now, not after Postfix's usual back-off.
                    "queue_run_delay = 1s",
                    "minimal_backoff_time = 1s",
                    "maximal_backoff_time = 2s",
                    "",
                ]
            )
        )
        (self.config / "master.cf").write_text(
            f"127.0.0.1:{self.smtp_port} inet n - n - - smtpd\n" + SERVICES
        )

    def _postfix(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.command, "-c", str(self.config), *args], capture_output=True, text=True, timeout=60
        )

    def start(self) -> None:
        done = self._postfix("start")
        if done.returncode != 0:
            # postfix(1) writes its reason to a terminal or to the log, never to a pipe.
            raise AssertionError(f"postfix did not start: {done.stdout}{done.stderr}\n{self.maillog()}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.smtp_port), 1):
                return
            time.sleep(0.1)
        raise AssertionError(f"postfix's smtpd never listened on {self.smtp_port}:\n{self.maillog()}")

    def stop(self) -> None:
        pid_file = self.folder / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
        self._postfix("stop")
        # `stop` returns before the master has gone (and leaves its pid file): wait for the process,
        # so the folder can be removed and no daemon outlives the test.
        deadline = time.monotonic() + 30
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)

    def maillog(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no maillog)"

    def wait_for_log(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.maillog()
            if text in log:
                return log
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared in Postfix's log:\n{self.maillog()}")
