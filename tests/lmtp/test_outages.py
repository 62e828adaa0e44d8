"""`manage.py lmtpd` as its own process when what it depends on is missing: the database (at RCPT
time and after DATA) and the blob store answer 451 4.3.0, so the MTA keeps the message and retries,
and nothing half-stored is left; when the database is back, the same process delivers again."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from mailkite.mail.models import Message
from tests.conftest import child_environment, make_account
from tests.lmtp.conftest import LmtpdProcess
from tests.lmtp.relay import Relay
from tests.lmtp.wire import send

pytestmark = pytest.mark.django_db(transaction=True)
Start = Callable[..., LmtpdProcess]
MESSAGE = b"Subject: retry me\r\n\r\nBody.\r\n"


def test_rcpt_gets_451_when_the_database_is_unreachable(tmp_path: Path, start_lmtpd: Start):
    env = child_environment(
        DATABASE_URL="postgresql://postgres@127.0.0.1:1/nothing",  # a closed port
        MAILKITE_DATA_DIR=str(tmp_path),
        BLOB_DIR=str(tmp_path / "blobs"),
    )
    lmtpd = start_lmtpd(env)
    client = lmtpd.connect()
    assert client.docmd("MAIL FROM:<a@b.example>")[0] == 250
    code, text = client.docmd("RCPT TO:<you@example.com>")
    assert (code, text) == (451, b"4.3.0 The mail store is unavailable; try again later")
    client.quit()
    code, err = lmtpd.stop()
    assert code == 0 and "Traceback" not in err


def test_data_gets_451_for_every_recipient_when_the_blob_store_cannot_be_written(
    tmp_path: Path, start_lmtpd: Start
):
    make_account("one@example.com")
    make_account("two@example.org")
    (tmp_path / "a-file").write_bytes(b"")
    lmtpd = start_lmtpd(child_environment(BLOB_DIR=str(tmp_path / "a-file" / "blobs")))
    result = send(lmtpd.connect(), "a@b.example", ["one@example.com", "two@example.org"], MESSAGE)
    assert result.data_lines == ["451 4.3.0 The message store could not be written; try again later"] * 2
    assert not Message.objects.exists()


def test_a_database_that_goes_away_after_rcpt_gets_451_and_the_process_heals(start_lmtpd: Start):
    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI runs this on PostgreSQL", pytrace=False)
        pytest.skip("cutting the database's connection needs PostgreSQL (set DATABASE_URL)")
    make_account("you@example.com")
    db = connection.settings_dict
    relay = Relay((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    url = f"postgresql://{db['USER']}@127.0.0.1:{relay.port}/{db['NAME']}"
    lmtpd = start_lmtpd(child_environment(DATABASE_URL=url, DB_POOL_SIZE="2"))
    client = lmtpd.connect()
    assert client.docmd("MAIL FROM:<a@b.example>")[0] == 250
    assert client.docmd("RCPT TO:<you@example.com>")[0] == 250
    relay.cut()
    assert client.docmd("DATA")[0] == 354
    client.send(MESSAGE + b".\r\n")
    assert client.getreply() == (451, b"4.3.0 The mail store is unavailable; try again later")
    assert not Message.objects.exists()
    relay.restore()
    # The same process, without a restart. Each call that meets a connection the cut broke drops
    # it from the pool and answers 451, which the MTA retries; so a few retries at most (the pool
    # holds at most DB_POOL_SIZE of them), never a 5xx, never a second copy.
    answers = []
    for _ in range(4):
        answers.append(send(client, "a@b.example", ["you@example.com"], MESSAGE))
        if answers[-1].data_lines == ["250 2.0.0 Delivered"]:
            break
    assert answers[-1].data_lines == ["250 2.0.0 Delivered"], answers
    for earlier in answers[:-1]:  # refused for now (the recipient may be remembered: 250 at RCPT)
        codes = [code for code, _ in earlier.rcpt + earlier.data]
        assert 451 in codes and set(codes) <= {250, 451}, earlier
        assert [code for code, _ in earlier.data] in ([], [451])
    assert Message.objects.count() == 1
    client.quit()
    relay.cut()


def test_a_process_killed_mid_transaction_stores_nothing_and_the_retry_stores_once(start_lmtpd: Start):
    """SIGKILL while the MTA is sending DATA: nothing is half-stored for either recipient, nothing
    was acknowledged, and the MTA's retry to a new process stores the message once for each."""
    make_account("one@example.com")
    make_account("two@example.org")
    first = start_lmtpd(child_environment())
    client = first.connect()
    client.docmd("MAIL FROM:<a@b.example>")
    assert client.docmd("RCPT TO:<one@example.com>")[0] == 250
    assert client.docmd("RCPT TO:<two@example.org>")[0] == 250
    assert client.docmd("DATA")[0] == 354
    client.send(MESSAGE)  # no final dot yet
    first.process.kill()
    first.process.communicate(timeout=30)
    assert not Message.objects.exists()
    client.close()
    second = start_lmtpd(child_environment())
    retried = send(second.connect(), "a@b.example", ["one@example.com", "two@example.org"], MESSAGE)
    assert retried.data_lines == ["250 2.0.0 Delivered"] * 2
    assert sorted(Message.objects.values_list("delivered_to", flat=True)) == ["one@example.com", "two@example.org"]
