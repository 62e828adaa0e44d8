"""The credential service: create, verify, revoke and record the use of app-passwords.

Business rules live here, in functions with keyword-only arguments that own their transaction;
the dashboard, the REST API, the CLI and imapd all call these. Every door creates and revokes
app-passwords through `user_create_app_password` and `user_revoke_app_password`, which apply the
label rules and write the audit entry naming the door.

Verification (DESIGN §4): checksum (no database) → one indexed lookup by key id → one argon2id
verify, skipped when the same password verified recently in this process. Unknown id, wrong
secret and revoked password all raise the same AuthenticationFailed; the caller applies the delay.
Only once the secret is right do an expired password (PasswordExpired) and a login from outside
its allowed networks (AddressNotAllowed) get their own sentences: both subclass it (issue 15).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

import argon2
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from mailkite.events import publish as events
from mailkite.mail.models import Domain, Mailbox
from passwords import policy, tokens
from passwords import scopes as api_scopes
from passwords.models import ApiKey, AppPassword, AuditEntry
from passwords.policy import Limits

LAST_USED_INTERVAL = timedelta(minutes=1)
VERIFY_CACHE_SECONDS = 300
CLIENT_NAME_MAX = 100


class AuthenticationFailed(Exception):
    """Wrong, unknown or revoked password; `api_key` when an API key was given instead.

    For the login history (passwords.logins): `app_password_id` names the password when its key id
    exists, and `reason` is a short code (wrong-secret, revoked, ...). Neither reaches the client.
    """

    def __init__(
        self, *, api_key: bool = False, app_password_id: int | None = None, reason: str = ""
    ) -> None:
        super().__init__("authentication failed")
        self.api_key = api_key
        self.app_password_id = app_password_id
        self.reason = reason


class PasswordExpired(AuthenticationFailed):
    """The right password, past its expiry: refused with its own sentence (passwords.policy)."""

    def __init__(self, expires_at: datetime, *, app_password_id: int | None = None) -> None:
        super().__init__(app_password_id=app_password_id, reason="expired")
        self.expires_at = expires_at
        self.day = policy.expiry_day(expires_at)


class AddressNotAllowed(AuthenticationFailed):
    """The right password, from an address outside its allowed networks; `address` is the one seen."""

    def __init__(self, address: str, *, app_password_id: int | None = None) -> None:
        super().__init__(app_password_id=app_password_id, reason="address-not-allowed")
        self.address = address


class MailboxUnavailable(Exception):
    """The password is right but its domain may not use IMAP; `reason` says why in words."""

    def __init__(self, reason: str, *, app_password_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.app_password_id = app_password_id


@dataclass(frozen=True)
class Verified:
    app_password_id: int
    key_id: str
    mailbox_id: int
    domain_id: int
    address: str
    scope: str = policy.READ_AND_FLAG
    expires_at: datetime | None = None

    @property
    def read_only(self) -> bool:
        return self.scope == policy.READ_ONLY


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


def matches_hash(stored_hash: str, value: str) -> bool:
    """Whether `value` is the secret behind `stored_hash` (one argon2id verify)."""
    try:
        return bool(_hasher().verify(stored_hash, value))
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _insert_app_password(
    *, mailbox: Mailbox, label: str, limits: Limits | None = None
) -> tuple[AppPassword, str]:
    """The row and its secret (shown only once); `label` is already clean: see user_create_app_password."""
    token = tokens.generate(tokens.IMAP)
    limits = limits or Limits()
    row = AppPassword.objects.create(
        owner=mailbox.domain.owner,
        mailbox=mailbox,
        label=label,
        key_id=token.key_id,
        hash=hash_secret(token.value),
        expires_at=limits.expires_at,
        allowed_networks=limits.allowed_networks,
        scope=limits.scope,
        expiry_reminded_days=_reminders_passed(limits.expires_at, now=timezone.now()),
    )
    return row, token.value


@transaction.atomic
def create_api_key(  # type: ignore[no-untyped-def]
    *, owner, label: str, scopes: tuple[str, ...] | list[str] = api_scopes.APP_PASSWORDS
) -> tuple[ApiKey, str]:
    token = tokens.generate(tokens.API)
    row = ApiKey.objects.create(
        owner=owner,
        label=label,
        key_id=token.key_id,
        hash=hash_secret(token.value),
        scopes=api_scopes.normalise(scopes),
    )
    return row, token.value


def revoke_app_password(*, app_password: AppPassword) -> bool:
    """Revoke at once; True if it was active. Idempotent. Unaudited: doors call user_revoke_app_password."""
    with transaction.atomic():
        changed = AppPassword.objects.filter(pk=app_password.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if changed:
            events.publish(events.CREDENTIAL, app_password.pk)  # live sessions end at once
    app_password.refresh_from_db(fields=["revoked_at"])
    return bool(changed)


def verify_app_password(password: str, *, peer: str | None = None) -> Verified:
    """Check an app-password and its mailbox's eligibility. Synchronous: run it in a worker pool.

    `peer` is the client's address: imapd always gives it, and a password with allowed networks
    is then refused elsewhere. Expiry and networks are read from the row every time, after the
    secret is checked (a cached verification included), so they tell nothing to a guesser."""
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
            raise AuthenticationFailed(app_password_id=row.pk, reason="wrong-secret") from None
        except argon2.exceptions.InvalidHashError:
            raise AuthenticationFailed(app_password_id=row.pk, reason="wrong-secret") from None
        verified_cache.remember(password, row.hash)
    domain = row.mailbox.domain
    if row.revoked_at is not None:
        raise AuthenticationFailed(app_password_id=row.pk, reason="revoked")
    if not row.owner.is_active:
        raise AuthenticationFailed(app_password_id=row.pk, reason="account-disabled")
    if domain.owner_id != row.owner_id:
        raise AuthenticationFailed(app_password_id=row.pk, reason="domain-owner-changed")
    if row.expires_at is not None and row.expires_at <= timezone.now():
        raise PasswordExpired(row.expires_at, app_password_id=row.pk)
    if peer is not None and not policy.allows(row.allowed_networks, peer):
        raise AddressNotAllowed(peer, app_password_id=row.pk)
    refusal = domain.imap_refusal()
    if refusal is not None:
        raise MailboxUnavailable(refusal, app_password_id=row.pk)
    return Verified(
        app_password_id=row.pk,
        key_id=row.key_id,
        mailbox_id=row.mailbox_id,
        domain_id=domain.pk,
        address=row.mailbox.address,
        scope=row.scope,
        expires_at=row.expires_at,
    )


def session_refusal(
    app_password_id: int, *, peer: str | None = None, scope: str | None = None
) -> str | None:
    """Why a live session must end now, in words, or None while it may go on. `peer` and `scope`
    are the session's: a list narrowed past its address, or a scope narrowed below the one it
    logged in with, ends it too."""
    row = AppPassword.objects.select_related("mailbox__domain", "owner").filter(pk=app_password_id).first()
    if row is None or row.revoked_at is not None or not row.owner.is_active:
        return "This app-password was revoked."
    if row.expires_at is not None and row.expires_at <= timezone.now():
        return expired_text(row.expires_at)
    if peer is not None and not policy.allows(row.allowed_networks, peer):
        return f"This app-password may no longer be used from {peer}."
    if scope == policy.READ_AND_FLAG and row.scope == policy.READ_ONLY:
        return "This app-password was made read-only; log in again to continue."
    domain = row.mailbox.domain
    if domain.owner_id != row.owner_id:
        return "This app-password's domain has a new owner."
    refusal = domain.imap_refusal()
    return None if refusal is None else f"IMAP is off because {refusal}."


def expired_text(expires_at: datetime) -> str:
    """The sentence for an expired password, at LOGIN and in the BYE that ends its sessions."""
    return (
        f"This app-password expired on {policy.expiry_day(expires_at)}; "
        "create a new one in Settings > IMAP."
    )


def is_still_valid(app_password_id: int) -> bool:
    """The periodic re-check of a live session: active, owner active, domain still eligible."""
    return session_refusal(app_password_id) is None


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


# -- The dashboard's and REST API's doors (issue 4) --------------------------------------------------
#
# Each function takes the Actor who asks: the signed-in user, the door (dashboard, API, ...), the
# client address and, for the checks below, when the account password was last re-entered or which
# API key made the request. Each validates, writes and records its audit entry in one transaction.

LABEL_MAX_LENGTH = 64
API_KEY_USE_INTERVAL = timedelta(minutes=1)


class Invalid(ValueError):
    """Input that breaks a rule; `errors` maps a field name to a sentence for the person."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class NotAllowed(Exception):
    """The actor may not do this (yet); `code` is a stable slug, `reason` a sentence."""

    def __init__(self, code: str, reason: str, *, scope: str = "") -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.scope = scope  # the scope an API key lacks, for insufficient-scope


