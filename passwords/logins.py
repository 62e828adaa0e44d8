"""Login history and new-login sightings: the writes imapd batches (imapd.history), and pruning.

write_logins() stores one batch in one transaction: a lookup of the key ids it must resolve, one
bulk INSERT of LoginRecord rows, one read and one bulk INSERT (ignoring duplicates) of sightings,
and the client names that IMAP ID supplied after a row was written. A sighting is a network (/24
for IPv4, /48 for IPv6) or an ID client name a password logged in from; the unique constraint
(password, kind, value) makes "first time" a fact of the database, across imapd processes.

The first successful login of a password sets its baseline (alert BASELINE: the owner has just
set the client up, so an email then would only teach people to ignore the next one). Every later
new network or client name is PENDING, and passwords.alerts emails it once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from imapd.addresses import parse_address
from passwords.models import AppPassword, LoginRecord, LoginSighting

REASON_MAX = 32
TLS_MAX = 16

# The reason codes of refused logins, in words (the dashboard and the API's schema show these).
REASONS = {
    "wrong-secret": "the key id exists but the rest of the password is wrong",
    "revoked": "the password was revoked",
    "account-disabled": "the account is disabled",
    "domain-owner-changed": "the domain now belongs to another account",
    "mailbox-unavailable": "the domain cannot use IMAP now (not MX-verified, or zero-retention)",
    "too-many-connections": "too many connections from one address to this mailbox",
    "login-queue-full": "the server was too busy to check the password",
    "expired": "the password has expired",
    "address-not-allowed": "the address is outside the password's allowed networks",
}


@dataclass(frozen=True)
class LoginRow:
    """One login as imapd saw it. `app_password_id` is None when only the key id is known (the
    login queue refused it before any lookup): the write resolves it, or drops the row."""

    key_id: str
    app_password_id: int | None
    at: datetime
    ip: str | None
    tls_version: str
    outcome: str
    reason: str = ""
    client_name: str = ""


@dataclass(frozen=True)
class Rename:
    """IMAP ID named the client after the login's row was written."""

    record_id: int
    app_password_id: int
    client_name: str
    at: datetime
    ip: str | None
    baseline: bool


@dataclass(frozen=True)
class Written:
    record_id: int | None  # None: the key id is unknown, nothing was stored
    baseline: bool  # this login set the password's baseline (its first)


def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /48 (IPv6) an address belongs to; IPv4-mapped IPv6 counts as IPv4."""
    if not ip:
        return None
    address = parse_address(ip)
    if address is None:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _clean(name: str) -> str:
    from passwords.service import clean_client_name

    return clean_client_name(name)


def write_logins(rows: Sequence[LoginRow], renames: Sequence[Rename] = ()) -> list[Written]:
    """Store a batch; the answer lines up with `rows`."""
    unresolved = {r.key_id for r in rows if r.app_password_id is None}
    by_key = (
        dict(AppPassword.objects.filter(key_id__in=unresolved).values_list("key_id", "pk"))
        if unresolved
        else {}
    )
    records: list[LoginRecord | None] = []
    for row in rows:
        password_id = row.app_password_id or by_key.get(row.key_id)
        records.append(
            None
            if password_id is None
            else LoginRecord(
                app_password_id=password_id,
                at=row.at,
                ip=row.ip,
                client_name=_clean(row.client_name),
                tls_version=row.tls_version[:TLS_MAX],
                outcome=row.outcome,
                reason=row.reason[:REASON_MAX],
            )
        )
    stored = [r for r in records if r is not None]
    with transaction.atomic():
        if stored:
            LoginRecord.objects.bulk_create(stored)
        baselines = _sight_logins([r for r in stored if r.outcome == LoginRecord.Outcome.SUCCESS])
        _apply_renames(renames)
    return [Written(None, False) if r is None else Written(r.pk, r.pk in baselines) for r in records]


def _sight_logins(successes: Sequence[LoginRecord]) -> set[int]:
    """Record the networks and client names of successful logins; returns the record ids that
    set a password's baseline."""
    if not successes:
        return set()
    password_ids = {r.app_password_id for r in successes}
    seen_before = set(
        LoginSighting.objects.filter(app_password_id__in=password_ids)
        .values_list("app_password_id", flat=True)
        .distinct()
    )
    baselines: set[int] = set()
    sightings: list[LoginSighting] = []
    for record in sorted(successes, key=lambda r: (r.at, r.pk)):
        baseline = record.app_password_id not in seen_before
        if baseline:
            seen_before.add(record.app_password_id)
            baselines.add(record.pk)
        sightings.extend(
            _sightings(record.app_password_id, record.ip, record.client_name, record.at, baseline)
        )
    # A value already on file (here or in another process's batch) keeps its row and its alert.
    LoginSighting.objects.bulk_create(sightings, ignore_conflicts=True)
    return baselines


def _sightings(
    password_id: int, ip: str | None, client_name: str, at: datetime, baseline: bool
) -> list[LoginSighting]:
    alert = LoginSighting.Alert.BASELINE if baseline else LoginSighting.Alert.PENDING
    found = []
    network = network_of(ip)
    if network:
        found.append((LoginSighting.Kind.NETWORK, network))
    if client_name:
        found.append((LoginSighting.Kind.CLIENT, client_name))
    return [
        LoginSighting(
            app_password_id=password_id, kind=kind, value=value, first_seen_at=at, first_ip=ip, alert=alert
        )
        for kind, value in found
    ]


def _apply_renames(renames: Sequence[Rename]) -> None:
    if not renames:
        return
    named = []
    for rename in renames:
        name = _clean(rename.client_name)
        if name:
            named.append(LoginRecord(pk=rename.record_id, client_name=name))
    if not named:
        return
    LoginRecord.objects.bulk_update(named, ["client_name"])
    sightings = [
        sighting
        for rename in renames
        for sighting in _sightings(
            rename.app_password_id, rename.ip, _clean(rename.client_name), rename.at, rename.baseline
        )
        if sighting.kind == LoginSighting.Kind.CLIENT
    ]
    LoginSighting.objects.bulk_create(sightings, ignore_conflicts=True)


def prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete history older than LOGIN_HISTORY_DAYS; returns how many rows went. Sightings stay
    while their password does: they are what makes the next alert a first time."""
    keep = days if days is not None else settings.MAILKITE.login_history_days
    cutoff = (now or timezone.now()) - timedelta(days=keep)
    deleted, _ = LoginRecord.objects.filter(at__lt=cutoff).delete()
    return deleted
