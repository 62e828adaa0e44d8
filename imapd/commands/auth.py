"""LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE PLAIN (§6.2.2, RFC 4616, SASL-IR RFC 4959).

State: not authenticated. The username is ignored: the app-password alone decides the mailbox.
Failures wait (imapd.throttle) and answer with the product's sentences (imapd.texts); an outage
answers NO [UNAVAILABLE], because clients treat a code-less NO as a wrong password. A login the
fair queue refuses (imapd.loginpool) is a failure too: it waits and counts like a wrong password,
or an attacker could loop on the refusal for free. Each failure logs one line, until its address
is summarised (imapd.throttle.FailureLog).
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from django.db import Error as DatabaseError

from imapd import capabilities, store, texts
from imapd.command import Authenticate, Login
from imapd.dbpool import QueueFull, ShareExceeded
from imapd.dispatch import NOT_AUTHENTICATED, Reply, handles
from imapd.history import Attempt
from imapd.responses import Bad, Bye, Done, No
from passwords import tokens
from passwords.service import AddressNotAllowed, AuthenticationFailed, MailboxUnavailable, PasswordExpired

if TYPE_CHECKING:
    from imapd.session import Session

log = logging.getLogger("imapd")


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
        verified = await session.pools.run_login_for(tuple(keys), store.login, text, session.peer)
    except PasswordExpired as expired:
        if key:
            _history(session, key.key_id, expired.app_password_id, "refused", expired.reason)
        await _penalise(session, keys, "expired password")
        raise No(texts.expired(expired.day), "AUTHENTICATIONFAILED") from None
    except AddressNotAllowed as outside:
        if key:
            _history(session, key.key_id, outside.app_password_id, "refused", outside.reason)
        await _penalise(session, keys, "address not in the password's allowed networks")
        raise No(texts.not_from(outside.address), "AUTHENTICATIONFAILED") from None
    except AuthenticationFailed as failure:
        if key and failure.app_password_id is not None:  # unknown key ids: no account to tell
            _history(session, key.key_id, failure.app_password_id, "refused", failure.reason)
        await _penalise(
            session, keys, "an API key" if failure.api_key else "wrong, unknown or revoked password"
        )
        raise No(
            texts.API_KEY_GIVEN if failure.api_key else texts.AUTH_FAILED, "AUTHENTICATIONFAILED"
        ) from None
    except MailboxUnavailable as refusal:
        if key and refusal.app_password_id is not None:
            _history(session, key.key_id, refusal.app_password_id, "refused", "mailbox-unavailable")
        raise No(texts.no_mailbox(refusal.reason), "CONTACTADMIN") from None
    except QueueFull as full:
        if key:  # not looked up: the history write keeps it only if the key id exists
            _history(session, key.key_id, None, "refused", "login-queue-full")
        await _penalise(
            session, keys, f"login queue full ({'share' if isinstance(full, ShareExceeded) else 'all'})"
        )
        raise No(texts.LOGIN_BUSY, "UNAVAILABLE") from None
    except DatabaseError:
        raise No(texts.UNAVAILABLE, "UNAVAILABLE") from None
    # Dovecot's mail_max_userip_connections: checked now that the mailbox is known; a BYE, since
    # clients take a NO to LOGIN for a wrong password and would ask the user for a new one.
    if session.ticket is not None:
        too_many = session.server.admission.log_in(session.ticket, verified.mailbox_id)
        if too_many is not None:
            _history(session, verified.key_id, verified.app_password_id, "refused", "too-many-connections")
            raise Bye(too_many)
    session.logged_in(verified)
    session.login = _history(session, verified.key_id, verified.app_password_id, "success", "")
    await session.record_use()
    return Done("Logged in", code=f"CAPABILITY {capabilities.line(True)}")


def _history(
    session: Session, key_id: str, app_password_id: int | None, outcome: str, reason: str
) -> Attempt | None:
    """Queue this login for the login history (imapd.history writes it in a batch)."""
    return session.server.history.record(
        Attempt(
            key_id=key_id,
            app_password_id=app_password_id,
            ip=session.peer,
            tls_version=session.tls_version,
            outcome=outcome,
            reason=reason,
            client_name=session.client_name,  # an ID sent before LOGIN
        )
    )


async def _penalise(session: Session, keys: list[str], reason: str) -> None:
    """Wait the penalty, then count the failure: per address, per key id, per connection."""
    server = session.server
    delay = server.penalties.delay(*keys)
    server.penalties.fail(*keys)
    session.failed_logins += 1
    session.quiet = True  # this line replaces the command's access line
    if server.failure_log.should_log(keys[0]):
        key_id = keys[1].removeprefix("key:") if len(keys) > 1 else "-"
        log.info("%s login failed from %s key=%s: %s", session.conn_id, session.peer, key_id, reason)
    await asyncio.sleep(delay)