@dataclass(frozen=True)
class Actor:
    user: Any
    via: str
    ip: str | None = None
    api_key: ApiKey | None = None
    reauthenticated_at: datetime | None = None
    # Staff in Django admin, whose own permissions were checked there, acting on others' objects.
    staff: bool = False
    # Someone at the server's shell (manage.py): see command_line().
    operator: bool = False


def command_line() -> Actor:
    """The actor of `manage.py apppassword` and `manage.py demo`: whoever can run them can read the
    database already, so no account password is asked. They act for the mailbox's owner, and may
    create a password before the domain can use IMAP (the command says so)."""
    return Actor(user=None, via=AuditEntry.Via.CLI, operator=True)


def leak_report(*, ip: str | None) -> Actor:
    """The actor of a secret scanner's signed leak report (passwords/leaks.py): its verified
    signature is its authority, it acts on the owner's credential and only ever revokes it."""
    return Actor(user=None, via=AuditEntry.Via.LEAK_REPORT, ip=ip, staff=True)


@dataclass(frozen=True)
class DomainStatus:
    domain: Domain
    eligible: bool
    reason: str  # why IMAP is off, in words; empty when it is on
    note: str  # what a user should know even when it is on (encrypted mail)


def describe_domain(domain: Domain) -> DomainStatus:
    """Whether a domain can use IMAP and why not, in the dashboard's and API's words.

    Domain.imap_refusal() decides, as it does for imapd's logins; this only words it for people.
    """
    refusal = domain.imap_refusal()
    if refusal is None:
        reason = ""
    elif domain.ownership == Domain.Ownership.CLOSED:
        reason = (
            "Closed: another MailKite account proved ownership of this domain first, by publishing "
            "its TXT record."
        )
    elif domain.ownership == Domain.Ownership.PENDING:
        missing = "Not MX-verified yet, and ownership" if domain.mx_verified_at is None else "Ownership"
        reason = (
            f"{missing} not verified yet: IMAP opens once the domain carries the TXT record "
            f"{domain.txt_value} and its MX record points at MailKite, and the check has passed."
        )
    elif domain.mx_verified_at is None:
        reason = (
            "Not MX-verified yet: IMAP opens once the domain's MX record points at MailKite and "
            "the check has passed."
        )
    elif domain.retention == Domain.Retention.PASSTHROUGH:
        reason = "Zero-retention: mail is passed to your webhook and not stored, so there is nothing to read."
    else:
        reason = refusal[:1].upper() + refusal[1:] + "."
    note = ""
    if domain.encryption != Domain.Encryption.NONE:
        kind = domain.get_encryption_display()
        note = (
            f"Mail is stored encrypted ({kind}); IMAP serves it as stored and your mail client "
            "decrypts it with your key."
        )
    return DomainStatus(domain=domain, eligible=not reason, reason=reason, note=note)


