"""COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header or checksum) both ways.

The connection applies one `Deflate` to every byte after the tagged OK of COMPRESS. Output is
compressed as it is written and flushed with Z_SYNC_FLUSH once per response batch, so the client
always holds whole responses (a partial flush is what made mox turn COMPRESS off, IMAP-NOTES 25).
Input is inflated in bounded steps: a few compressed bytes can stand for megabytes, and the
command reader's limits only work if it is fed a chunk at a time. Pure: no sockets.
"""

from __future__ import annotations

import zlib

RAW_DEFLATE = -15  # window bits: negative means raw DEFLATE, as RFC 4978 §4 requires


class CorruptStream(Exception):
    """The client's compressed stream cannot be inflated."""


class Deflate:
    def __init__(self, level: int = 6) -> None:
        self._out = zlib.compressobj(level, zlib.DEFLATED, RAW_DEFLATE)
        self._in = zlib.decompressobj(RAW_DEFLATE)
        self.unflushed = False

    def compress(self, data: bytes) -> bytes:
        """What can go out now; the rest waits in the compressor until flush()."""
        self.unflushed = True
        return self._out.compress(data)

    def flush(self) -> bytes:
        """Everything written so far, ending on a byte boundary the client can inflate."""
        self.unflushed = False
        return self._out.flush(zlib.Z_SYNC_FLUSH)

    def inflate(self, data: bytes, limit: int) -> bytes:
        """At most `limit` inflated bytes of `data` and of what an earlier call left over."""
        try:
            return self._in.decompress(self._in.unconsumed_tail + data, limit)
        except zlib.error:
            raise CorruptStream() from None

    @property
    def backlog(self) -> bool:
        """Compressed input is left that inflate() has not turned into bytes yet."""
        return bool(self._in.unconsumed_tail)
