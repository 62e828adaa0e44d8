"""Leak reports from secret scanners (issue 15.6): signed reports revoke real tokens, nothing else does.

Reports are signed as GitHub's secret-scanning partner program signs them, with a P-256 key pair
generated here; its public key is the only one the settings trust. Requests go through Django's
test client to the real endpoint and the real database; the live-session test uses a real IMAPS
server and sees the `* BYE`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import imaplib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from passwords import service, tokens
from passwords.models import ApiKey, AppPassword, AuditEntry
from tests.conftest import Account
from tests.web.conftest import Person

KEY_ID = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"  # GitHub's are hex like this
URL = "https://github.com/octocat/dotfiles/blob/5a1f3e/mail/.mbsyncrc"


@dataclasses.dataclass
class Scanner:
    key: ec.EllipticCurvePrivateKey
    key_id: str = KEY_ID

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()

    def post(self, matches: Any, *, body: bytes | None = None, **headers: str) -> Any:
        raw = json.dumps(matches).encode() if body is None else body
        sent = {"Github-Public-Key-Identifier": self.key_id, "Github-Public-Key-Signature": self.sign(raw)}
        sent.update(headers)
        # As a scanner sends it: no session, no CSRF token (the client enforces CSRF like a browser's).
        return Client(enforce_csrf_checks=True).post(
            reverse("leak-reports"),
            data=raw,
            content_type="application/json",
            headers={k: v for k, v in sent.items() if v is not None},
        )


def public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def scanner(settings: Any) -> Scanner:
    key = ec.generate_private_key(ec.SECP256R1())
    settings.MAILKITE = dataclasses.replace(
        settings.MAILKITE, secret_scanning_public_keys=((KEY_ID, public_pem(key)),)
    )
    return Scanner(key)


def match(token: str, type_: str = "mailkite_imap_app_password") -> dict[str, str]:
    return {"token": token, "type": type_, "url": URL, "source": "commit"}


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_signed_report_revokes_a_live_sessions_password(
    scanner: Scanner, connect: Any, account: Account
) -> None:
    imap = connect()
    imap.login(account.address, account.password)
    imap.select("INBOX")
    imap.send(b"i1 IDLE\r\n")
    assert imap.readline().startswith(b"+ ")

    response = scanner.post([match(account.password)])

    assert response.status_code == 200
    assert response.json() == [
        {
            "token_hash": sha256(account.password),
            "token_type": "mailkite_imap_app_password",
            "label": "true_positive",
        }
    ]
    assert imap.readline() == b"* BYE This app-password was revoked.\r\n"
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        connect().login(account.address, account.password)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.APP_PASSWORD_REVOKED)
    assert entry.via == "leak-report"
    assert entry.target == f"Test client (leaked at {URL})"
    assert entry.identifier == AppPassword.objects.get().display
    assert entry.ip == "127.0.0.1"
    # The owner hears once, in text and HTML, of the label, the public part and the place; never the secret.
    [email] = mail.outbox
    assert email.to == ["owner@example.com"]
    html = email.alternatives[0][0]
    for part in (email.subject, email.body, html):
        assert account.password not in part
    for part in (email.body, html):
        assert "Test client" in part and AppPassword.objects.get().display in part and URL in part


def test_an_api_key_leak_is_revoked(scanner: Scanner, api_key: tuple[ApiKey, str], alice: Person) -> None:
    row, secret = api_key
    response = scanner.post([match(secret, "mailkite_api_key")])
    assert response.json() == [
        {"token_hash": sha256(secret), "token_type": "mailkite_api_key", "label": "true_positive"}
    ]
    row.refresh_from_db()
    assert row.revoked_at is not None
    refused = Client().get(reverse("app-password-list"), headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401
    entry = AuditEntry.objects.get(action=AuditEntry.Action.API_KEY_REVOKED)
    assert (entry.via, entry.target) == ("leak-report", f"deploy script (leaked at {URL})")
    [email] = mail.outbox
    assert email.to == [alice.user.email] and "deploy script" in email.body and secret not in email.body


def test_the_owner_hears_once_however_often_it_is_reported(
    scanner: Scanner, api_key: tuple[ApiKey, str]
) -> None:
    _, secret = api_key
    first = scanner.post([match(secret, "mailkite_api_key"), match(secret, "mailkite_api_key")])
    again = scanner.post([match(secret, "mailkite_api_key")])
    # Already revoked is still ours and still leaked: true_positive, but no second entry or email.
    assert [v["label"] for v in first.json() + again.json()] == ["true_positive"] * 3
    assert len(mail.outbox) == 1
    assert AuditEntry.objects.filter(action=AuditEntry.Action.API_KEY_REVOKED).count() == 1


def test_random_strings_and_wrong_checksums_are_false_positives_without_a_query(
    scanner: Scanner, db: None
) -> None:
    real = tokens.generate(tokens.IMAP).value
    wrong_checksum = real[:-1] + ("A" if real[-1] != "A" else "B")
    suspects = ["hunter2", wrong_checksum]
    with CaptureQueriesContext(connection) as queries:
        response = scanner.post([match(s) for s in suspects])
    assert response.status_code == 200
    assert response.json() == [
        {"token_hash": sha256(s), "token_type": "mailkite_imap_app_password", "label": "false_positive"}
        for s in suspects
    ]
    assert [q["sql"] for q in queries.captured_queries] == []


def test_a_made_up_secret_behind_a_real_key_id_revokes_nothing(scanner: Scanner, alice: Person) -> None:
    # Key ids are public (dashboard, audit trail, emails): publishing a forged token must not
    # revoke a stranger's password, even with a checksum that adds up.
    row, _ = service.user_create_app_password(
        actor=service.command_line(), mailbox=alice.mailbox, label="Phone"
    )
    body = f"mk_imap_{row.key_id}_{'x' * tokens.SECRET_LENGTH}"
    forged = body + tokens._checksum(body)
    assert tokens.parse(forged) is not None
    response = scanner.post([match(forged)])
    assert response.json()[0]["label"] == "false_positive"
    row.refresh_from_db()
    assert row.revoked_at is None and mail.outbox == []


def assert_refused(response: Any, code: str, status: int = 401) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code
    if status == 401:
        assert response["WWW-Authenticate"].startswith("Github-Public-Key-Signature ")


def test_a_badly_signed_report_is_refused(scanner: Scanner, account: Account) -> None:
    body = json.dumps([match(account.password)]).encode()
    signed_other = scanner.sign(body.replace(b"commit", b"content"))
    assert_refused(
        scanner.post(None, body=body, **{"Github-Public-Key-Signature": signed_other}), "bad-signature"
    )
    assert_refused(
        scanner.post(None, body=body, **{"Github-Public-Key-Signature": "not base64!"}), "bad-signature"
    )
    impostor = Scanner(ec.generate_private_key(ec.SECP256R1()))  # right key id, wrong key
    assert_refused(impostor.post([match(account.password)]), "bad-signature")
    assert AppPassword.objects.get().revoked_at is None and mail.outbox == []


def test_an_unknown_key_or_no_signature_is_refused(scanner: Scanner, account: Account) -> None:
    stranger = Scanner(ec.generate_private_key(ec.SECP256R1()), key_id="someone-else")
    assert_refused(stranger.post([match(account.password)]), "unknown-signing-key")
    unsigned = Client().post(
        reverse("leak-reports"), data=[match(account.password)], content_type="application/json"
    )
    assert_refused(unsigned, "signature-required")
    assert AppPassword.objects.get().revoked_at is None


def test_oversized_reports_are_refused(scanner: Scanner, db: None) -> None:
    from passwords.api import leak_reports

    too_many = [match("x")] * (leak_reports.MAX_TOKENS + 1)
    assert_refused(scanner.post(too_many), "too-many-tokens", 413)
    padding = {"token": "x", "url": "u" * leak_reports.MAX_BODY_BYTES}
    assert_refused(scanner.post([padding]), "payload-too-large", 413)


def test_a_report_that_is_not_an_array_of_matches_is_a_validation_error(scanner: Scanner, db: None) -> None:
    response = scanner.post({"token": "x"})
    assert response.status_code == 400 and response.json()["code"] == "validation-error"


def test_reports_are_rate_limited_per_address(scanner: Scanner, settings: Any, db: None) -> None:
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, secret_scanning_rate_limit="2/minute")
    assert [scanner.post([match("x")]).status_code for _ in range(2)] == [200, 200]
    limited = scanner.post([match("x")])
    assert_refused(limited, "too-many-requests", 429)
    assert int(limited["Retry-After"]) > 0
    # Another address has its own allowance.
    other = Client(REMOTE_ADDR="192.0.2.7").post(
        reverse("leak-reports"), data=[], content_type="application/json"
    )
    assert other.status_code == 401