def eligible_mailboxes(*, owner: Any) -> QuerySet[Mailbox]:
    """The owner's addresses on domains that can use IMAP: the ones a password may open."""
    domains = Domain.objects.filter(owner=owner)
    eligible = [d.pk for d in domains if d.imap_refusal() is None]
    return (
        Mailbox.objects.select_related("domain")
        .filter(domain__in=eligible)
        .order_by("domain__name", "local_part")
    )


def _require_authority(actor: Actor, *, what: str, scope: str | None) -> None:
    """Recent re-entry of the account password, or an API key holding `scope` (None: no key may)."""
    if actor.operator:
        return
    if actor.api_key is not None:
        key = actor.api_key
        if scope is None or key.owner_id != actor.user.pk or key.revoked_at is not None:
            raise NotAllowed("api-key-not-allowed", f"This API key is not allowed to {what}.")
        if not key.has_scope(scope):
            raise NotAllowed(
                "insufficient-scope", f"This API key lacks the scope {scope}, needed to {what}.", scope=scope
            )
        return
    window = timedelta(minutes=settings.MAILKITE.reauth_minutes)
    when = actor.reauthenticated_at
    if when is None or when < timezone.now() - window:
        raise NotAllowed("reauthentication-required", f"Re-enter your account password to {what}.")


