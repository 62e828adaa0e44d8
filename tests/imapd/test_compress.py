"""COMPRESS=DEFLATE (RFC 4978) over real TLS: raw DEFLATE both ways after the tagged OK, each
response batch flushed so the client can read it whole (IMAP-NOTES 25)."""

from __future__ import annotations

import zlib

import pytest

from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)


class Deflated:
    """The client side of a compressed connection, over the imaplib client's socket."""

    def __init__(self, wire: Wire) -> None:
        self.sock = wire.client.sock
        self.out = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        self.buffer = b""

    def send(self, line: str) -> None:
        self.sock.sendall(self.out.compress(line.encode() + b"\r\n") + self.out.flush(zlib.Z_SYNC_FLUSH))

    def readline(self) -> bytes:
        while b"\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            assert data, "the server closed the connection"
            self.buffer += self.inflate.decompress(data)
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def exchange(self, line: str) -> list[bytes]:
        tag = line.split()[0].encode()
        self.send(line)
        lines = [self.readline()]
        while not lines[-1].startswith(tag + b" "):
            lines.append(self.readline())
        return lines


def test_compress_deflate(wire, demo_mail):
    wire.ok("s0 SELECT INBOX")
    plain = wire.ok("f0 FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert wire.exchange("c1 COMPRESS DEFLATE") == ([], b"c1 OK DEFLATE active")  # RFC 4978 §3
    z = Deflated(wire)
    assert z.exchange("n1 NOOP") == [b"n1 OK NOOP completed"]
    lines = z.exchange("f1 FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)")
    assert lines[:-1] == plain  # the same bytes, compressed
    assert lines[-1] == b"f1 OK FETCH completed"
    again = z.exchange("c2 COMPRESS DEFLATE")
    assert again[-1].startswith(b"c2 NO [COMPRESSIONACTIVE] ")  # IMAP-NOTES 25
    assert z.exchange("l1 LOGOUT") == [b"* BYE MailKite IMAP signing off", b"l1 OK LOGOUT completed"]


def test_idle_pushes_arrive_through_compression(wire, connect, account, demo_mail):
    wire.ok("s1 SELECT INBOX")
    wire.ok("c1 COMPRESS DEFLATE")
    z = Deflated(wire)
    z.send("i1 IDLE")
    assert z.readline() == b"+ idling"
    other = Wire(connect())
    other.login(account.password)
    other.ok("s1 SELECT INBOX")
    other.ok("t1 STORE 2 +FLAGS (\\Flagged)")
    assert z.readline() == b"* 2 FETCH (FLAGS (\\Flagged))"  # flushed without waiting for more output
    z.send("DONE")
    assert z.readline() == b"i1 OK IDLE completed"


def test_compress_refusals(connect, wire):
    assert b"Log in first" in Wire(connect()).bad("c1 COMPRESS DEFLATE")  # RFC 4978 §3: after login
    wire.bad("c2 COMPRESS LZMA")
    wire.bad("c3 COMPRESS")
