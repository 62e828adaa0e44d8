"""The credential service: create, verify, revoke and record the use of app-passwords.

Business rules live here, in functions with keyword-only arguments that own their transaction;
the dashboard, the REST API, the CLI and imapd all call these.

Verification (DESIGN §4): checksum (no database) → one indexed lookup by key id → one argon2id
verify, skipped when the same password verified recently in this process. Unknown id, wrong
secret and revoked password all raise the same AuthenticationFailed; the caller applies the delay.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import argon2
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mailkite.events import publish as events
from mailkite.mail.models import Mailbox
from passwords import tokens
from passwords.models import ApiKey, AppPassword

LAST_USED_INTERVAL = timedelta(minutes=1)
VERIFY_CACHE_SECONDS = 300
CLIENT_NAME_MAX = 100


class AuthenticationFailed(Exception):
    """Wrong, unknown or revoked password; `api_key` when an API key was given instead."""

    def __init__(self, *, api_key: bool = False) -> None:
        super().__init__("authentication failed")
        self.api_key = api_key


class MailboxUnavailable(Exception):
    """The password is right but its domain may not use IMAP; `reason` says why in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Verified:
    app_password_id: int
    key_id: str
    mailbox_id: int
    domain_id: int
    address: str


def _hasher() -> argon2.PasswordHasher:
    config = settings.MAILKITE
    return argon2.PasswordHasher(
        time_cost=config.argon2_time_cost,
        memory_cost=config.argon2_memory_kib,
        parallelism=config.argon2_parallelism,
        type=argon2.Type.ID,
    )


class _VerifiedCache:
    """Recent successful verifications, keyed by an HMAC of the password (never the password)."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[str, float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(password: str) -> bytes:
        return hmac.new(settings.SECRET_KEY.encode(), password.encode(), hashlib.sha256).digest()

    def hit(self, password: str, stored_hash: str) -> bool:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(self._key(password))
        return entry is not None and entry[0] == stored_hash and entry[1] > now

    def remember(self, password: str, stored_hash: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries = {k: v for k, v in self._entries.items() if v[1] > now}
            self._entries[self._key(password)] = (stored_hash, now + VERIFY_CACHE_SECONDS)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_cache = _VerifiedCache()


def hash_secret(value: str) -> str:
    return _hasher().hash(value)


@transaction.atomic
def create_app_password(*, mailbox: Mailbox, label: str) -> tuple[AppPassword, str]:
    """Create an app-password for `mailbox`; returns the row and the secret, shown only once."""
    label = label.strip()
    if not label:
        raise ValueError("A label is required, such as “Thunderbird on my laptop”.")
    token = tokens.generate(tokens.IMAP)
    row = AppPassword.objects.create(
        owner=mailbox.domain.owner,
        mailbox=mailbox,
        label=label,
        key_id=token.key_id,
        hash=hash_secret(token.value),
    )
    return row, token.value


@transaction.atomic
def create_api_key(*, owner, label: str) -> tuple[ApiKey, str]:  # type: ignore[no-untyped-def]
    token = tokens.generate(tokens.API)
    row = ApiKey.objects.create(owner=owner, label=label, key_id=token.key_id, hash=hash_secret(token.value))
    return row, token.value


def revoke_app_password(*, app_password: AppPassword) -> bool:
    """Revoke at once; True if it was active. Idempotent."""
    with transaction.atomic():
        changed = AppPassword.objects.filter(pk=app_password.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            events.publish(events.CREDENTIAL, app_password.pk)  # live sessions end at once
    app_password.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


def verify_app_password(password: str) -> Verified:
    """Check an app-password and its mailbox's eligibility. Synchronous: run it in a worker pool."""
    if tokens.looks_like_api_key(password):
        raise AuthenticationFailed(api_key=True)
    token = tokens.parse(password)
    if token is None or token.kind != tokens.IMAP:
        raise AuthenticationFailed()
    row = (
        AppPassword.objects.select_related("mailbox__domain__owner", "owner")
        .filter(key_id=token.key_id)
        .first()
    )
    if row is None:
        raise AuthenticationFailed()
    if not verified_cache.hit(password, row.hash):
        try:
            _hasher().verify(row.hash, password)
        except argon2.exceptions.VerificationError:
            raise AuthenticationFailed() from None
        except argon2.exceptions.InvalidHashError:
            raise AuthenticationFailed() from None
        verified_cache.remember(password, row.hash)
    domain = row.mailbox.domain
    if row.revoked_at is not None or not row.owner.is_active or domain.owner_id != row.owner_id:
        raise AuthenticationFailed()
    refusal = domain.imap_refusal()
    if refusal is not None:
        raise MailboxUnavailable(refusal)
    return Verified(
        app_password_id=row.pk,
        key_id=row.key_id,
        mailbox_id=row.mailbox_id,
        domain_id=domain.pk,
        address=row.mailbox.address,
    )


def is_still_valid(app_password_id: int) -> bool:
    """The periodic re-check of a live session: active, owner active, domain still eligible."""
    row = (
        AppPassword.objects.select_related("mailbox__domain", "owner")
        .filter(pk=app_password_id, revoked_at__isnull=True)
        .first()
    )
    return (
        row is not None
        and row.owner.is_active
        and row.mailbox.domain.owner_id == row.owner_id
        and row.mailbox.domain.imap_refusal() is None
    )


def clean_client_name(name: str) -> str:
    """IMAP ID names are client-controlled: keep printable characters, capped in length."""
    return "".join(ch for ch in name if ch.isprintable())[:CLIENT_NAME_MAX].strip()


def record_use(*, app_password_id: int, ip: str | None, client_name: str = "") -> bool:
    """Write last-used with one conditional UPDATE, at most once a minute per password."""
    now = timezone.now()
    fields: dict[str, object] = {"last_used_at": now, "last_used_ip": ip}
    if client_name:
        fields["last_used_client"] = clean_client_name(client_name)
    recent = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_INTERVAL)
    with transaction.atomic():
        written = bool(AppPassword.objects.filter(Q(pk=app_password_id) & recent).update(**fields))
        # The dashboard hears of every login, even when the write is skipped (DESIGN §4).
        events.publish(events.LOGIN, app_password_id)
    return written


def record_client_name(*, app_password_id: int, client_name: str) -> bool:
    """An IMAP ID sent after login names the client: write it unless it is already recorded."""
    name = clean_client_name(client_name)
    if not name:
        return False
    rows = AppPassword.objects.filter(pk=app_password_id).exclude(last_used_client=name)
    return bool(rows.update(last_used_client=name))
