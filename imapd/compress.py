"""COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib header or checksum) both ways.

The connection applies one `Deflate` to every byte after the tagged OK of COMPRESS. Output is
compressed as it is written and flushed with Z_SYNC_FLUSH once per response batch, so the client
always holds whole responses (a partial flush is what made mox turn COMPRESS off, IMAP-NOTES 25).
Input is inflated in bounded steps: a few compressed bytes can stand for megabytes, and the
command reader's limits only work if it is fed a chunk at a time. The inflated bytes are also
capped per command and in proportion to the compressed ones (imapd.limits), so a deflate bomb
costs the server a few milliseconds, not seconds per GiB. Pure: no sockets.
"""

from __future__ import annotations

import zlib

from imapd import limits

RAW_DEFLATE = -15  # window bits: negative means raw DEFLATE, as RFC 4978 §4 requires


class CorruptStream(Exception):
    """The client's compressed stream cannot be inflated."""


class Bomb(Exception):
    """The client's compressed input expands past a cap; `text` says which, for its `* BYE`."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class Deflate:
    def __init__(
        self,
        level: int = 6,
        *,
        max_per_command: int = limits.MAX_INFLATED_PER_COMMAND,
        max_ratio: int = limits.MAX_INFLATE_RATIO,
        ratio_floor: int = limits.INFLATE_RATIO_FLOOR,
    ) -> None:
        self._out = zlib.compressobj(level, zlib.DEFLATED, RAW_DEFLATE)
        self._in = zlib.decompressobj(RAW_DEFLATE)
        self.unflushed = False
        self._max_per_command = max_per_command
        self._max_ratio = max_ratio
        self._ratio_floor = ratio_floor
        self.compressed_total = 0
        self.inflated_total = 0
        self._since_command = 0  # inflated bytes since the reader last finished a command

    def compress(self, data: bytes) -> bytes:
        """What can go out now; the rest waits in the compressor until flush()."""
        self.unflushed = True
        return self._out.compress(data)

    def flush(self) -> bytes:
        """Everything written so far, ending on a byte boundary the client can inflate."""
        self.unflushed = False
        return self._out.flush(zlib.Z_SYNC_FLUSH)

    def inflate(self, data: bytes, limit: int) -> bytes:
        """At most `limit` inflated bytes of `data` and of what an earlier call left over.
        Raises Bomb once the input expands past a cap."""
        try:
            out = self._in.decompress(self._in.unconsumed_tail + data, limit)
        except zlib.error:
            raise CorruptStream() from None
        self.compressed_total += len(data)
        self.inflated_total += len(out)
        self._since_command += len(out)
        if self._since_command > self._max_per_command:
            raise Bomb("Your compressed data expands to more than any command may hold.")
        if self.inflated_total > max(self._ratio_floor, self._max_ratio * self.compressed_total):
            raise Bomb("Your compressed data expands far more than an IMAP client's ever does.")
        return out

    def command_read(self) -> None:
        """The reader finished a command (or a line outside one): the per-command cap starts over."""
        self._since_command = 0

    @property
    def backlog(self) -> bool:
        """Compressed input is left that inflate() has not turned into bytes yet."""
        return bool(self._in.unconsumed_tail)
