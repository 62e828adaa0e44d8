"""The development certificate: a local CA and a server certificate it signs.

Thunderbird refuses a self-signed CA:TRUE certificate as a server certificate however it is
trusted (IMAP-NOTES), so this makes what trustme and mkcert make: a CA to import once, and a
CA:FALSE leaf for localhost and 127.0.0.1 signed by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class DevCert:
    ca: Path
    cert: Path
    key: Path


def paths(directory: Path) -> DevCert:
    return DevCert(ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key")


def ensure(
    directory: Path, *, hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
) -> tuple[DevCert, bool]:
    """Create the CA and server certificate unless they exist; returns (paths, created)."""
    target = paths(directory)
    if target.ca.exists() and target.cert.exists() and target.key.exists():
        return target, False
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="MailKite development CA")
    leaf = ca.issue_cert(*hosts, organization_name="MailKite development server")
    ca.cert_pem.write_to_path(str(target.ca))
    leaf.cert_chain_pems[0].write_to_path(str(target.cert))
    target.key.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(target.key))
    return target, True