def _audit(actor: Actor, *, owner: Any, action: str, target: str, identifier: str = "") -> None:
    AuditEntry.objects.create(
        owner=owner,
        actor=actor.user if getattr(actor.user, "pk", None) else None,
        action=action,
        via=actor.via,
        target=target[:200],
        identifier=identifier,
        api_key_id=actor.api_key.key_id if actor.api_key is not None else "",
        ip=actor.ip,
    )


def clean_label(label: str) -> str:
    """A label as stored: printable, single-spaced, stripped; Invalid when empty or too long."""
    cleaned = " ".join("".join(ch for ch in label if ch.isprintable()).split())
    if not cleaned:
        raise Invalid({"label": "Give it a label, such as “Thunderbird on my laptop”."})
    if len(cleaned) > LABEL_MAX_LENGTH:
        raise Invalid({"label": f"Keep the label to {LABEL_MAX_LENGTH} characters or fewer."})
    return cleaned


def _read_limits(*, expires: str | None, allowed_networks: Any, scope: str | None) -> Limits:
    if allowed_networks is not None and not isinstance(allowed_networks, list | tuple):
        raise Invalid({"allowed_networks": "Give the allowed networks as a list, like [\"192.0.2.0/24\"]."})
    try:
        return policy.read_limits(
            expires=expires, allowed_networks=allowed_networks, scope=scope, now=timezone.now()
        )
    except policy.PolicyError as error:
        raise Invalid({error.field: error.message}) from None


def _reminders_passed(expires_at: datetime | None, *, now: datetime) -> int | None:
    """The smallest reminder threshold already inside the time left: a password made to last 7
    days needs no "expires in 7 days" email, only the 1-day one."""
    if expires_at is None:
        return None
    passed = [days for days in policy.REMINDER_DAYS if expires_at - now <= timedelta(days=days)]
    return min(passed) if passed else None


class LimitArguments(TypedDict):
    """An app-password's limits as user_create_app_password and user_update_app_password take
    them, for callers that read all three from one form or request."""

    expires: str | None
    allowed_networks: list[str] | None
    scope: str | None


def user_create_app_password(
    *,
    actor: Actor,
    mailbox: Mailbox,
    label: str,
    expires: str | None = None,
    allowed_networks: list[str] | None = None,
    scope: str | None = None,
) -> tuple[AppPassword, str]:
    """Create an app-password for one of the actor's eligible mailboxes; the secret is returned once.

    `expires`, `allowed_networks` and `scope` are read by passwords.policy (e.g. "30", "2027-03-01",
    ["192.0.2.0/24"], "read-only"); Invalid names the field that cannot be read."""
    label = clean_label(label)
    limits = _read_limits(expires=expires, allowed_networks=allowed_networks, scope=scope)
    _require_authority(actor, what="create an app-password", scope=api_scopes.APP_PASSWORDS_WRITE)
    with transaction.atomic():
        domain = Domain.objects.select_related("owner").get(pk=mailbox.domain_id)
        if not actor.operator and domain.owner_id != actor.user.pk:
            raise Invalid({"mailbox": "Choose one of your own addresses."})
        status = describe_domain(domain)
        if not status.eligible and not actor.operator:
            raise Invalid({"mailbox": f"{mailbox.address} cannot use IMAP. {status.reason}"})
        active = AppPassword.objects.filter(owner_id=domain.owner_id, revoked_at__isnull=True)
        if active.filter(label__iexact=label).exists():
            raise Invalid({"label": f"You already have an active app-password labelled “{label}”."})
        try:
            with transaction.atomic():  # a savepoint: a racing twin must not break the transaction
                row, secret = _insert_app_password(mailbox=mailbox, label=label, limits=limits)
        except IntegrityError:
            raise Invalid({"label": f"You already have an active app-password labelled “{label}”."}) from None
        _audit(
            actor,
            owner=domain.owner,
            action=AuditEntry.Action.APP_PASSWORD_CREATED,
            target=f"{label} ({mailbox.address})",
            identifier=row.display,
        )
    return row, secret


