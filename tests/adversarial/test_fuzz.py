"""The grammar fuzzer (issue 10, "Tests"): every command, valid-but-extreme and malformed, in every
state, over real TLS to the in-process server, on the real test database.

For every command line: an answer within the timeout (tagged OK/NO/BAD, an untagged BAD for a line
without a valid tag, or `* BYE` and then the end of the connection), never `[SERVERBUG]`, never the
client's input echoed in the response text. Over the run: no log record at ERROR or with exc_info
from imapd or any other logger, bounded memory, and afterwards the server still serves a normal
LOGIN, SELECT and FETCH and its set of connections empties.

FUZZ_EXAMPLES sets the number of examples per state (default 100: the file runs in about a minute on
two busy cores). Under CI the examples are derandomized, so a red build replays the same commands;
elsewhere they are random, and hypothesis keeps failures in its local example database.
"""

from __future__ import annotations

import imaplib
import logging
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imapd.server import ServerOptions
from tests.adversarial.fuzzclient import FuzzClient, Outcome
from tests.adversarial.grammar import CANARY, Probe, probes
from tests.conftest import Account, Certs, RunningServer

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
# Generous: a slow CI machine must not turn a late answer into a failure; a hang still fails.
ANSWER_TIMEOUT = float(os.environ.get("FUZZ_ANSWER_TIMEOUT", "30"))
RSS_GROWTH_CAP = 128 * 1024 * 1024  # a leak of a few KiB per command shows up well past this

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

# The state a run's connections are in, and the grammar its commands lean towards.
STATES = {
    "not authenticated": "not authenticated",
    "authenticated": "authenticated",
    "selected": "selected",
    "examined": "selected",
    "compressed": "selected",  # COMPRESS DEFLATE, then SELECT INBOX
}
# The extremes the issue names, run first in every state, whatever hypothesis draws after them.
EXTREMES = [
    b"x1 SEARCH SINCE 1-Jan-0000",
    b"x2 SEARCH SINCE 31-Dec-9999",
    b"x3 SEARCH ON 31-Dec-9999 SENTON 31-Dec-9999 BEFORE 1-Jan-0001",
    b"x4 SEARCH SENTSINCE 31-Feb-2024 OR SINCE 1-Jan-99999 ALL",
    b"x5 FETCH 1:*,*:1,4294967295 (FLAGS)",
    b"x6 UID FETCH 1:*,*:1,4294967295 (BODY[1.2.3.HEADER.FIELDS (X)]<0.4294967295> BINARY[0] BINARY.SIZE[1])",
    b"x7 FETCH 1 (BODY.PEEK[]<4294967295.4294967295> BINARY.PEEK[1]<0.1> BODY[TEXT]<0.0>)",
    b"x8 STORE 1:* +FLAGS.SILENT (\\Seen $Junk)",
    b"x9 UID STORE 4294967295 (UNCHANGEDSINCE 9223372036854775807) FLAGS ()",
    b"x10 SEARCH " + b"(" * 70 + b"ALL" + b")" * 70,
    b"x11 SEARCH CHARSET KOI8-R ALL",
    b"x12 SELECT INBOX (QRESYNC (4294967295 9223372036854775807 1:* (1:* 1:*)))",
    b"x13 ENABLE QRESYNC IMAP4rev2 UTF8=ACCEPT",
    b"x14 COMPRESS DEFLATE",
    b"x15 AUTHENTICATE PLAIN !!!!",
    b"x16 LOGIN {3}\r\nabc {5000+}\r\n" + b"p" * 5000,
    b'x17 ID ("name" "fuzz" "version" "0")',
    b"x18 SORT (REVERSE DATE) UTF-8 SINCE 31-Dec-9999",
    b"x19 THREAD REFERENCES UTF-8 SENTBEFORE 31-Dec-9999",
    b'x20 LIST "" (INBOX "*" "%/%") RETURN (STATUS (MESSAGES UNSEEN HIGHESTMODSEQ))',
]


@pytest.fixture
def imap_options() -> ServerOptions:
    # No login failure delay: the fuzzer fails logins by the hundred from one address, and the
    # penalty would otherwise grow to its cap and outlast the answer timeout.
    return ServerOptions(
        first_byte_timeout=1.0, failure_delay=0.0, shutdown_grace=2.0, event_poll_interval=0.2
    )


