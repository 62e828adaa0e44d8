"""Domain and mailbox services: the business rules the CLI, dashboard and API share."""

from __future__ import annotations

import re
import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from mailkite.mail.models import Domain, Folder, Mailbox

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


class InvalidAddress(ValueError):
    """An address or domain name that cannot be used, with a sentence saying why."""


def normalise_domain(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidAddress(f"“{name}” is not a valid domain name.") from None
    if not _DOMAIN.match(name):
        raise InvalidAddress(f"“{name}” is not a valid domain name.")
    return name


def split_address(address: str) -> tuple[str, str]:
    local, at, domain = address.strip().rpartition("@")
    if not at or not _LOCAL.match(local) or local.startswith(".") or ".." in local:
        raise InvalidAddress(f"“{address}” is not a valid email address.")
    return local, normalise_domain(domain)


# RFC 2606 / RFC 6761 names can never carry public DNS records (the demo's demo.mailkite.test is
# one): the schedule leaves them alone, and seeds may mark them owned without a TXT record.
RESERVED_SUFFIXES = (".test", ".example", ".invalid", ".localhost")


def is_reserved(name: str) -> bool:
    return name.endswith(RESERVED_SUFFIXES)


@transaction.atomic
def create_domain(
    *,
    name: str,
    owner: Any,
    mx_verified: bool = False,
    owner_verified: bool | None = None,
    retention: str = Domain.Retention.RETAIN,
) -> Domain:
    """Add a domain claim. Seeds and tests that mark the MX verified mean a working domain, so
    `owner_verified` follows `mx_verified` unless given; the dashboard, API and CLI pass False
    for names that must prove ownership with their TXT record (mailkite.mail.domains)."""
    now = timezone.now()
    proven = mx_verified if owner_verified is None else owner_verified
    return Domain.objects.create(
        name=normalise_domain(name),
        owner=owner,
        mx_verified_at=now if mx_verified else None,
        owner_verified_at=now if proven else None,
        retention=retention,
    )


def mark_owner_verified(domain: Domain) -> None:
    """Seeds only: a reserved name cannot publish a TXT record, so it is marked owned directly."""
    if not is_reserved(domain.name):
        raise InvalidAddress(f"{domain.name} is not a reserved test name; publish its TXT record instead.")
    if domain.owner_verified_at is None or domain.txt_deadline is not None:
        domain.owner_verified_at = domain.owner_verified_at or timezone.now()
        domain.txt_deadline = None
        domain.save(update_fields=["owner_verified_at", "txt_deadline"])


def new_uidvalidity() -> int:
    # Seconds since the epoch: it only grows, fits the 32-bit nz-number until 2106, and a
    # restore bumps it past the old value (UIDs themselves are never derived from time).
    return int(time.time())


@transaction.atomic
def create_mailbox(*, domain: Domain, local_part: str) -> Mailbox:
    """Create the address with its two folders, INBOX and Sent."""
    local, _ = split_address(f"{local_part}@{domain.name}")
    mailbox = Mailbox.objects.create(domain=domain, local_part=local.lower())
    uidvalidity = new_uidvalidity()
    Folder.objects.bulk_create(
        [Folder(mailbox=mailbox, name=name, uidvalidity=uidvalidity) for name in Folder.NAMES]
    )
    return mailbox


def owned_domain(name: str) -> Domain | None:
    """The claim on `name` whose account proved ownership: the one mail and lookups by name reach."""
    return Domain.objects.select_related("owner").filter(name=name, owner_verified_at__isnull=False).first()


def claim_for_command(name: str, *, owner: str | None = None) -> Domain:
    """The claim a command means by `name`: the given owner's, else the verified owner's, else the
    only one. InvalidAddress says what to add when that is ambiguous or missing."""
    claims = Domain.objects.select_related("owner").filter(name=name).order_by("pk")
    if owner is not None:
        claims = claims.filter(owner__username=owner)
    found = list(claims)
    owned = [claim for claim in found if claim.owner_verified_at is not None]
    if len(owned) == 1 or len(found) == 1:
        return (owned or found)[0]
    if not found:
        whose = f" for {owner}" if owner is not None else ""
        raise InvalidAddress(f"No domain {name}{whose}; add it with `manage.py createdomain`.")
    raise InvalidAddress(f"{len(found)} accounts claim {name} and none proved ownership; add --owner USER.")


def find_mailbox(address: str) -> Mailbox | None:
    """The mailbox for `address` on the domain's verified owner's claim (pending claims get no mail)."""
    local, domain = split_address(address)
    return (
        Mailbox.objects.select_related("domain")
        .filter(domain__name=domain, domain__owner_verified_at__isnull=False, local_part=local.lower())
        .first()
    )