def user_update_app_password(
    *,
    actor: Actor,
    app_password: AppPassword,
    expires: str | None = None,
    allowed_networks: list[str] | None = None,
    scope: str | None = None,
) -> AppPassword:
    """Change the limits of an active password; None leaves a limit as it is (expires "never"
    removes the expiry). Shortening, narrowing and making read-only need only the right to see
    the password (and app-passwords:write for an API key); anything that gives it more power needs
    the authority of creation (passwords.policy). Live sessions re-check at once."""
    if not (actor.staff or actor.operator) and app_password.owner_id != actor.user.pk:
        raise AppPassword.DoesNotExist()
    if actor.api_key is not None:
        _require_authority(actor, what="change app-passwords", scope=api_scopes.APP_PASSWORDS_WRITE)
    if app_password.status != "active":
        raise Invalid({"app_password": f"This app-password is {app_password.status}; create a new one."})
    now = timezone.now()
    changes: dict[str, Any] = {}
    wider = False
    if expires is not None:
        try:
            new_expiry = policy.parse_expiry(expires, now=now)
        except policy.PolicyError as error:
            raise Invalid({error.field: error.message}) from None
        old_expiry = app_password.expires_at
        wider |= old_expiry is not None and (new_expiry is None or new_expiry > old_expiry)
        changes["expires_at"] = new_expiry
        changes["expiry_reminded_days"] = _reminders_passed(new_expiry, now=now)
    if allowed_networks is not None:
        networks = _read_limits(expires=None, allowed_networks=allowed_networks, scope=None).allowed_networks
        wider |= not policy.is_narrowing(app_password.allowed_networks, networks)
        changes["allowed_networks"] = networks
    if scope is not None:
        new_scope = _read_limits(expires=None, allowed_networks=None, scope=scope).scope
        wider |= app_password.scope == policy.READ_ONLY and new_scope != policy.READ_ONLY
        changes["scope"] = new_scope
    if wider:
        _require_authority(
            actor, what="give an app-password a later expiry, more networks or flag rights",
            scope=api_scopes.APP_PASSWORDS_WRITE,
        )
    changes = {name: value for name, value in changes.items() if getattr(app_password, name) != value}
    if not changes:
        return app_password
    with transaction.atomic():
        AppPassword.objects.filter(pk=app_password.pk).update(**changes)
        _audit(
            actor,
            owner=app_password.owner,
            action=AuditEntry.Action.APP_PASSWORD_CHANGED,
            target=app_password.label,
            identifier=app_password.display,
        )
        events.publish(events.CREDENTIAL, app_password.pk)  # live sessions re-check their limits
    app_password.refresh_from_db()
    return app_password


def user_revoke_app_password(*, actor: Actor, app_password: AppPassword, why: str = "") -> bool:
    """Revoke one of the actor's app-passwords at once (live IMAP sessions end); idempotent.

    `why`, when given, follows the label on the audit trail (a leak report's URL)."""
    if not (actor.staff or actor.operator) and app_password.owner_id != actor.user.pk:
        raise AppPassword.DoesNotExist()
    if actor.api_key is not None:
        _require_authority(actor, what="revoke app-passwords", scope=api_scopes.APP_PASSWORDS_WRITE)
    with transaction.atomic():
        changed = revoke_app_password(app_password=app_password)
        if changed:
            _audit(
                actor,
                owner=app_password.owner,
                action=AuditEntry.Action.APP_PASSWORD_REVOKED,
                target=f"{app_password.label} ({why})" if why else app_password.label,
                identifier=app_password.display,
            )
    return changed


