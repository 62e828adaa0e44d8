"""Thunderbird autoconfig and Apple .mobileconfig, exactly in the formats clients read."""

from __future__ import annotations

import dataclasses
import plistlib
import xml.etree.ElementTree as ET

import pytest
from django.test import Client

from passwords import clientsetup

pytestmark = pytest.mark.django_db

EXPECTED = """<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="mailkite.test">
    <domain>customer.example</domain>
    <domain>mailkite.test</domain>
    <displayName>MailKite Mail</displayName>
    <displayShortName>MailKite</displayShortName>
    <incomingServer type="imap">
      <hostname>imap.mailkite.test</hostname>
      <port>993</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>smtp.mailkite.test</hostname>
      <port>465</port>
      <socketType>SSL</socketType>
      <authentication>password-cleartext</authentication>
      <username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
"""


@pytest.mark.parametrize("path", ["/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"])
def test_autoconfig_is_public_static_xml(smtp, path: str) -> None:
    response = Client().get(path, {"emailaddress": "someone@Customer.example"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/xml"
    assert response.content.decode() == EXPECTED
    assert "<password>" not in response.content.decode()


@pytest.mark.parametrize("address", ['x@a"><b', "no-at-sign", "x@-bad-.example", "<script>@x"])
def test_autoconfig_never_echoes_what_it_cannot_vouch_for(smtp, address: str) -> None:
    body = Client().get("/mail/config-v1.1.xml", {"emailaddress": address}).content.decode()
    root = ET.fromstring(body)
    assert [d.text for d in root.iter("domain")] == ["mailkite.test"]


def test_a_submission_port_other_than_465_means_starttls(smtp, settings) -> None:
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, smtp_submission_port=587)
    root = ET.fromstring(Client().get("/mail/config-v1.1.xml").content)
    outgoing = root.find("emailProvider/outgoingServer")
    assert outgoing is not None
    assert (outgoing.findtext("port"), outgoing.findtext("socketType")) == ("587", "STARTTLS")


def test_mobileconfig_has_apples_required_keys(smtp) -> None:
    with_password = plistlib.loads(
        clientsetup.mobileconfig(
            address="a@customer.example", label="iPhone", public_id="AbC123xYz9", password="mk_imap_x"
        )
    )
    assert with_password["PayloadType"] == "Configuration"
    assert with_password["PayloadVersion"] == 1
    assert with_password["PayloadIdentifier"] == "test.mailkite.mail.AbC123xYz9"
    assert with_password["PayloadDisplayName"] == "MailKite Mail (iPhone)"
    account = with_password["PayloadContent"][0]
    assert {
        k: account[k]
        for k in (
            "PayloadType",
            "EmailAccountType",
            "IncomingMailServerHostName",
            "IncomingMailServerPortNumber",
            "IncomingMailServerUseSSL",
            "IncomingMailServerAuthentication",
            "IncomingMailServerUsername",
            "IncomingPassword",
            "OutgoingMailServerHostName",
            "OutgoingMailServerPortNumber",
            "OutgoingMailServerUseSSL",
            "OutgoingMailServerAuthentication",
            "OutgoingPasswordSameAsIncomingPassword",
        )
    } == {
        "PayloadType": "com.apple.mail.managed",
        "EmailAccountType": "EmailTypeIMAP",
        "IncomingMailServerHostName": "imap.mailkite.test",
        "IncomingMailServerPortNumber": 993,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": "a@customer.example",
        "IncomingPassword": "mk_imap_x",
        "OutgoingMailServerHostName": "smtp.mailkite.test",
        "OutgoingMailServerPortNumber": 465,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    assert account["PayloadUUID"] != with_password["PayloadUUID"]
    without = plistlib.loads(
        clientsetup.mobileconfig(address="a@customer.example", label="x", public_id="m-1")
    )
    assert "IncomingPassword" not in without["PayloadContent"][0]
    raw = clientsetup.mobileconfig(address="a@customer.example", label="x", public_id="m-1")
    assert raw.startswith(
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN"'
    )
