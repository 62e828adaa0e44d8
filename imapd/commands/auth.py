"""LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616, SASL-IR RFC 4959).

State: not authenticated. The username is ignored: the app-password alone decides the mailbox.
Failures wait (imapd.throttle) and answer with the product's sentences (imapd.texts); an outage
answers NO [UNAVAILABLE], because clients treat a code-less NO as a wrong password.
"""

from __future__ import annotations

import asyncio
import binascii
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from django.db import Error as DatabaseError

from imapd import capabilities, store, texts
from imapd.command import Authenticate, Login
from imapd.dbpool import QueueFull
from imapd.dispatch import NOT_AUTHENTICATED, Reply, handles
from imapd.responses import Bad, Done, No
from passwords import tokens
from passwords.service import AuthenticationFailed, MailboxUnavailable

if TYPE_CHECKING:
    from imapd.session import Session


@handles(Login, states=NOT_AUTHENTICATED)
async def login(session: Session, command: Login) -> AsyncIterator[Reply]:
    yield await _authenticate(session, command.password)


@handles(Authenticate, states=NOT_AUTHENTICATED)
async def authenticate(session: Session, command: Authenticate) -> AsyncIterator[Reply]:
    if command.mechanism.upper() != "PLAIN":
        raise No("Only AUTHENTICATE PLAIN is supported; use it or LOGIN with an app-password.", "CANNOT")
    data = command.initial_response
    if data is None:
        line = await session.ask(b"+ \r\n")
        if line.strip() == b"*":
            raise Bad("Authentication cancelled.")
        try:
            data = binascii.a2b_base64(line.strip(), strict_mode=True) if line.strip() != b"=" else b""
        except binascii.Error:
            raise Bad("The AUTHENTICATE response is not valid base64.") from None
    fields = data.split(b"\x00")
    if len(fields) != 3:
        raise Bad("AUTHENTICATE PLAIN expects authorization id, user and password separated by NUL.")
    yield await _authenticate(session, fields[2])


async def _authenticate(session: Session, password: bytes) -> Done:
    text = password.decode("utf-8", "replace").strip()
    key = tokens.parse(text)
    keys = [session.server.penalties.address(session.peer)] + ([f"key:{key.key_id}"] if key else [])
    try:
        verified = await session.pools.run_login(store.login, text)
    except AuthenticationFailed as failure:
        await _penalise(session, keys)
        raise No(
            texts.API_KEY_GIVEN if failure.api_key else texts.AUTH_FAILED, "AUTHENTICATIONFAILED"
        ) from None
    except MailboxUnavailable as refusal:
        raise No(texts.no_mailbox(refusal.reason), "CONTACTADMIN") from None
    except QueueFull:
        raise No(texts.LOGIN_BUSY, "UNAVAILABLE") from None
    except DatabaseError:
        raise No(texts.UNAVAILABLE, "UNAVAILABLE") from None
    session.logged_in(verified)
    await session.record_use()
    return Done("Logged in", code=f"CAPABILITY {capabilities.line(True)}")


async def _penalise(session: Session, keys: list[str]) -> None:
    penalties = session.server.penalties
    delay = penalties.delay(*keys)
    penalties.fail(*keys)
    await asyncio.sleep(delay)
