"""The domain lifecycle against a real DNS server (dnsmasq on loopback) and real cryptography
(gpg, openssl): MX verification, the grace period, zero-retention, encrypted domains over IMAP."""

from __future__ import annotations

import dataclasses
import imaplib
import os
import socket
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from django.core.management import call_command

from mailkite.mail import domains, encryption, ingest, mime, mx
from mailkite.mail.models import Domain, Expunged, Message
from tests.conftest import make_account
from tests.dnszone import INBOUND, free_port, resolve_through, served_zone

pytestmark = pytest.mark.django_db(transaction=True)
MESSAGE = (
    b"From: Ada <ada@analytical.example>\r\nTo: you@secret.example\r\nSubject: The plans\r\n"
    b"Date: Mon, 02 Nov 2026 10:00:00 +0000\r\nMessage-ID: <plans@analytical.example>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe engine works. Tell nobody.\r\n"
)


@pytest.fixture(scope="module")
def dns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """dnsmasq on a free loopback port, authoritative for *.example with a zone of test cases."""
    for zone in served_zone(tmp_path_factory):
        yield zone.port


@pytest.fixture
def dns_settings(settings, dns_server: int):
    resolve_through(settings, dns_server)
    return settings


@pytest.mark.parametrize(
    ("name", "outcome", "sentence"),
    [
        ("verified.example", mx.Outcome.VERIFIED, f"The MX record of verified.example points at {INBOUND}."),
        (
            "no-mx.example",
            mx.Outcome.NO_MX,
            f"no-mx.example has no MX record. Add one: no-mx.example. MX 10 {INBOUND}.",
        ),
        (
            "wrong.example",
            mx.Outcome.ELSEWHERE,
            "The MX record of wrong.example points at mx.elsewhere.example, not",
        ),
        (
            "missing.example",
            mx.Outcome.NXDOMAIN,
            "The domain missing.example does not exist in DNS (NXDOMAIN).",
        ),
    ],
    ids=["verified", "no-mx", "wrong-mx", "nxdomain"],
)
def test_verification_outcomes(dns_settings, name, outcome, sentence):
    owner = make_account(f"a@{name}", verified=False).mailbox.domain
    result = domains.verify(owner)
    owner.refresh_from_db()
    assert result.outcome is outcome
    assert owner.mx_detail.startswith(sentence)
    assert (owner.mx_verified_at is not None) == (outcome is mx.Outcome.VERIFIED)


def test_server_not_answering_records_could_not_check_and_changes_nothing(settings):
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, dns_nameserver="127.0.0.1", dns_port=free_port(socket.SOCK_DGRAM), dns_timeout=1.0
    )
    domain = make_account("a@verified.example").mailbox.domain
    verified_at = domain.mx_verified_at
    result = domains.verify(domain)
    domain.refresh_from_db()
    assert result.outcome is mx.Outcome.TIMEOUT
    assert domain.mx_detail.startswith("Could not check verified.example")
    assert domain.mx_verified_at == verified_at
    assert domain.mx_failing_since is None


def test_verify_command_reports_in_words(dns_settings, capsys):
    make_account("a@verified.example", verified=False)
    call_command("domain", "verify", "verified.example")
    assert "points at mx.mailkite.test. (IMAP on)" in capsys.readouterr().out


def test_moved_mx_warns_first_then_ends_imap_after_a_day(connect, mailoutbox):
    account = make_account("a@moved.example")
    client = connect()
    client.login("me", account.password)
    client.select("INBOX")
    domain = Domain.objects.get(name="moved.example")
    moved = mx.MxCheck(mx.Outcome.ELSEWHERE, ("mx.elsewhere.example",))
    start = datetime.now(UTC)
    domains.apply_check(domain, moved, now=start)
    assert domain.mx_verified_at is not None  # told first, nothing changed yet
    assert "will lose IMAP" in mailoutbox[0].subject
    domains.apply_check(domain, moved, now=start + timedelta(hours=23))
    assert domain.mx_verified_at is not None
    domains.apply_check(domain, moved, now=start + timedelta(hours=25))
    assert domain.mx_verified_at is None
    client.send(b"i1 IDLE\r\n")
    lines = [client.readline() for _ in range(2)]
    assert b"* BYE IMAP is off because the domain moved.example is not MX-verified yet.\r\n" in lines
    with pytest.raises(imaplib.IMAP4.error, match="CONTACTADMIN"):
        connect().login("me", account.password)


def test_zero_retention_ends_sessions_keeps_mail_until_purged(connect):
    account = make_account("a@keep.example")
    ingest.store(mailbox=account.mailbox, raw=MESSAGE)
    client = connect()
    client.login("me", account.password)
    client.select("INBOX")
    client.send(b"i1 IDLE\r\n")
    assert client.readline() == b"+ idling\r\n"
    domains.set_retention(account.mailbox.domain, Domain.Retention.PASSTHROUGH)
    assert client.readline() == (
        b"* BYE IMAP is off because the domain keep.example is on zero-retention, so no mail is stored.\r\n"
    )
    assert not ingest.store(mailbox=account.mailbox, raw=MESSAGE).stored
    assert Message.objects.count() == 1  # kept until the owner confirms
    with pytest.raises(Exception, match="--yes"):
        call_command("domain", "purge-mail", "keep.example")
    call_command("domain", "purge-mail", "keep.example", "--yes")
    assert Message.objects.count() == 0
    assert Expunged.objects.filter(uid=1).exists()
    domains.set_retention(account.mailbox.domain, Domain.Retention.RETAIN)
    assert Message.objects.count() == 0  # switching back resurrects nothing