def user_add_mailbox(*, actor: Actor, domain: Domain, local_part: str) -> Mailbox:
    """Add an address on one of the actor's eligible domains, before any mail reaches it."""
    from mailkite.mail import services as mail_services

    if actor.api_key is not None:
        _require_authority(actor, what="add addresses", scope=api_scopes.APP_PASSWORDS_WRITE)
    if domain.owner_id != actor.user.pk:
        raise Invalid({"domain": "Choose one of your own domains."})
    status = describe_domain(domain)
    if not status.eligible:
        raise Invalid({"domain": f"{domain.name} cannot use IMAP. {status.reason}"})
    local = local_part.strip().lower()
    try:
        local, _ = mail_services.split_address(f"{local}@{domain.name}")
    except mail_services.InvalidAddress:
        raise Invalid({"local_part": f"“{local_part.strip()}” cannot start an email address."}) from None
    address = f"{local.lower()}@{domain.name}"
    with transaction.atomic():
        if Mailbox.objects.filter(domain=domain, local_part=local.lower()).exists():
            raise Invalid({"local_part": f"{address} already exists."})
        try:
            with transaction.atomic():
                mailbox = mail_services.create_mailbox(domain=domain, local_part=local)
        except IntegrityError:
            raise Invalid({"local_part": f"{address} already exists."}) from None
        _audit(actor, owner=domain.owner, action=AuditEntry.Action.MAILBOX_CREATED, target=address)
    return mailbox


def authorise_domain_change(*, actor: Actor, what: str) -> None:
    """Destructive domain actions (retention, purge, encryption key): a fresh account-password
    re-entry from a session, or an API key with domains:write. NotAllowed says which is missing."""
    _require_authority(actor, what=what, scope=api_scopes.DOMAINS_WRITE)


def user_create_api_key(*, actor: Actor, label: str, scopes: list[str]) -> tuple[ApiKey, str]:
    """Create an API key with `scopes` (dashboard only, after re-entering the account password);
    the secret is shown once."""
    label = clean_label(label)
    try:
        chosen = api_scopes.normalise(scopes)
    except api_scopes.UnknownScope as error:
        raise Invalid({"scopes": str(error)}) from None
    if not chosen:
        raise Invalid({"scopes": "Choose at least one scope."})
    if actor.api_key is not None:
        raise NotAllowed("api-key-not-allowed", "API keys are made in the dashboard, not with another key.")
    _require_authority(actor, what="create an API key", scope=None)
    with transaction.atomic():
        if ApiKey.objects.filter(owner=actor.user, label__iexact=label, revoked_at__isnull=True).exists():
            raise Invalid({"label": f"You already have an active API key labelled “{label}”."})
        row, secret = create_api_key(owner=actor.user, label=label, scopes=chosen)
        _audit(
            actor,
            owner=actor.user,
            action=AuditEntry.Action.API_KEY_CREATED,
            target=label,
            identifier=row.display,
        )
    return row, secret


def user_revoke_api_key(*, actor: Actor, api_key: ApiKey, why: str = "") -> bool:
    """Revoke one of the actor's API keys; the next request that carries it is refused. Idempotent.

    `why`, when given, follows the label on the audit trail (a leak report's URL)."""
    if not (actor.staff or actor.operator) and api_key.owner_id != actor.user.pk:
        raise ApiKey.DoesNotExist()
    with transaction.atomic():
        changed = bool(
            ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        )
        if changed:
            _audit(
                actor,
                owner=api_key.owner,
                action=AuditEntry.Action.API_KEY_REVOKED,
                target=f"{api_key.label} ({why})" if why else api_key.label,
                identifier=api_key.display,
            )
    api_key.refresh_from_db(fields=["revoked_at"])
    return changed


def authenticate_api_key(*, key: str, ip: str | None) -> ApiKey:
    """The active API key that `key` is, with its owner; records last-used at most once a minute.

    Raises AuthenticationFailed for anything else (an app-password included: `api_key=False` then
    tells the caller it was an IMAP password). No argon2 is spent on a malformed or unknown key.
    """
    token = tokens.parse(key)
    if token is None or token.kind != tokens.API:
        raise AuthenticationFailed(api_key=not key.startswith(AppPassword.PREFIX))
    row = ApiKey.objects.select_related("owner").filter(key_id=token.key_id).first()
    if row is None:
        raise AuthenticationFailed(api_key=True)
    if not verified_cache.hit(key, row.hash):
        try:
            _hasher().verify(row.hash, key)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            raise AuthenticationFailed(api_key=True) from None
        verified_cache.remember(key, row.hash)
    if row.revoked_at is not None or not row.owner.is_active:
        raise AuthenticationFailed(api_key=True)
    now = timezone.now()
    recent = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - API_KEY_USE_INTERVAL)
    with transaction.atomic():
        if ApiKey.objects.filter(Q(pk=row.pk) & recent).update(last_used_at=now, last_used_ip=ip):
            row.last_used_at, row.last_used_ip = now, ip
    return row
