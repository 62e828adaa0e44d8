"""Issue 10, "COMPRESS": 4 GiB of zeros, compressed to 4.2 MB, cost 11 s of server CPU. Now the
inflated input is capped per command and in proportion to what was sent: a bomb ends with a
`* BYE` sentence after a few milliseconds of work. Real raw-deflate streams over real TLS."""

from __future__ import annotations

import os
import re
import zlib

import pytest

from tests.adversarial.stream_helpers import logged_in

pytestmark = pytest.mark.django_db(transaction=True)

MIB = 1024 * 1024


def _zeros_mib() -> bytes:
    """Deflate blocks for 1 MiB of zeros that can be repeated: a full flush resets the window, so
    each copy stands alone, and no block is marked final. Each copy is about 1 KB."""
    out = zlib.compressobj(9, zlib.DEFLATED, -15)
    return out.compress(b"\0" * MIB) + out.flush(zlib.Z_FULL_FLUSH)


def _server_cpu_seconds(imap_server) -> float:
    """CPU time of the server's event-loop thread so far (utime + stime, /proc/self/task)."""
    with open(f"/proc/self/task/{imap_server.thread.native_id}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _compressed_session(connect, account):
    wire = logged_in(connect, account.password)
    wire.ok("c1 COMPRESS DEFLATE")
    return wire.client.sock, zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)


def _read_until_bye(sock, inflate) -> bytes:
    """Everything the server sends up to its `* BYE` line (or the end of the stream). Not waiting
    for the TCP close: asyncio's TLS shutdown waits up to 30 s for the client's close_notify."""
    received = b""
    while not re.search(rb"\* BYE [^\n]*\n\Z", received):
        try:
            data = sock.recv(65536)
        except OSError:
            break
        if not data:
            break
        received += inflate.decompress(data)
    return received


@pytest.mark.parametrize(
    "start",
    [
        b"",  # a line of zeros
        b"s1 SEARCH TEXT {1073741824+}\r\n",  # a non-synchronising literal the reader must skip
    ],
)
def test_a_deflate_bomb_ends_in_bye_after_little_cpu(imap_server, connect, account, start):
    # 4 MiB of zeros in 4 KB is enough to trip a cap; sending more would only race the close:
    # input the server never reads makes its kernel answer with a reset, and a reset can discard
    # the BYE before the client reads it. The code before issue 10 inflated every byte sent and
    # never said BYE (4 GiB: 11 s of CPU, issue 10).
    sock, deflate, inflate = _compressed_session(connect, account)
    before = _server_cpu_seconds(imap_server)
    sock.sendall(deflate.compress(start) + deflate.flush(zlib.Z_FULL_FLUSH) + _zeros_mib() * 4)
    received = _read_until_bye(sock, inflate)
    spent = _server_cpu_seconds(imap_server) - before
    # Which cap trips first depends on how much compressed input has arrived; either is right.
    assert re.search(
        rb"\* BYE Your compressed data expands [^\r\n]+ Closing the connection\.\r\n\Z", received
    )
    assert spent < 0.5, spent


def test_many_small_commands_that_expand_too_far_end_in_bye(imap_server, connect, account):
    # Each line is a complete command, so only the ratio cap can stop this: 64 KiB lines of
    # spaces after NOOP compress about 1000-fold; 18 of them pass the 1 MiB floor.
    sock, deflate, inflate = _compressed_session(connect, account)
    line = b"n1 NOOP" + b" " * 65000 + b"\r\n"
    sock.sendall(b"".join(deflate.compress(line) for _ in range(18)) + deflate.flush(zlib.Z_SYNC_FLUSH))
    received = _read_until_bye(sock, inflate)
    assert received.endswith(
        b"* BYE Your compressed data expands far more than an IMAP client's ever does. "
        b"Closing the connection.\r\n"
    ), received[-200:]


def test_pipelined_client_commands_pass_the_caps(imap_server, connect, account):
    # Thunderbird's header fetch, pipelined and compressed without a flush between commands: the
    # most a real client's commands expand (about 31:1), past the 1 MiB where the ratio counts.
    sock, deflate, inflate = _compressed_session(connect, account)
    fields = "From To Cc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To"
    lines = [b"s1 SELECT INBOX\r\n"] + [
        f"f{n} UID FETCH {n * 3 + 7} (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({fields})])\r\n".encode()
        for n in range(8000)
    ]
    sock.sendall(deflate.compress(b"".join(lines)) + deflate.flush(zlib.Z_SYNC_FLUSH))
    received = b""
    while b"f7999 OK" not in received:
        data = sock.recv(65536)
        assert data, received[-200:]
        received += inflate.decompress(data)
    assert b"BYE" not in received
    sock.sendall(deflate.compress(b"l1 LOGOUT\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
    assert b"* BYE MailKite IMAP signing off\r\n" in _read_until_bye(sock, inflate)