class TroubleLog(logging.Handler):
    """Keeps every record at ERROR or above, and every record carrying a traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)

    def report(self) -> str:
        return "\n".join(f"{r.name} {r.levelname} {r.getMessage()}\n{self.format(r)}" for r in self.records)


@pytest.fixture
def trouble() -> Iterator[TroubleLog]:
    """The log records of the run that count as a bug. The per-command INFO lines are silenced
    meanwhile: pytest keeps every captured record, which would swamp the memory measurement."""
    handler = TroubleLog()
    root, imapd = logging.getLogger(), logging.getLogger("imapd")
    levels = root.level, imapd.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    imapd.setLevel(logging.WARNING)
    yield handler
    root.removeHandler(handler)
    root.setLevel(levels[0])
    imapd.setLevel(levels[1])


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sessions:
    """Opens a connection in the state a run is about."""

    def __init__(self, server: RunningServer, certs: Certs, password: str) -> None:
        self.server = server
        self.context = certs.client_context()
        self.password = password.encode()
        self.lines = 0

    def open(self, state: str) -> FuzzClient:
        client = FuzzClient(self.server.host, self.server.port, self.context, ANSWER_TIMEOUT)
        setup = [] if state == "not authenticated" else [b"s1 LOGIN fuzz " + self.password]
        if state == "compressed":
            setup.append(b"s2 COMPRESS DEFLATE")
        if state in ("selected", "compressed"):
            setup.append(b"s3 SELECT INBOX")
        if state == "examined":
            setup.append(b"s3 EXAMINE INBOX")
        for line in setup:
            outcome = client.run(Probe(line))
            assert outcome.status == "OK", (line, outcome)
        return client


def check(probe: Probe, outcome: Outcome) -> None:
    """What every answer must be, whatever the command was."""
    where = f"probe {probe!r} got {outcome.lines[-6:]!r}"
    assert outcome.status in ("OK", "NO", "BAD", "BYE", "IGNORED"), where
    if outcome.status == "IGNORED":
        return
    for line in outcome.lines:
        assert b"[SERVERBUG]" not in line and b"Internal server error" not in line, where
    words = outcome.final.rstrip(b"\r\n").split(b" ", 2)
    text = words[2] if len(words) > 2 else b""
    assert CANARY.lower() not in text.lower(), "client input echoed: " + where
    if outcome.status != "OK":
        sentence = text.split(b"] ", 1)[-1] if text.startswith(b"[") else text
        assert len(sentence) > 8 and sentence.isascii(), "a refusal says why, in words: " + where


def server_still_serves(server: RunningServer, certs: Certs, password: str) -> None:
    client = imaplib.IMAP4_SSL(server.host, server.port, ssl_context=certs.client_context(), timeout=20)
    try:
        assert client.login("fuzz", password)[0] == "OK"
        status, exists = client.select("INBOX")
        assert status == "OK" and exists == [b"10"]
        status, fetched = client.fetch("1", "(UID FLAGS BODY.PEEK[HEADER])")
        assert status == "OK" and isinstance(fetched[0], tuple) and b"From:" in fetched[0][1]
    finally:
        client.logout()


def connections_empty(server: RunningServer, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not server.server.connections:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("state", list(STATES))
def test_fuzz_every_command_in_every_state(
    state: str,
    imap_server: RunningServer,
    certs: Certs,
    account: Account,
    demo_mail: list[tuple[str, bytes]],
    trouble: TroubleLog,
) -> None:
    sessions = Sessions(imap_server, certs, account.password)
    clients: list[FuzzClient] = []
    sent = [0]
    sessions.open(state).close()  # warm up: imports, the snapshot cache, the first argon2 hash
    before = rss()

    @FUZZ
    @example([Probe(line) for line in EXTREMES])
    @given(st.lists(probes(STATES[state]), min_size=1, max_size=6))
    def run(batch: list[Probe]) -> None:
        client = sessions.open(state)
        clients.append(client)
        for probe in batch:
            outcome = client.run(probe)
            sent[0] += outcome.lines_sent
            check(probe, outcome)
            if not outcome.usable:
                client.close()
                client = sessions.open(state)
                clients.append(client)
        client.close()

    try:
        run()
    finally:
        for client in clients:
            client.close()
    grown = rss() - before
    assert not trouble.records, trouble.report()
    assert grown < RSS_GROWTH_CAP, f"memory grew by {grown // 2**20} MiB over {sent[0]} lines"
    server_still_serves(imap_server, certs, account.password)
    assert connections_empty(imap_server), f"{len(imap_server.server.connections)} connections left"
