"""The seed's own checks (issue 2 point 7), over a real TLS socket against the real database."""

from __future__ import annotations

import email
import socket
import subprocess
import time

import pytest

from mailkite.mail import ingest
from passwords import service
from passwords.models import AppPassword

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_read_loop_returns_stored_message_byte_exact(connect, account, demo_mail):
    client = connect()
    assert client.login(account.address, account.password)[0] == "OK"
    typ, data = client.select("INBOX")
    assert typ == "OK"
    inbox = [raw for folder, raw in demo_mail if folder == "INBOX"]
    assert int(data[0]) == len(inbox)
    typ, data = client.search(None, "UNSEEN")
    numbers = data[0].split()
    assert len(numbers) == len(inbox)
    typ, raw = client.fetch(numbers[0], "(RFC822)")
    assert typ == "OK"
    body = raw[0][1]
    assert body == inbox[0].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    parsed = email.message_from_bytes(body)
    original = email.message_from_bytes(inbox[0])
    assert parsed["From"] == original["From"]
    assert parsed["Subject"] == original["Subject"]


def test_fetch_sets_seen_inside_the_same_response(connect, account, demo_mail):
    client = connect()
    client.login(account.address, account.password)
    client.select("INBOX")
    _, raw = client.fetch(b"1", "(RFC822)")
    assert b"\\Seen" in raw[1]  # the FLAGS come after the body, in the same FETCH
    _, data = client.search(None, "UNSEEN")
    assert b"1" not in data[0].split()


def test_peek_does_not_set_seen(connect, account, demo_mail):
    client = connect()
    client.login(account.address, account.password)
    client.select("INBOX")
    client.fetch(b"2", "(BODY.PEEK[])")
    _, data = client.search(None, "SEEN")
    assert data == [b""]


def test_flags_set_by_one_connection_are_seen_by_another(connect, account, demo_mail):
    first, second = connect(), connect()
    for client in (first, second):
        client.login(account.address, account.password)
        client.select("INBOX")
    assert first.store(b"3", "+FLAGS", "(\\Flagged)")[0] == "OK"
    _, data = second.search(None, "FLAGGED")
    assert data[0].split() == [b"3"]
    second.noop()
    assert any(b"\\Flagged" in line for line in second.untagged_responses.get("FETCH", []))


def test_seed_loop_keeps_working_while_another_client_flags_and_mail_arrives(connect, account, demo_mail):
    reader, other = connect(), connect()
    for client in (reader, other):
        client.login(account.address, account.password)
        client.select("INBOX")
    typ, data = reader.search(None, "UNSEEN")
    numbers = data[0].split()
    for index, number in enumerate(numbers):
        if index == 1:
            other.store(numbers[-1], "+FLAGS", "(\\Seen \\Flagged)")
            ingest.store(mailbox=account.mailbox, raw=b"Subject: late\r\nFrom: a@b.example\r\n\r\nhi\r\n")
        typ, raw = reader.fetch(number, "(RFC822)")
        assert typ == "OK"
        assert isinstance(raw[0], tuple) and b"\r\n\r\n" in raw[0][1]
    typ, data = reader.noop()
    assert typ == "OK"
    assert reader.untagged_responses.get("EXISTS")


def test_revoked_password_can_no_longer_log_in(connect, account):
    client = connect()
    assert client.login(account.address, account.password)[0] == "OK"
    service.revoke_app_password(app_password=AppPassword.objects.get())
    with pytest.raises(imaplib_error()) as failure:
        connect().login(account.address, account.password)
    assert b"AUTHENTICATIONFAILED" in str(failure.value).encode()


def imaplib_error():
    import imaplib

    return imaplib.IMAP4.error


def test_plaintext_client_gets_a_bye_not_a_hang(imap_server):
    with socket.create_connection((imap_server.host, imap_server.port), timeout=10) as sock:
        started = time.monotonic()
        data = sock.recv(4096)
    assert data.startswith(b"* BYE This port requires TLS from the first byte")
    assert time.monotonic() - started < 10


def test_plaintext_command_gets_the_bye_at_once(imap_server):
    with socket.create_connection((imap_server.host, imap_server.port), timeout=10) as sock:
        sock.sendall(b"a1 CAPABILITY\r\n")
        assert sock.recv(4096).startswith(b"* BYE This port requires TLS")


def test_openssl_s_client_session(imap_server, certs, account):
    script = f"a LOGIN {account.address} {account.password}\na SELECT INBOX\na LOGOUT\n"
    result = subprocess.run(
        [
            "openssl",
            "s_client",
            "-connect",
            f"{imap_server.host}:{imap_server.port}",
            "-crlf",
            "-quiet",
            "-CAfile",
            str(certs.ca_file),
            "-verify_return_error",
        ],
        input=script.encode(),
        capture_output=True,
        timeout=30,
    )
    out = result.stdout.decode()
    lines = [line for line in out.splitlines() if line.startswith("a ")]
    assert [line.split()[1] for line in lines] == ["OK", "OK", "OK"], out