# -- encrypted domains --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)
    subprocess.run(
        [
            "gpg",
            "--homedir",
            str(home),
            "--batch",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Secret Example <keys@secret.example>",
            "future-default",
            "default",
            "never",
        ],
        check=True,
        capture_output=True,
    )
    return home


def export_public(home: Path) -> str:
    return subprocess.run(
        ["gpg", "--homedir", str(home), "--armor", "--export"], check=True, capture_output=True
    ).stdout.decode()


def fetch_stored(connect, account) -> bytes:
    client = connect()
    client.login("me", account.password)
    client.select("INBOX")
    _, data = client.fetch(b"1", "(BODY.PEEK[])")
    return data[0][1]


def test_pgp_domain_stores_pgp_mime_that_gpg_decrypts_to_the_original(connect, gpg_home, tmp_path):
    account = make_account("you@secret.example")
    domain = account.mailbox.domain
    assert "OpenPGP Secret Example" in domains.set_encryption(domain, kind="pgp", key=export_public(gpg_home))
    delivery = ingest.store(mailbox=account.mailbox, raw=MESSAGE)
    assert delivery.encrypted
    served = fetch_stored(connect, account)
    assert b'Content-Type: multipart/encrypted; protocol="application/pgp-encrypted"' in served
    assert b"Subject: The plans\r\n" in served and b"Tell nobody" not in served
    armored = served[
        served.index(b"-----BEGIN PGP MESSAGE-----") : served.index(b"-----END PGP MESSAGE-----") + 25
    ]
    decrypted = subprocess.run(
        ["gpg", "--homedir", str(gpg_home), "--batch", "--decrypt"],
        input=armored,
        check=True,
        capture_output=True,
    ).stdout
    assert decrypted == MESSAGE
    row = Message.objects.get()
    text = row.text
    assert "Tell nobody" not in text.body_text and text.subject == "The plans"  # only outer headers indexed


def smime_identity(*, expired: bool = False) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "you@secret.example")])
    now = datetime.now(UTC)
    start, end = (
        (now - timedelta(days=30), now - timedelta(days=1))
        if expired
        else (now - timedelta(days=1), now + timedelta(days=365))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def test_smime_domain_stores_enveloped_data_that_openssl_decrypts(connect, tmp_path):
    key, cert = smime_identity()
    account = make_account("you@secret.example")
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    domains.set_encryption(account.mailbox.domain, kind="smime", key=pem, protect_subject=True)
    ingest.store(mailbox=account.mailbox, raw=MESSAGE)
    served = fetch_stored(connect, account)
    assert b"application/pkcs7-mime; smime-type=enveloped-data" in served
    assert b"Subject: ...\r\n" in served  # the domain protects the subject
    (tmp_path / "mail.eml").write_bytes(served)
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    decrypted = subprocess.run(
        [
            "openssl",
            "smime",
            "-decrypt",
            "-binary",
            "-in",
            str(tmp_path / "mail.eml"),
            "-inkey",
            str(tmp_path / "key.pem"),
        ],
        check=True,
        capture_output=True,
    ).stdout
    assert decrypted == MESSAGE


@pytest.mark.parametrize(
    ("kind", "text", "error"),
    [
        ("pgp", "not a key", "not an ASCII-armoured OpenPGP public key"),
        (
            "smime",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "not a PEM X.509 certificate",
        ),
    ],
    ids=["pgp-garbage", "smime-garbage"],
)
def test_bad_keys_are_refused_in_words(kind, text, error):
    with pytest.raises(encryption.InvalidKey, match=error):
        encryption.validate_key(kind, text)


def test_expired_certificate_is_refused_and_delivery_fails_temporarily(tmp_path):
    _, cert = smime_identity(expired=True)
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    with pytest.raises(encryption.InvalidKey, match="expired"):
        encryption.validate_key("smime", pem)
    account = make_account("you@secret.example")
    Domain.objects.filter(pk=account.mailbox.domain.pk).update(encryption="smime", encryption_key=pem)
    (tmp_path / "m.eml").write_bytes(MESSAGE)
    with pytest.raises(SystemExit) as exit_code:
        call_command("deliver", "--to", "you@secret.example", str(tmp_path / "m.eml"))
    assert exit_code.value.code == os.EX_TEMPFAIL
    assert Message.objects.count() == 0  # never stored as plaintext


def test_outer_message_analysis_describes_only_the_envelope():
    _, cert = smime_identity()
    stored = encryption.encrypt(
        MESSAGE, kind="smime", key=cert.public_bytes(serialization.Encoding.PEM).decode()
    )
    analysis = mime.analyse(stored)
    assert analysis.bodystructure.startswith(b'("application" "pkcs7-mime"')
    assert analysis.subject == "The plans"


def test_the_schedule_skips_reserved_names_like_the_demo_domain(settings):
    from mailkite.mail import tasks

    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, dns_nameserver="127.0.0.1", dns_port=free_port(socket.SOCK_DGRAM), dns_timeout=1.0
    )
    make_account("a@demo.mailkite.test")
    make_account("b@real-shop.com")
    assert tasks.verify_all_domains.apply().get() == 1
    assert Domain.objects.get(name="demo.mailkite.test").mx_checked_at is None
    assert Domain.objects.get(name="real-shop.com").mx_outcome == "timeout"
