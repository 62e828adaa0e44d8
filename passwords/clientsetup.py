"""Automatic mail-client set-up: Thunderbird's autoconfig XML and Apple's .mobileconfig profile.

Formats exactly as CLIENT-SETUP §4.2 and §4.3 describe them. Both name an outgoing SMTP server
(Thunderbird's parser throws without one), so both exist only when SMTP_SUBMISSION_HOST is set.
Neither is ever stored: the profile that carries an app-password is built inside the one
response that shows the new secret, and the password-less profile prompts for it on the device.
"""

from __future__ import annotations

import base64
import plistlib
import re
import uuid
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings

MOBILECONFIG_TYPE = "application/x-apple-aspen-config"
IMPLICIT_TLS_SUBMISSION_PORT = 465  # RFC 8314; any other port is taken to mean STARTTLS (587)


def available() -> bool:
    return bool(settings.MAILKITE.smtp_submission_host)


def _smtp_socket_type() -> str:
    return "SSL" if settings.MAILKITE.smtp_submission_port == IMPLICIT_TLS_SUBMISSION_PORT else "STARTTLS"


def autoconfig_xml(*, email_domain: str | None = None) -> str:
    """Thunderbird's config-v1.1.xml; `email_domain` (already validated) is listed as served."""
    config = settings.MAILKITE
    domains = [d for d in dict.fromkeys([email_domain, config.provider_domain]) if d]

    def e(value: object) -> str:
        return escape(str(value))

    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<clientConfig version="1.1">',
        f'  <emailProvider id="{e(config.provider_domain)}">',
        *[f"    <domain>{e(d)}</domain>" for d in domains],
        f"    <displayName>{e(config.provider_name)} Mail</displayName>",
        f"    <displayShortName>{e(config.provider_name)}</displayShortName>",
        '    <incomingServer type="imap">',
        f"      <hostname>{e(config.imap_public_host)}</hostname>",
        f"      <port>{config.imap_public_port}</port>",
        "      <socketType>SSL</socketType>",
        "      <authentication>password-cleartext</authentication>",
        "      <username>%EMAILADDRESS%</username>",
        "    </incomingServer>",
        '    <outgoingServer type="smtp">',
        f"      <hostname>{e(config.smtp_submission_host)}</hostname>",
        f"      <port>{config.smtp_submission_port}</port>",
        f"      <socketType>{_smtp_socket_type()}</socketType>",
        "      <authentication>password-cleartext</authentication>",
        "      <username>%EMAILADDRESS%</username>",
        "    </outgoingServer>",
        "  </emailProvider>",
        "</clientConfig>",
        "",
    ]
    return "\n".join(lines)


def _identifier_base() -> str:
    """`com.example.mail` from the provider domain `example.com`."""
    parts = [p for p in re.split(r"[^a-z0-9-]+", settings.MAILKITE.provider_domain.lower()) if p]
    return ".".join([*reversed(parts), "mail"])


def mobileconfig(*, address: str, label: str, public_id: str, password: str | None = None) -> bytes:
    """An Apple configuration profile for one address. With `password` the device needs nothing
    more; without it, Mail asks for the app-password when the profile is installed."""
    config = settings.MAILKITE
    name = f"{config.provider_name} Mail"
    identifier = f"{_identifier_base()}.{re.sub(r'[^A-Za-z0-9-]+', '-', public_id)}"
    account: dict[str, Any] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.account",
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadDisplayName": f"{name} ({address})",
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAccountDescription": name,
        "EmailAddress": address,
        "IncomingMailServerHostName": config.imap_public_host,
        "IncomingMailServerPortNumber": config.imap_public_port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": config.smtp_submission_host,
        "OutgoingMailServerPortNumber": config.smtp_submission_port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    if password is not None:
        account["IncomingPassword"] = password
    profile: dict[str, Any] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": str(uuid.uuid4()).upper(),
        "PayloadDisplayName": f"{name} ({label})",
        "PayloadOrganization": config.provider_name,
        "PayloadDescription": (
            f"Adds {address} to Mail over IMAP (port {config.imap_public_port}, SSL/TLS)."
            + ("" if password is not None else " Mail asks for an app-password while installing.")
        ),
        "PayloadContent": [account],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML, sort_keys=False)


def mobileconfig_data_url(**kwargs: Any) -> str:
    """The profile as a data: URL, for a download link inside the one-time response."""
    return f"data:{MOBILECONFIG_TYPE};base64,{base64.b64encode(mobileconfig(**kwargs)).decode('ascii')}"


def filename(address: str) -> str:
    return re.sub(r"[^A-Za-z0-9.@_-]+", "-", address) + ".mobileconfig"
