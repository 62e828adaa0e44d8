"""aiosmtpd's LMTP session, made to keep RFC 2033's one-reply-per-recipient rule in every case.

aiosmtpd answers a message over its size limit, or with an over-long line, with a single reply
after DATA. An LMTP client waits for one reply per accepted recipient, so with two recipients
Postfix would wait for a second reply that never comes and defer the message after a timeout.
DATA is therefore read here: over the limit, the data is read to its end and discarded, and each
recipient gets `552 5.3.4`. Lines longer than SMTP's 1,000 octets are taken as they are (real mail
has them; ingest stores bytes, not lines). `MAIL ... SIZE=` over the limit is refused with
`552 5.3.4` before any data is sent.

The envelope sender is written as the message's first line, `Return-Path:` (RFC 5321 4.4: the
final delivery does it; Postfix's LMTP client leaves it to us, as it does to Dovecot).
"""

from __future__ import annotations

import asyncio
import re

from aiosmtpd.lmtp import LMTP

from mailkite.lmtp import replies

_SIZE_PARAMETER = re.compile(r"\sSIZE=(\d{1,20})\b", re.IGNORECASE)


def return_path(mail_from: str) -> bytes:
    """The Return-Path line for the envelope sender (`<>` for a bounce), CRLF-terminated."""
    path = "<>" if mail_from in ("", "<>") else f"<{mail_from}>"
    return b"Return-Path: " + path.encode("utf-8", "surrogateescape") + b"\r\n"


class LmtpSession(LMTP):
    """One LMTP connection. The handler (`session.Handler`) decides every recipient's reply."""

    async def smtp_MAIL(self, arg: str | None) -> None:
        limit = self.data_size_limit
        if arg and limit and self.session is not None and self.session.extended_smtp:
            declared = _SIZE_PARAMETER.search(arg)
            if declared and int(declared.group(1)) > limit:
                await self.push(replies.too_big(limit))
                return
        await super().smtp_MAIL(arg)

    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed("LHLO"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if arg:
            await self.push("501 5.5.4 Syntax: DATA")
            return
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        content = await self._read_data()
        recipients = len(self.envelope.rcpt_tos)
        if content is None:
            status = "\r\n".join([replies.too_big(self.data_size_limit or 0)] * recipients)
        else:
            self.envelope.original_content = self.envelope.content = content
            status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        # One reply per recipient, in RCPT order: the handler joins them with CRLF, push ends it.
        await self.push(status)

    async def _read_data(self) -> bytes | None:
        """The message up to the lone dot, dot-unstuffed; None (all of it read) if over the limit."""
        limit = self.data_size_limit
        reader: asyncio.StreamReader = self._reader
        lines: list[bytes] = []
        size = 0
        too_big = False
        fragment = b""
        while True:
            try:
                chunk = await reader.readuntil(b"\r\n")
            except asyncio.LimitOverrunError as overrun:
                # A line longer than the reader's buffer limit: take what it holds and go on.
                fragment += await reader.readexactly(overrun.consumed)
                continue
            line, fragment = fragment + chunk, b""
            if line == b".\r\n":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line)
            if limit and size > limit:
                too_big = True
                lines.clear()  # keep reading to the end, holding nothing
            if not too_big:
                lines.append(line)
        return None if too_big else b"".join(lines)
