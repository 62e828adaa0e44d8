"""A real DNS server for tests: dnsmasq on a free loopback port, authoritative for `*.example`.

Its zone can be rewritten mid-test (`Zone.publish`): dnsmasq re-reads TXT and MX records only at
start, so the zone restarts it on the same port. Tests then see what a customer's DNS change does
(a TXT record published, a TXT record removed) through the same resolver code production uses.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailkite.mail import mx

INBOUND = "mx.mailkite.test"
# The zone every domain test starts from; tests add TXT records (or MX records) with publish().
BASE_RECORDS = (
    f"mx-host=verified.example,{INBOUND},10",
    "mx-host=wrong.example,mx.elsewhere.example,10",
    "host-record=no-mx.example,192.0.2.10",
)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dnsmasq_binary() -> str:
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not os.path.exists(binary):
        if os.environ.get("CI"):
            pytest.fail("dnsmasq is missing: scripts/install-test-tools installs it")
        pytest.skip("dnsmasq is not installed (apt-get install dnsmasq-base)")
    return binary


def mx_record(name: str) -> str:
    return f"mx-host={name},{INBOUND},10"


def txt_record(name: str, value: str) -> str:
    return f'txt-record={name},"{value}"'


class Zone:
    def __init__(self, directory: Path) -> None:
        self.binary = dnsmasq_binary()
        self.port = free_port(socket.SOCK_DGRAM)
        self.conf = directory / "dnsmasq.conf"
        self.process: subprocess.Popen[bytes] | None = None
        self.records: tuple[str, ...] = ()

    def publish(self, *records: str) -> None:
        """Serve BASE_RECORDS plus `records` (dnsmasq lines) from now on, and nothing else."""
        if self.process is not None and records == self.records:
            return
        self.records = records
        lines = [
            f"port={self.port}",
            "listen-address=127.0.0.1",
            "bind-interfaces",
            "no-resolv",
            "no-hosts",
            "local=/example/",  # authoritative: unknown names are NXDOMAIN, nothing goes upstream
            *BASE_RECORDS,
            *records,
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self.stop()
        self.process = subprocess.Popen(
            [self.binary, "--keep-in-foreground", f"--conf-file={self.conf}"], stderr=subprocess.PIPE
        )
        for _ in range(50):
            answer = mx.check(
                "verified.example", inbound_host=INBOUND, nameserver="127.0.0.1", port=self.port
            )
            if answer.outcome is not mx.Outcome.TIMEOUT:
                return
            time.sleep(0.1)
        raise RuntimeError("dnsmasq did not start answering")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def served_zone(tmp_path_factory: pytest.TempPathFactory, *records: str) -> Iterator[Zone]:
    """For a module-scoped fixture: a Zone serving `records` until the module's tests are done."""
    zone = Zone(tmp_path_factory.mktemp("dns"))
    zone.publish(*records)
    yield zone
    zone.stop()


def resolve_through(settings: Any, port: int) -> None:
    """Point the app's DNS checks (pytest-django's `settings`) at the test server on `port`, with
    MailKite's inbound host as INBOUND and a one-second timeout."""
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE,
        mx_inbound_host=INBOUND,
        dns_nameserver="127.0.0.1",
        dns_port=port,
        dns_timeout=1.0,
    )
