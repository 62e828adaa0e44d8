"""`manage.py lmtpd` as an operator runs it: flags beat the environment, bad values are refused
with a sentence and no traceback, and SIGTERM stops it cleanly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import child_environment
from tests.lmtp.conftest import REPO

pytestmark = pytest.mark.django_db(transaction=True)


def lmtpd(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "lmtpd", *args],
        cwd=REPO,
        env=child_environment(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "env", "sentence"),
    [
        (["--port", "99999"], {}, "--port must be between 1 and 65535."),
        (["--port", "twenty"], {}, "--port must be a whole number, not 'twenty'."),
        ([], {"LMTP_BIND_PORT": "99999"}, "LMTP_BIND_PORT must be between 1 and 65535, not 99999."),
        ([], {"LMTP_BIND_PORT": "lmtp"}, "LMTP_BIND_PORT must be a whole number, not 'lmtp'."),
        ([], {"LMTP_MAX_MESSAGE_BYTES": "10"}, "LMTP_MAX_MESSAGE_BYTES must be at least 1024, not 10."),
    ],
    ids=["flag-range", "flag-word", "env-range", "env-word", "size"],
)
def test_bad_values_are_refused_in_a_sentence_without_a_traceback(args, env, sentence):
    done = lmtpd(*args, **env)
    assert done.returncode != 0
    assert sentence in done.stderr
    assert "Traceback" not in done.stderr


def test_a_busy_port_is_named(start_lmtpd):
    first = start_lmtpd(child_environment())
    done = lmtpd("--port", str(first.port))
    assert done.returncode != 0
    assert f"Cannot listen on 127.0.0.1:{first.port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_flag_beats_the_environment_and_sigterm_stops_it(start_lmtpd):
    process = start_lmtpd(child_environment(LMTP_BIND_PORT="1"))  # the fixture passes --port 0
    assert process.port not in (0, 1)
    client = process.connect()
    assert client.noop()[0] == 250
    client.quit()
    code, err = process.stop()
    assert code == 0, err
    assert "Traceback" not in err


def test_processes_started_with_reuse_port_share_the_port(start_lmtpd):
    first = start_lmtpd(child_environment(), "--reuse-port")
    second = start_lmtpd(child_environment(), "--port", str(first.port), "--reuse-port")
    assert second.port == first.port
    for _ in range(4):
        client = second.connect()
        assert client.noop()[0] == 250
        client.quit()
    assert first.stop()[0] == 0
    # The port still answers: the other process holds it.
    client = second.connect()
    assert client.noop()[0] == 250
    client.quit()
