"""The aiosmtpd handler: what lmtpd answers to LHLO, RCPT and DATA.

A recipient is checked at RCPT time, so an unknown one is refused with `550 5.1.1` there and the
MTA bounces it at once without sending the data; `451 4.3.0` there when the database cannot say.
After DATA each accepted recipient gets its own reply from `store.deliver_batch`, sent only once
the message is committed for every one of them.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiosmtpd.smtp import SMTP, Envelope, Session

from imapd.dbpool import Pools
from mailkite.lmtp import replies, store
from mailkite.lmtp.batcher import Batcher
from mailkite.lmtp.protocol import return_path
from mailkite.mail import ingest
from mailkite.mail.models import Mailbox

log = logging.getLogger("mailkite.lmtp")

# Which mailbox each accepted address resolved to, kept on the envelope beside aiosmtpd's list.
_MAILBOXES = "mailkite_mailboxes"
# An accepted recipient is remembered this long: the lookup (two queries) cost as much CPU as the
# rest of a delivery in bench/lmtp.py, and an MTA sends the same addresses again and again. A
# mailbox or domain changed meanwhile is seen this much later, as a change during a transaction
# is (the recipient is resolved at RCPT and used after DATA). Refusals are never remembered.
RECIPIENT_TTL = 5.0
RECIPIENT_CACHE_MAX = 10_000


class Handler:
    def __init__(self, pools: Pools) -> None:
        self.pools = pools
        self.batcher: Batcher[store.Incoming, list[str]] = Batcher(self._write)
        self._delivering = 0  # messages past DATA not yet answered
        self._idle = asyncio.Event()
        self._idle.set()
        self._recipients: dict[str, tuple[float, Mailbox]] = {}

    async def _mailbox(self, address: str) -> Mailbox:
        """The recipient's mailbox, from the short-lived cache or the database (see RECIPIENT_TTL)."""
        now = time.monotonic()
        key = address.lower()
        cached = self._recipients.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        mailbox = await self.pools.run(store.check_recipient, address)
        if len(self._recipients) >= RECIPIENT_CACHE_MAX:
            self._recipients.clear()
        self._recipients[key] = (now + RECIPIENT_TTL, mailbox)
        return mailbox

    async def idle(self) -> None:
        """Return once no message is between the end of its DATA and its replies."""
        await self._idle.wait()

    async def _write(self, messages: list[store.Incoming]) -> list[list[str]]:
        return await self.pools.run(store.deliver_batch, messages)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        # Replies carry RFC 3463 codes; commands may be pipelined (RFC 2033 requires both).
        session.host_name = hostname
        return [*responses[:-1], "250-ENHANCEDSTATUSCODES", "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        setattr(envelope, _MAILBOXES, [])
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        try:
            mailbox = await self._mailbox(address)
        except ingest.UnknownRecipient as why:
            return replies.unknown_mailbox(str(why))
        except Exception as error:  # the MTA must retry, whatever went wrong
            return store.failure_reply(error)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        getattr(envelope, _MAILBOXES).append(mailbox)
        return replies.RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mailboxes: list[Mailbox] = getattr(envelope, _MAILBOXES)
        content = envelope.original_content
        assert isinstance(content, bytes) and isinstance(envelope.mail_from, str)
        message = store.Incoming(data=return_path(envelope.mail_from) + content, recipients=tuple(mailboxes))
        self._delivering += 1
        self._idle.clear()
        try:
            answers = await self.batcher.submit(message)
        except Exception as error:  # a failed batch: every recipient retries
            answers = [store.failure_reply(error)] * len(mailboxes)
        finally:
            self._delivering -= 1
            if not self._delivering:
                self._idle.set()
        for address, answer in zip(envelope.rcpt_tos, answers, strict=True):
            log.info("lmtp: %s from %s: %s", address, envelope.mail_from, answer)
        return "\r\n".join(answers)

    async def handle_exception(self, error: Exception) -> str:
        log.error("lmtp: session failed", exc_info=error)
        return replies.UNEXPECTED
