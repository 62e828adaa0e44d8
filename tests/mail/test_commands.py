"""Management commands on the real database: deliver, createdomain, createmailbox, apppassword,
bump_uidvalidity. `deliver` is also run as a real process against a database that is not there."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from mailkite.mail import blobstore, services
from mailkite.mail.models import Domain, Folder, Mailbox, Message
from passwords import service
from passwords.models import AppPassword
from tests.conftest import make_account

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
RAW = b"From: a@b.example\r\nTo: you@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def exit_code(*args: str) -> tuple[int | str | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(SystemExit) as caught:
        call_command(*args, stdout=out, stderr=err)
    return caught.value.code, out.getvalue(), err.getvalue()


@pytest.fixture
def message_file(tmp_path: Path) -> Path:
    path = tmp_path / "message.eml"
    path.write_bytes(RAW)
    return path


# ---------------------------------------------------------------------------------------------------
# deliver


def test_deliver_stores_and_prints_one_line(message_file: Path):
    make_account()
    out, err = run("deliver", "--to", "you@example.com", str(message_file))
    assert out == f"stored for you@example.com in INBOX as UID 1 ({len(RAW)} octets)\n"
    assert err == ""
    message = Message.objects.get()
    assert blobstore.get(message.blob_id) == RAW


def test_deliver_into_sent(message_file: Path):
    make_account()
    out, _ = run("deliver", "--to", "you@example.com", "--folder", "Sent", str(message_file))
    assert "in Sent as UID 1" in out
    assert Message.objects.get().folder.name == Folder.SENT


def test_deliver_reads_standard_input(monkeypatch: pytest.MonkeyPatch):
    make_account()

    class Stdin:
        buffer = io.BytesIO(RAW.replace(b"\r\n", b"\n"))

    monkeypatch.setattr(sys, "stdin", Stdin())
    out, _ = run("deliver", "--to", "you@example.com")
    assert out.count("\n") == 1
    assert out.startswith("stored for you@example.com in INBOX as UID 1")
    assert out.rstrip().endswith("; bare LF line endings normalised to CRLF")
    assert blobstore.get(Message.objects.get().blob_id) == RAW


@pytest.mark.parametrize(
    ("address", "verified", "reason"),
    [
        ("you@example.com", False, "the domain example.com is not MX-verified"),
        ("nobody@example.com", True, "no mailbox nobody@example.com"),
        ("you@elsewhere.example", True, "no domain elsewhere.example is set up at MailKite"),
        ("not-an-address", True, "“not-an-address” is not a valid email address."),
    ],
)
def test_deliver_unknown_recipient_exits_ex_nouser(
    message_file: Path, address: str, verified: bool, reason: str
):
    make_account(verified=verified)
    code, out, err = exit_code("deliver", "--to", address, str(message_file))
    assert code == os.EX_NOUSER == 67
    assert out == ""
    assert err == f"deliver: {reason}\n"
    assert not Message.objects.exists()


def test_deliver_to_zero_retention_succeeds_without_storing(message_file: Path):
    make_account(retention=Domain.Retention.PASSTHROUGH)
    out, _ = run("deliver", "--to", "you@example.com", str(message_file))
    assert (
        out
        == "not stored for you@example.com: the domain example.com is on zero-retention, so nothing is stored\n"
    )
    assert not Message.objects.exists()


def test_deliver_unreadable_file_exits_ex_noinput(tmp_path: Path):
    make_account()
    code, _, err = exit_code("deliver", "--to", "you@example.com", str(tmp_path / "missing.eml"))
    assert code == os.EX_NOINPUT
    assert "cannot read" in err and "No such file or directory" in err


def test_deliver_refuses_an_empty_message_with_ex_dataerr(tmp_path: Path):
    make_account()
    (tmp_path / "empty.eml").write_bytes(b"\r\n")
    code, _, err = exit_code("deliver", "--to", "you@example.com", str(tmp_path / "empty.eml"))
    assert code == os.EX_DATAERR
    assert "the message is empty" in err
    assert not Message.objects.exists()


def test_deliver_exits_ex_tempfail_when_the_database_is_unreachable(tmp_path: Path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mailkite.settings",
        "DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nothing",  # a closed port
        "MAILKITE_DATA_DIR": str(tmp_path / "data"),
        "REDIS_URL": "",
    }
    done = subprocess.run(
        [sys.executable, "manage.py", "deliver", "--to", "you@example.com"],
        input=RAW,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == os.EX_TEMPFAIL == 75, done.stderr.decode()
    assert done.stdout == b""
    assert "deliver: the database is unavailable, try again later" in done.stderr.decode()


# ---------------------------------------------------------------------------------------------------
# createdomain and createmailbox


@pytest.fixture
def owner():
    return get_user_model().objects.create_user(username="alice", password="x")


def test_createdomain_starts_unverified(owner):
    out, _ = run("createdomain", "Example.ORG", "--owner", "alice")
    domain = Domain.objects.get()
    assert out == (
        "Created example.org for alice (not yet MX-verified, retain).\n"
        "Prove ownership: publish this TXT record, then run `manage.py domain verify example.org`:\n"
        f'  example.org.  3600  IN  TXT  "mailkite-verification={domain.verification_token}"\n'
    )
    assert (domain.name, domain.owner, domain.mx_verified_at, domain.catch_all) == (
        "example.org",
        owner,
        None,
        False,
    )


def test_createdomain_with_options(owner):
    out, _ = run(
        "createdomain",
        "example.org",
        "--owner",
        "alice",
        "--mx-verified",
        "--retention",
        "passthrough",
        "--catch-all",
    )
    assert "(MX-verified, passthrough)" in out
    domain = Domain.objects.get()
    assert domain.mx_verified_at is not None
    assert domain.retention == Domain.Retention.PASSTHROUGH
    assert domain.catch_all is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["example.org", "--owner", "bob"], "No user 'bob'"),
        (["not a domain", "--owner", "alice"], "is not a valid domain name"),
    ],
)
def test_createdomain_errors(owner, args: list[str], message: str):
    with pytest.raises(CommandError, match=message):
        run("createdomain", *args)
    assert not Domain.objects.exists()


def test_createdomain_twice_is_an_error(owner):
    run("createdomain", "example.org", "--owner", "alice")
    with pytest.raises(CommandError, match="already exists"):
        run("createdomain", "example.org", "--owner", "alice")


def test_createmailbox_makes_inbox_and_sent(owner):
    run("createdomain", "example.org", "--owner", "alice")
    out, _ = run("createmailbox", "Bob@example.org")
    assert out == "Created mailbox bob@example.org with folders INBOX and Sent.\n"
    mailbox = Mailbox.objects.get()
    folders = {f.name: f for f in mailbox.folders.all()}
    assert set(folders) == {"INBOX", "Sent"}
    assert all(f.uidnext == 1 and f.uidvalidity > 0 for f in folders.values())


def test_createmailbox_errors(owner):
    with pytest.raises(CommandError, match=r"No domain example\.org"):
        run("createmailbox", "bob@example.org")
    run("createdomain", "example.org", "--owner", "alice")
    run("createmailbox", "bob@example.org")
    with pytest.raises(CommandError, match="already exists"):
        run("createmailbox", "bob@example.org")
    with pytest.raises(CommandError, match="not a valid email address"):
        run("createmailbox", "bob")


# ---------------------------------------------------------------------------------------------------
# apppassword


def test_apppassword_create_prints_the_secret_alone_on_stdout():
    make_account()
    AppPassword.objects.all().delete()
    out, err = run("apppassword", "create", "--mailbox", "you@example.com", "--label", "Thunderbird")
    assert out.count("\n") == 1
    secret = out.strip()
    assert re.fullmatch(r"mk_imap_\S+", secret)
    assert secret not in err
    assert "it is shown once" in err
    row = AppPassword.objects.get()
    assert row.label == "Thunderbird"
    assert secret.startswith(f"mk_imap_{row.key_id}_")
    assert service.verify_app_password(secret).address == "you@example.com"


def test_apppassword_create_for_an_unverified_domain_notes_imap_is_off():
    make_account(verified=False)
    out, err = run("apppassword", "create", "--mailbox", "you@example.com", "--label", "Laptop")
    assert out.strip().startswith("mk_imap_")
    assert "IMAP logins will be refused" in err and "not MX-verified" in err


def test_apppassword_create_errors():
    make_account()
    with pytest.raises(CommandError, match=r"No mailbox nobody@example\.com"):
        run("apppassword", "create", "--mailbox", "nobody@example.com", "--label", "x")
    with pytest.raises(CommandError, match="already have an active app-password labelled “Test client”"):
        run("apppassword", "create", "--mailbox", "you@example.com", "--label", "Test client")


def test_apppassword_list_never_shows_secrets_or_hashes():
    account = make_account()
    out, _ = run("apppassword", "create", "--mailbox", "you@example.com", "--label", "Phone")
    second = out.strip()
    listing, _ = run("apppassword", "list")
    rows = AppPassword.objects.order_by("created_at")
    lines = listing.splitlines()
    assert len(lines) == 2
    for row, line in zip(rows, lines, strict=True):
        assert line.startswith(
            f"{row.pk}\tmk_imap_{row.key_id}_…\tyou@example.com\t{row.label}\tactive\tnever used"
        )
        assert row.hash not in listing
    assert account.password not in listing and second not in listing
    assert "$argon2" not in listing
    for secret in (account.password, second):
        assert secret.rsplit("_", 1)[1] not in listing
    filtered, _ = run("apppassword", "list", "--mailbox", "other@example.com")
    assert filtered == ""


def test_apppassword_revoke_by_key_id_is_idempotent():
    account = make_account()
    row = AppPassword.objects.get()
    out, _ = run("apppassword", "revoke", row.key_id)
    assert out == f"Revoked mk_imap_{row.key_id}_… (Test client); its sessions are disconnected.\n"
    row.refresh_from_db()
    assert row.revoked_at is not None
    revoked_at = row.revoked_at
    out, _ = run("apppassword", "revoke", f"mk_imap_{row.key_id}_…")
    assert out == f"mk_imap_{row.key_id}_… (Test client) was already revoked.\n"
    row.refresh_from_db()
    assert row.revoked_at == revoked_at
    with pytest.raises(service.AuthenticationFailed):
        service.verify_app_password(account.password)
    listing, _ = run("apppassword", "list")
    assert "\trevoked\t" in listing


def test_apppassword_revoke_by_row_number_and_unknown():
    make_account()
    row = AppPassword.objects.get()
    run("apppassword", "revoke", str(row.pk))
    row.refresh_from_db()
    assert row.revoked_at is not None
    with pytest.raises(CommandError, match="No app-password 'zzzzzzzz'"):
        run("apppassword", "revoke", "zzzzzzzz")


# ---------------------------------------------------------------------------------------------------
# bump_uidvalidity


def test_bump_uidvalidity_raises_every_folder():
    account = make_account()
    Folder.objects.update(uidvalidity=1000)
    out, _ = run("bump_uidvalidity")
    assert out == "New UIDVALIDITY for 2 folder(s); clients will resynchronise them.\n"
    values = set(Folder.objects.filter(mailbox=account.mailbox).values_list("uidvalidity", flat=True))
    assert len(values) == 1 and values.pop() > 1000


def test_bump_uidvalidity_always_grows_even_past_the_clock():
    make_account()
    future = 2**32 - 10
    Folder.objects.update(uidvalidity=future)
    run("bump_uidvalidity")
    assert set(Folder.objects.values_list("uidvalidity", flat=True)) == {future + 1}


def test_bump_uidvalidity_for_one_mailbox():
    make_account()
    other = Mailbox.objects.get()

    second = services.create_mailbox(domain=other.domain, local_part="two")
    Folder.objects.update(uidvalidity=1000)
    out, _ = run("bump_uidvalidity", "--mailbox", "Two@example.com")
    assert "2 folder(s)" in out
    assert set(Folder.objects.filter(mailbox=second).values_list("uidvalidity", flat=True)) != {1000}
    assert set(Folder.objects.filter(mailbox=other).values_list("uidvalidity", flat=True)) == {1000}


def test_apppassword_create_with_limits_and_list_them():
    make_account()
    _, err = run(
        "apppassword", "create", "--mailbox", "you@example.com", "--label", "Backup",
        "--expires", "30", "--networks", "192.0.2.0/24, 2001:db8::/48", "--read-only",
    )
    row = AppPassword.objects.get(label="Backup")
    assert (row.scope, row.allowed_networks) == ("read-only", ["192.0.2.0/24", "2001:db8::/48"])
    assert "read-only, expires in 30 days, from 192.0.2.0/24 2001:db8::/48; it is shown once" in err
    listing, _ = run("apppassword", "list")
    line = next(line for line in listing.splitlines() if "\tBackup\t" in line)
    assert line.endswith("\tread-only, expires in 30 days, from 192.0.2.0/24 2001:db8::/48")
    AppPassword.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(days=1))
    listing, _ = run("apppassword", "list")
    line = next(line for line in listing.splitlines() if "\tBackup\t" in line)
    assert "\texpired\tnever used" in line and "expired on " in line


def test_apppassword_create_refuses_bad_limits():
    make_account()
    with pytest.raises(CommandError, match="Expiry in days must be one of 7, 30, 90, 365"):
        run("apppassword", "create", "--mailbox", "you@example.com", "--label", "x", "--expires", "14")
    with pytest.raises(CommandError, match=r"“10\.1\.1\.300” is not an IP address or network"):
        run(
            "apppassword", "create", "--mailbox", "you@example.com", "--label", "x", "--networks", "10.1.1.300"
        )
    assert not AppPassword.objects.filter(label="x").exists()


def test_apppassword_limits_changes_an_active_password():
    make_account()
    row = AppPassword.objects.get()
    out, _ = run("apppassword", "limits", row.key_id, "--expires", "7", "--networks", "10.0.0.0/8", "--read-only")
    assert out == f"mk_imap_{row.key_id}_… (Test client): read-only, expires in 7 days, from 10.0.0.0/8.\n"
    out, _ = run("apppassword", "limits", str(row.pk), "--expires", "never", "--networks", "", "--read-and-flag")
    assert out == f"mk_imap_{row.key_id}_… (Test client): no limits.\n"
    with pytest.raises(CommandError, match="Expiry in days must be one of"):
        run("apppassword", "limits", row.key_id, "--expires", "3")
